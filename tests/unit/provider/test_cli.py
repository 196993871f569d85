"""The provider's click commands (serving itself is tested against anvil in integration)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from datamarket.chain.devchain import dev_account
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


def test_serve_stops_on_bad_settings_without_a_traceback_or_the_key(tmp_path: Path) -> None:
    bad = {**env(tmp_path), "DATAMARKET_PROVIDER_MARKET": "0xnot"}
    result = CliRunner().invoke(provider, ["serve"], env=bad)
    assert result.exit_code == 1
    assert "market: must be a checksummed address" in result.output
    assert "Traceback" not in result.output and KEY not in result.output
