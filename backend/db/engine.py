"""Opening the catalog database: SQLite (the default, in WAL mode) or PostgreSQL.

SQLite runs in WAL mode so the API reads while the indexer writes; ``busy_timeout`` makes a second
writer (the document fetcher) wait for the first instead of failing. PostgreSQL URLs are given to
SQLAlchemy with the psycopg 3 driver whatever scheme they were written with.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from datamarket.errors import ConfigError

BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str) -> str:
    """``postgres://``, ``postgresql://`` -> ``postgresql+psycopg://``; SQLite as given."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (a SQLite file's folder is created); ConfigError for other databases."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(f"the catalog database must be SQLite or PostgreSQL, not {parsed.get_backend_name()}")


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


__all__ = ["is_sqlite", "normalise_url", "open_engine", "session_factory"]
