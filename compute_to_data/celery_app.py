"""The worker's Celery application: the two tasks (``run_job`` and ``post_receipts``, described with
the queue in :mod:`datamarket.jobs.queue`) and what a worker process builds once to run them.

The broker, the task names and the sending side are the kernel's: the provider sends tasks by name and
never imports the worker's code.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from sqlalchemy.exc import OperationalError

from compute_to_data.settings import WorkerSettings
from datamarket.jobs.queue import POST_RECEIPTS, RUN_JOB, enqueue, make_celery, schedule_receipts

log = logging.getLogger("datamarket.compute")

#: Seconds between a worker's sweeps for jobs whose worker died (and heartbeats).
REAP_INTERVAL_S = 5.0
#: A job still queued this long after its task was sent is sent again (the task was lost).
QUEUED_RESEND_S = 120.0
#: A task that met the job database down is sent again after this long, this many times at most.
DB_RETRY_S, DB_RETRIES = 2.0, 10


# ------------------------------------------------------------------------------------ worker side


class Worker:
    """What a worker process builds once: the job runner's context, the lease keeper, and a
    background sweep for jobs whose worker died."""

    def __init__(self, settings: WorkerSettings, app: Celery, queues: tuple[str, ...]) -> None:
        from compute_to_data import receipts, runner, sandbox
        from compute_to_data.leases import LeaseKeeper
        from compute_to_data.policy import index_process
        from datamarket.chain.reader import Web3ChainReader
        from datamarket.crypto.keys import KeyStore
        from datamarket.jobs.dataset_size import max_dataset_bytes
        from datamarket.jobs.store import JobStore
        from datamarket.storage import open_store

        sandbox.check_available()
        sandbox.configure(settings.sandbox_cgroup)
        self.settings, self.app, self.queues, self._runner = settings, app, queues, runner
        self._sandbox = sandbox
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.jobs = JobStore(str(settings.jobs_url))
        chain = Web3ChainReader.connect(
            settings.rpc_url,
            settings.market,
            chain_id=settings.chain_id,
            deploy_block=settings.market_deploy_block,
            timeout=settings.rpc_timeout_s,
        )
        gpus = runner.GpuPool.detect() if "gpu" in queues else runner.GpuPool()
        if "gpu" in queues and not gpus.devices:
            log.warning("the gpu queue was asked for, but this machine has no NVIDIA GPU")
        # Renewed every job_lease_s; a lease lapses after three periods without renewal.
        self.leases = LeaseKeeper(self.jobs, lease_s=settings.job_lease_s * 3)
        self.ctx = runner.WorkerContext(
            jobs=self.jobs,
            chain=chain,
            store=open_store(str(settings.store)),
            keys=KeyStore(settings.keys_dir),  # type: ignore[arg-type]
            jobs_dir=Path(settings.jobs_dir),  # type: ignore[arg-type]
            worker_id=self.worker_id,
            limits=sandbox.Limits(
                wall_time_s=settings.job_wall_time_s,
                cpu_time_s=settings.job_wall_time_s * max(os.cpu_count() or 1, 1),
                memory_bytes=settings.job_memory_mb * 1024 * 1024,
                output_bytes=settings.job_output_mb * 1024 * 1024,
                processes=settings.job_processes,
            ),
            lease_s=settings.job_lease_s * 3,
            max_attempts=settings.job_max_attempts,
            aggregate_slot_s=float(settings.job_aggregate_slot_s),
            published_algorithms=settings.published_algorithms,
            max_metadata_bytes=settings.max_metadata_bytes,
            index_limits=index_process.IndexLimits(
                memory_bytes=settings.raw_index_memory_mb * 1024 * 1024, cpu_s=settings.raw_index_time_s
            ),
            max_dataset_bytes=max_dataset_bytes(settings.raw_index_memory_mb),
            gpus=gpus,
            # On a queue this worker serves (a gpu-only worker must post too).
            on_final=lambda job_id: schedule_receipts(app, settings.receipt_batch_delay_s, queues[0]),
        )
        self.poster = receipts.ReceiptPoster(self.jobs, settings)
        self._index_process = index_process
        index_process.prestart()  # the first job's raw-row index need not wait for its libraries
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sweep_loop, name="job-sweeper", daemon=True)
        self._thread.start()

    def run(self, job_id: str) -> str | None:
        return self._runner.run_job(self.ctx, job_id, self.leases.hold)

    def _sweep_loop(self) -> None:
        """Heartbeat; send again the jobs whose task was lost or whose worker died; post the
        receipts still pending (after a failed post, or from a provider that failed a job), settle
        batches a dead worker left half-posted and those the chain lost."""
        gpus = len(self.ctx.gpus.devices)
        while True:
            try:
                self.jobs.heartbeat(self.worker_id, ",".join(self.queues), gpus)
                for job in self.jobs.due_for_resend(
                    queued_for_s=QUEUED_RESEND_S, every_s=REAP_INTERVAL_S * 6
                ):
                    log.warning("job %s (%s): sending its task again", job.id, job.state)
                    if job.state != "queued":
                        # Whatever of its sandbox a dead worker left (only this job's cgroup:
                        # other workers on this machine keep theirs).
                        self._sandbox.sweep(f"job-{job.id}")
                    enqueue(self.app, job.id, job.environment)
                self.poster.recheck_posted()
                self.poster.recover_stale()
                self.poster.post_pending()
            except Exception:
                log.exception("the job sweep failed; trying again")
            if self._stop.wait(REAP_INTERVAL_S):
                return

    def stop(self) -> None:
        self._stop.set()
        self.leases.stop()
        self._index_process.close()


_worker: Worker | None = None


def build_worker_app(settings: WorkerSettings, queues: tuple[str, ...]) -> Celery:
    """The app a worker runs, with the tasks bound to this process's :class:`Worker`."""
    app = make_celery(str(settings.broker_url), lease_s=settings.job_lease_s)

    def current() -> Worker:
        global _worker
        if _worker is None:
            _worker = Worker(settings, app, queues)
        return _worker

    @app.task(name=RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True)
    def run_job(self: Any, job_id: str) -> str | None:
        try:
            return current().run(job_id)
        except OperationalError as exc:
            # The job database lost the connection (restarted, or the session was ended) while this
            # slot was being taken: the slot comes back shortly, rather than at the next resend.
            log.warning("job database unavailable (%s); the task is tried again", type(exc.orig).__name__)
            raise self.retry(countdown=DB_RETRY_S, max_retries=DB_RETRIES) from None

    @app.task(name=POST_RECEIPTS, acks_late=True)
    def post_receipts() -> int:
        return current().poster.post_pending()

    @worker_ready.connect(weak=False)
    def _ready(**_: Any) -> None:
        current()

    @worker_process_init.connect(weak=False)
    def _child(**_: Any) -> None:
        global _worker
        _worker = None

    # worker_shutdown, not worker_shutting_down: a warm shutdown first waits for the running jobs,
    # whose leases must be renewed until they end.
    @worker_shutdown.connect(weak=False)
    def _down(**_: Any) -> None:
        if _worker is not None:
            _worker.stop()

    return app


__all__ = ["Worker", "build_worker_app"]
