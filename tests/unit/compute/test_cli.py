"""``datamarket worker`` refuses to start without bubblewrap, saying how to install it, and checks
its queue names; the provider's settings are read first (a bad setting is named, not echoed); with
--json its start line and start-up errors are JSON."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from compute_to_data import cli, sandbox
from compute_to_data.sandbox import availability
from datamarket.chain.devchain import dev_account

ENV = {
    "DATAMARKET_PROVIDER_RPC_URL": "http://127.0.0.1:8545",
    "DATAMARKET_PROVIDER_MARKET": dev_account(9).address,
    "DATAMARKET_PROVIDER_PRIVATE_KEY": dev_account(3).key.hex(),  # a public anvil dev key
}


def test_without_bubblewrap_the_worker_refuses_with_the_way_to_install_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(availability, "_bwrap", None)
    monkeypatch.setattr(availability.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(availability.os, "access", lambda *a, **k: False)
    env = {**ENV, "DATAMARKET_PROVIDER_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli.worker, [], env=env)
    assert result.exit_code == 1
    assert "sandbox_unavailable" in result.output and "apt-get install bubblewrap" in result.output
    assert ENV["DATAMARKET_PROVIDER_PRIVATE_KEY"] not in result.output


@pytest.mark.parametrize("queues", ["tpu", "", "cpu,fast"])
def test_unknown_queues_are_refused(queues: str) -> None:
    result = CliRunner().invoke(cli.worker, ["--queues", queues], env=ENV)
    assert result.exit_code == 2 and "--queues" in result.output


def test_a_bad_setting_is_named_not_echoed(tmp_path) -> None:
    env = {**ENV, "DATAMARKET_WORKER_JOB_WALL_TIME_S": "-5", "DATAMARKET_PROVIDER_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli.worker, [], env=env)
    assert result.exit_code == 1 and "job_wall_time_s" in result.output
    assert ENV["DATAMARKET_PROVIDER_PRIVATE_KEY"] not in result.output


def test_with_json_a_start_up_error_is_a_json_error(monkeypatch, tmp_path) -> None:
    import json

    monkeypatch.setattr(availability, "_bwrap", None)
    monkeypatch.setattr(availability.shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(availability.os, "access", lambda *a, **k: False)
    env = {**ENV, "DATAMARKET_PROVIDER_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli.worker, ["--json"], env=env)
    assert result.exit_code == 1 and result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "sandbox_unavailable" and "apt-get install bubblewrap" in error["message"]
    bad = {**env, "DATAMARKET_WORKER_JOB_WALL_TIME_S": "-5"}
    error = json.loads(CliRunner().invoke(cli.worker, ["--json"], env=bad).stdout)["error"]
    assert error["code"] == "invalid_config" and "job_wall_time_s" in error["message"]
    usage = CliRunner().invoke(cli.worker, ["--queues", "tpu", "--json"], env=env)
    assert usage.exit_code == 2
    assert json.loads(usage.stdout)["error"] == {
        "code": "usage_error",
        "message": "Invalid value for '--queues': a list among cpu, gpu",
        "details": {"param": "--queues"},
    }


def test_with_json_the_start_line_is_json(monkeypatch, tmp_path) -> None:
    import json

    from compute_to_data import celery_app

    started = []
    monkeypatch.setattr(sandbox, "check_available", lambda: "/usr/bin/bwrap")
    monkeypatch.setattr(
        celery_app, "build_worker_app", lambda settings, queues: SimpleNamespace(worker_main=started.append)
    )
    env = {**ENV, "DATAMARKET_PROVIDER_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli.worker, ["--json", "--concurrency", "3"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "provider": dev_account(3).address, "queues": ["cpu"], "gpus": 0, "concurrency": 3,
    }  # fmt: skip
    assert "--concurrency" in started[0] and "3" in started[0]
    plain = CliRunner().invoke(cli.worker, [], env=env)
    assert plain.stdout == "" and plain.stderr.startswith(f"worker for {dev_account(3).address}: queues cpu")
