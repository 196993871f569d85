"""The backend's settings: validated at start, every problem named, no password shown."""

from __future__ import annotations

import threading

import pytest

from backend.indexer import service
from backend.settings import BackendSettings
from datamarket.errors import ConfigError

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ENV = {"DATAMARKET_BACKEND_RPC_URL": "http://127.0.0.1:8545", "DATAMARKET_BACKEND_MARKET": MARKET}


def test_defaults_and_the_database_under_the_data_dir(tmp_path) -> None:
    settings = BackendSettings.load(env={**ENV, "DATAMARKET_BACKEND_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert (settings.confirmations, settings.poll_interval_s, settings.store) == (0, 0.25, None)


def test_every_bad_setting_is_named_never_its_value() -> None:
    env = {"DATAMARKET_BACKEND_RPC_URL": "ftp://node", "DATAMARKET_BACKEND_MARKET": MARKET.lower(),
           "DATAMARKET_BACKEND_CONFIRMATIONS": "-1",
           "DATAMARKET_BACKEND_DATABASE_URL": "mysql://u:hunter2@db/x"}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        BackendSettings.load(env=env)
    problems = caught.value.details["problems"]
    assert [p.split(":")[0] for p in problems] == ["rpc_url", "market", "database_url", "confirmations"]
    assert "hunter2" not in str(caught.value)


def test_the_database_password_is_masked() -> None:
    settings = BackendSettings.load(
        env={**ENV, "DATAMARKET_BACKEND_DATABASE_URL": "postgresql://u:hunter2@db/x"}
    )
    assert "hunter2" not in repr(settings)


def test_the_indexer_needs_a_content_store(tmp_path) -> None:
    settings = BackendSettings.load(env={**ENV, "DATAMARKET_BACKEND_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="store: required by the indexer"):
        service.run(settings, threading.Event())
