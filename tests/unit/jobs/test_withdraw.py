"""A job whose task the broker did not take is withdrawn: its row is gone, so its order starts a job
again and no receipt is posted for it; a job a worker took meanwhile is not withdrawn."""

from __future__ import annotations

from datamarket.jobs import store as J
from datamarket.jobs.store import JobStore
from tests.unit.jobs.conftest import address, new_job


def create(s: JobStore, **kw) -> J.Job:
    job, _ = s.create(new_job(**kw), budget_units=0, chain_spent_units=0, chain_block=1)
    return job


def test_a_withdrawn_job_frees_its_order_and_leaves_no_receipt(store) -> None:
    s, _ = store
    datatoken = address()
    job = create(s, datatoken=datatoken, order_id=7)
    assert s.withdraw(job.id) is True
    assert s.get(job.id) is None
    assert s.take_receipts()[1] == []
    again = create(s, datatoken=datatoken, order_id=7)
    assert s.get(again.id).state == J.QUEUED


def test_a_job_a_worker_took_is_not_withdrawn(store) -> None:
    s, _ = store
    job = create(s, datatoken=address())
    assert s.claim(job.id, "w", lease_s=60, max_attempts=2) is not None
    assert s.withdraw(job.id) is False
    assert s.get(job.id).state == J.STAGING
    assert s.withdraw("0" * 32) is False
