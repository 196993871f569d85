"""`datamarket compute ...`, `privacy` and `algorithm`, with a fake provider."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from datamarket import cli
from datamarket.cli import context
from datamarket.sdk import job_files, jobs
from tests.fakes import DATATOKEN, JOB, ORDER, FakeProvider, fake_market, output_hash, standard


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A client home in tmp_path and a fake market and provider behind `context.connect`."""
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path / "home"))
    for var in ("DATAMARKET_STORE", "DATAMARKET_PROVIDER_URL", "DATAMARKET_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    provider = FakeProvider([{"state": "succeeded", "progress": 1.0}])
    settings = SimpleNamespace(provider_url=provider.base_url)
    monkeypatch.setattr(context, "connect", lambda dev_index: (settings, fake_market(), None, provider))
    monkeypatch.setattr(context, "on_local_market", lambda: False)
    monkeypatch.setattr(job_files, "ProviderClient", lambda url: provider)
    return SimpleNamespace(provider=provider, home=tmp_path / "home")


def run(*args: str):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def last_json(result) -> dict:
    return json.loads(result.output.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------- params


@pytest.mark.parametrize("bad", [["novalue"], ["=1"], ["a=1", "a=2"]])
def test_bad_params_are_usage_errors(env, bad) -> None:
    args = [arg for item in bad for arg in ("--param", item)]
    result = run("compute", "start", DATATOKEN, "--algorithm", "train_tabular", *args)
    assert result.exit_code == 2 and "--param" in result.output
    assert env.provider.started == []


@pytest.mark.parametrize(
    "args",
    [
        ["not-a-dataset", "--algorithm", "x"],
        [DATATOKEN],
        [DATATOKEN, "--algorithm", "x", "--epsilon", "-1"],
        [DATATOKEN, "--algorithm", "x", "--epsilon", "lots"],
    ],
)
def test_bad_start_arguments_are_usage_errors(env, args) -> None:
    assert run("compute", "start", *args).exit_code == 2


def test_a_bad_option_with_json_is_a_json_usage_error(env) -> None:
    result = run("compute", "start", DATATOKEN, "-a", "x", "--epsilon", "lots", "--json")
    assert result.exit_code == 2
    error = last_json(result)["error"]
    assert error["code"] == "usage_error" and error["details"] == {"param": "--epsilon"}


def test_bad_output_options_are_usage_errors(env) -> None:
    alone = run("compute", "start", DATATOKEN, "-a", "x", "--output-shape", "2", "--order-tx", ORDER)
    assert alone.exit_code == 2
    assert "Error: --output-shape and --output-bounds go together" in alone.stderr
    result = run("compute", "start", DATATOKEN, "-a", "x", "--output-shape", "x", "--output-bounds", "0:1",
                 "--order-tx", ORDER, "--json")  # fmt: skip
    assert result.exit_code == 2
    assert last_json(result)["error"] == {
        "code": "usage_error",
        "message": "Invalid value for '--output-shape': 'x' is not a list of integers such as 31 or 2,3",
        "details": {"param": "--output-shape"},
    }
    assert env.provider.started == []


def test_commands_are_registered() -> None:
    assert {"compute", "privacy", "algorithm"} <= set(cli.main.list_commands(None))
    result = run("compute", "--help")
    assert result.exit_code == 0
    for name in ("start", "status", "logs", "result", "cancel"):
        assert name in result.output


# ----------------------------------------------------------------------------------------- start


def test_start_without_waiting(env) -> None:
    result = run(
        "compute", "start", f"eip155:31337/{DATATOKEN}", "--algorithm", "train_tabular",
        "--param", "target=label", "--param", "epochs=3", "--epsilon", "0.5", "--gpu",
        "--order-tx", ORDER, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = last_json(result)
    assert payload["job_id"] == JOB and payload["state"] == "queued" and payload["order_tx"] == ORDER
    assert payload["epsilon"] == {"requested": 0.5, "charged": None} and payload["environment"] == "gpu"
    assert env.provider.started[0]["job"]["params"] == {"target": "label", "epochs": 3}
    assert (env.home / "jobs" / f"{JOB}.json").exists()
    plain = run("compute", "start", DATATOKEN, "--algorithm", "train_tabular", "--order-tx", ORDER)
    assert plain.output.splitlines()[0] == f"job {JOB}"


def test_start_and_wait(env) -> None:
    env.provider.states = [{"state": "running", "progress": 0.5}, {"state": "succeeded", "progress": 1.0}]
    result = run("compute", "start", DATATOKEN, "-a", "dp_stats", "--order-tx", ORDER, "--wait", "--json")
    assert result.exit_code == 0, result.output
    payload = last_json(result)
    assert payload["job_id"] == JOB and payload["state"] == "succeeded" and payload["progress"] == 1.0
    plain = run("compute", "start", DATATOKEN, "-a", "dp_stats", "--order-tx", ORDER, "--wait")
    lines = plain.output.splitlines()
    assert lines[0] == f"job {JOB}" and lines[-1] == f"job {JOB} succeeded"


def test_a_job_that_fails_exits_1(env) -> None:
    error = {"code": "raw_rows_in_output", "message": "an output holds rows of the data"}
    env.provider.states = [{"state": "rejected", "progress": 1.0, "error": error}]
    result = run("compute", "start", DATATOKEN, "-a", "dp_stats", "--order-tx", ORDER, "--wait", "--json")
    assert result.exit_code == 1
    assert last_json(result)["error"] == error


def test_provider_errors_are_reported_not_raised(env) -> None:
    from datamarket.sdk.provider_client import ProviderRefused

    def refuse(*args, **kwargs):
        message = "the dataset does not trust this algorithm"
        raise ProviderRefused("algorithm_not_trusted", message, status=403)

    env.provider.compute_start = refuse
    result = run("compute", "start", DATATOKEN, "-a", "dp_stats", "--order-tx", ORDER, "--json")
    assert result.exit_code == 1
    assert last_json(result) == {
        "error": {
            "code": "algorithm_not_trusted",
            "message": "the dataset does not trust this algorithm",
            "details": {},
        }
    }


# ------------------------------------------------------------------------------ the job's commands


def started(env) -> None:
    assert run("compute", "start", DATATOKEN, "-a", "dp_stats", "--order-tx", ORDER).exit_code == 0


def test_status_logs_cancel(env) -> None:
    started(env)
    env.provider.states = [
        {
            "state": "running", "progress": 0.25, "timings": {"queued": 0.1, "staging": 1.5},
            "epsilon": {"requested": 1.0, "charged": 0.0}, "error": None, "receipt": None,
        }
    ]  # fmt: skip
    result = run("compute", "status", JOB, "--json")
    payload = last_json(result)
    assert {"state", "timings", "epsilon", "progress", "error", "receipt"} <= set(payload)
    assert payload["state"] == "running" and payload["timings"]["staging"] == 1.5
    text = run("compute", "status", JOB.upper()).output
    assert "running" in text and "25.0%" in text
    assert run("compute", "logs", JOB).output == "progress: 1\ndone\n"
    assert last_json(run("compute", "logs", JOB, "--json"))["logs"] == "progress: 1\ndone\n"
    assert last_json(run("compute", "cancel", JOB, "--json")) == {
        "job_id": JOB,
        "state": "cancelled",
    }


def test_an_unknown_job(env) -> None:
    result = run("compute", "status", "f" * 32, "--json")
    assert result.exit_code == 1 and last_json(result)["error"]["code"] == "job_not_found"
    assert last_json(result)["error"]["details"] == {"job_id": "f" * 32}
    assert run("compute", "status", "nope").exit_code == 2


def test_result(env, tmp_path) -> None:
    started(env)
    handle = job_files.load_job(env.home / "jobs", JOB)
    record, ciphertext = standard(handle)
    env.provider.result, env.provider.archive = record, ciphertext
    result = run("compute", "result", JOB, "-o", str(tmp_path / "results"), "--json")
    assert result.exit_code == 0, result.output
    payload = last_json(result)
    assert payload["dir"] == str(tmp_path / "results")
    assert [(o["path"], o["size"], o["sha256"]) for o in payload["outputs"]] == [
        (o["path"], o["size"], o["sha256"]) for o in record["outputs"]
    ]
    assert output_hash(record["outputs"]) == record["output_hash"]


# ------------------------------------------------------------------------------ privacy, algorithm


def test_privacy(env, monkeypatch) -> None:
    monkeypatch.setenv("DATAMARKET_PROVIDER_URL", "http://provider.test")
    answer = {"budget": 10.0, "spent": 2.0, "reserved": 1.0, "remaining": 7.0}
    monkeypatch.setattr(
        "datamarket.sdk.provider_client.ProviderClient.privacy", lambda self, d: {"datatoken": d, **answer}
    )
    payload = last_json(run("privacy", DATATOKEN, "--json"))
    assert payload["remaining"] == 7.0 and payload["datatoken"] == DATATOKEN


def test_algorithm_hash_and_publish(env, tmp_path, monkeypatch) -> None:
    pytest.importorskip("datamarket.bundle")
    folder = tmp_path / "algo"
    folder.mkdir()
    (folder / "main.py").write_text("print('hi')\n")
    digest = last_json(run("algorithm", "hash", str(folder), "--json"))["sha256"]
    assert digest == jobs.pack_bundle(folder)[1]
    assert run("algorithm", "hash", str(folder)).output.strip() == digest
    monkeypatch.setenv("DATAMARKET_STORE", str(tmp_path / "store"))
    published = last_json(run("algorithm", "publish", str(folder), "--json"))
    assert published["sha256"] == digest and published["cid"].startswith("b")
