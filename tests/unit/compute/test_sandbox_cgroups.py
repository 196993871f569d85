"""Where the job cgroups are made: under ``datamarket/`` in the worker's own cgroup, or under the
cgroup v2 folder the worker was configured with (its ``sandbox_cgroup`` setting), which a sweep
empties but never removes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compute_to_data import sandbox
from compute_to_data.sandbox import cgroups


@pytest.fixture
def v2_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A cgroup v2 hierarchy mounted at /sys/fs/cgroup, this process in its ``/worker`` group."""
    monkeypatch.setattr(cgroups, "_mountinfo", lambda: [("/", "/sys/fs/cgroup", "cgroup2", set())])
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: {"": "/worker"})
    yield
    sandbox.configure(None)


def test_by_default_the_job_cgroups_are_under_the_worker_s_own(v2_host: None) -> None:
    assert cgroups._cgroup_bases() == [(2, "", Path("/sys/fs/cgroup/worker/datamarket"))]


def test_a_configured_folder_holds_them_instead(v2_host: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMARKET_SANDBOX_CGROUP", "/sys/fs/cgroup/ignored")
    sandbox.configure(Path("/sys/fs/cgroup/delegated/datamarket"))
    assert cgroups._cgroup_bases() == [(2, "", Path("/sys/fs/cgroup/delegated/datamarket"))]


@pytest.mark.parametrize("configured", [False, True])
def test_a_sweep_removes_the_job_cgroups_and_only_an_unconfigured_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    base = tmp_path / "datamarket"
    (base / "job-1").mkdir(parents=True)
    (base / "job-2").mkdir()
    monkeypatch.setattr(cgroups, "_cgroup_bases", lambda: [(2, "", base)])
    sandbox.configure(base if configured else None)
    try:
        sandbox.sweep("job-1")
        assert not (base / "job-1").exists() and (base / "job-2").exists()
        (base / "job-2").rmdir()
        sandbox.sweep("job-")
        assert base.exists() is configured
    finally:
        sandbox.configure(None)
