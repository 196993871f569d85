"""The provider's click commands (serving itself is tested against anvil in integration)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from datamarket.chain.devchain import dev_account
from datamarket.cli.errors import Command, Group
from provider.cli import provider

KEY = dev_account(2).key.hex()


def env(tmp_path: Path) -> dict[str, str]:
    return {
        "DATAMARKET_PROVIDER_RPC_URL": "http://127.0.0.1:1",
        "DATAMARKET_PROVIDER_MARKET": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "DATAMARKET_PROVIDER_PRIVATE_KEY": KEY,
        "DATAMARKET_PROVIDER_DATA_DIR": str(tmp_path),
    }


def test_it_is_a_click_group_with_serve_keys_and_accept() -> None:
    assert isinstance(provider, click.Group)
    assert set(provider.commands) == {"serve", "keys", "accept"}
    result = CliRunner().invoke(provider, ["serve", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output


def test_its_commands_take_the_clis_error_path() -> None:
    assert isinstance(provider, Group)
    assert all(isinstance(command, Command) for command in provider.commands.values())


def test_keys_makes_one_key_then_lists_it(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(provider, ["keys"], env=env(tmp_path))
    assert first.exit_code == 0, first.output
    listed = json.loads(first.output)
    assert len(listed) == 1 and listed[0]["scheme"] == "X25519"
    again = runner.invoke(provider, ["keys"], env=env(tmp_path))
    assert json.loads(again.output) == listed
    more = runner.invoke(provider, ["keys", "--generate"], env=env(tmp_path))
    assert len(json.loads(more.output)) == 2
    assert (tmp_path / "keys" / f"{listed[0]['key_id']}.x25519").exists()


def test_keys_with_json_is_one_object(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(provider, ["keys"], env=env(tmp_path)).stdout)
    result = runner.invoke(provider, ["keys", "--json"], env=env(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"keys": listed}
    more = runner.invoke(provider, ["keys", "--generate", "--json"], env=env(tmp_path))
    ids = [k["key_id"] for k in json.loads(more.stdout)["keys"]]
    assert len(ids) == 2 and listed[0]["key_id"] in ids


def test_keys_errors_with_json_name_the_setting_not_its_value(tmp_path: Path) -> None:
    bad = {**env(tmp_path), "DATAMARKET_PROVIDER_PRIVATE_KEY": "0x1234"}
    result = CliRunner().invoke(provider, ["keys", "--json"], env=bad)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_config" and "private_key" in error["message"]
    assert "0x1234" not in result.output


def test_serve_stops_on_bad_settings_without_a_traceback_or_the_key(tmp_path: Path) -> None:
    bad = {**env(tmp_path), "DATAMARKET_PROVIDER_MARKET": "0xnot"}
    result = CliRunner().invoke(provider, ["serve"], env=bad)
    assert result.exit_code == 1
    assert "market: must be a checksummed address" in result.output
    assert "Traceback" not in result.output and KEY not in result.output


def test_serve_with_json_reports_a_start_up_error_as_json(tmp_path: Path) -> None:
    bad = {**env(tmp_path), "DATAMARKET_PROVIDER_MARKET": "0xnot"}
    result = CliRunner().invoke(provider, ["serve", "--json"], env=bad)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_config"
    assert "market: must be a checksummed address" in error["details"]["problems"]
    assert KEY not in result.output and "0xnot" not in result.output


def test_serve_with_json_prints_its_start_line_as_json(tmp_path: Path, monkeypatch) -> None:
    from gunicorn.app.base import BaseApplication

    monkeypatch.setattr(BaseApplication, "run", lambda self: None)
    result = CliRunner().invoke(provider, ["serve", "--json", "--port", "8123"], env=env(tmp_path))
    assert result.exit_code == 0, result.output
    started = json.loads(result.stdout)
    assert started["provider"] == dev_account(2).address and started["port"] == 8123
    assert started["host"] == "127.0.0.1" and len(started["key_id"]) > 0
    plain = CliRunner().invoke(provider, ["serve"], env=env(tmp_path))
    assert plain.stdout == "" and plain.stderr.startswith(f"provider {dev_account(2).address}, key ")


def test_accept_refuses_a_bad_datatoken(tmp_path: Path) -> None:
    text = CliRunner().invoke(provider, ["accept", "0x12"], env=env(tmp_path))
    assert text.exit_code == 1 and text.stderr.startswith("error (invalid_request): datatoken ")
    result = CliRunner().invoke(provider, ["accept", "0x12", "--json"], env=env(tmp_path))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["details"] == {"field": "datatoken"}
