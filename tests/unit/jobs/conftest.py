"""A job database per test: SQLite in a temporary file, and PostgreSQL (127.0.0.1:5432, database
``test``, each test in its own schema, so counts are the test's own; skipped when the server is
unreachable, except in CI). The PostgreSQL variants are marked ``integration``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamarket.chain.devchain import dev_account
from datamarket.jobs.store import JobStore, NewJob
from tests.postgres import schema_url

POSTGRES_URL = os.environ.get("DATAMARKET_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
CONSUMER = dev_account(3).address


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _postgres(clock: Clock) -> Iterator[JobStore]:
    with schema_url("jobs_test", POSTGRES_URL) as url:
        store = JobStore(url, clock=clock)
        try:
            yield store
        finally:
            store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[JobStore, Clock]]:
    clock = Clock()
    if request.param == "sqlite":
        s = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=clock)
        yield s, clock
        s.close()
    else:
        for s in _postgres(clock):
            yield s, clock


def address() -> str:
    return "0x" + secrets.token_hex(20)


def new_job(
    *,
    datatoken: str,
    consumer: str = CONSUMER,
    environment: str = "cpu",
    order_id: int | None = None,
    epsilon: int = 0,
) -> NewJob:
    return NewJob(
        consumer=consumer,
        datatoken=datatoken,
        service_id=1,
        order_tx="0x" + secrets.token_hex(32),
        order_id=secrets.randbits(62) if order_id is None else order_id,
        consumer_key="0x" + "11" * 32,
        algorithm="dp_stats",
        algorithm_hash="ab" * 32,
        params={},
        environment=environment,
        epsilon_units=epsilon,
        delta=1e-5,
    )
