"""Admission: the caps on pending jobs (in all, per consumer, per dataset) are checked in the
transaction that creates the job, so they hold exactly under concurrent creations, and a refused
creation writes nothing (its order stays free, its ``admit`` step never runs)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from datamarket.jobs import store as J
from datamarket.jobs.store import BudgetExceeded, JobStore, OrderAlreadyUsed, QueueCaps, QueueFull
from tests.unit.jobs.conftest import address, new_job

WIDE = 1_000


def create(s: JobStore, caps: QueueCaps, **kw) -> J.Job:
    job, _ = s.create(new_job(**kw), budget_units=0, chain_spent_units=0, chain_block=1, caps=caps)
    return job


def rows(s: JobStore) -> list[tuple]:
    with s.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(J.jobs).order_by(J.jobs.c.id)).all()]


def refusal(s: JobStore, caps: QueueCaps, **kw) -> QueueFull:
    with pytest.raises(QueueFull) as caught:
        create(s, caps, **kw)
    return caught.value


@pytest.mark.parametrize(
    ("caps", "spread", "code"),
    [
        # One consumer, one dataset each time: the consumer's cap binds.
        (QueueCaps(total=WIDE, per_consumer=3, per_dataset=WIDE), "same", "consumer_queue_full"),
        # A consumer of its own each time, one dataset: the dataset's cap binds.
        (QueueCaps(total=WIDE, per_consumer=WIDE, per_dataset=4), "consumers", "dataset_queue_full"),
        # A consumer and a dataset of their own each time: only the total binds.
        (QueueCaps(total=5, per_consumer=WIDE, per_dataset=WIDE), "all", "queue_full"),
    ],
)
def test_caps_are_exact_under_concurrent_creations(store, caps: QueueCaps, spread: str, code: str) -> None:
    s, _ = store
    datatoken = address()
    accepted, refused, failed = [], [], []
    start = threading.Barrier(12)

    def go(i: int) -> None:
        kw = {"datatoken": address() if spread == "all" else datatoken}
        if spread != "same":
            kw["consumer"] = address()
        start.wait()
        try:
            # A slow admit step (the provider consumes a nonce there) keeps every creation's
            # transaction open a while: without the admission lock they would all count the same.
            s.create(
                new_job(**kw),
                budget_units=0,
                chain_spent_units=0,
                chain_block=1,
                caps=caps,
                admit=lambda: time.sleep(0.05),
            )
            accepted.append(i)
        except QueueFull as exc:
            refused.append(exc.code)
        except Exception as exc:  # any other outcome fails the test below
            failed.append(repr(exc))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    limit = min(caps.total, caps.per_consumer, caps.per_dataset)
    assert failed == []
    assert len(accepted) == limit and refused == [code] * (12 - limit)
    assert s.pending_count() == limit


def test_each_cap_refuses_with_its_own_code_and_details(store) -> None:
    s, _ = store
    caps = QueueCaps(total=4, per_consumer=2, per_dataset=3)
    mine, busy, other = address(), address(), address()
    create(s, caps, datatoken=busy, consumer=mine)
    create(s, caps, datatoken=busy, consumer=mine)
    mine_full = refusal(s, caps, datatoken=other, consumer=mine)
    assert (mine_full.code, mine_full.details) == ("consumer_queue_full", {"pending": 2, "limit": 2})
    create(s, caps, datatoken=busy, consumer=address())
    busy_full = refusal(s, caps, datatoken=busy, consumer=address())
    assert (busy_full.code, busy_full.details) == ("dataset_queue_full", {"datatoken": busy, "limit": 3})
    create(s, caps, datatoken=other, consumer=address())
    all_full = refusal(s, caps, datatoken=address(), consumer=address())
    assert (all_full.code, all_full.details) == ("queue_full", {"limit": 4})
    # The consumer's own cap is named first: it is the one the consumer can do something about.
    assert refusal(s, caps, datatoken=busy, consumer=mine).code == "consumer_queue_full"


def test_a_refused_creation_writes_nothing_and_its_order_stays_free(store) -> None:
    s, _ = store
    caps = QueueCaps(total=WIDE, per_consumer=1, per_dataset=WIDE)
    dt = address()
    first = create(s, caps, datatoken=dt)
    before = rows(s)
    admitted = []
    with pytest.raises(QueueFull):
        s.create(
            new_job(datatoken=dt, order_id=42),
            budget_units=0,
            chain_spent_units=0,
            chain_block=1,
            caps=caps,
            admit=lambda: admitted.append(1),
        )
    assert rows(s) == before and admitted == []
    # Once the first job has ended, the same order is taken.
    assert s.request_cancel(first.id).state == J.CANCELLED
    again = create(s, caps, datatoken=dt, order_id=42)
    assert again.order_id == 42 and again.state == J.QUEUED


def test_what_admit_raises_undoes_the_creation(store) -> None:
    s, _ = store
    caps = QueueCaps(total=WIDE, per_consumer=WIDE, per_dataset=WIDE)
    dt = address()
    before = rows(s)

    class NonceTaken(Exception):
        pass

    def lost_race() -> None:
        raise NonceTaken

    with pytest.raises(NonceTaken):
        s.create(new_job(datatoken=dt, order_id=7), budget_units=0, chain_spent_units=0, chain_block=1,
                 caps=caps, admit=lost_race)  # fmt: skip
    assert rows(s) == before
    assert create(s, caps, datatoken=dt, order_id=7).order_id == 7


def test_only_pending_jobs_count(store) -> None:
    s, _ = store
    caps = QueueCaps(total=WIDE, per_consumer=2, per_dataset=WIDE)
    dt = address()
    queued = create(s, caps, datatoken=dt)
    running = create(s, caps, datatoken=dt)
    assert s.claim(running.id, "w", lease_s=10, max_attempts=1) is not None
    assert refusal(s, caps, datatoken=dt).code == "consumer_queue_full"
    s.request_cancel(queued.id)
    create(s, caps, datatoken=dt)
    assert refusal(s, caps, datatoken=dt).code == "consumer_queue_full"


def test_permanent_refusals_come_before_a_full_queue(store) -> None:
    """A used order or a spent budget is said first: waiting for room would not help."""
    s, _ = store
    caps = QueueCaps(total=1, per_consumer=1, per_dataset=1)
    dt = address()
    first = create(s, caps, datatoken=dt, order_id=9)
    with pytest.raises(OrderAlreadyUsed):
        create(s, caps, datatoken=dt, order_id=9)
    with pytest.raises(BudgetExceeded):
        s.create(
            new_job(datatoken=dt, epsilon=1), budget_units=0, chain_spent_units=0, chain_block=1, caps=caps
        )
    assert first.state == J.QUEUED
