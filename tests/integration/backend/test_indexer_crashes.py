"""Killed with SIGKILL in the middle of its work, an indexer resumes with no gap and no duplicate; two
indexers on one PostgreSQL: one writes, the other waits on the advisory lock and takes over; an
indexer whose database sessions the server ended takes its lock again and goes on."""

from __future__ import annotations

import random
import time

import psycopg
import pytest
from sqlalchemy import select

from backend.db import models as m
from backend.db.engine import session_factory
from tests.conftest import World
from tests.integration.backend.catalog import (
    assert_catalog_is_chain,
    chain_event_positions,
    new_catalog,
    stored_positions,
)
from tests.integration.backend.processes import indexer_env, kill, start_indexer, wait_until

pytestmark = pytest.mark.integration


def checkpoint(engine) -> int:
    with session_factory(engine)() as session:
        found = session.execute(select(m.Checkpoint.block_number)).scalar()
    return -1 if found is None else found


def busy_market(world: World, datasets: int) -> None:
    consumer = world.as_(world.accounts.consumer)
    for i in range(datasets):
        published = world.publish(price=(i + 1) * 10**15)
        if i % 3 == 0:
            consumer.buy(published.datatoken, 1 + i % 4)


def test_sigkill_mid_batch_resumes_without_gap_or_duplicate(world: World, tmp_path) -> None:
    busy_market(world, 60)
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = new_catalog(url)
    # One block per batch: a kill at any moment is likely to land inside a batch's transaction.
    env = indexer_env(world, url, tmp_path, DATAMARKET_BACKEND_MAX_LOG_RANGE="1")
    head = world.w3.eth.block_number
    rng = random.Random(11)
    kills, seen = 0, []
    while checkpoint(engine) < head and kills < 12:
        process = start_indexer(env, tmp_path / "indexer.log")
        before = checkpoint(engine)
        wait_until(lambda: checkpoint(engine) > before or process.poll() is not None, "progress")  # noqa: B023
        time.sleep(rng.uniform(0.0, 0.15))
        kill(process)
        kills += 1
        seen.append(checkpoint(engine))
    print(f"{kills} kills at checkpoints {seen} of {head}")
    assert kills >= 3, f"the indexer caught up after only {kills} kills: make the market busier"
    assert seen == sorted(seen)  # a checkpoint never goes back
    process = start_indexer(env, tmp_path / "indexer.log")
    try:
        wait_until(lambda: checkpoint(engine) >= head, "catching up")
    finally:
        kill(process)
    assert stored_positions(engine) == chain_event_positions(world)
    assert_catalog_is_chain(world, engine)


def test_a_second_indexer_waits_and_takes_over_when_the_first_is_killed(
    world: World, tmp_path, postgres_database
) -> None:
    url = postgres_database()
    engine = new_catalog(url)
    env = indexer_env(world, url, tmp_path)
    busy_market(world, 5)
    first = start_indexer(env, tmp_path / "first.log")
    second = None
    try:
        wait_until(lambda: checkpoint(engine) >= world.w3.eth.block_number, "the first indexer")
        second = start_indexer(env, tmp_path / "second.log")
        wait_until(lambda: "waiting for the catalog's writer lock" in (tmp_path / "second.log").read_text(),
                   "the second indexer to wait")  # fmt: skip
        busy_market(world, 3)
        wait_until(lambda: checkpoint(engine) >= world.w3.eth.block_number, "the first indexer again")
        assert "holding" not in (tmp_path / "second.log").read_text()
        with psycopg.connect(url) as db:
            holders = db.execute(
                "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
                "WHERE locktype = 'advisory' AND granted AND d.datname = current_database()"
            ).fetchone()
        assert holders == (1,)
        kill(first)
        busy_market(world, 4)
        wait_until(lambda: "holding the catalog's writer lock" in (tmp_path / "second.log").read_text(),
                   "the takeover", timeout=30)  # fmt: skip
        wait_until(lambda: checkpoint(engine) >= world.w3.eth.block_number, "the second indexer")
    finally:
        kill(first)
        if second is not None:
            kill(second)
    assert stored_positions(engine) == chain_event_positions(world)
    assert_catalog_is_chain(world, engine)


def _holders(url: str) -> int:
    with psycopg.connect(url) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
            "WHERE locktype = 'advisory' AND granted AND d.datname = current_database()"
        ).fetchone()
    return count


def test_an_indexer_whose_sessions_were_ended_takes_its_lock_again(
    world: World, tmp_path, postgres_database
) -> None:
    url = postgres_database()
    engine = new_catalog(url)
    env = indexer_env(world, url, tmp_path)
    log = tmp_path / "indexer.log"
    busy_market(world, 3)
    process = start_indexer(env, log)
    try:
        wait_until(lambda: checkpoint(engine) >= world.w3.eth.block_number, "the indexer")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        wait_until(lambda: "taking the writer's lock again" in log.read_text(), "the lost lock noticed")
        wait_until(lambda: _holders(url) == 1, "the lock taken again")
        busy_market(world, 3)
        wait_until(lambda: checkpoint(engine) >= world.w3.eth.block_number, "the indexer going on")
        assert process.poll() is None
    finally:
        kill(process)
    assert stored_positions(engine) == chain_event_positions(world)
    assert_catalog_is_chain(world, engine)
