"""A PostgreSQL database of its own for each test that asks (the machine's server on 127.0.0.1:5432).

Without a server the tests that need one skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

ADMIN_URL = os.environ.get("DATAMARKET_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    created: list[str] = []

    def make() -> str:
        name = f"dm_catalog_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
        created.append(name)
        return ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    yield make
    for name in created:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
