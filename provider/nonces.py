"""Nonce stores: the last request nonce accepted from each consumer, and the provider's quote counter.

A consumer's nonce must be strictly greater than the last one the provider accepted from it, and
:meth:`NonceStore.consume` checks and records it in ONE atomic step: of many concurrent requests
with the same nonce exactly one is accepted, whatever the number of threads, processes or
machines sharing the store. The provider's own quote-nonce counter (the ``nonce`` of each signed
:class:`~datamarket.chain.quotes.ProviderFee`, single use on chain) lives in the same store and is
incremented atomically too. Both survive restarts.

Three implementations, chosen by URL (:func:`open_nonce_store`):

- ``sqlite:///path``: the default; one upsert under ``BEGIN IMMEDIATE``, WAL journal.
- ``redis://host:port/db``: a Lua script (runs atomically in Redis) and ``INCR``. Persistence
  across a Redis restart is Redis's own (AOF or RDB), to be configured there.
- ``postgresql://...``: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE last < excluded.last``.

``namespace`` separates providers sharing one database (the provider uses its address).
Nonces are limited to [1, 2^63) so every backend compares them exactly as integers.

NonceError (DatamarketError, ValueError): a nonce out of range
└── NonceUsed: not greater than the last accepted one
NonceStoreUnavailable (DatamarketError, ConnectionError)
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from eth_utils import to_checksum_address

from datamarket.errors import ConfigError, DatamarketError

MAX_NONCE = 2**63 - 1
_WIDTH = len(str(MAX_NONCE))  # Redis keeps nonces zero-padded so strings compare as numbers
QUOTE_COUNTER = "quote_nonce"


class NonceError(DatamarketError, ValueError):
    code = "invalid_nonce"


class NonceUsed(NonceError):
    code = "nonce_used"


class NonceStoreUnavailable(DatamarketError, ConnectionError):
    code = "nonce_store_unavailable"


class NonceStore(Protocol):
    def last(self, address: str) -> int:
        """The last nonce accepted from ``address``; 0 if none."""
        ...

    def consume(self, address: str, nonce: int) -> None:
        """Record ``nonce`` for ``address`` if it is greater than the last one, atomically;
        :class:`NonceUsed` (and nothing changed) otherwise."""
        ...

    def next_quote_nonce(self) -> int:
        """Increment the provider's quote counter and return the new value (1, 2, ...)."""
        ...

    def ping(self) -> None:
        """Raise NonceStoreUnavailable when the backend cannot be reached."""
        ...

    def close(self) -> None: ...


def _check(address: str, nonce: int) -> str:
    if isinstance(nonce, bool) or not isinstance(nonce, int) or not 1 <= nonce <= MAX_NONCE:
        raise NonceError(f"a nonce is an integer in [1, {MAX_NONCE}]")
    return to_checksum_address(address)


def _used(address: str, nonce: int) -> NonceUsed:
    return NonceUsed(
        "the nonce must be greater than the last one accepted from this address",
        details={"address": address, "nonce": nonce},
    )


# ---------------------------------------------------------------------------------------- SQLite


_SQLITE_NONCES_TABLE = (
    "CREATE TABLE IF NOT EXISTS consumer_nonces (namespace TEXT NOT NULL, address TEXT NOT NULL,"
    " last INTEGER NOT NULL, PRIMARY KEY (namespace, address))"
)
_SQLITE_COUNTERS_TABLE = (
    "CREATE TABLE IF NOT EXISTS counters (namespace TEXT NOT NULL, name TEXT NOT NULL,"
    " value INTEGER NOT NULL, PRIMARY KEY (namespace, name))"
)


class SQLiteNonceStore:
    """SQLite file store. A connection per call: safe across threads and forked workers."""

    def __init__(self, path: str | Path, *, namespace: str = "default") -> None:
        self.path = Path(path)
        self.namespace = namespace
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SQLITE_NONCES_TABLE)
            db.execute(_SQLITE_COUNTERS_TABLE)

    def __repr__(self) -> str:
        return f"SQLiteNonceStore(namespace={self.namespace!r})"

    def _connect(self) -> _SQLite:
        return _SQLite(self.path)

    def last(self, address: str) -> int:
        with self._connect() as db:
            row = db.execute(
                "SELECT last FROM consumer_nonces WHERE namespace = ? AND address = ?",
                (self.namespace, to_checksum_address(address)),
            ).fetchone()
        return row[0] if row else 0

    def consume(self, address: str, nonce: int) -> None:
        address = _check(address, nonce)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(
                "INSERT INTO consumer_nonces (namespace, address, last) VALUES (?, ?, ?)"
                " ON CONFLICT (namespace, address) DO UPDATE SET last = excluded.last"
                " WHERE consumer_nonces.last < excluded.last",
                (self.namespace, address, nonce),
            )
            accepted = cur.rowcount == 1
            db.execute("COMMIT")
        if not accepted:
            raise _used(address, nonce)

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

# KEYS[1]: the consumer's key; ARGV[1]: the nonce, zero-padded to a fixed width so that Lua's
# string comparison orders nonces as integers (Lua numbers are doubles: exact only below 2^53).
_CONSUME_LUA = """
local last = redis.call('GET', KEYS[1])
if last and last >= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


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

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise NonceStoreUnavailable("the nonce store (Redis) is unavailable") from exc

    def last(self, address: str) -> int:
        value = self._call(self.redis.get, self._key("nonce", to_checksum_address(address)))
        return int(value) if value is not None else 0

    def consume(self, address: str, nonce: int) -> None:
        address = _check(address, nonce)
        key = self._key("nonce", address)
        if self._call(self._consume, keys=[key], args=[str(nonce).zfill(_WIDTH)]) != 1:
            raise _used(address, nonce)

    def next_quote_nonce(self) -> int:
        return int(self._call(self.redis.incr, self._key(QUOTE_COUNTER)))

    def ping(self) -> None:
        self._call(self.redis.ping)

    def close(self) -> None:
        self.redis.close()


# ---------------------------------------------------------------------------------------- PostgreSQL


_PG_NONCES_TABLE = (
    "CREATE TABLE IF NOT EXISTS datamarket_consumer_nonces (namespace TEXT NOT NULL, address TEXT NOT NULL,"
    " last BIGINT NOT NULL, PRIMARY KEY (namespace, address))"
)
_PG_COUNTERS_TABLE = (
    "CREATE TABLE IF NOT EXISTS datamarket_counters (namespace TEXT NOT NULL, name TEXT NOT NULL,"
    " value BIGINT NOT NULL, PRIMARY KEY (namespace, name))"
)


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
            db.execute(_PG_NONCES_TABLE)
            db.execute(_PG_COUNTERS_TABLE)

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

    def _one(self, sql: str, params: tuple) -> Any:
        with self._mapped():
            return self._db().execute(sql, params).fetchone()

    def last(self, address: str) -> int:
        row = self._one(
            "SELECT last FROM datamarket_consumer_nonces WHERE namespace = %s AND address = %s",
            (self.namespace, to_checksum_address(address)),
        )
        return int(row[0]) if row else 0

    def consume(self, address: str, nonce: int) -> None:
        address = _check(address, nonce)
        row = self._one(
            "INSERT INTO datamarket_consumer_nonces AS t (namespace, address, last) VALUES (%s, %s, %s)"
            " ON CONFLICT (namespace, address) DO UPDATE SET last = excluded.last"
            " WHERE t.last < excluded.last RETURNING last",
            (self.namespace, address, nonce),
        )
        if row is None:
            raise _used(address, nonce)

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
    "NonceError",
    "NonceStore",
    "NonceStoreUnavailable",
    "NonceUsed",
    "PostgresNonceStore",
    "RedisNonceStore",
    "SQLiteNonceStore",
    "open_nonce_store",
]
