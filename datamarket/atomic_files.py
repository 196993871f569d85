"""Writing a file all or nothing: a reader finds the old file or the complete new one, never a part.

The content goes to a temporary file beside the target (``.<name>.<random>.tmp``, created with
``O_EXCL``, so never through a link and never over another writer's file), is flushed to disk, and
is renamed over the target. The rename replaces a link at the target itself, never the file it
points to. On any error, an interruption included, the temporary file is removed and the target is
left as it was.

Files are private by default (mode 0600: keys, job files, decrypted data); ``mode=PUBLIC`` gives
the mode of any new file (0666 less the umask). The folder must exist: each caller decides how it
is made and with which mode.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE = 0o600
PUBLIC = 0o666  # the umask applies


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int = PRIVATE) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content to; it becomes ``path`` when the ``with``
    block ends without an error, and is removed when the block raises (the error goes on)."""
    target = Path(path)
    temp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomically(path: str | os.PathLike[str], data: bytes, *, mode: int = PRIVATE) -> None:
    """Write ``data`` to ``path`` all or nothing (see :func:`atomic_writer`)."""
    with atomic_writer(path, mode=mode) as file:
        file.write(data)


__all__ = ["PRIVATE", "PUBLIC", "atomic_writer", "write_atomically"]
