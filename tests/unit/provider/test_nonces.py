"""The SQLite nonce store and the nonce window (Redis and PostgreSQL, and SQLite across processes:
tests/integration/provider/test_nonce_stores.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.chain.devchain import dev_account
from datamarket.errors import ConfigError
from provider.nonces import (
    MAX_NONCE,
    PRUNE_BATCH,
    NonceError,
    NonceExpired,
    NonceInFuture,
    NonceUsed,
    SQLiteNonceStore,
    Window,
    open_nonce_store,
)

A = dev_account(3).address
B = dev_account(4).address
T = 1_800_000_000_000  # a time in milliseconds
W = 60_000
NOW = Window.around(T, W)


def count(path: Path, table: str = "used_nonces") -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_the_window_includes_both_ends() -> None:
    assert (NOW.low, NOW.high) == (T - W, T + W)
    NOW.check(T - W)
    NOW.check(T + W)
    with pytest.raises(NonceExpired) as old:
        NOW.check(T - W - 1)
    assert (old.value.code, old.value.details["min"]) == ("nonce_expired", T - W)
    with pytest.raises(NonceInFuture) as future:
        NOW.check(T + W + 1)
    assert (future.value.code, future.value.details["max"]) == ("nonce_in_future", T + W)


def test_a_window_is_clipped_to_the_nonce_range() -> None:
    assert Window.around(10, W).low == 1
    assert Window.around(MAX_NONCE, W).high == MAX_NONCE
    with pytest.raises(ValueError):
        Window.around(T, -1)


def test_a_window_of_zero_accepts_only_now(tmp_path: Path) -> None:
    store, window = SQLiteNonceStore(tmp_path / "n.db"), Window.around(T, 0)
    for refused, error in ((T - 1, NonceExpired), (T + 1, NonceInFuture)):
        with pytest.raises(error):
            store.consume(A, refused, window)
    store.consume(A, T, window)
    with pytest.raises(NonceUsed):
        store.consume(A, T, window)
    assert store.last(A, window) == T


def test_any_unused_nonce_in_the_window_is_accepted_once(tmp_path: Path) -> None:
    store = SQLiteNonceStore(tmp_path / "n.db")
    assert store.last(A, NOW) == 0
    for nonce in (T, T - 5, T - W, T + W):  # a lower nonce after a higher one too
        store.consume(A, nonce, NOW)
    for used in (T, T - 5, T - W, T + W):
        with pytest.raises(NonceUsed) as refused:
            store.consume(A, used, NOW)
        assert refused.value.details == {"address": A, "nonce": used}
    store.consume(B, T, NOW)  # another consumer's nonces are its own
    with pytest.raises(NonceUsed):
        store.consume(A.lower(), T, NOW)  # addresses are normalized
    assert store.last(A, NOW) == T + W
    assert store.last(A, Window.around(T - W, 4)) == T - W  # the highest within the window asked


def test_check_refuses_as_consume_would_and_records_nothing(tmp_path: Path) -> None:
    store = SQLiteNonceStore(tmp_path / "n.db")
    store.check(A, T, NOW)
    store.check(A, T, NOW)
    store.consume(A, T, NOW)
    with pytest.raises(NonceUsed):
        store.check(A, T, NOW)
    with pytest.raises(NonceExpired):
        store.check(A, T - W - 1, NOW)
    with pytest.raises(NonceInFuture):
        store.check(A, T + W + 1, NOW)
    assert count(tmp_path / "n.db") == 1


@pytest.mark.parametrize("bad", [0, -1, MAX_NONCE + 1, True, 1.0])
def test_out_of_range_nonces(tmp_path: Path, bad) -> None:
    store = SQLiteNonceStore(tmp_path / "n.db")
    with pytest.raises(NonceError) as refused:
        store.consume(A, bad, Window.around(1, W))
    assert refused.value.code == "invalid_nonce"
    assert count(tmp_path / "n.db") == 0


def test_namespaces_are_separate(tmp_path: Path) -> None:
    one = SQLiteNonceStore(tmp_path / "n.db", namespace="p1")
    two = SQLiteNonceStore(tmp_path / "n.db", namespace="p2")
    one.consume(A, T, NOW)
    two.consume(A, T, NOW)
    assert (one.last(A, NOW), two.last(A, NOW)) == (T, T)
    one.consume(A, T + 5 * W, Window.around(T + 5 * W, W))  # raises p1's floor only
    two.consume(A, T - 1, NOW)
    assert (one.next_quote_nonce(), two.next_quote_nonce(), one.next_quote_nonce()) == (1, 1, 2)


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    first = SQLiteNonceStore(tmp_path / "n.db")
    first.consume(A, T, NOW)
    assert [first.next_quote_nonce() for _ in range(3)] == [1, 2, 3]
    again = open_nonce_store(f"sqlite:///{tmp_path / 'n.db'}")
    assert again.last(A, NOW) == T
    with pytest.raises(NonceUsed):
        again.consume(A, T, NOW)
    assert again.next_quote_nonce() == 4


def race(stores: list[SQLiteNonceStore], nonces: list[int]) -> list[str]:
    """Each store (as if a worker) consumes its nonce at once; the outcomes, sorted."""
    barrier = threading.Barrier(len(stores))
    results: list[str] = []
    lock = threading.Lock()

    def attempt(store: SQLiteNonceStore, nonce: int) -> None:
        barrier.wait()
        try:
            store.consume(A, nonce, NOW)
            outcome = "ok"
        except NonceUsed:
            outcome = "used"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(stores, nonces, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


def test_concurrent_equal_nonces_exactly_one_wins(tmp_path: Path) -> None:
    stores = [SQLiteNonceStore(tmp_path / "n.db") for _ in range(8)]
    assert race(stores, [T] * 8) == ["ok"] + ["used"] * 7
    assert race(stores, [T - 7] * 8) == ["ok"] + ["used"] * 7


def test_concurrent_different_nonces_are_all_accepted(tmp_path: Path) -> None:
    stores = [SQLiteNonceStore(tmp_path / "n.db") for _ in range(8)]
    assert race(stores, [T - i for i in range(8)]) == ["ok"] * 8
    assert count(tmp_path / "n.db") == 8


def test_pruning_is_bounded_and_an_expired_nonce_never_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    store = SQLiteNonceStore(path)
    old = [T - i for i in range(3 * PRUNE_BATCH)]
    for nonce in old:
        store.consume(B if nonce % 2 else A, nonce, NOW)
    later = Window.around(T + 2 * W + 1, W)  # every nonce above is expired now
    store.consume(A, later.high, later)
    assert count(path) == 3 * PRUNE_BATCH + 1 - PRUNE_BATCH, "one consume prunes one batch"
    for i in range(1, 3):
        store.consume(A, later.high - i, later)
    assert count(path) == 3
    # The provider's clock steps back (or another provider's lags): pruned nonces stay expired.
    for nonce in (T, T - 1):
        with pytest.raises(NonceExpired) as refused:
            store.consume(B if nonce % 2 else A, nonce, NOW)
        assert refused.value.details["min"] == later.low
        with pytest.raises(NonceExpired):
            store.check(A, nonce, NOW)
    assert store.last(A, NOW) == 0, "nothing below the floor is reported"


def test_a_nonce_at_the_floor_is_kept_and_one_below_it_expires(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    store = SQLiteNonceStore(path)
    store.consume(A, T, NOW)
    store.consume(A, T + W, Window.around(T + W, W))  # floor T: T is still in the window
    assert count(path) == 2
    with pytest.raises(NonceUsed):
        store.consume(A, T, Window.around(T, 10))
    store.consume(A, T + W + 1, Window.around(T + W + 1, W))  # floor T + 1: T is pruned
    assert count(path) == 2
    with pytest.raises(NonceExpired):
        store.consume(A, T, Window.around(T, 10))  # a narrower, earlier window: still expired


def legacy_database(path: Path, lasts: dict[str, int], namespace: str = "default") -> None:
    """A database of the previous scheme: one last nonce per consumer."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE consumer_nonces (namespace TEXT NOT NULL, address TEXT NOT NULL,"
            " last INTEGER NOT NULL, PRIMARY KEY (namespace, address))"
        )
        db.executemany(
            "INSERT INTO consumer_nonces VALUES (?, ?, ?)", [(namespace, a, n) for a, n in lasts.items()]
        )


def test_a_previous_schemes_last_nonce_still_counts_as_used(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    legacy_database(path, {A: T, B: T - 10})
    store = SQLiteNonceStore(path)
    assert (store.last(A, NOW), store.last(B, NOW)) == (T, T - 10)
    for used in (T, T - 1):
        with pytest.raises(NonceUsed):
            store.check(A, used, NOW)
        with pytest.raises(NonceUsed):
            store.consume(A, used, NOW)
    store.consume(A, T + 1, NOW)
    store.consume(B, T - 9, NOW)
    assert count(path, "consumer_nonces") == 2
    later = Window.around(T + W + 1, W)  # the floor passes every old nonce: the old rows go
    store.consume(A, later.high, later)
    assert count(path, "consumer_nonces") == 0
    with pytest.raises(NonceExpired):
        SQLiteNonceStore(path).consume(B, T - 10, NOW)


def test_a_previous_scheme_of_another_namespace_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    legacy_database(path, {A: T}, namespace="other")
    store = SQLiteNonceStore(path)
    store.consume(A, T, NOW)
    assert count(path, "consumer_nonces") == 1


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


STEPS = st.lists(
    st.tuples(st.integers(-3 * W, 3 * W), st.integers(-W - 2, W + 2), st.sampled_from([A, B])), max_size=30
)


@settings(max_examples=60, deadline=None)
@given(steps=STEPS, width=st.sampled_from([0, 1, W]))
def test_property_each_nonce_at_most_once_and_only_inside_the_window(
    tmp_path_factory: pytest.TempPathFactory, steps, width
) -> None:
    """The clock moves either way; each step offers a nonce near it. Whatever the order, a nonce is
    accepted at most once, only inside the window, and always when it is new and not below the
    highest low end seen."""
    store = SQLiteNonceStore(tmp_path_factory.mktemp("prop") / "n.db")
    accepted: set[tuple[str, int]] = set()
    floor, now = 0, T
    for move, offset, who in steps:
        now += move
        window = Window.around(now, width)
        nonce = now + offset
        if window.low <= nonce <= window.high:  # the store is asked only then
            floor = max(floor, window.low)
        try:
            store.consume(who, nonce, window)
        except NonceUsed:
            assert (who, nonce) in accepted
        except NonceExpired:
            assert nonce < max(floor, window.low)
        except NonceInFuture:
            assert nonce > window.high
        else:
            assert (who, nonce) not in accepted
            assert floor <= nonce <= window.high
            accepted.add((who, nonce))
            continue
        acceptable = max(floor, window.low) <= nonce <= window.high and (who, nonce) not in accepted
        assert not acceptable, "a new nonce in the window was refused"


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite:///", "mysql://x", "file:///x"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        open_nonce_store(url)
