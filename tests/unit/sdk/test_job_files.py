"""The job file: private, loaded back as it was saved, refused when it is not what it should be."""

from __future__ import annotations

import json
import os
import stat

import pytest

from datamarket.sdk import job_files
from tests.fakes import JOB, start


def test_the_job_file_is_private_and_loads_back(tmp_path) -> None:
    handle, _ = start(tmp_path)
    path = tmp_path / "jobs" / f"{JOB}.json"
    assert handle.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert set(saved) >= {"job_id", "token", "provider_url", "datatoken", "order_tx", "x25519_private_key"}
    assert saved["provider_url"] == "http://provider.test" and saved["created_at"].endswith("Z")
    loaded = job_files.load_job(tmp_path / "jobs", JOB)
    assert (loaded.job_id, loaded.token, loaded.private_key) == (
        handle.job_id,
        handle.token,
        handle.private_key,
    )
    assert loaded.job == handle.job
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_secrets_stay_out_of_the_repr(tmp_path) -> None:
    handle, _ = start(tmp_path)
    shown = repr(handle)
    assert handle.token not in shown and handle.private_key not in shown


def test_load_job_refusals(tmp_path) -> None:
    with pytest.raises(job_files.JobNotFound):
        job_files.load_job(tmp_path, JOB)
    with pytest.raises(job_files.JobNotFound):
        job_files.load_job(tmp_path, "../" + JOB)
    handle, _ = start(tmp_path)
    os.chmod(handle.path, 0o644)
    with pytest.raises(job_files.ComputeError, match="readable by others"):
        job_files.load_job(tmp_path / "jobs", JOB)
    os.chmod(handle.path, 0o600)
    handle.path.write_text("[]")
    with pytest.raises(job_files.ComputeError, match="not a job file"):
        job_files.load_job(tmp_path / "jobs", JOB)
