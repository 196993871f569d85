"""A clock the rate limiter's unit tests move by hand.

The ``limits`` library's in-memory storage reads ``time.time()`` for its windows, and
``datamarket.ratelimit`` reads ``time.monotonic()`` for how long it leaves an unanswering Redis
alone; :func:`freeze` replaces the ``time`` module in those two modules only (the rest of the
process keeps the real one) with a :class:`FrozenClock`.
"""

from __future__ import annotations

import limits.storage.memory
import pytest

import datamarket.ratelimit

#: A multiple of every window the tests use (second, minute, hour): windows start at round times.
START = 1_800_000_000.0


class FrozenClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def freeze(monkeypatch: pytest.MonkeyPatch, now: float = START) -> FrozenClock:
    clock = FrozenClock(now)
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(datamarket.ratelimit, "time", clock)
    return clock
