"""A PostgreSQL database of its own for each test that asks (the machine's server on 127.0.0.1:5432).

Without a server the tests that need one skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.postgres import create_database, drop_database


@pytest.fixture
def postgres_database() -> Iterator[Callable[[], str]]:
    created: list[str] = []

    def make() -> str:
        created.append(create_database("dm_catalog"))
        return created[-1]

    yield make
    for url in created:
        drop_database(url)
