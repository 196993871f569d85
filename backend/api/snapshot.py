"""One consistent read of the catalog per request.

The indexer writes while the API reads. Every answer reports the block it reflects, so the checkpoint
and the rows of one answer must come from the same moment: each request reads inside one read-only
transaction that sees a single snapshot (SQLite: an explicit ``BEGIN`` in WAL mode, whose snapshot
starts at the first read; PostgreSQL: ``REPEATABLE READ``, whose snapshot starts at the first query).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A connection whose every query sees the same snapshot of the catalog; rolled back at the end."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            # pysqlite only opens a transaction before writes; without BEGIN each SELECT would see
            # whatever the indexer committed in between.
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()
        return
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        try:
            yield conn
        finally:
            conn.rollback()


__all__ = ["read"]
