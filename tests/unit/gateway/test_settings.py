from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datamarket.errors import ConfigError
from gateway.cli import gateway
from gateway.settings import GatewaySettings


def test_the_store_is_required_and_limits_are_checked():
    with pytest.raises(ConfigError, match="store: required"):
        GatewaySettings.load(env={})
    with pytest.raises(ConfigError, match="max_dag_blocks"):
        GatewaySettings.load(
            env={"DATAMARKET_GATEWAY_STORE": "/srv/store", "DATAMARKET_GATEWAY_MAX_DAG_BLOCKS": "0"}
        )
    settings = GatewaySettings.load(
        env={"DATAMARKET_GATEWAY_STORE": "/srv/store", "DATAMARKET_GATEWAY_URL": "x"}
    )
    assert settings.store == "/srv/store"  # DATAMARKET_GATEWAY_URL is the others' setting, not its own


def test_a_node_password_in_the_store_url_is_never_shown():
    settings = GatewaySettings.load(env={"DATAMARKET_GATEWAY_STORE": "https://user:hunter2@ipfs.example"})
    assert "hunter2" not in repr(settings)


def test_serve_stops_at_a_bad_setting_naming_it(monkeypatch):
    monkeypatch.delenv("DATAMARKET_GATEWAY_STORE", raising=False)
    result = CliRunner().invoke(gateway, ["serve", "--json"])
    assert result.exit_code != 0
    error = json.loads(result.output.strip().splitlines()[-1])["error"]
    assert error["code"] == "invalid_config" and "store: required" in error["message"]
