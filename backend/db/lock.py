"""One writer per catalog: the indexer holds this lock for as long as it runs.

PostgreSQL: a session-level advisory lock on a connection of its own. A second indexer waits on it and
takes over when the first dies: the server drops a dead client's session, and its locks with it.
The same goes for a session the server ended (``pg_terminate_backend``, a restart): the holder finds
out at its next :meth:`WriterLock.check`, which raises, and stops writing.
SQLite: an exclusive ``flock`` on ``<database>.lock``; the kernel releases it when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from backend.db.engine import is_sqlite

#: The advisory lock's key: "dmindex" as a number, so other applications' keys are unlikely to clash.
ADVISORY_KEY = int.from_bytes(b"dmindex", "big")


class WriterLock:
    """The writer's lock as :func:`writer_lock` yields it: true once held."""

    def __init__(self, held: bool, connection: Connection | None = None) -> None:
        self.held, self._connection = held, connection

    def __bool__(self) -> bool:
        return self.held

    def check(self) -> None:
        """Raise (the driver's error) when the session holding the lock is gone, and the lock with it."""
        if self._connection is not None:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()


@contextlib.contextmanager
def writer_lock(engine: Engine, stop: threading.Event, *, poll_s: float = 0.5) -> Iterator[WriterLock]:
    """Hold the writer's lock until the block ends. Yields a lock that is true once held, or false when
    ``stop`` was set before the lock came free."""
    if is_sqlite(engine):
        with _file_lock(Path(engine.url.database or "catalog").with_suffix(".lock"), stop, poll_s) as held:
            yield WriterLock(held)
        return
    with engine.connect() as connection:
        held = False
        while not stop.is_set():
            held = bool(
                connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            )
            connection.commit()
            if held:
                break
            stop.wait(poll_s)
        try:
            yield WriterLock(held, connection)
        finally:
            if held:
                with contextlib.suppress(Exception):  # the connection may be gone: so is the lock
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                    connection.commit()


@contextlib.contextmanager
def _file_lock(path: Path, stop: threading.Event, poll_s: float) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        held = False
        while not stop.is_set():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                stop.wait(poll_s)
        yield held
    finally:
        os.close(fd)  # releases the lock


__all__ = ["ADVISORY_KEY", "WriterLock", "writer_lock"]
