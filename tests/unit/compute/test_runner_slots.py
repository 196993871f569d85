"""A worker's task is a slot: ``run_job`` runs the job the job database gives it in the named job's
environment, fair across datasets, and does nothing when no job waits. The job's steps are faked
(an attempt that passes every state at once); the job database is a real SQLite one."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from compute_to_data import runner
from compute_to_data.sandbox import Limits
from datamarket.chain.devchain import dev_account
from datamarket.crypto.keys import KeyStore
from datamarket.jobs import store as J
from datamarket.jobs.store import JobStore, NewJob
from tests.fakes import FakeChain, FakeStore

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


def instant_attempt(ctx: runner.WorkerContext, job: J.Job, workdir: Path, cancel: threading.Event) -> dict:
    for a, b in ((J.STAGING, J.RUNNING), (J.RUNNING, J.CHECKING), (J.CHECKING, J.PUBLISHING)):
        runner._step(ctx, job, a, b)
    return {"result": {"job_id": job.id}, "output_hash": "cd" * 32, "logs": "", "logs_truncated": False,
            "progress": 1.0}  # fmt: skip


@contextmanager
def hold(job_id: str, owner: str) -> Iterator[threading.Event]:
    yield threading.Event()


#: The jobs whose receipt batch the worker scheduled (``WorkerContext.on_final``), per test.
finals: list[str] = []


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[runner.WorkerContext]:
    monkeypatch.setattr(runner, "_attempt", instant_attempt)
    now = [1_000_000.0]

    def clock() -> float:
        now[0] += 0.01
        return now[0]

    jobs = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=clock)
    finals.clear()
    context = runner.WorkerContext(
        jobs=jobs, chain=FakeChain(), store=FakeStore(), keys=KeyStore(tmp_path / "keys"),
        jobs_dir=tmp_path / "work", worker_id="w", limits=Limits(), lease_s=30, max_attempts=2,
        on_final=finals.append,
    )  # fmt: skip
    yield context
    jobs.close()


def create(jobs: JobStore, datatoken: str, environment: str = "cpu") -> J.Job:
    new = NewJob(
        consumer=dev_account(3).address, datatoken=datatoken, service_id=1, order_tx="0x" + "11" * 32,
        order_id=secrets.randbits(62), consumer_key="0x" + "22" * 32, algorithm="dp_stats",
        algorithm_hash="ab" * 32, params={}, environment=environment, epsilon_units=0, delta=1e-5,
    )  # fmt: skip
    return jobs.create(new, budget_units=0, chain_spent_units=0, chain_block=1)[0]


def run(ctx: runner.WorkerContext, task: str) -> Any:
    """Run one task (named ``task``); the job it ran, or None."""
    before = {j.id for j in ctx.jobs.list_active()}
    state = runner.run_job(ctx, task, hold)
    ran = [ctx.jobs.get(job_id) for job_id in before if ctx.jobs.get(job_id).final]
    return state, ran[0].datatoken if ran else None


def test_the_tasks_of_a_flood_run_another_datasets_job_second(ctx: runner.WorkerContext) -> None:
    tasks = [create(ctx.jobs, A).id for _ in range(3)] + [create(ctx.jobs, B).id]
    results = [run(ctx, task) for task in tasks]
    assert results == [(J.SUCCEEDED, A), (J.SUCCEEDED, B), (J.SUCCEEDED, A), (J.SUCCEEDED, A)]
    # Every job ran once and had its receipt batch scheduled.
    assert sorted(finals) == sorted(tasks)
    # A task more than there are jobs (the sweep sent one again) does nothing.
    assert runner.run_job(ctx, tasks[0], hold) is None


def test_a_task_runs_only_jobs_of_its_named_jobs_environment(ctx: runner.WorkerContext) -> None:
    gpu = create(ctx.jobs, A, environment="gpu")
    cpu = create(ctx.jobs, B)
    assert run(ctx, cpu.id) == (J.SUCCEEDED, B)
    assert run(ctx, cpu.id) == (None, None)
    assert ctx.jobs.get(gpu.id).state == J.QUEUED


def test_a_task_that_finds_nothing_schedules_its_final_jobs_receipt(ctx: runner.WorkerContext) -> None:
    job = create(ctx.jobs, A)
    ctx.jobs.request_cancel(job.id)
    assert runner.run_job(ctx, job.id, hold) is None
    assert finals == [job.id]
    assert runner.run_job(ctx, "0" * 32, hold) is None  # a task naming no job: nothing
