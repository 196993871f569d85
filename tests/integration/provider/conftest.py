"""The provider against the session's anvil: an app built from its settings alone (JSON-RPC chain
reader, embedded content store, key store and SQLite nonces in a temporary directory), datasets
published with real metadata documents and real encrypted files, orders placed on chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datamarket.chain.devchain import DevChain
from tests.conftest import World
from tests.integration.provider.world import (
    APPS,
    ProviderWorld,
    make_provider_world,
)
from tests.provider_api import internal_errors


@pytest.fixture(autouse=True)
def no_internal_errors() -> Iterator[None]:
    APPS.clear()
    yield
    for app in APPS:
        assert internal_errors(app) == 0, "a request reached the catch-all 500 handler"
    APPS.clear()


@pytest.fixture
def pw(anvil: DevChain, world: World, tmp_path: Path) -> ProviderWorld:
    return make_provider_world(anvil, world, tmp_path)
