"""`datamarket audit`: its exit statuses (0 clean, 1 something fails verification, 2 no audit made) and
its outputs, with the audit itself replaced by a report built from fabricated events."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from eth_utils import to_checksum_address

from datamarket.audit import audits
from datamarket.cli import main
from tests.unit.audit.market_history import DT, History

ADDRESS = "0x" + "12" * 20


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATAMARKET_RPC_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DATAMARKET_MARKET", to_checksum_address("0x" + "ab" * 20))
    for var in ("DATAMARKET_STORE", "DATAMARKET_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def fake_audit(monkeypatch, report, calls=None):
    def audit_dataset(chain, datatoken, **kwargs):
        if calls is not None:
            calls.append((datatoken, kwargs))
        return report

    monkeypatch.setattr(audits, "audit_dataset", audit_dataset)


def clean_report():
    history = History()
    history.publish()
    return history.report()


def failing_report():
    history = History()
    history.publish()
    history.unpaid_order()
    return history.report()


def test_a_clean_dataset_exits_0_with_the_table_and_its_summary(env, monkeypatch) -> None:
    calls = []
    fake_audit(monkeypatch, clean_report(), calls)
    result = CliRunner().invoke(main, ["audit", f"eip155:31337/{DT}", "--from-block", "7"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith("0 problems: OK")
    assert calls == [
        (DT, {"store": None, "from_block": 7, "chain_id": 31337, "backend": None, "backend_url": ""})
    ]


def test_audit_dataset_is_the_same_command(env, monkeypatch) -> None:
    fake_audit(monkeypatch, clean_report())
    assert CliRunner().invoke(main, ["audit", "dataset", DT]).exit_code == 0


def test_a_problem_exits_1_and_json_holds_it(env, monkeypatch) -> None:
    fake_audit(monkeypatch, failing_report())
    result = CliRunner().invoke(main, ["audit", DT, "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False and {p["kind"] for p in data["problems"]} == {"unpaid_order", "rule_violation"}
    pretty = CliRunner().invoke(main, ["audit", DT, "--format", "json"])
    assert pretty.exit_code == 1 and json.loads(pretty.output) == data


def test_csv_goes_to_a_file_and_the_summary_to_stderr(env, monkeypatch) -> None:
    fake_audit(monkeypatch, failing_report())
    target = env / "timeline.csv"
    result = CliRunner().invoke(main, ["audit", DT, "--format", "csv", "-o", str(target)])
    assert result.exit_code == 1
    assert result.stdout == "" and "problems: FAILED" in result.stderr
    frame = pd.read_csv(io.StringIO(target.read_text()), keep_default_na=False)
    assert list(frame["event"]) == ["DatasetPublished", "PriceSet", "OrderStarted"]


def test_an_audit_that_cannot_be_made_exits_2(env, monkeypatch) -> None:
    monkeypatch.delenv("DATAMARKET_RPC_URL")
    result = CliRunner().invoke(main, ["audit", DT])
    assert result.exit_code == 2
    assert result.stderr.startswith("error (invalid_config): missing settings: rpc_url")
    as_json = CliRunner().invoke(main, ["audit", DT, "--json"])
    assert as_json.exit_code == 2 and json.loads(as_json.output)["error"]["code"] == "invalid_config"


def test_a_node_that_does_not_answer_exits_2(env) -> None:
    """The unit tests' network guard refuses the connection, as a node that is down would."""
    result = CliRunner().invoke(main, ["audit", DT])
    assert result.exit_code == 2
    assert result.stderr.startswith("error (chain_unavailable): ")


@pytest.mark.parametrize("dataset", ["nonsense", "eip155:abc/" + ADDRESS, "cosmos:1/" + ADDRESS])
def test_a_malformed_dataset_is_a_usage_error(env, dataset) -> None:
    result = CliRunner().invoke(main, ["audit", dataset])
    assert result.exit_code == 2 and "DATASET" in result.stderr


def test_the_result_audit_takes_a_salt_of_64_hex_digits(env, tmp_path) -> None:
    result = CliRunner().invoke(main, ["audit", "result", str(tmp_path), "--salt", "12"])
    assert result.exit_code == 2
    assert "Invalid value for '--salt': the output salt is 64 hex digits" in result.stderr


def test_an_empty_result_folder_exits_2(env, tmp_path) -> None:
    result = CliRunner().invoke(main, ["audit", "result", str(tmp_path), "--salt", "ab" * 32])
    assert result.exit_code == 2
    assert result.stderr == f"error (invalid_result_folder): {tmp_path} holds no files\n"


def test_the_result_audit_reads_the_salt_compute_result_saved(env, tmp_path) -> None:
    (tmp_path / "metrics.json").write_text("{}")
    missing = CliRunner().invoke(main, ["audit", "result", str(tmp_path)])
    assert missing.exit_code == 2
    assert "FOLDER has no .datamarket-result.json with the output salt: pass --salt" in missing.stderr
    (tmp_path / ".datamarket-result.json").write_text('{"output_salt": "' + "ab" * 32 + '"}')
    found = CliRunner().invoke(main, ["audit", "result", str(tmp_path)])
    # The salt was taken: the audit went on to the chain, which this test does not reach.
    assert found.exit_code == 2 and found.stderr.startswith("error (chain_unavailable): ")
