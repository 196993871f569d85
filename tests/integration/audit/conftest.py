"""The audit's integration tests: the CLI's settings point at the session's anvil and market, and at an
embedded content store of the test's own."""

from __future__ import annotations

import pytest

from datamarket.storage import open_store
from tests.conftest import World


@pytest.fixture
def store(world: World, tmp_path, monkeypatch):
    """The embedded store the CLI reads, and the CLI's settings: the world's node and market."""
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATAMARKET_RPC_URL", world.w3.provider.endpoint_uri)
    monkeypatch.setenv("DATAMARKET_MARKET", world.market.address)
    monkeypatch.setenv("DATAMARKET_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("DATAMARKET_CONFIG", raising=False)
    return open_store(tmp_path / "store")
