"""The worker writes a job's outcome again when the job database dropped the connection it used."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from compute_to_data import runner


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("UPDATE compute_jobs", {}, ConnectionError("terminating connection"))
        return True


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "DB_RETRY_S", 0.0)


def test_a_write_that_lost_its_connection_is_made_again() -> None:
    write = Flaky(failures=2)
    assert runner._reconnecting(write) is True
    assert write.calls == 3


def test_a_database_that_stays_away_raises_after_the_last_attempt() -> None:
    write = Flaky(failures=runner.DB_ATTEMPTS)
    with pytest.raises(OperationalError):
        runner._reconnecting(write)
    assert write.calls == runner.DB_ATTEMPTS


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        runner._reconnecting(broken)
    assert calls == [1]
