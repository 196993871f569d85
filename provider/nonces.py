"""Nonce stores: the request nonces accepted from each consumer, and the provider's quote counter.

A consumer's request nonce is a time in milliseconds. It is accepted when it lies in the provider's
:class:`Window`, ``[now - nonce_window_ms, now + nonce_window_ms]`` (both ends included), and that
(consumer, nonce) pair was never accepted before: two requests signed at once by one consumer are
both accepted, in whatever order they arrive, and each nonce once. :meth:`NonceStore.consume`
checks and records a nonce in ONE atomic step, so of many concurrent requests with the same nonce
exactly one is accepted, whatever the number of threads, processes or machines sharing the store.

A store keeps a *floor* per namespace: the highest ``now - nonce_window_ms`` it has seen, never
lowered. A nonce below the floor is expired (422 ``nonce_expired``) whatever the clock of the
provider asking, and only nonces below it are pruned: an accepted nonce is either still recorded or
below the floor, so it can never come back as new, even when providers sharing a store disagree on
the time, a clock steps back, or the window is narrowed. Pruning is bounded work on each consume
(at most :data:`PRUNE_BATCH` rows; a whole Redis key at once), so a store holds about the nonces of
two windows.

The provider's own quote-nonce counter (the ``nonce`` of each signed
:class:`~datamarket.chain.quotes.ProviderFee`, single use on chain) lives in the same store and is
incremented atomically. Everything survives restarts.

Three implementations, chosen by URL (:func:`open_nonce_store`):

- ``sqlite:///path``: the default; one transaction under ``BEGIN IMMEDIATE``, WAL journal.
- ``redis://host:port/db``: a Lua script (atomic in Redis): a sorted set per consumer, its members
  the zero-padded nonces (compared as strings, exact to 2^63), trimmed below the floor and expiring
  when idle; ``INCR`` for the quote counter. Persistence across a Redis restart is Redis's own (AOF
  or RDB), to be configured there.
- ``postgresql://...``: one statement: the floor's upsert (it serializes a namespace's consumes for
  that statement), ``INSERT ... ON CONFLICT DO NOTHING`` and a bounded ``DELETE``.

The previous scheme kept only the last nonce of each consumer (``consumer_nonces`` in SQLite,
``datamarket_consumer_nonces`` in PostgreSQL, ``...:nonce:<address>`` in Redis). Those are never
written again, but while the floor has not passed them a nonce at or below a consumer's old last one
counts as used, so an upgrade does not reopen the window for nonces the previous version accepted.
Once the floor is above all of them they are deleted (SQLite and PostgreSQL at once, Redis per
consumer on its next request). Old and new versions must not serve from one store at the same time.

``namespace`` separates providers sharing one database (the provider uses its address).
Nonces are limited to [1, 2^63) so every backend compares them exactly as integers.

NonceError (DatamarketError, ValueError): a nonce out of range
├── NonceUsed: already accepted from this address
├── NonceExpired: below the window (or the store's floor)
└── NonceInFuture: above the window
NonceStoreUnavailable (DatamarketError, ConnectionError)
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from eth_utils import to_checksum_address

from datamarket.errors import ConfigError, DatamarketError

MAX_NONCE = 2**63 - 1
_WIDTH = len(str(MAX_NONCE))  # Redis keeps nonces zero-padded so strings compare as numbers
QUOTE_COUNTER = "quote_nonce"
#: Rows pruned at most by one consume (SQLite, PostgreSQL).
PRUNE_BATCH = 32
#: A Redis consumer set expires this long after its last write, beyond two windows.
IDLE_MARGIN_MS = 3_600_000


class NonceError(DatamarketError, ValueError):
    code = "invalid_nonce"


class NonceUsed(NonceError):
    code = "nonce_used"


class NonceExpired(NonceError):
    code = "nonce_expired"


class NonceInFuture(NonceError):
    code = "nonce_in_future"


class NonceStoreUnavailable(DatamarketError, ConnectionError):
    code = "nonce_store_unavailable"


@dataclass(frozen=True)
class Window:
    """The nonces acceptable now: ``low <= nonce <= high``, both in milliseconds."""

    low: int
    high: int

    @classmethod
    def around(cls, now_ms: int, width_ms: int) -> Window:
        """``[now_ms - width_ms, now_ms + width_ms]``, clipped to [1, MAX_NONCE]; width 0 accepts only
        ``now_ms`` itself."""
        if width_ms < 0:
            raise ValueError("a nonce window's width is not negative")
        return cls(low=max(1, now_ms - width_ms), high=min(MAX_NONCE, now_ms + width_ms))

    @property
    def ttl_ms(self) -> int:
        """How long a Redis consumer set is kept after a write: every nonce it holds is expired by
        then, for any provider whose clock agrees with this one to within IDLE_MARGIN_MS."""
        return self.high - self.low + IDLE_MARGIN_MS

    def check(self, nonce: int) -> None:
        """NonceExpired below the window, NonceInFuture above it."""
        if nonce < self.low:
            raise _expired(nonce, self.low)
        if nonce > self.high:
            raise NonceInFuture(
                "the nonce is too far in the future (it is a time in milliseconds)",
                details={"max": self.high},
            )


class NonceStore(Protocol):
    def last(self, address: str, window: Window) -> int:
        """The highest nonce accepted from ``address`` that is still in ``window`` and not below the
        floor; 0 if none. Read only."""
        ...

    def check(self, address: str, nonce: int, window: Window) -> None:
        """Raise what :meth:`consume` would (NonceExpired, NonceInFuture, NonceUsed) without
        recording anything: a shortcut, not a guard."""
        ...

    def consume(self, address: str, nonce: int, window: Window) -> None:
        """Record ``nonce`` for ``address`` if it is in ``window``, not below the floor and not yet
        accepted, atomically; raise NonceExpired, NonceInFuture or NonceUsed otherwise (and record
        nothing). Raises the floor to ``window.low`` and prunes below it."""
        ...

    def next_quote_nonce(self) -> int:
        """Increment the provider's quote counter and return the new value (1, 2, ...)."""
        ...

    def ping(self) -> None:
        """Raise NonceStoreUnavailable when the backend cannot be reached."""
        ...

    def close(self) -> None: ...


def _valid(address: str, nonce: int, window: Window) -> str:
    if isinstance(nonce, bool) or not isinstance(nonce, int) or not 1 <= nonce <= MAX_NONCE:
        raise NonceError(f"a nonce is an integer in [1, {MAX_NONCE}]")
    window.check(nonce)
    return to_checksum_address(address)


def _used(address: str, nonce: int) -> NonceUsed:
    return NonceUsed(
        "this nonce was already accepted from this address", details={"address": address, "nonce": nonce}
    )


def _expired(nonce: int, low: int) -> NonceExpired:
    return NonceExpired(
        "the nonce is too old (it is a time in milliseconds, within nonce_window_ms of the provider's clock)",
        details={"min": low, "nonce": nonce},
    )


def _refuse(address: str, nonce: int, *, floor: int, used: bool, legacy: int) -> None:
    """The verdict on a nonce already in the window, given the floor, whether it is recorded and the
    consumer's last nonce under the previous scheme (0 if none)."""
    if nonce < floor:
        raise _expired(nonce, floor)
    if used or nonce <= legacy:
        raise _used(address, nonce)


def _newest(candidates: tuple[int | None, ...], *, floor: int, window: Window) -> int:
    """The highest of ``candidates`` in ``[max(window.low, floor), window.high]``; 0 if none."""
    low = max(window.low, floor)
    return max((c for c in candidates if c is not None and low <= c <= window.high), default=0)


# ---------------------------------------------------------------------------------------- SQLite


_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS used_nonces (namespace TEXT NOT NULL, address TEXT NOT NULL,"
    " nonce INTEGER NOT NULL, PRIMARY KEY (namespace, address, nonce))",
    "CREATE INDEX IF NOT EXISTS used_nonces_by_age ON used_nonces (namespace, nonce)",
    "CREATE TABLE IF NOT EXISTS nonce_floors (namespace TEXT PRIMARY KEY, floor INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (namespace TEXT NOT NULL, name TEXT NOT NULL,"
    " value INTEGER NOT NULL, PRIMARY KEY (namespace, name))",
)
_SQLITE_LEGACY = "consumer_nonces"  # the previous scheme: one ``last`` per consumer


class SQLiteNonceStore:
    """SQLite file store. A connection per call: safe across threads and forked workers."""

    def __init__(self, path: str | Path, *, namespace: str = "default") -> None:
        self.path = Path(path)
        self.namespace = namespace
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            for statement in _SQLITE_SCHEMA:
                db.execute(statement)
            #: The highest nonce of the previous scheme in this namespace; None once there is none.
            self._legacy_max: int | None = None
            legacy = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_SQLITE_LEGACY,)
            )
            if legacy.fetchone():
                (self._legacy_max,) = db.execute(
                    f"SELECT max(last) FROM {_SQLITE_LEGACY} WHERE namespace = ?", (namespace,)
                ).fetchone()

    def __repr__(self) -> str:
        return f"SQLiteNonceStore(namespace={self.namespace!r})"

    def _connect(self) -> _SQLite:
        return _SQLite(self.path)

    def _floor(self, db: sqlite3.Connection) -> int:
        row = db.execute("SELECT floor FROM nonce_floors WHERE namespace = ?", (self.namespace,)).fetchone()
        return row[0] if row else 0

    def _legacy(self, db: sqlite3.Connection, address: str) -> int:
        if self._legacy_max is None:
            return 0
        row = db.execute(
            f"SELECT last FROM {_SQLITE_LEGACY} WHERE namespace = ? AND address = ?",
            (self.namespace, address),
        ).fetchone()
        return row[0] if row else 0

    def last(self, address: str, window: Window) -> int:
        address = to_checksum_address(address)
        with self._connect() as db:
            (newest,) = db.execute(
                "SELECT max(nonce) FROM used_nonces WHERE namespace = ? AND address = ?"
                " AND nonce BETWEEN ? AND ?",
                (self.namespace, address, window.low, window.high),
            ).fetchone()
            return _newest((newest, self._legacy(db, address)), floor=self._floor(db), window=window)

    def check(self, address: str, nonce: int, window: Window) -> None:
        address = _valid(address, nonce, window)
        with self._connect() as db:
            used = db.execute(
                "SELECT 1 FROM used_nonces WHERE namespace = ? AND address = ? AND nonce = ?",
                (self.namespace, address, nonce),
            ).fetchone()
            floor, legacy = self._floor(db), self._legacy(db, address)
        _refuse(address, nonce, floor=floor, used=used is not None, legacy=legacy)

    def consume(self, address: str, nonce: int, window: Window) -> None:
        address = _valid(address, nonce, window)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            (floor,) = db.execute(
                "INSERT INTO nonce_floors (namespace, floor) VALUES (?, ?) ON CONFLICT (namespace)"
                " DO UPDATE SET floor = max(floor, excluded.floor) RETURNING floor",
                (self.namespace, window.low),
            ).fetchone()
            legacy = self._legacy(db, address)
            accepted = False
            if nonce >= floor and nonce > legacy:
                added = db.execute(
                    "INSERT INTO used_nonces (namespace, address, nonce) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (self.namespace, address, nonce),
                )
                accepted = added.rowcount == 1
            self._prune(db, floor)
            db.execute("COMMIT")
        if self._legacy_max is not None and self._legacy_max < floor:
            self._legacy_max = None
        if not accepted:
            _refuse(address, nonce, floor=floor, used=True, legacy=legacy)

    def _prune(self, db: sqlite3.Connection, floor: int) -> None:
        """Delete at most PRUNE_BATCH nonces below the floor, and the previous scheme's rows once the
        floor has passed them all."""
        db.execute(
            "DELETE FROM used_nonces WHERE rowid IN (SELECT rowid FROM used_nonces"
            f" WHERE namespace = ? AND nonce < ? LIMIT {PRUNE_BATCH})",
            (self.namespace, floor),
        )
        if self._legacy_max is not None and self._legacy_max < floor:
            db.execute(f"DELETE FROM {_SQLITE_LEGACY} WHERE namespace = ?", (self.namespace,))

    def next_quote_nonce(self) -> int:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            (value,) = db.execute(
                "INSERT INTO counters (namespace, name, value) VALUES (?, ?, 1)"
                " ON CONFLICT (namespace, name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                (self.namespace, QUOTE_COUNTER),
            ).fetchone()
            db.execute("COMMIT")
        return value

    def ping(self) -> None:
        with self._connect() as db:
            db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        pass


class _SQLite:
    """One autocommit connection for a ``with`` block; a failed transaction is rolled back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise NonceStoreUnavailable("the nonce database cannot be opened") from exc
        return self.db

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None and self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self.db.close()
        if isinstance(exc, sqlite3.OperationalError):
            raise NonceStoreUnavailable("the nonce database is unavailable") from exc


# ---------------------------------------------------------------------------------------- Redis

# KEYS[1]: the consumer's set of accepted nonces; KEYS[2]: the namespace's floor; KEYS[3]: the
# consumer's last nonce under the previous scheme. ARGV[1]: the nonce; ARGV[2]: the window's low
# end; both zero-padded to one width so that string comparison orders them as integers (Lua numbers
# are doubles: exact only below 2^53). ARGV[3]: the set's time to live in ms.
# Returns {verdict, floor}: verdict 2 accepted, 1 used, 0 expired.
_CONSUME_LUA = """
local floor = redis.call('GET', KEYS[2])
if not floor or floor < ARGV[2] then
  floor = ARGV[2]
  redis.call('SET', KEYS[2], floor)
end
redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. floor)
local legacy = redis.call('GET', KEYS[3])
if legacy and legacy < floor then
  redis.call('DEL', KEYS[3])
  legacy = false
end
if ARGV[1] < floor then return {0, floor} end
if legacy and legacy >= ARGV[1] then return {1, floor} end
if redis.call('ZADD', KEYS[1], 'NX', 0, ARGV[1]) == 0 then return {1, floor} end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {2, floor}
"""


def _pad(n: int) -> str:
    return str(n).zfill(_WIDTH)


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


class RedisNonceStore:
    def __init__(self, url: str, *, namespace: str = "default") -> None:
        import redis

        self._errors = (redis.ConnectionError, redis.TimeoutError)
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.namespace = namespace
        self._consume = self.redis.register_script(_CONSUME_LUA)

    def __repr__(self) -> str:
        return f"RedisNonceStore(namespace={self.namespace!r})"

    def _key(self, *parts: str) -> str:
        return ":".join(("datamarket", "provider", self.namespace, *parts))

    def _keys(self, address: str) -> list[str]:
        """The consumer's set, the namespace's floor, the consumer's key of the previous scheme."""
        return [self._key("used", address), self._key("nonce_floor"), self._key("nonce", address)]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise NonceStoreUnavailable("the nonce store (Redis) is unavailable") from exc

    def last(self, address: str, window: Window) -> int:
        used, floor, legacy = self._keys(to_checksum_address(address))
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(floor)
        pipe.zrevrangebylex(used, f"[{_pad(window.high)}", f"[{_pad(window.low)}", start=0, num=1)
        pipe.get(legacy)
        floor_value, newest, legacy_value = self._call(pipe.execute)
        candidates = (_int(newest[0]) if newest else None, _int(legacy_value))
        return _newest(candidates, floor=_int(floor_value), window=window)

    def check(self, address: str, nonce: int, window: Window) -> None:
        address = _valid(address, nonce, window)
        used, floor, legacy = self._keys(address)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(floor)
        pipe.zscore(used, _pad(nonce))
        pipe.get(legacy)
        floor_value, score, legacy_value = self._call(pipe.execute)
        _refuse(address, nonce, floor=_int(floor_value), used=score is not None, legacy=_int(legacy_value))

    def consume(self, address: str, nonce: int, window: Window) -> None:
        address = _valid(address, nonce, window)
        verdict, floor = self._call(
            self._consume, keys=self._keys(address), args=[_pad(nonce), _pad(window.low), window.ttl_ms]
        )
        if verdict == 0:
            raise _expired(nonce, int(floor))
        if verdict != 2:
            raise _used(address, nonce)

    def next_quote_nonce(self) -> int:
        return int(self._call(self.redis.incr, self._key(QUOTE_COUNTER)))

    def ping(self) -> None:
        self._call(self.redis.ping)

    def close(self) -> None:
        self.redis.close()


# ---------------------------------------------------------------------------------------- PostgreSQL


_PG_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS datamarket_used_nonces (namespace TEXT NOT NULL, address TEXT NOT NULL,"
    " nonce BIGINT NOT NULL, PRIMARY KEY (namespace, address, nonce))",
    "CREATE INDEX IF NOT EXISTS datamarket_used_nonces_by_age ON datamarket_used_nonces (namespace, nonce)",
    "CREATE TABLE IF NOT EXISTS datamarket_nonce_floors (namespace TEXT PRIMARY KEY, floor BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS datamarket_counters (namespace TEXT NOT NULL, name TEXT NOT NULL,"
    " value BIGINT NOT NULL, PRIMARY KEY (namespace, name))",
)
_PG_LEGACY = "datamarket_consumer_nonces"  # the previous scheme: one ``last`` per consumer
_PG_LEGACY_LAST = f"(SELECT last FROM {_PG_LEGACY} WHERE namespace = %(namespace)s AND address = %(address)s)"
_PG_FLOOR = "(SELECT floor FROM datamarket_nonce_floors WHERE namespace = %(namespace)s)"

# One statement, so the floor's row lock (taken by its upsert) is held only while it runs: the
# namespace's consumes are serialized on it, which makes the floor and the insert one atomic step.
# Only rows below the floor are deleted, never the one inserted.
_PG_CONSUME = f"""
WITH raised AS (
  INSERT INTO datamarket_nonce_floors AS f (namespace, floor) VALUES (%(namespace)s, %(low)s)
  ON CONFLICT (namespace) DO UPDATE SET floor = GREATEST(f.floor, excluded.floor)
  RETURNING floor
), added AS (
  INSERT INTO datamarket_used_nonces (namespace, address, nonce)
  SELECT %(namespace)s, %(address)s, %(nonce)s FROM raised
  WHERE %(nonce)s >= raised.floor AND %(nonce)s > %(legacy)s
  ON CONFLICT DO NOTHING RETURNING nonce
), pruned AS (
  DELETE FROM datamarket_used_nonces AS u USING (
    SELECT address, nonce FROM datamarket_used_nonces
    WHERE namespace = %(namespace)s AND nonce < (SELECT floor FROM raised) LIMIT {PRUNE_BATCH}
  ) AS stale
  WHERE u.namespace = %(namespace)s AND u.address = stale.address AND u.nonce = stale.nonce
)
SELECT raised.floor, EXISTS (SELECT 1 FROM added), %(legacy)s FROM raised
"""


class PostgresNonceStore:
    """PostgreSQL store: one autocommit connection per thread, opened on first use."""

    def __init__(self, url: str, *, namespace: str = "default") -> None:
        import psycopg

        self._psycopg = psycopg
        self.url = url
        self.namespace = namespace
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        with self._mapped(), psycopg.connect(url, connect_timeout=5) as db, db.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in pg_type: serialize it.
            db.execute("SELECT pg_advisory_xact_lock(7255021)")
            for statement in _PG_SCHEMA:
                db.execute(statement)
            #: The highest nonce of the previous scheme in this namespace; None once there is none.
            self._legacy_max: int | None = None
            (legacy_table,) = db.execute("SELECT to_regclass(%s)", (_PG_LEGACY,)).fetchone()
            if legacy_table is not None:
                (self._legacy_max,) = db.execute(
                    f"SELECT max(last) FROM {_PG_LEGACY} WHERE namespace = %s", (namespace,)
                ).fetchone()

    def __repr__(self) -> str:
        return f"PostgresNonceStore(namespace={self.namespace!r})"

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        try:
            yield
        except (self._psycopg.OperationalError, self._psycopg.InterfaceError) as exc:
            self._local.db = None
            raise NonceStoreUnavailable("the nonce store (PostgreSQL) is unavailable") from exc

    def _db(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is None or db.closed:
            db = self._psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _one(self, sql: str, params: tuple | dict) -> Any:
        with self._mapped():
            return self._db().execute(sql, params).fetchone()

    def _legacy(self) -> str:
        """The consumer's last nonce under the previous scheme, as SQL (0 once there is none)."""
        return f"COALESCE({_PG_LEGACY_LAST}, 0)" if self._legacy_max is not None else "0"

    def last(self, address: str, window: Window) -> int:
        params = {
            "namespace": self.namespace,
            "address": to_checksum_address(address),
            "low": window.low,
            "high": window.high,
        }
        floor, newest, legacy = self._one(
            f"SELECT COALESCE({_PG_FLOOR}, 0), (SELECT max(nonce) FROM datamarket_used_nonces"
            " WHERE namespace = %(namespace)s AND address = %(address)s"
            f" AND nonce BETWEEN %(low)s AND %(high)s), {self._legacy()}",
            params,
        )
        return _newest((newest, legacy), floor=floor, window=window)

    def check(self, address: str, nonce: int, window: Window) -> None:
        address = _valid(address, nonce, window)
        params = {"namespace": self.namespace, "address": address, "nonce": nonce}
        floor, used, legacy = self._one(
            f"SELECT COALESCE({_PG_FLOOR}, 0), EXISTS (SELECT 1 FROM datamarket_used_nonces"
            " WHERE namespace = %(namespace)s AND address = %(address)s AND nonce = %(nonce)s),"
            f" {self._legacy()}",
            params,
        )
        _refuse(address, nonce, floor=floor, used=used, legacy=legacy)

    def consume(self, address: str, nonce: int, window: Window) -> None:
        address = _valid(address, nonce, window)
        params = {"namespace": self.namespace, "address": address, "nonce": nonce, "low": window.low}
        sql = _PG_CONSUME.replace("%(legacy)s", self._legacy())
        floor, accepted, legacy = self._one(sql, params)
        if self._legacy_max is not None and self._legacy_max < floor:
            with self._mapped():
                self._db().execute(f"DELETE FROM {_PG_LEGACY} WHERE namespace = %s", (self.namespace,))
            self._legacy_max = None
        if not accepted:
            _refuse(address, nonce, floor=floor, used=True, legacy=legacy)

    def next_quote_nonce(self) -> int:
        row = self._one(
            "INSERT INTO datamarket_counters AS t (namespace, name, value) VALUES (%s, %s, 1)"
            " ON CONFLICT (namespace, name) DO UPDATE SET value = t.value + 1 RETURNING value",
            (self.namespace, QUOTE_COUNTER),
        )
        return int(row[0])

    def ping(self) -> None:
        self._one("SELECT 1", ())

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()


def open_nonce_store(url: str, *, namespace: str = "default") -> NonceStore:
    """The store a URL names: ``sqlite:///path``, ``redis://...`` or ``postgresql://...``."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://")
        if not path.startswith("/") or path == "/":
            raise ConfigError("nonces_url: a sqlite URL is sqlite:///absolute/path")
        return SQLiteNonceStore(path, namespace=namespace)
    if scheme in ("redis", "rediss"):
        return RedisNonceStore(url, namespace=namespace)
    if scheme in ("postgresql", "postgres"):
        return PostgresNonceStore(url, namespace=namespace)
    raise ConfigError("nonces_url: unknown scheme; use sqlite:///, redis:// or postgresql://")


__all__ = [
    "MAX_NONCE",
    "PRUNE_BATCH",
    "NonceError",
    "NonceExpired",
    "NonceInFuture",
    "NonceStore",
    "NonceStoreUnavailable",
    "NonceUsed",
    "PostgresNonceStore",
    "RedisNonceStore",
    "SQLiteNonceStore",
    "Window",
    "open_nonce_store",
]
