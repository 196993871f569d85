"""A migrated catalog per test: SQLite in a temporary file, and for the tests that take
``any_engine`` also PostgreSQL (127.0.0.1:5432, database ``test``, each test in its own schema;
skipped when the server is unreachable, except in CI). The PostgreSQL variants are marked
``integration``: ``-m "not integration"`` keeps this folder off the network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.db.engine import open_engine
from backend.db.migrate import upgrade
from tests.postgres import schema_url
from tests.unit.backend.api.catalog_rows import CHAIN_ID, Catalog
from tests.unit.backend.api.openapi_check import validating

POSTGRES_URL = os.environ.get("DATAMARKET_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")


def sqlite_engine(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path)
    yield engine
    engine.dispose()


def postgres_engine() -> Iterator[Engine]:
    with schema_url("api_test", POSTGRES_URL) as url:
        engine = open_engine(url)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def any_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The same module of tests on each database the catalog runs on (one catalog per module: the
    tests that take it only read)."""
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path_factory.mktemp("catalog"))
        yield engine
        engine.dispose()
    else:
        yield from postgres_engine()


@pytest.fixture
def catalog(engine: Engine) -> Catalog:
    return Catalog(engine)


@pytest.fixture
def app(engine: Engine, tmp_path: Path) -> Flask:
    # No JavaScript client: the pages run no script (tests/unit/backend/web/test_wallet_page.py has one).
    return validating(create_app(engine, chain_id=CHAIN_ID, client_dir=tmp_path / "no-client"))
