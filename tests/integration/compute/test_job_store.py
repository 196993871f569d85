"""The job database on SQLite and PostgreSQL (127.0.0.1:5432, database ``test``; skipped when it
is unreachable, except in CI): the state machine, one job per order, epsilon reservations
against the budget, leases and takeover, cancellation, the receipts queue."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from datamarket.chain.devchain import dev_account
from datamarket.jobs import store as J
from datamarket.jobs.store import BudgetExceeded, JobStore, NewJob, OrderAlreadyUsed

pytestmark = pytest.mark.integration

POSTGRES_URL = os.environ.get("DATAMARKET_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
DT = dev_account(7).address
CONSUMER = dev_account(3).address


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[JobStore, Clock]]:
    clock = Clock()
    if request.param == "sqlite":
        s = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=clock)
    else:
        try:
            s = JobStore(POSTGRES_URL, clock=clock)
        except sa.exc.OperationalError as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"PostgreSQL is required in CI but unreachable: {exc}")
            pytest.skip("PostgreSQL not reachable")
        with s.engine.begin() as conn:  # a shared database: start each test with no jobs
            conn.execute(J.jobs.delete())
    yield s, clock
    s.close()


def new_job(
    *, datatoken: str = DT, epsilon: int = 0, order: str | None = None, order_id: int | None = None
) -> NewJob:
    return NewJob(
        consumer=CONSUMER,
        datatoken=datatoken,
        service_id=1,
        order_tx=order or "0x" + secrets.token_hex(32),
        order_id=secrets.randbits(62) if order_id is None else order_id,
        consumer_key="0x" + "11" * 32,
        algorithm="train_tabular",
        algorithm_hash="ab" * 32,
        params={"epochs": 2},
        environment="cpu",
        epsilon_units=epsilon,
        delta=1e-5,
    )


def create(s: JobStore, **kw) -> J.Job:
    job, _ = s.create(new_job(**kw), budget_units=10_000_000, chain_spent_units=0, chain_block=100)
    return job


def unique_dt() -> str:
    # PostgreSQL's database is shared between runs: every test uses its own dataset address.
    return "0x" + secrets.token_hex(20)


def test_happy_path_records_timings_and_queues_a_receipt(store) -> None:
    s, clock = store
    dt = unique_dt()
    job = create(s, datatoken=dt, epsilon=2_000_000)
    assert job.state == J.QUEUED and job.attempts == 0
    claimed = s.claim(job.id, "w1", lease_s=10, max_attempts=2)
    assert claimed is not None and claimed.state == J.STAGING and claimed.attempts == 1
    w1 = claimed.lease_owner
    assert w1.startswith("w1/")
    for a, b in ((J.STAGING, J.RUNNING), (J.RUNNING, J.CHECKING), (J.CHECKING, J.PUBLISHING)):
        clock.now += 1.5
        assert s.advance(job.id, w1, a, b)
    clock.now += 1
    assert s.advance(job.id, w1, J.PUBLISHING, J.SUCCEEDED, result={"cid": "x"}, output_hash="cd" * 32)
    done = s.get(job.id)
    assert done.state == J.SUCCEEDED and done.result == {"cid": "x"}
    assert done.timings == {"queued": 0.0, "staging": 1.5, "running": 1.5, "checking": 1.5, "publishing": 1.0}
    assert done.charged_units == 2_000_000 and done.receipt_status == J.R_PENDING
    # A second advance from a state the job left does nothing.
    assert not s.advance(job.id, w1, J.PUBLISHING, J.SUCCEEDED)


def test_one_order_runs_one_job(store) -> None:
    """Orders are told apart by id: two orders of one transaction run a job each, and an order id
    runs one job whatever transaction hash a request names."""
    s, _ = store
    order, order_id = "0x" + secrets.token_hex(32), secrets.randbits(62)
    first = create(s, datatoken=unique_dt(), order=order, order_id=order_id)
    second = create(s, datatoken=unique_dt(), order=order, order_id=order_id + 1)
    assert (first.order_id, second.order_id) == (order_id, order_id + 1)
    for tx in (order, "0x" + secrets.token_hex(32)):
        with pytest.raises(OrderAlreadyUsed) as info:
            create(s, datatoken=unique_dt(), order=tx, order_id=order_id)
        assert info.value.details == {"job_id": first.id}


def test_epsilon_reservations_hold_until_the_receipt_is_mined(store) -> None:
    s, _ = store
    dt = unique_dt()
    budget = 5_000_000
    a, _ = s.create(
        new_job(datatoken=dt, epsilon=3_000_000), budget_units=budget, chain_spent_units=0, chain_block=10
    )
    with pytest.raises(BudgetExceeded) as info:
        s.create(
            new_job(datatoken=dt, epsilon=2_500_000), budget_units=budget, chain_spent_units=0, chain_block=10
        )
    assert info.value.details == {"requested": 2.5, "remaining": 2.0}
    assert s.reserved(dt, 10) == 3_000_000
    # a fails: its reservation is released (charged 0).
    wa = s.claim(a.id, "w", lease_s=10, max_attempts=1).lease_owner
    assert not s.finish(a.id, J.FAILED, worker="w", error={"code": "x", "message": "not the owner"})
    assert s.finish(a.id, J.FAILED, worker=wa, error={"code": "algorithm_failed", "message": "x"})
    assert s.get(a.id).charged_units == 0
    assert s.reserved(dt, 10) == 0
    b, _ = s.create(
        new_job(datatoken=dt, epsilon=2_500_000), budget_units=budget, chain_spent_units=0, chain_block=10
    )
    wb = s.claim(b.id, "w", lease_s=10, max_attempts=1).lease_owner
    for x, y in (
        (J.STAGING, J.RUNNING),
        (J.RUNNING, J.CHECKING),
        (J.CHECKING, J.PUBLISHING),
        (J.PUBLISHING, J.SUCCEEDED),
    ):
        s.advance(b.id, wb, x, y)
    # Succeeded but not posted: still reserved. Posted in block 12: reserved for a chain read at
    # block 11 (the chain's spent does not hold it yet), not for one at block 12.
    assert s.reserved(dt, 11) == 2_500_000
    batch, taken = s.take_receipts(ids=[a.id, b.id])
    assert sorted(j.id for j in taken) == sorted([a.id, b.id])
    s.receipts_posted(batch, "0x" + "aa" * 32, 12)
    assert s.reserved(dt, 11) == 2_500_000
    assert s.reserved(dt, 12) == 0


def test_a_job_that_reached_running_is_charged_whatever_its_outcome(store) -> None:
    """Failed, rejected or cancelled after its algorithm may have read the data: charged its epsilon,
    which stays reserved until the receipt is mined. Ended before running (a staging failure, a
    cancel while queued): refunded. Success or failure is no free oracle."""
    s, _ = store
    dt = unique_dt()
    ends = {}
    for end in (J.FAILED, J.REJECTED, J.CANCELLED):
        job = create(s, datatoken=dt, epsilon=1_000_000)
        owner = s.claim(job.id, "w", lease_s=10, max_attempts=1).lease_owner
        assert s.advance(job.id, owner, J.STAGING, J.RUNNING)
        if end == J.REJECTED:
            assert s.advance(job.id, owner, J.RUNNING, J.CHECKING)
        assert s.finish(job.id, end, worker=owner, error={"code": "x", "message": "x"})
        ends[end] = s.get(job.id)
    assert {end: job.charged_units for end, job in ends.items()} == dict.fromkeys(ends, 1_000_000)
    assert s.reserved(dt, 10) == 3_000_000
    staged = create(s, datatoken=dt, epsilon=1_000_000)
    owner = s.claim(staged.id, "w", lease_s=10, max_attempts=1).lease_owner
    assert s.finish(staged.id, J.FAILED, worker=owner, error={"code": "key_unavailable", "message": "x"})
    queued = create(s, datatoken=dt, epsilon=1_000_000)
    assert s.request_cancel(queued.id).state == J.CANCELLED
    assert s.get(staged.id).charged_units == 0 and s.get(queued.id).charged_units == 0
    assert s.reserved(dt, 10) == 3_000_000
    batch, _ = s.take_receipts(ids=[job.id for job in ends.values()])
    s.receipts_posted(batch, "0x" + "bb" * 32, 12)
    assert s.reserved(dt, 12) == 0


def test_concurrent_reservations_never_exceed_the_budget(store) -> None:
    s, _ = store
    dt = unique_dt()
    ok, refused = [], []

    def go() -> None:
        try:
            s.create(
                new_job(datatoken=dt, epsilon=1_000_000),
                budget_units=3_000_000,
                chain_spent_units=0,
                chain_block=1,
            )
            ok.append(1)
        except BudgetExceeded:
            refused.append(1)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 3 and len(refused) == 5


def test_a_lapsed_lease_is_taken_over_then_fails_after_max_attempts(store) -> None:
    s, clock = store
    job = create(s, datatoken=unique_dt())
    w1 = s.claim(job.id, "w1", lease_s=10, max_attempts=2).lease_owner
    s.advance(job.id, w1, J.STAGING, J.RUNNING)
    # Held: nobody else may take it.
    assert s.claim(job.id, "w2", lease_s=10, max_attempts=2) is None
    assert s.lapsed() == [] or job.id not in {j.id for j in s.lapsed()}
    clock.now += 11
    assert job.id in {j.id for j in s.lapsed()}
    again = s.claim(job.id, "w2", lease_s=10, max_attempts=2)
    assert again is not None and again.attempts == 2 and again.state == J.STAGING
    # The first worker's late writes are refused.
    assert not s.advance(job.id, w1, J.RUNNING, J.CHECKING)
    clock.now += 11
    assert s.claim(job.id, "w3", lease_s=10, max_attempts=2) is None
    lost = s.get(job.id)
    assert lost.state == J.FAILED and lost.error["code"] == "worker_lost"


def test_renewal_keeps_the_lease_and_reports_cancellation(store) -> None:
    s, clock = store
    job = create(s, datatoken=unique_dt())
    w1 = s.claim(job.id, "w1", lease_s=10, max_attempts=2).lease_owner
    clock.now += 8
    assert s.renew({job.id: w1}, lease_s=10) == set()
    clock.now += 8
    assert s.claim(job.id, "w2", lease_s=10, max_attempts=2) is None
    after = s.request_cancel(job.id)
    assert after.state == J.STAGING and after.cancel_requested
    assert s.renew({job.id: w1}, lease_s=10) == {job.id}
    # A flagged job cannot advance; its worker ends it as cancelled.
    assert not s.advance(job.id, w1, J.STAGING, J.RUNNING)
    assert s.finish(job.id, J.CANCELLED, worker=w1)
    assert s.get(job.id).receipt_status == J.R_PENDING


def test_cancelling_a_queued_job_ends_it_at_once(store) -> None:
    s, _ = store
    job = create(s, datatoken=unique_dt(), epsilon=1_000_000)
    assert s.request_cancel(job.id).state == J.CANCELLED
    assert s.claim(job.id, "w1", lease_s=10, max_attempts=2) is None
    assert s.get(job.id).charged_units == 0


def test_tokens_are_checked_and_only_hashes_stored(store) -> None:
    s, _ = store
    job, token = s.create(new_job(datatoken=unique_dt()), budget_units=0, chain_spent_units=0, chain_block=1)
    assert s.get_authorized(job.id, token).id == job.id
    assert s.get_authorized(job.id, token + "x") is None
    with s.engine.connect() as conn:
        stored = conn.execute(sa.select(J.jobs.c.token_hash).where(J.jobs.c.id == job.id)).scalar_one()
    assert stored != token and len(stored) == 64


def test_receipt_batches_go_back_to_pending_on_failure(store) -> None:
    s, _ = store
    job = create(s, datatoken=unique_dt())
    s.request_cancel(job.id)
    batch, taken = s.take_receipts()
    assert job.id in {j.id for j in taken}
    _, again = s.take_receipts()
    assert job.id not in {j.id for j in again}
    s.receipts_failed(batch)
    batch2, retaken = s.take_receipts()
    assert job.id in {j.id for j in retaken}
    s.receipts_posted(batch2, "0x" + "bb" * 32, 5)
    assert s.get(job.id).receipt_tx == "0x" + "bb" * 32


def test_a_receipt_batch_holds_one_dataset(store) -> None:
    """The market takes one dataset's receipts per transaction: a batch never mixes datasets, by
    default or by ids, and what is left is taken by the next batch."""
    s, _ = store
    first, second = sorted([unique_dt(), unique_dt()])
    jobs = [create(s, datatoken=dt) for dt in (second, first, second, first)]
    for job in jobs:
        s.request_cancel(job.id)
    batches = [s.take_receipts()[1], s.take_receipts()[1], s.take_receipts()[1]]
    assert [{j.datatoken for j in taken} for taken in batches[:2]] == [{first}, {second}]
    assert sorted(j.id for taken in batches for j in taken) == sorted(j.id for j in jobs)
    assert batches[2] == []


def test_a_refused_receipt_is_set_aside_and_taken_again_only_by_id(store) -> None:
    s, clock = store
    job = create(s, datatoken=unique_dt())
    s.request_cancel(job.id)
    batch, taken = s.take_receipts(1, ids=[job.id])
    assert [j.id for j in taken] == [job.id]
    s.receipts_refused(batch, "MarketNotProvider(caller=0x1, provider=0x2)")
    refused = s.get(job.id)
    assert (refused.receipt_status, refused.receipt_error) == (
        J.R_REFUSED,
        "MarketNotProvider(caller=0x1, provider=0x2)",
    )
    assert job.id not in s.refused_receipts(60)
    clock.now += 61
    assert job.id in s.refused_receipts(60)
    batch2, again = s.take_receipts(1, ids=[job.id])
    assert [j.id for j in again] == [job.id] and s.take_receipts(1, ids=[job.id])[1] == []
    s.receipts_posted(batch2, "0x" + "cc" * 32, 7)
    posted = s.get(job.id)
    assert (posted.receipt_status, posted.receipt_error) == (J.R_POSTED, None)


def _open_and_count(url: str) -> None:
    JobStore(url).pending_count()


def test_processes_opening_a_new_sqlite_database_together_all_succeed(tmp_path: Path) -> None:
    """gunicorn's workers and a Celery worker open the same new jobs.db at once (switching it to WAL
    needs it to itself): none of them may fail to start."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    for i in range(2):
        url = f"sqlite:///{tmp_path / f'jobs-{i}.db'}"
        procs = [context.Process(target=_open_and_count, args=(url,)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 4


def test_a_database_of_an_earlier_version_gets_the_new_nullable_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = JobStore(url)
    with old.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE compute_jobs DROP COLUMN receipt_since")
    old.close()
    store = JobStore(url)
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("compute_jobs")}
    assert "receipt_since" in columns
    job = create(store, datatoken=unique_dt())
    store.request_cancel(job.id)
    assert store.take_receipts()[1][0].id == job.id


def test_two_claims_at_once_give_the_job_to_one(store) -> None:
    s, _ = store
    job = create(s, datatoken=unique_dt())
    won = []

    def take(name: str) -> None:
        claimed = s.claim(job.id, name, lease_s=10, max_attempts=2)
        if claimed is not None:
            won.append(claimed.lease_owner)

    threads = [threading.Thread(target=take, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and s.get(job.id).attempts == 1 and s.get(job.id).lease_owner == won[0]


def test_resend_takes_lost_and_lapsed_jobs_once(store) -> None:
    s, clock = store
    queued = create(s, datatoken=unique_dt())
    running = create(s, datatoken=unique_dt())
    owner = s.claim(running.id, "w1", lease_s=10, max_attempts=3).lease_owner
    assert {j.id for j in s.due_for_resend(queued_for_s=60, every_s=15)} & {queued.id, running.id} == set()
    clock.now += 61  # the queued job's task was lost; the running job's worker died
    first = {j.id for j in s.due_for_resend(queued_for_s=60, every_s=15)}
    assert {queued.id, running.id} <= first
    assert {j.id for j in s.due_for_resend(queued_for_s=60, every_s=15)} & first == set()  # once a window
    # A passing outage: the job goes back to the queue for the next sweep, attempts kept.
    requeued = create(s, datatoken=unique_dt())
    o = s.claim(requeued.id, "w1", lease_s=10, max_attempts=2).lease_owner
    assert s.requeue(requeued.id, o, max_attempts=2, error={"code": "provider_unavailable", "message": "x"})
    assert s.get(requeued.id).state == J.QUEUED and s.get(requeued.id).attempts == 1
    assert requeued.id in {j.id for j in s.due_for_resend(queued_for_s=60, every_s=15)}
    o = s.claim(requeued.id, "w2", lease_s=10, max_attempts=2).lease_owner
    assert s.requeue(requeued.id, o, max_attempts=2, error={"code": "provider_unavailable", "message": "x"})
    assert s.get(requeued.id).state == J.FAILED and s.get(requeued.id).error["code"] == "provider_unavailable"
    assert owner  # the lapsed job keeps its owner until someone claims it
