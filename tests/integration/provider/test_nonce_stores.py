"""The nonce stores against real servers: SQLite, Redis (127.0.0.1:6379) and PostgreSQL
(127.0.0.1:5432, database ``test``). Redis and PostgreSQL tests skip when the server is not
reachable, unless CI == "true" (then they fail: CI must provide them)."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamarket.chain.devchain import dev_account
from provider.nonces import (
    PRUNE_BATCH,
    NonceExpired,
    NonceInFuture,
    NonceStore,
    NonceStoreUnavailable,
    NonceUsed,
    PostgresNonceStore,
    RedisNonceStore,
    SQLiteNonceStore,
    Window,
    open_nonce_store,
)

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("DATAMARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("DATAMARKET_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
A = dev_account(3).address
B = dev_account(4).address
T = 1_800_000_000_000  # a time in milliseconds
W = 60_000
NOW = Window.around(T, W)


def _reachable(url: str) -> None:
    try:
        store = open_nonce_store(url, namespace="probe")
        store.ping()
        store.close()
    except NonceStoreUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{url.split('://')[0]} is required in CI but unreachable: {exc}")
        pytest.skip(f"{url.split('://')[0]} not reachable")


class Stores:
    """Stores on ONE backend and namespace (a fresh namespace per test), as separate workers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.namespace = "test-" + secrets.token_hex(8)
        self.made: list[NonceStore] = []

    def __call__(self) -> NonceStore:
        store = open_nonce_store(self.url, namespace=self.namespace)
        self.made.append(store)
        return store


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = {"sqlite": f"sqlite:///{tmp_path / 'n.db'}", "redis": REDIS_URL, "postgresql": POSTGRES_URL}[
        request.param
    ]
    if request.param != "sqlite":
        _reachable(url)
    stores = Stores(url)
    yield stores
    for store in stores.made:
        store.close()


def held(store: NonceStore, address: str) -> int:
    """How many nonces of ``address`` the backend holds now."""
    if isinstance(store, SQLiteNonceStore):
        with sqlite3.connect(store.path) as db:
            sql = "SELECT count(*) FROM used_nonces WHERE namespace = ? AND address = ?"
            return db.execute(sql, (store.namespace, address)).fetchone()[0]
    if isinstance(store, RedisNonceStore):
        return store.redis.zcard(store._key("used", address))
    assert isinstance(store, PostgresNonceStore)
    sql = "SELECT count(*) FROM datamarket_used_nonces WHERE namespace = %s AND address = %s"
    return store._one(sql, (store.namespace, address))[0]


def test_any_unused_nonce_in_the_window_once_and_persistent(open_store: Stores) -> None:
    store = open_store()
    assert store.last(A, NOW) == 0
    for nonce in (T, T - 5, T - W, T + W):  # in any order, both ends of the window included
        store.consume(A, nonce, NOW)
    for used in (T, T - 5, T - W, T + W):
        with pytest.raises(NonceUsed):
            store.consume(A, used, NOW)
        with pytest.raises(NonceUsed):
            store.check(A, used, NOW)
    store.check(A, T - 6, NOW)  # read only: still free afterwards
    store.consume(A, T - 6, NOW)
    store.consume(B, T, NOW)
    assert store.next_quote_nonce() == 1
    # A second connection (another worker, or the provider after a restart) sees the same state.
    again = open_store()
    assert again.last(A, NOW) == T + W
    assert again.last(A, Window.around(T - W, 5)) == T - W
    with pytest.raises(NonceUsed):
        again.consume(A, T - 5, NOW)
    assert again.next_quote_nonce() == 2
    high = Window.around(2**62, W)  # beyond what a double holds exactly
    again.consume(A, 2**62, high)
    again.consume(A, 2**62 + 1, high)
    with pytest.raises(NonceUsed):
        again.consume(A, 2**62 + 1, high)
    assert store.last(A, high) == 2**62 + 1


def test_outside_the_window_is_refused_with_its_code(open_store: Stores) -> None:
    store = open_store()
    with pytest.raises(NonceExpired) as old:
        store.consume(A, T - W - 1, NOW)
    assert (old.value.code, old.value.details["min"]) == ("nonce_expired", T - W)
    with pytest.raises(NonceInFuture) as future:
        store.consume(A, T + W + 1, NOW)
    assert future.value.code == "nonce_in_future"
    assert held(store, A) == 0


def test_the_floor_is_shared_by_every_worker(open_store: Stores) -> None:
    ahead, behind = open_store(), open_store()  # two providers whose clocks disagree by 10 s
    ahead.consume(A, T + 10_000, Window.around(T + 10_000, W))
    with pytest.raises(NonceExpired) as refused:
        behind.consume(A, T - W + 5_000, NOW)  # in behind's window, below the floor
    assert refused.value.details["min"] == T - W + 10_000
    with pytest.raises(NonceExpired):
        behind.check(A, T - W + 5_000, NOW)
    behind.consume(A, T - W + 10_000, NOW)  # at the floor: accepted, and kept
    with pytest.raises(NonceUsed):
        ahead.consume(A, T - W + 10_000, NOW)


def test_pruning_keeps_each_nonce_once(open_store: Stores) -> None:
    store = open_store()
    old = [T - i for i in range(2 * PRUNE_BATCH)]
    for nonce in old:
        store.consume(A, nonce, NOW)
    assert held(store, A) == len(old)
    later = Window.around(T + 2 * W + 1, W)  # every nonce above is expired now
    for i in range(3):
        store.consume(A, later.high - i, later)
    assert held(store, A) == 3, "the expired nonces were pruned"
    # The clock steps back (or another provider's lags): a pruned nonce is expired, never new.
    for nonce in (old[0], old[-1]):
        with pytest.raises(NonceExpired):
            store.consume(A, nonce, NOW)
    assert store.last(A, NOW) == 0
    assert held(store, A) == 3


def race(stores: list[NonceStore], nonce: int) -> list[str]:
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(store: NonceStore) -> None:
        barrier.wait()
        try:
            store.consume(A, nonce, NOW)
            result = "ok"
        except NonceUsed:
            result = "used"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


def test_threads_racing_on_one_nonce_exactly_one_is_accepted(open_store: Stores) -> None:
    stores = [open_store() for _ in range(8)]  # as if 8 workers, each with its own connection
    assert race(stores, T) == ["ok"] + ["used"] * 7
    assert race(stores, T - 1000) == ["ok"] + ["used"] * 7  # lower, later: accepted once too
    assert race(stores, T) == ["used"] * 8
    assert stores[0].last(A, NOW) == T


def _consume_all(url: str, namespace: str, nonces: list[int], barrier, results) -> None:
    """A worker process: consume every nonce, report each outcome."""
    store = open_nonce_store(url, namespace=namespace)
    barrier.wait()
    for nonce in nonces:
        try:
            store.consume(A, nonce, NOW)
            results.put((nonce, "ok"))
        except NonceUsed:
            results.put((nonce, "used"))
    store.close()


def test_processes_racing_on_the_same_nonces_accept_each_once(open_store: Stores) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    nonces = [T - i for i in range(40)]
    barrier, results = context.Barrier(4), context.Queue()
    procs = [
        context.Process(
            target=_consume_all, args=(open_store.url, open_store.namespace, order, barrier, results)
        )
        for order in (nonces, nonces, nonces[::-1], nonces[::-1])
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(4 * len(nonces))]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    accepted = sorted(n for n, outcome in outcomes if outcome == "ok")
    assert accepted == sorted(nonces), "each nonce accepted exactly once"
    assert held(open_store(), A) == len(nonces)


def test_concurrent_quote_nonces_are_distinct(open_store: Stores) -> None:
    stores = [open_store() for _ in range(4)]
    got: list[int] = []
    lock = threading.Lock()

    def take(store: NonceStore) -> None:
        values = [store.next_quote_nonce() for _ in range(25)]
        with lock:
            got.extend(values)

    threads = [threading.Thread(target=take, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 101))


def test_a_redis_consumer_set_expires_when_idle() -> None:
    _reachable(REDIS_URL)
    store = RedisNonceStore(REDIS_URL, namespace="test-" + secrets.token_hex(8))
    store.consume(A, T, NOW)
    ttl = store.redis.pttl(store._key("used", A))
    assert NOW.ttl_ms - 60_000 < ttl <= NOW.ttl_ms
    assert NOW.ttl_ms > 2 * W, "kept for longer than any of its nonces can be accepted"
    store.close()


# ------------------------------------------------------------------------ the previous scheme's last nonces


def _legacy_sqlite(url: str, namespace: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite://")) as db:
        db.execute(
            "CREATE TABLE consumer_nonces (namespace TEXT NOT NULL, address TEXT NOT NULL,"
            " last INTEGER NOT NULL, PRIMARY KEY (namespace, address))"
        )
        db.execute("INSERT INTO consumer_nonces VALUES (?, ?, ?)", (namespace, A, T))


def _legacy_redis(url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.set(f"datamarket:provider:{namespace}:nonce:{A}", str(T).zfill(19))
    client.close()


def _legacy_postgres(url: str, namespace: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SELECT pg_advisory_lock(7255021)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS datamarket_consumer_nonces (namespace TEXT NOT NULL,"
            " address TEXT NOT NULL, last BIGINT NOT NULL, PRIMARY KEY (namespace, address))"
        )
        db.execute("SELECT pg_advisory_unlock(7255021)")
        db.execute("INSERT INTO datamarket_consumer_nonces VALUES (%s, %s, %s)", (namespace, A, T))


def _legacy_left(store: NonceStore) -> int:
    if isinstance(store, SQLiteNonceStore):
        with sqlite3.connect(store.path) as db:
            return db.execute("SELECT count(*) FROM consumer_nonces").fetchone()[0]
    if isinstance(store, RedisNonceStore):
        return store.redis.exists(store._key("nonce", A))
    sql = "SELECT count(*) FROM datamarket_consumer_nonces WHERE namespace = %s"
    return store._one(sql, (store.namespace,))[0]


def test_a_previous_schemes_last_nonce_still_counts_until_the_floor_passes_it(open_store: Stores) -> None:
    scheme = open_store.url.split(":")[0]
    {"sqlite": _legacy_sqlite, "redis": _legacy_redis, "postgresql": _legacy_postgres}[scheme](
        open_store.url, open_store.namespace
    )
    store = open_store()  # the new version starts on the old state
    assert store.last(A, NOW) == T
    for used in (T, T - 1):
        with pytest.raises(NonceUsed):
            store.check(A, used, NOW)
        with pytest.raises(NonceUsed):
            store.consume(A, used, NOW)
    store.consume(A, T + 1, NOW)
    store.consume(B, T - 1, NOW)
    assert _legacy_left(store) == 1
    later = Window.around(T + W + 1, W)
    store.consume(A, later.high, later)
    assert _legacy_left(store) == 0, "gone once the floor is above it"
    with pytest.raises(NonceExpired):
        open_store().consume(A, T, NOW)


def test_unreachable_servers_raise_unavailable() -> None:
    from datamarket.chain.devchain import free_port

    port = free_port()
    with pytest.raises(NonceStoreUnavailable):
        open_nonce_store(f"redis://127.0.0.1:{port}/0").last(A, NOW)
    with pytest.raises(NonceStoreUnavailable):
        open_nonce_store(f"postgresql://127.0.0.1:{port}/test")
