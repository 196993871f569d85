"""The CLI's one error path: what each kind of failure prints, as text and with --json, and its exit
status; through a small group of its own, then through the real commands."""

from __future__ import annotations

import json
import os

import click
import pytest
from click.testing import CliRunner

from datamarket import cli
from datamarket.cli import context
from datamarket.cli.errors import Command, CommandError, Group, safe_details
from datamarket.cli.output import json_option
from datamarket.errors import DatamarketError

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HINT = "(set DATAMARKET_DEBUG=1 for details)"


class Refused(DatamarketError):
    code = "refused"


@click.group(cls=Group)
def tool() -> None:
    """A group of the tests' own."""


@tool.command()
@click.argument("kind")
@click.option("--count", type=int, default=0)
@json_option()
def fail(kind: str, count: int, as_json: bool) -> None:
    if kind == "refused":
        raise Refused("not today", details={"field": "when", "tries": 3})
    if kind == "usage":
        raise click.BadParameter("must be even", param_hint=["--count"])
    if kind == "coded":
        raise CommandError("the sandbox is missing", code="sandbox_unavailable")
    if kind == "unexpected":
        raise RuntimeError("an internal detail")
    click.echo(f"ok {count}")


@tool.group()
def nested() -> None:
    """A subgroup: its commands take the path too."""


@nested.command()
@json_option()
def deep(as_json: bool) -> None:
    raise Refused("deep down")


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(tool, list(args), prog_name="tool", env={"DATAMARKET_DEBUG": "", **(env or {})})


# ------------------------------------------------------------------------------------ known errors


def test_a_datamarket_error_is_one_line_on_stderr_and_exit_1() -> None:
    result = invoke("fail", "refused")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "error (refused): not today\n")


def test_with_json_it_is_the_http_error_shape_with_details_on_stdout() -> None:
    result = invoke("fail", "refused", "--json")
    assert (result.exit_code, result.stderr) == (1, "")
    assert json.loads(result.stdout) == {
        "error": {"code": "refused", "message": "not today", "details": {"field": "when", "tries": 3}}
    }


def test_a_command_error_carries_its_own_code() -> None:
    result = invoke("fail", "coded", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "sandbox_unavailable"


def test_subgroups_take_the_same_path() -> None:
    assert isinstance(nested, Group) and isinstance(nested.commands["deep"], Command)
    assert invoke("nested", "deep").stderr == "error (refused): deep down\n"
    assert json.loads(invoke("nested", "deep", "--json").stdout)["error"]["message"] == "deep down"


def test_details_keep_json_scalars_and_lists_only() -> None:
    details = {
        "field": "job.params", "count": 2, "ratio": 0.5, "ok": True, "none": None, "ids": [1, "a"],
        "nested": {"a": 1}, "mixed": [1, {"a": 1}], "object": object(), "nan": float("nan"),
        "path": os.path.join(os.sep, "home", "someone", "data.csv"), "home": "~/data.csv", "name": "data.csv",
        "token": "bearer-abc", "private_key": "0x11", "Password": "hunter2",
    }  # fmt: skip
    assert safe_details(details) == {
        "field": "job.params", "count": 2, "ratio": 0.5, "ok": True, "none": None, "ids": [1, "a"],
        "name": "data.csv",
    }  # fmt: skip


# ------------------------------------------------------------------------------------ usage errors


def test_a_usage_error_raised_by_the_command_stays_clicks_usage_error() -> None:
    result = invoke("fail", "usage")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Usage: tool fail [OPTIONS] KIND\n")
    assert result.stderr.endswith("Error: Invalid value for '--count': must be even\n")


def test_with_json_a_usage_error_is_a_json_usage_error() -> None:
    result = invoke("fail", "usage", "--json")
    assert (result.exit_code, result.stderr) == (2, "")
    assert json.loads(result.stdout) == {
        "error": {
            "code": "usage_error",
            "message": "Invalid value for '--count': must be even",
            "details": {"param": "--count"},
        }
    }


def test_a_usage_error_found_while_parsing_is_json_too() -> None:
    result = invoke("fail", "ok", "--count", "many", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "usage_error" and error["details"] == {"param": "--count"}
    assert "'many' is not a valid integer" in error["message"]
    text = invoke("fail", "ok", "--count", "many")
    assert text.exit_code == 2 and "Error: Invalid value for '--count'" in text.stderr


def test_json_after_the_end_of_options_is_an_argument() -> None:
    result = invoke("fail", "--count", "many", "--", "--json")
    assert result.exit_code == 2 and result.stdout == "" and "Usage: tool fail" in result.stderr


def test_help_and_success_are_untouched() -> None:
    assert invoke("fail", "--help").exit_code == 0
    result = invoke("fail", "fine", "--count", "4")
    assert (result.exit_code, result.stdout) == (0, "ok 4\n")


# ------------------------------------------------------------------------------------ unexpected errors


def test_an_unexpected_error_is_internal_error_exit_2_without_a_traceback() -> None:
    result = invoke("fail", "unexpected")
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error (internal_error): unexpected RuntimeError (set DATAMARKET_DEBUG=1 for details)\n"
    )
    assert "an internal detail" not in result.output
    as_json = invoke("fail", "unexpected", "--json")
    assert as_json.exit_code == 2 and "Traceback" not in as_json.output
    assert json.loads(as_json.stdout)["error"] == {
        "code": "internal_error",
        "message": f"unexpected RuntimeError {HINT}",
        "details": {},
    }


def test_datamarket_debug_shows_the_traceback_first() -> None:
    result = invoke("fail", "unexpected", env={"DATAMARKET_DEBUG": "1"})
    assert result.exit_code == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "RuntimeError: an internal detail" in result.stderr
    assert result.stderr.endswith("error (internal_error): unexpected RuntimeError\n")
    as_json = invoke("fail", "unexpected", "--json", env={"DATAMARKET_DEBUG": "1"})
    assert as_json.exit_code == 2 and "Traceback" in as_json.stderr
    assert json.loads(as_json.stdout)["error"]["code"] == "internal_error"


# ------------------------------------------------------------------------------------ real commands


def datamarket(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli.main, list(args), prog_name="datamarket", env=env)


def test_an_unknown_job_reports_its_id_in_the_details(tmp_path) -> None:
    env = {"DATAMARKET_HOME": str(tmp_path), "DATAMARKET_CONFIG": ""}
    result = datamarket("compute", "status", "f" * 32, "--json", env=env)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "job_not_found" and error["details"] == {"job_id": "f" * 32}


def test_a_path_in_the_details_is_left_out(tmp_path) -> None:
    link = tmp_path / "algo.py"
    link.symlink_to(tmp_path)
    result = datamarket("algorithm", "hash", str(link), "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_bundle" and str(link) in error["message"]
    assert str(tmp_path) not in json.dumps(error["details"])


@pytest.fixture
def broken_connection(monkeypatch):
    def connect(dev_index):
        raise KeyError("rpc_url of a broken settings file")

    monkeypatch.setattr(context, "connect", connect)
    monkeypatch.setattr(context, "on_local_market", lambda: False)


def test_a_real_command_hides_an_unexpected_error(broken_connection) -> None:
    result = datamarket("buy", ADDRESS, env={"DATAMARKET_DEBUG": ""})
    assert result.exit_code == 2
    assert (
        result.stderr == "error (internal_error): unexpected KeyError (set DATAMARKET_DEBUG=1 for details)\n"
    )
    debug = datamarket("buy", ADDRESS, "--json", env={"DATAMARKET_DEBUG": "1"})
    assert debug.exit_code == 2 and "Traceback" in debug.stderr and "broken settings file" in debug.stderr
    assert json.loads(debug.stdout)["error"]["code"] == "internal_error"


def test_a_bad_dataset_is_a_usage_error(monkeypatch) -> None:
    monkeypatch.setattr(context, "connect", lambda dev_index: (None, None, None, None))
    monkeypatch.setattr(context, "on_local_market", lambda: False)
    result = datamarket("download", "0x12", "-o", "out.csv")
    assert result.exit_code == 2
    assert "Error: Invalid value for 'DATASET': '0x12' is neither" in result.stderr
    as_json = datamarket("download", "0x12", "-o", "out.csv", "--json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["error"]["details"] == {"param": "DATASET"}
