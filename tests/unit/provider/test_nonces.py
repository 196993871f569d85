"""The SQLite nonce store (Redis and PostgreSQL: tests/integration/provider/test_nonce_stores.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.chain.devchain import dev_account
from datamarket.errors import ConfigError
from provider.nonces import MAX_NONCE, NonceError, NonceUsed, SQLiteNonceStore, open_nonce_store

A = dev_account(3).address
B = dev_account(4).address


def test_strictly_increasing_per_address(tmp_path: Path) -> None:
    store = SQLiteNonceStore(tmp_path / "n.db")
    assert store.last(A) == 0
    store.consume(A, 5)
    for refused in (5, 4, 1):
        with pytest.raises(NonceUsed):
            store.consume(A, refused)
    assert store.last(A) == 5
    store.consume(A, 6)
    store.consume(B, 1)
    assert (store.last(A), store.last(B)) == (6, 1)
    store.consume(A.lower(), 7)  # addresses are normalized
    assert store.last(A) == 7


@pytest.mark.parametrize("bad", [0, -1, MAX_NONCE + 1, True, 1.0])
def test_out_of_range_nonces(tmp_path: Path, bad) -> None:
    store = SQLiteNonceStore(tmp_path / "n.db")
    with pytest.raises(NonceError):
        store.consume(A, bad)
    assert store.last(A) == 0


def test_namespaces_are_separate(tmp_path: Path) -> None:
    one = SQLiteNonceStore(tmp_path / "n.db", namespace="p1")
    two = SQLiteNonceStore(tmp_path / "n.db", namespace="p2")
    one.consume(A, 9)
    assert (one.last(A), two.last(A)) == (9, 0)
    assert (one.next_quote_nonce(), two.next_quote_nonce(), one.next_quote_nonce()) == (1, 1, 2)


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    first = SQLiteNonceStore(tmp_path / "n.db")
    first.consume(A, 42)
    assert [first.next_quote_nonce() for _ in range(3)] == [1, 2, 3]
    again = open_nonce_store(f"sqlite:///{tmp_path / 'n.db'}")
    assert again.last(A) == 42
    with pytest.raises(NonceUsed):
        again.consume(A, 42)
    assert again.next_quote_nonce() == 4


def test_concurrent_equal_nonces_exactly_one_wins(tmp_path: Path) -> None:
    stores = [SQLiteNonceStore(tmp_path / "n.db") for _ in range(8)]  # as if 8 workers
    barrier = threading.Barrier(len(stores))
    results: list[str] = []

    def attempt(store: SQLiteNonceStore) -> None:
        barrier.wait()
        try:
            store.consume(A, 1000)
            results.append("ok")
        except NonceUsed:
            results.append("used")

    threads = [threading.Thread(target=attempt, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["used"] * 7
    assert stores[0].last(A) == 1000


def test_concurrent_quote_nonces_are_all_distinct(tmp_path: Path) -> None:
    store = SQLiteNonceStore(tmp_path / "n.db")
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        values = [store.next_quote_nonce() for _ in range(20)]
        with lock:
            got.extend(values)

    threads = [threading.Thread(target=take) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 101))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=MAX_NONCE), max_size=20))
def test_property_accepts_exactly_the_new_maxima(tmp_path_factory: pytest.TempPathFactory, nonces) -> None:
    store = SQLiteNonceStore(tmp_path_factory.mktemp("prop") / "n.db")
    last, accepted = 0, []
    for n in nonces:
        try:
            store.consume(A, n)
            accepted.append(n)
        except NonceUsed:
            pass
        if n > last:
            last = n
    expected = [n for i, n in enumerate(nonces) if all(n > m for m in nonces[:i])]
    assert accepted == expected
    assert store.last(A) == last


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite:///", "mysql://x", "file:///x"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        open_nonce_store(url)
