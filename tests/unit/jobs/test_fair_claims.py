"""The fair order of :meth:`JobStore.claim_next`: a worker's task takes the waiting job of the dataset
with the fewest jobs running, then the one served least recently, oldest first within a dataset,
in the task's environment only; every job is taken exactly once, and leases, attempts and
cancellation keep their meaning."""

from __future__ import annotations

import threading

from datamarket.jobs import store as J
from datamarket.jobs.store import JobStore
from tests.unit.jobs.conftest import Clock, address, new_job

LEASE_S = 10


def create(s: JobStore, clock: Clock, datatoken: str, *, environment: str = "cpu") -> J.Job:
    clock.now += 0.001  # distinct creation times: "oldest first" has one answer
    job, _ = s.create(
        new_job(datatoken=datatoken, environment=environment),
        budget_units=0,
        chain_spent_units=0,
        chain_block=1,
    )
    return job


def take(s: JobStore, worker: str = "w", environment: str = "cpu", attempts: int = 2) -> J.Job | None:
    return s.claim_next(environment, worker, lease_s=LEASE_S, max_attempts=attempts)


def succeed(s: JobStore, job: J.Job) -> None:
    owner = job.lease_owner or ""
    for a, b in ((J.STAGING, J.RUNNING), (J.RUNNING, J.CHECKING), (J.CHECKING, J.PUBLISHING)):
        assert s.advance(job.id, owner, a, b)
    assert s.advance(job.id, owner, J.PUBLISHING, J.SUCCEEDED)


def test_a_lone_job_of_another_dataset_runs_within_the_first_two_claims(store) -> None:
    s, clock = store
    a, b = address(), address()
    flood = [create(s, clock, a) for _ in range(10)]
    lone = create(s, clock, b)
    first, second = take(s, "w1"), take(s, "w2")
    assert lone.id in {first.id, second.id}
    # The flood's own jobs still go oldest first.
    assert flood[0].id in {first.id, second.id}


def test_one_worker_alternates_between_datasets_then_drains_the_rest(store) -> None:
    """A single worker that finishes each job before the next: the dataset served least recently
    goes first, so two datasets take turns while both have jobs waiting."""
    s, clock = store
    a, b = address(), address()
    for _ in range(4):
        create(s, clock, a)
    for _ in range(2):
        create(s, clock, b)
    order = []
    while (job := take(s)) is not None:
        order.append(job.datatoken)
        clock.now += 1
        succeed(s, job)
    assert order == [a, b, a, b, a, a]


def test_a_dataset_with_a_job_running_waits_behind_one_with_none(store) -> None:
    s, clock = store
    a, b = address(), address()
    create(s, clock, a)
    create(s, clock, a)
    running = take(s)
    assert running.datatoken == a
    clock.now += 1
    create(s, clock, b)  # newer than a's waiting job
    assert take(s).datatoken == b
    assert take(s).datatoken == a
    assert take(s) is None


def test_a_task_takes_only_jobs_of_its_environment(store) -> None:
    s, clock = store
    gpu = create(s, clock, address(), environment="gpu")
    assert take(s, environment="cpu") is None
    assert s.get(gpu.id).state == J.QUEUED
    assert take(s, environment="gpu").id == gpu.id


def test_a_lapsed_job_is_taken_again_and_a_held_one_is_not(store) -> None:
    s, clock = store
    job = create(s, clock, address())
    held = take(s, "w1")
    assert held.id == job.id and take(s, "w2") is None
    clock.now += LEASE_S + 1  # w1 died
    again = take(s, "w2")
    assert again.id == job.id and again.attempts == 2 and again.lease_owner != held.lease_owner
    # w1's late writes are refused.
    assert not s.advance(job.id, held.lease_owner, J.STAGING, J.RUNNING)
    clock.now += LEASE_S + 1
    # Out of attempts: failed on the way, and the task finds nothing else to run.
    assert take(s, "w3") is None
    lost = s.get(job.id)
    assert lost.state == J.FAILED and lost.error["code"] == "worker_lost"


def test_cancelled_and_exhausted_jobs_are_ended_on_the_way_to_the_next(store) -> None:
    s, clock = store
    a = address()
    doomed = create(s, clock, a)
    flagged = create(s, clock, a)
    wanted = create(s, clock, a)
    owner = take(s, "w1").lease_owner
    assert s.claim(flagged.id, "w1", lease_s=LEASE_S, max_attempts=1) is not None
    s.request_cancel(flagged.id)  # held: flagged, ended by whoever takes it next
    clock.now += LEASE_S + 1  # both leases lapse
    job = take(s, "w2", attempts=1)
    assert job.id == wanted.id
    assert s.get(doomed.id).state == J.FAILED and s.get(flagged.id).state == J.CANCELLED
    assert owner


def test_concurrent_claims_take_every_job_exactly_once(store) -> None:
    s, clock = store
    datasets = [address() for _ in range(3)]
    jobs = [create(s, clock, datasets[i % 3]) for i in range(12)]
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := take(s, name)) is not None:
            with lock:
                taken.append((job.id, job.lease_owner))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(job_id for job_id, _ in taken) == sorted(j.id for j in jobs)
    for job_id, owner in taken:
        after = s.get(job_id)
        assert (after.state, after.attempts, after.lease_owner) == (J.STAGING, 1, owner)


def test_nothing_waiting_is_nothing_taken(store) -> None:
    s, clock = store
    job = create(s, clock, address())
    s.request_cancel(job.id)
    assert take(s) is None
