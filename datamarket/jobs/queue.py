"""Sending compute jobs to the workers: the broker, the queues and the task names.

- ``datamarket.compute.run_job(job_id)``: a slot to run one job, sent when a job is created (and
  again by the workers' sweep for a job whose task was lost or whose worker died), on the queue of
  the job's resource class (``cpu`` or ``gpu``). The worker that takes it runs the job the job
  database gives it in that environment, fair across datasets
  (:meth:`datamarket.jobs.store.JobStore.claim_next`): not necessarily the job it names, and
  nothing when no job is waiting. Every job sends one task and a task runs one job at most, so
  the tasks cover the waiting jobs; one lost on the broker is replaced by the sweep.
  ``acks_late`` with ``reject_on_worker_lost``: the message is acknowledged only when the task
  returns, so a worker killed mid-job leaves it to be delivered again; the job database's leases
  decide what the redelivered task runs (a job whose lease lapsed is waiting again; one another
  worker holds is not).
- ``datamarket.compute.post_receipts()``: posts the pending receipts in one transaction.

Broker: Redis (or RabbitMQ) when ``broker_url`` says so; otherwise the embedded SQLite broker
(``sqla+sqlite:///``) with a 50 ms polling interval (kombu's default polls once a second). Results
are not stored in Celery: the job database (:mod:`datamarket.jobs.store`) is the record. The
provider sends tasks by name; the worker (``compute_to_data.celery_app``) registers them.
"""

from __future__ import annotations

from pathlib import Path

from celery import Celery

RUN_JOB = "datamarket.compute.run_job"
POST_RECEIPTS = "datamarket.compute.post_receipts"
SQLITE_POLLING_INTERVAL_S = 0.05


def make_celery(broker: str, *, lease_s: float = 5.0) -> Celery:
    if broker.startswith("sqla+"):
        from kombu.transport.sqlalchemy import Transport

        Transport.polling_interval = SQLITE_POLLING_INTERVAL_S
        Path(broker.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    app = Celery("datamarket", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_default_queue="cpu",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    if broker.startswith(("redis", "rediss")):
        # A redelivered job is checked against its lease, so a visibility timeout shorter than
        # the longest job is safe: it only decides how soon a dead worker's job is noticed.
        # (The SQLAlchemy transport hands these options to create_engine: none for it.)
        app.conf.broker_transport_options = {"visibility_timeout": max(60, int(lease_s * 12))}
    return app


def enqueue(app: Celery, job_id: str, environment: str) -> None:
    """A slot on ``environment``'s queue (see the module docstring); ``job_id`` gives the worker the
    environment and, when nothing runs, the job whose receipt may be due."""
    app.send_task(RUN_JOB, args=[job_id], queue=environment)


def schedule_receipts(app: Celery, delay_s: float, queue: str = "cpu") -> None:
    app.send_task(POST_RECEIPTS, countdown=delay_s, queue=queue)


__all__ = ["POST_RECEIPTS", "RUN_JOB", "enqueue", "make_celery", "schedule_receipts"]
