"""The nonce stores against real servers: SQLite, Redis (127.0.0.1:6379) and PostgreSQL
(127.0.0.1:5432, database ``test``). Redis and PostgreSQL tests skip when the server is not
reachable, unless CI == "true" (then they fail: CI must provide them)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from datamarket.chain.devchain import dev_account
from provider.nonces import NonceStore, NonceStoreUnavailable, NonceUsed, open_nonce_store

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("DATAMARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("DATAMARKET_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
A = dev_account(3).address


def _reachable(url: str) -> None:
    try:
        store = open_nonce_store(url, namespace="probe")
        store.ping()
        store.close()
    except NonceStoreUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{url.split('://')[0]} is required in CI but unreachable: {exc}")
        pytest.skip(f"{url.split('://')[0]} not reachable")


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], NonceStore]]:
    """A factory of stores on ONE backend and namespace (a fresh namespace per test)."""
    url = {"sqlite": f"sqlite:///{tmp_path / 'n.db'}", "redis": REDIS_URL, "postgresql": POSTGRES_URL}[
        request.param
    ]
    if request.param != "sqlite":
        _reachable(url)
    namespace = "test-" + secrets.token_hex(8)
    made: list[NonceStore] = []

    def make() -> NonceStore:
        store = open_nonce_store(url, namespace=namespace)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def test_monotonic_and_persistent(open_store) -> None:
    store = open_store()
    assert store.last(A) == 0
    store.consume(A, 10)
    with pytest.raises(NonceUsed):
        store.consume(A, 10)
    with pytest.raises(NonceUsed):
        store.consume(A, 9)
    store.consume(A, 2**62)  # beyond what a double holds exactly
    with pytest.raises(NonceUsed):
        store.consume(A, 2**62 - 1)
    assert store.next_quote_nonce() == 1
    # A second connection (another worker, or the provider after a restart) sees the same state.
    again = open_store()
    assert again.last(A) == 2**62
    assert again.next_quote_nonce() == 2


def test_concurrent_equal_nonces_exactly_one_is_accepted(open_store) -> None:
    stores = [open_store() for _ in range(8)]  # as if 8 workers, each with its own connection

    def race(nonce: int) -> list[str]:
        barrier = threading.Barrier(len(stores))
        outcomes: list[str] = []
        lock = threading.Lock()

        def attempt(store: NonceStore) -> None:
            barrier.wait()
            try:
                store.consume(A, nonce)
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

    assert race(1000) == ["ok"] + ["used"] * 7
    assert race(2000) == ["ok"] + ["used"] * 7
    assert race(1500) == ["used"] * 8
    assert stores[0].last(A) == 2000


def test_concurrent_quote_nonces_are_distinct(open_store) -> None:
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


def test_unreachable_servers_raise_unavailable() -> None:
    from datamarket.chain.devchain import free_port

    port = free_port()
    with pytest.raises(NonceStoreUnavailable):
        open_nonce_store(f"redis://127.0.0.1:{port}/0").last(A)
    with pytest.raises(NonceStoreUnavailable):
        open_nonce_store(f"postgresql://127.0.0.1:{port}/test")
