"""The job's output: stdout and stderr, merged, drained to the log file and passed on line by line."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from .spec import KIB

log = logging.getLogger(__name__)

#: Longest line passed to ``on_line`` (bytes; the rest of the line is dropped there, not in the log).
MAX_LINE = 4 * KIB


class _LogPump(threading.Thread):
    """Drains the job's output: the first ``limit`` bytes to the log file, every line to ``on_line``."""

    def __init__(self, fd: int, log_fd: int, limit: int, on_line: Callable[[str], None] | None) -> None:
        super().__init__(name="sandbox-log", daemon=True)
        self.fd, self.log_fd, self.limit, self.on_line = fd, log_fd, limit, on_line
        self.written = 0
        self.truncated = False
        self.first_output: float | None = None
        self.last_lines: list[bytes] = []
        self._partial = bytearray()
        self._skipping = False
        self._callback_failed = False

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 64 * KIB)
            except InterruptedError:
                continue
            except OSError:
                break
            if not chunk:
                break
            if self.first_output is None:
                self.first_output = time.monotonic()
            room = self.limit - self.written
            if room > 0:
                part = chunk[:room]
                view = memoryview(part)
                while view:
                    view = view[os.write(self.log_fd, view) :]
                self.written += len(part)
            if len(chunk) > max(room, 0):
                self.truncated = True
            self._split(chunk)
        if self._partial and not self._skipping:
            self._line(bytes(self._partial))
        self._partial.clear()

    def _split(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        for index, piece in enumerate(lines):
            last = index == len(lines) - 1
            if not self._skipping:
                room = MAX_LINE - len(self._partial)
                self._partial += piece[:room]
                if len(piece) > room:  # too long: pass on its head, drop the rest up to the newline
                    self._line(bytes(self._partial))
                    self._partial.clear()
                    self._skipping = True
            if not last:
                if not self._skipping:
                    self._line(bytes(self._partial))
                self._partial.clear()
                self._skipping = False

    def _line(self, raw: bytes) -> None:
        if raw.strip():
            self.last_lines = [*self.last_lines[-3:], raw]
        if self.on_line is None or self._callback_failed:
            return
        try:
            self.on_line(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
        except Exception:
            self._callback_failed = True
            log.exception("sandbox: on_line failed; no more lines are passed on for this job")


__all__ = ["MAX_LINE"]
