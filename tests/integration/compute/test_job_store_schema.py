"""A new PostgreSQL job database opened by several processes at once, as the provider's gunicorn
workers and the Celery workers of a scaled-out market do on their first start: none fails."""

from __future__ import annotations

import multiprocessing

import pytest

from datamarket.jobs.store import JobStore
from tests.postgres import create_database, drop_database


def _open_and_count(url: str) -> None:
    JobStore(url).pending_count()


@pytest.mark.parametrize("attempt", range(3))
def test_processes_opening_a_new_postgres_database_together_all_succeed(attempt: int) -> None:
    url = create_database("dm_jobs")
    try:
        context = multiprocessing.get_context("spawn")
        procs = [context.Process(target=_open_and_count, args=(url,)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 6
    finally:
        drop_database(url)
