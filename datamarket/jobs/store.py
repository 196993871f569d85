"""The job database: one row per compute job, its state machine, leases, epsilon reservations and
the queue of receipts to post on chain.

SQLAlchemy Core over SQLite (default, ``sqlite:///path``) or PostgreSQL (``postgresql://...``).
Every state change is one conditional ``UPDATE ... WHERE state IN (...)``, so two workers (or a
worker and a cancelling provider) can never both move a job: the loser sees ``rowcount == 0``.

States (docs/compute.md)::

    queued -> staging -> running -> checking -> publishing -> succeeded
    any non-final -> failed | cancelled;   checking -> rejected

A worker that claims a job holds a lease (``lease_owner``, ``lease_until``) and renews it while it
works. A job whose lease lapsed (its worker died) is claimed again from staging, ``attempts`` + 1,
until ``max_attempts``; then it fails with ``worker_lost``.

Epsilon: a job reserves its requested epsilon when it is created, in the same transaction that
checks the dataset's remaining budget; the reservation ends when its receipt is mined (the chain's
``epsilonSpent`` then holds it). A job is charged its epsilon whatever its outcome once it reached
running; it is refunded (charged 0, the reservation ends with it) only when it ended before that.

Admission: creating a job counts the pending jobs (queued or active) in all, of its consumer and of
its dataset against :class:`QueueCaps` under one admission lock (PostgreSQL: a transaction-level
advisory lock; SQLite: ``BEGIN IMMEDIATE``), so the caps hold exactly however many providers create
jobs at once. A refused creation writes nothing.

Fair order: a worker's task is a slot, not a job. :meth:`JobStore.claim_next` takes, in the task's
environment, the dataset with the fewest jobs running, then the one served least recently
(``compute_dataset_turns``), and of its jobs the oldest one that is queued or whose lease lapsed.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from datamarket.canonical import canonical_json, parse_json
from datamarket.errors import DatamarketError

QUEUED, STAGING, RUNNING, CHECKING, PUBLISHING = "queued", "staging", "running", "checking", "publishing"
SUCCEEDED, FAILED, REJECTED, CANCELLED = "succeeded", "failed", "rejected", "cancelled"
ACTIVE = (STAGING, RUNNING, CHECKING, PUBLISHING)
FINAL = (SUCCEEDED, FAILED, REJECTED, CANCELLED)
STATES = (QUEUED, *ACTIVE, *FINAL)
#: The state each step moves from.
NEXT = {STAGING: RUNNING, RUNNING: CHECKING, CHECKING: PUBLISHING, PUBLISHING: SUCCEEDED}

#: Receipt status of a job: none (not final yet), pending (to post), posting (in a batch), posted,
#: or refused (the market reverted it on its own; it is tried again alone, now and then, and its
#: epsilon stays counted against the dataset's budget meanwhile).
R_NONE, R_PENDING, R_POSTING, R_POSTED = "none", "pending", "posting", "posted"
R_REFUSED = "refused"

metadata = sa.MetaData()

jobs = sa.Table(
    "compute_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("consumer", sa.String(42), nullable=False),
    sa.Column("datatoken", sa.String(42), nullable=False, index=True),
    sa.Column("service_id", sa.Integer, nullable=False),
    sa.Column("order_tx", sa.String(66), nullable=False),
    # One order runs one job: orders are told apart by their id (a transaction may hold several).
    sa.Column("order_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("consumer_key", sa.String(66), nullable=False),
    sa.Column("algorithm", sa.Text, nullable=False),  # JSON: a built-in's name or {"bundle", "sha256"}
    sa.Column("algorithm_hash", sa.String(64), nullable=False),
    sa.Column("params", sa.Text, nullable=False),  # canonical JSON
    sa.Column("output", sa.Text),  # canonical JSON: the job's output spec (sample and aggregate), or NULL
    sa.Column("environment", sa.String(8), nullable=False),
    sa.Column("epsilon_units", sa.BigInteger, nullable=False),  # requested, micro-epsilon
    sa.Column("charged_units", sa.BigInteger, nullable=False, default=0),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("sent_at", sa.Float),  # when its task was last put on the broker
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("state_since", sa.Float, nullable=False),
    sa.Column("timings", sa.Text, nullable=False, default="{}"),
    sa.Column("error", sa.Text),  # JSON {"code", "message", "details"}
    sa.Column("logs", sa.Text),  # released logs (after the policy passed them)
    sa.Column("logs_truncated", sa.Boolean, nullable=False, default=False),
    sa.Column("result", sa.Text),  # JSON: what GET /result answers
    sa.Column("output_hash", sa.String(64)),
    sa.Column("first_output_s", sa.Float),
    sa.Column("receipt_status", sa.String(8), nullable=False, default=R_NONE, index=True),
    sa.Column("receipt_batch", sa.String(32)),
    sa.Column("receipt_since", sa.Float),  # when its batch was taken
    sa.Column("receipt_tx", sa.String(66)),
    sa.Column("receipt_block", sa.BigInteger),
    sa.Column("receipt_error", sa.String(200)),  # why the market refused the receipt alone
)

workers = sa.Table(
    "compute_workers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("queues", sa.String(64), nullable=False),
    sa.Column("gpus", sa.Integer, nullable=False),
    sa.Column("seen_at", sa.Float, nullable=False),
)

# When a worker last took a job of each dataset, per environment: the fair order's memory.
turns = sa.Table(
    "compute_dataset_turns",
    metadata,
    sa.Column("datatoken", sa.String(42), primary_key=True),
    sa.Column("environment", sa.String(8), primary_key=True),
    sa.Column("served_at", sa.Float, nullable=False),
)

#: PostgreSQL: the transaction-level advisory lock that job creations take in turn (any constant
#: that no other part of the system uses; the nonce store's is 7255021).
ADMISSION_LOCK = 7_255_078
#: How many jobs one :meth:`JobStore.claim_next` may end (cancelled, out of attempts) or lose to
#: another worker before it gives up: the task then does nothing, and the sweep sends another.
CLAIM_TRIES = 100


class JobError(DatamarketError):
    code = "job_error"


class OrderAlreadyUsed(JobError):
    code = "order_already_used"


class BudgetExceeded(JobError):
    code = "epsilon_exceeds_budget"


class QueueFull(JobError):
    """Too many pending jobs; ``code`` says whose: ``consumer_queue_full`` (the consumer's own),
    ``dataset_queue_full`` (the dataset's) or ``queue_full`` (the provider's, in all)."""

    code = "queue_full"

    def __init__(self, code: str, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        self.code = code


@dataclass(frozen=True)
class QueueCaps:
    """How many jobs may be pending (queued or active) at once: in all, of one consumer, of one
    dataset. A cap above ``total`` never binds."""

    total: int
    per_consumer: int
    per_dataset: int


def ran(timings: dict) -> bool:
    """Whether a job reached running (its algorithm may have read the data): the state timings hold
    every state the job has left, on every attempt, and a final job's timings its last state too."""
    return any(state in timings for state in (RUNNING, CHECKING, PUBLISHING))


def hash_token(token: str) -> str:
    return sha256(token.encode()).hexdigest()


def dumps(value: Any) -> str:
    """A job's hashed parts (algorithm, params, output) as stored: their RFC 8785 canonical JSON, the
    bytes its jobHash is of."""
    return canonical_json(value).decode()


def record_json(value: Any) -> str:
    """What the job store records about a job (timings, result, error): compact JSON with sorted keys.
    Not hashed, so not held to canonical JSON's number range: an error's details may carry a uint256."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class NewJob:
    consumer: str
    datatoken: str
    service_id: int
    order_tx: str
    order_id: int
    consumer_key: str
    algorithm: str | dict
    algorithm_hash: str
    params: dict
    environment: str
    epsilon_units: int
    delta: float
    #: The signed output spec (datamarket.output_spec) of a job on an untrusted algorithm.
    output: dict | None = None


@dataclass(frozen=True)
class Job:
    id: str
    consumer: str
    datatoken: str
    service_id: int
    order_tx: str
    order_id: int
    consumer_key: str
    algorithm: str | dict
    algorithm_hash: str
    params: dict
    environment: str
    epsilon_units: int
    charged_units: int
    delta: float
    state: str
    progress: float
    attempts: int
    lease_owner: str | None
    lease_until: float | None
    cancel_requested: bool
    created_at: float
    state_since: float
    timings: dict
    error: dict | None
    logs: str | None
    logs_truncated: bool
    result: dict | None
    output_hash: str | None
    first_output_s: float | None
    receipt_status: str
    receipt_tx: str | None
    receipt_block: int | None
    receipt_error: str | None = None
    output: dict | None = None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        m = dict(row._mapping)
        return cls(
            id=m["id"],
            consumer=m["consumer"],
            datatoken=m["datatoken"],
            service_id=m["service_id"],
            order_tx=m["order_tx"],
            order_id=m["order_id"],
            consumer_key=m["consumer_key"],
            algorithm=json.loads(m["algorithm"]),
            algorithm_hash=m["algorithm_hash"],
            params=parse_json(m["params"]),
            environment=m["environment"],
            epsilon_units=m["epsilon_units"],
            charged_units=m["charged_units"] or 0,
            delta=m["delta"],
            state=m["state"],
            progress=m["progress"] or 0.0,
            attempts=m["attempts"] or 0,
            lease_owner=m["lease_owner"],
            lease_until=m["lease_until"],
            cancel_requested=bool(m["cancel_requested"]),
            created_at=m["created_at"],
            state_since=m["state_since"],
            timings=json.loads(m["timings"] or "{}"),
            error=json.loads(m["error"]) if m["error"] else None,
            logs=m["logs"],
            logs_truncated=bool(m["logs_truncated"]),
            result=json.loads(m["result"]) if m["result"] else None,
            output_hash=m["output_hash"],
            first_output_s=m["first_output_s"],
            receipt_status=m["receipt_status"],
            receipt_tx=m["receipt_tx"],
            receipt_block=m["receipt_block"],
            receipt_error=m.get("receipt_error"),
            output=json.loads(m["output"]) if m.get("output") else None,
        )

    @property
    def final(self) -> bool:
        return self.state in FINAL


#: The PostgreSQL advisory lock under which a job database's tables are created.
SCHEMA_LOCK = 7255022


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            dbapi_conn.execute("PRAGMA busy_timeout=30000")
            # Switching to WAL needs the database to itself and does not wait for a busy one:
            # processes opening a new database together (gunicorn's workers) take turns.
            for attempt in range(100):
                try:
                    dbapi_conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    if attempt == 99:
                        raise
                    time.sleep(0.05)
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # IMMEDIATE: take the write lock at the start, so check-then-write is serialized
            # across processes (the provider's gunicorn workers and the Celery workers).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    url = url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "postgres://", "postgresql+psycopg://", 1
    )
    return sa.create_engine(url, pool_pre_ping=True)


class JobStore:
    """The job database (see the module docstring)."""

    def __init__(self, url: str, *, clock: Any = time.time) -> None:
        self.engine = _engine(url)
        self.clock = clock
        self._dialect = self.engine.dialect.name
        with self._tx() as conn:
            if self._dialect == "postgresql":
                # Processes opening a new database together (the provider's gunicorn workers, the
                # Celery workers) would collide creating the same tables: they take turns.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK)))
            metadata.create_all(conn)
            self._add_missing_columns(conn)

    def _add_missing_columns(self, conn: Connection) -> None:
        """Additive schema changes on an existing database: a nullable column this version has and
        the table lacks is added. (Anything else would need a migration tool.)"""
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable:
                    raise JobError(f"the job database lacks {table.name}.{column.name}: migrate it first")
                kind = column.type.compile(dialect=self.engine.dialect)
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # ------------------------------------------------------------------------------ creating

    def create(
        self,
        new: NewJob,
        *,
        budget_units: int,
        chain_spent_units: int,
        chain_block: int,
        caps: QueueCaps | None = None,
        admit: Callable[[], None] | None = None,
    ) -> tuple[Job, str]:
        """Create a job in ``queued``, reserving ``new.epsilon_units`` of the dataset's budget.

        ``budget_units`` and ``chain_spent_units`` are the chain's figures at ``chain_block``;
        reservations of jobs whose receipt was mined after that block still count. Raises
        OrderAlreadyUsed (one order, one job), BudgetExceeded, or QueueFull when ``caps`` has no room
        for the job. ``admit`` is called once every check passed, in the same transaction, before it
        commits: whatever it raises undoes the creation (the provider consumes the request's nonce
        there, so a refused request leaves its nonce unused and a lost nonce race leaves no job).
        Returns the job and its bearer token (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        job_id = secrets.token_hex(16)
        now = self.clock()
        with self._tx() as conn:
            self._lock_admission(conn)
            existing = conn.execute(sa.select(jobs.c.id).where(jobs.c.order_id == new.order_id)).first()
            if existing is not None:
                raise OrderAlreadyUsed(
                    "this order has already started a job; one order runs one job",
                    details={"job_id": existing.id},
                )
            if new.epsilon_units:
                reserved = self._reserved(conn, new.datatoken, chain_block)
                remaining = budget_units - chain_spent_units - reserved
                if new.epsilon_units > remaining:
                    raise BudgetExceeded(
                        "the job asks for more epsilon than the dataset has left",
                        details={"requested": new.epsilon_units / 1e6, "remaining": max(remaining, 0) / 1e6},
                    )
            if caps is not None:
                self._check_caps(conn, new, caps)
            conn.execute(
                jobs.insert().values(
                    id=job_id,
                    token_hash=hash_token(token),
                    consumer=new.consumer,
                    datatoken=new.datatoken,
                    service_id=new.service_id,
                    order_tx=new.order_tx,
                    order_id=new.order_id,
                    consumer_key=new.consumer_key,
                    algorithm=dumps(new.algorithm),
                    algorithm_hash=new.algorithm_hash,
                    params=dumps(new.params),
                    output=dumps(new.output) if new.output is not None else None,
                    environment=new.environment,
                    sent_at=now,
                    epsilon_units=new.epsilon_units,
                    charged_units=0,
                    delta=new.delta,
                    state=QUEUED,
                    progress=0.0,
                    attempts=0,
                    cancel_requested=False,
                    created_at=now,
                    state_since=now,
                    timings="{}",
                    logs_truncated=False,
                    receipt_status=R_NONE,
                )
            )
            if admit is not None:
                admit()
        return self.get(job_id), token

    def _lock_admission(self, conn: Connection) -> None:
        """Job creations take turns: what one counts (pending jobs, reserved epsilon, used orders)
        cannot change under it until it commits. One lock for all, so no two creations can wait on
        each other's locks in opposite orders."""
        if self._dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADMISSION_LOCK)))
        # SQLite: BEGIN IMMEDIATE already holds the database's write lock.

    def _check_caps(self, conn: Connection, new: NewJob, caps: QueueCaps) -> None:
        c = jobs.c
        mine, dataset, total = conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(sa.case((c.consumer == new.consumer, 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((c.datatoken == new.datatoken, 1), else_=0)), 0),
                sa.func.count(),
            ).where(c.state.in_((QUEUED, *ACTIVE)))
        ).one()
        if mine >= caps.per_consumer:
            raise QueueFull(
                "consumer_queue_full",
                "this consumer has as many jobs queued or running as the provider takes from one "
                "consumer; try again when one has ended",
                details={"pending": int(mine), "limit": caps.per_consumer},
            )
        if dataset >= caps.per_dataset:
            raise QueueFull(
                "dataset_queue_full",
                "this dataset has as many jobs queued or running as the provider takes for one "
                "dataset; try again later",
                details={"datatoken": new.datatoken, "limit": caps.per_dataset},
            )
        if total >= caps.total:
            raise QueueFull(
                "queue_full",
                "the provider's job queue is full; try again later",
                details={"limit": caps.total},
            )

    def _reserved(self, conn: Connection, datatoken: str, chain_block: int) -> int:
        """Epsilon held by this dataset's jobs that the chain (at ``chain_block``) does not count yet."""
        c = jobs.c
        q = sa.select(sa.func.coalesce(sa.func.sum(c.epsilon_units), 0)).where(
            c.datatoken == datatoken,
            sa.or_(
                c.state.in_((QUEUED, *ACTIVE)),
                sa.and_(
                    c.state.in_(FINAL),
                    c.charged_units > 0,
                    sa.or_(c.receipt_status != R_POSTED, c.receipt_block > chain_block),
                ),
            ),
        )
        return int(conn.execute(q).scalar_one())

    def reserved(self, datatoken: str, chain_block: int) -> int:
        with self.engine.connect() as conn:
            return self._reserved(conn, datatoken, chain_block)

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.state.in_((QUEUED, *ACTIVE)))
            return int(conn.execute(q).scalar_one())

    # ------------------------------------------------------------------------------ reading

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return Job.from_row(row) if row is not None else None

    def get_authorized(self, job_id: str, token: str) -> Job | None:
        """The job, if ``token`` is its bearer token (compared in constant time)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        if row is None or not secrets.compare_digest(row.token_hash, hash_token(token)):
            return None
        return Job.from_row(row)

    def list_active(self) -> list[Job]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs).where(jobs.c.state.in_((QUEUED, *ACTIVE)))).all()
        return [Job.from_row(r) for r in rows]

    # ------------------------------------------------------------------------------ moving

    def _timings_after(self, conn: Connection, job_id: str, now: float) -> str:
        row = conn.execute(
            sa.select(jobs.c.state, jobs.c.state_since, jobs.c.timings).where(jobs.c.id == job_id)
        ).one()
        timings = json.loads(row.timings or "{}")
        timings[row.state] = round(timings.get(row.state, 0.0) + max(now - row.state_since, 0.0), 6)
        return record_json(timings)

    def claim(self, job_id: str, worker: str, *, lease_s: float, max_attempts: int) -> Job | None:
        """Take the job for ``worker``: from queued, or from any active state whose lease lapsed.
        The job moves to staging with attempts + 1 and a lease owner unique to this claim
        (``<worker>/<random>``, in ``Job.lease_owner``): every later write of this attempt names
        it, so two threads of one worker can never both hold a job. None when the job is final,
        unknown, held by a live lease, or claimed by someone else at the same moment. A lapsed job
        that has used its attempts is failed with worker_lost."""
        now = self.clock()
        with self._tx() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
            if row is None or not self._takeable(row, now):
                return None
            if not self._take(conn, row, worker, now, lease_s=lease_s, max_attempts=max_attempts):
                return None
        return self.get(job_id)

    def claim_next(self, environment: str, worker: str, *, lease_s: float, max_attempts: int) -> Job | None:
        """Take the next job to run in ``environment``, as :meth:`claim` takes one: fair across
        datasets. The dataset with the fewest jobs running (under a live lease) in that environment
        goes first, then the one whose job was taken least recently, then the one with the oldest
        waiting job; of its jobs, the oldest that is queued or whose lease lapsed. A job found
        cancelled or out of attempts is ended on the way and the next one is looked at. None when
        nothing is waiting."""
        for _ in range(CLAIM_TRIES):
            now = self.clock()
            with self._tx() as conn:
                row = self._next_waiting(conn, environment, now)
                if row is None:
                    return None
                taken = self._take(conn, row, worker, now, lease_s=lease_s, max_attempts=max_attempts)
            if taken:
                return self.get(row.id)
        return None

    def _waiting(self, now: float) -> Any:
        """The condition of a job a worker may take: queued, or active with a lapsed lease."""
        c = jobs.c
        return sa.or_(
            c.state == QUEUED, sa.and_(c.state.in_(ACTIVE), sa.func.coalesce(c.lease_until, 0) < now)
        )

    def _takeable(self, row: Any, now: float) -> bool:
        return row.state == QUEUED or (row.state in ACTIVE and (row.lease_until or 0) < now)

    def _next_waiting(self, conn: Connection, environment: str, now: float) -> Any:
        c = jobs.c
        waiting = sa.and_(c.environment == environment, self._waiting(now))
        by_dataset = (
            sa.select(c.datatoken.label("datatoken"), sa.func.min(c.created_at).label("oldest"))
            .where(waiting)
            .group_by(c.datatoken)
            .subquery()
        )
        running = (
            sa.select(c.datatoken.label("datatoken"), sa.func.count().label("running"))
            .where(c.environment == environment, c.state.in_(ACTIVE), c.lease_until >= now)
            .group_by(c.datatoken)
            .subquery()
        )
        t = turns.c
        first = conn.execute(
            sa.select(by_dataset.c.datatoken)
            .select_from(
                by_dataset.outerjoin(running, running.c.datatoken == by_dataset.c.datatoken).outerjoin(
                    turns, sa.and_(t.datatoken == by_dataset.c.datatoken, t.environment == environment)
                )
            )
            .order_by(
                sa.func.coalesce(running.c.running, 0),
                sa.func.coalesce(t.served_at, -1.0),
                by_dataset.c.oldest,
                by_dataset.c.datatoken,
            )
            .limit(1)
        ).first()
        if first is None:
            return None
        return conn.execute(
            sa.select(jobs)
            .where(waiting, c.datatoken == first.datatoken)
            .order_by(c.created_at, c.id)
            .limit(1)
        ).first()

    def _take(
        self, conn: Connection, row: Any, worker: str, now: float, *, lease_s: float, max_attempts: int
    ) -> bool:
        """Claim ``row`` (a job :meth:`_takeable` when it was read) for ``worker``; False when it was
        ended instead (cancelled, or a lapsed job out of attempts) or another worker took it first."""
        c = jobs.c
        if row.cancel_requested:
            self._finish(conn, row.id, CANCELLED, now, error=None)
            return False
        if row.attempts >= max_attempts:
            self._finish(
                conn,
                row.id,
                FAILED,
                now,
                error={
                    "code": "worker_lost",
                    "message": "the worker running the job stopped; no attempts left",
                    "details": {"attempts": row.attempts},
                },
            )
            return False
        owner = f"{worker}/{secrets.token_hex(6)}"
        claimed = conn.execute(
            jobs.update()
            .where(c.id == row.id, c.state == row.state, c.attempts == row.attempts)
            .values(
                state=STAGING,
                attempts=row.attempts + 1,
                lease_owner=owner,
                lease_until=now + lease_s,
                timings=self._timings_after(conn, row.id, now),
                state_since=now,
                progress=0.0,
            )
        )
        if claimed.rowcount != 1:
            return False  # another worker claimed it between the read and the update
        self._served(conn, row.datatoken, row.environment, now)
        return True

    def _served(self, conn: Connection, datatoken: str, environment: str, now: float) -> None:
        """Record that a job of ``datatoken`` was just taken in ``environment`` (the fair order)."""
        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        upsert = insert(turns).values(datatoken=datatoken, environment=environment, served_at=now)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[turns.c.datatoken, turns.c.environment],
                set_={"served_at": upsert.excluded.served_at},
            )
        )

    def advance(self, job_id: str, worker: str, from_state: str, to_state: str, **values: Any) -> bool:
        """Move the job ``from_state -> to_state`` if ``worker`` still holds it. False otherwise
        (cancelled meanwhile, or another worker took over)."""
        now = self.clock()
        c = jobs.c
        with self._tx() as conn:
            timings = self._timings_after(conn, job_id, now)
            if "result" in values and values["result"] is not None:
                values["result"] = record_json(values["result"])
            res = conn.execute(
                jobs.update()
                .where(
                    c.id == job_id,
                    c.state == from_state,
                    c.lease_owner == worker,
                    c.cancel_requested.is_(False),
                )
                .values(state=to_state, state_since=now, timings=timings, **values)
            )
            if res.rowcount and to_state in FINAL:
                self._after_final(conn, job_id, to_state)
            return bool(res.rowcount)

    def finish(
        self, job_id: str, state: str, *, worker: str | None = None, error: dict | None = None,
        queued_only: bool = False, **values: Any,
    ) -> bool:  # fmt: skip
        """End the job in ``state`` (failed, rejected, cancelled; succeeded goes through advance).
        With ``worker``, only if that worker still holds it; with ``queued_only``, only if no worker
        has taken it. False if it was already final (or taken)."""
        now = self.clock()
        with self._tx() as conn:
            return self._finish(
                conn, job_id, state, now, error=error, worker=worker, queued_only=queued_only, **values
            )

    def _finish(
        self, conn: Connection, job_id: str, state: str, now: float, *, error: dict | None,
        worker: str | None = None, queued_only: bool = False, **values: Any,
    ) -> bool:  # fmt: skip
        c = jobs.c
        cond = [c.id == job_id, c.state.notin_(FINAL)]
        if worker is not None:
            cond.append(c.lease_owner == worker)
        if queued_only:
            cond.append(c.state == QUEUED)
        timings = self._timings_after(conn, job_id, now)
        res = conn.execute(
            jobs.update()
            .where(*cond)
            .values(
                state=state,
                state_since=now,
                timings=timings,
                lease_until=None,
                error=record_json(error) if error else None,
                **values,
            )
        )
        if res.rowcount:
            self._after_final(conn, job_id, state)
        return bool(res.rowcount)

    def withdraw(self, job_id: str) -> bool:
        """Delete a job no worker has taken (its task never reached the broker): its order is free
        for another job and it leaves no receipt. False if a worker took it meanwhile."""
        with self._tx() as conn:
            c = jobs.c
            return bool(
                conn.execute(jobs.delete().where(c.id == job_id, c.state == QUEUED, c.attempts == 0)).rowcount
            )

    def _after_final(self, conn: Connection, job_id: str, state: str) -> None:
        """A final job gets its receipt queued, charged its epsilon whatever its outcome once its
        algorithm may have read the data (it reached running, on any attempt); refunded (charged 0)
        only when it ended before that: a staging failure (key, store, chain, corrupted data) or the
        buyer's cancel before it ran. Success or failure is never an oracle: a job that fails on
        purpose costs what a job that succeeds costs."""
        c = jobs.c
        timings = json.loads(conn.execute(sa.select(c.timings).where(c.id == job_id)).scalar_one() or "{}")
        charged = c.epsilon_units if state == SUCCEEDED or ran(timings) else 0
        conn.execute(
            jobs.update()
            .where(c.id == job_id)
            .values(receipt_status=R_PENDING, charged_units=charged, lease_until=None)
        )

    def set_progress(self, job_id: str, worker: str, progress: float) -> None:
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.lease_owner == worker)
                .values(progress=max(0.0, min(1.0, progress)))
            )

    def record(self, job_id: str, owner: str, **values: Any) -> None:
        """Set plain columns (first_output_s, ...) without a state change, if ``owner`` holds it."""
        with self._tx() as conn:
            conn.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.lease_owner == owner).values(**values)
            )

    def renew(self, held: dict[str, str], *, lease_s: float) -> set[str]:
        """Renew the leases ``held`` (job id -> lease owner); the ids whose cancellation was asked."""
        if not held:
            return set()
        now = self.clock()
        c = jobs.c
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(c.id.in_(list(held)), c.lease_owner.in_(list(held.values())), c.state.in_(ACTIVE))
                .values(lease_until=now + lease_s)
            )
            rows = conn.execute(
                sa.select(c.id).where(c.id.in_(list(held)), c.cancel_requested.is_(True))
            ).all()
        return {r.id for r in rows}

    def request_cancel(self, job_id: str) -> Job | None:
        """Cancel: a queued job (or one whose worker is gone) ends at once; a running one is
        flagged, and its worker kills the sandbox and ends it."""
        now = self.clock()
        c = jobs.c
        with self._tx() as conn:
            row = conn.execute(sa.select(jobs).where(c.id == job_id)).first()
            if row is None:
                return None
            if row.state not in FINAL:
                if row.state == QUEUED or (row.lease_until or 0) < now:
                    self._finish(conn, job_id, CANCELLED, now, error=None)
                else:
                    conn.execute(jobs.update().where(c.id == job_id).values(cancel_requested=True))
        return self.get(job_id)

    def lapsed(self) -> list[Job]:
        """Active jobs whose worker stopped renewing its lease."""
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs).where(jobs.c.state.in_(ACTIVE), sa.func.coalesce(jobs.c.lease_until, 0) < now)
            ).all()
        return [Job.from_row(r) for r in rows]

    def due_for_resend(self, *, queued_for_s: float, every_s: float) -> list[Job]:
        """Jobs whose task must go on the broker again: queued for longer than ``queued_for_s``
        since it was last sent (the provider died before sending, or the broker lost it), or
        active with a lapsed lease (their worker died). Each is stamped as sent in the same
        conditional update, so of all the workers sweeping, one sends it, at most every
        ``every_s``."""
        now = self.clock()
        c = jobs.c
        sent = sa.func.coalesce(c.sent_at, 0)
        due_queued = sa.and_(c.state == QUEUED, sent < now - queued_for_s)
        due_lapsed = sa.and_(
            c.state.in_(ACTIVE), sa.func.coalesce(c.lease_until, 0) < now, sent < now - every_s
        )
        taken = []
        with self._tx() as conn:
            for row in conn.execute(sa.select(jobs).where(sa.or_(due_queued, due_lapsed))).all():
                stamped = conn.execute(
                    jobs.update().where(c.id == row.id, sent == (row.sent_at or 0)).values(sent_at=now)
                )
                if stamped.rowcount == 1:
                    taken.append(Job.from_row(row))
        return taken

    def requeue(self, job_id: str, owner: str, *, max_attempts: int, error: dict) -> bool:
        """Give a claimed job back (a passing outage: the chain or the store did not answer), to
        be sent again by the next sweep; failed with ``error`` when it has no attempts left."""
        now = self.clock()
        c = jobs.c
        with self._tx() as conn:
            row = conn.execute(sa.select(jobs).where(c.id == job_id, c.lease_owner == owner)).first()
            if row is None or row.state in FINAL:
                return False
            if row.attempts >= max_attempts or row.cancel_requested:
                return self._finish(conn, job_id, CANCELLED if row.cancel_requested else FAILED, now,
                                    error=None if row.cancel_requested else error, worker=owner)  # fmt: skip
            res = conn.execute(
                jobs.update()
                .where(c.id == job_id, c.lease_owner == owner, c.state.notin_(FINAL))
                .values(
                    state=QUEUED,
                    lease_owner=None,
                    lease_until=None,
                    sent_at=None,
                    progress=0.0,
                    timings=self._timings_after(conn, job_id, now),
                    state_since=now,
                )
            )
            return bool(res.rowcount)

    # ------------------------------------------------------------------------------ receipts

    def take_receipts(self, limit: int = 100, *, ids: Sequence[str] | None = None) -> tuple[str, list[Job]]:
        """Mark up to ``limit`` pending receipts of one dataset as one batch (posting) and return them
        (the market takes one dataset's receipts per transaction); with ``ids``, those of them that are
        pending or refused (to post them apart from the others)."""
        batch = secrets.token_hex(16)
        c = jobs.c
        with self._tx() as conn:
            if ids is None:
                query = (
                    sa.select(c.id)
                    .where(c.receipt_status == R_PENDING)
                    # Receipts that failed before wait behind the others (receipt_since is when
                    # their last batch was taken).
                    .order_by(sa.func.coalesce(c.receipt_since, 0), c.datatoken, c.id)
                )
                takeable: tuple[str, ...] = (R_PENDING,)
            else:
                query = sa.select(c.id).where(
                    c.id.in_(list(ids)), c.receipt_status.in_((R_PENDING, R_REFUSED))
                )
                takeable = (R_PENDING, R_REFUSED)
            first = conn.execute(query.add_columns(c.datatoken).limit(1)).first()
            chosen = []
            if first is not None:
                same = query.where(c.datatoken == first.datatoken)
                chosen = [r.id for r in conn.execute(same.limit(limit)).all()]
            if chosen:
                conn.execute(
                    jobs.update()
                    .where(c.id.in_(chosen), c.receipt_status.in_(takeable))
                    .values(receipt_status=R_POSTING, receipt_batch=batch, receipt_since=self.clock())
                )
            rows = conn.execute(
                sa.select(jobs).where(c.receipt_batch == batch).order_by(c.datatoken, c.id)
            ).all()
        return batch, [Job.from_row(r) for r in rows]

    def receipts_posted(self, batch: str, tx: str, block: int) -> None:
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.receipt_batch == batch)
                .values(receipt_status=R_POSTED, receipt_tx=tx, receipt_block=block, receipt_error=None)
            )

    def receipts_sent(self, batch: str, tx: str) -> None:
        """The batch's transaction hash, recorded before it is sent: whatever happens next, the
        chain can tell whether it landed."""
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.receipt_batch == batch, jobs.c.receipt_status == R_POSTING)
                .values(receipt_tx=tx)
            )

    def receipts_failed(self, batch: str) -> None:
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.receipt_batch == batch, jobs.c.receipt_status == R_POSTING)
                .values(receipt_status=R_PENDING, receipt_batch=None, receipt_tx=None)
            )

    def receipts_refused(self, batch: str, reason: str) -> None:
        """The market reverted this batch (of one receipt) on its own: set it aside with the reason,
        to be tried again alone by :meth:`refused_receipts` callers, so that it blocks no batch."""
        with self._tx() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.receipt_batch == batch, jobs.c.receipt_status == R_POSTING)
                .values(
                    receipt_status=R_REFUSED, receipt_batch=None, receipt_tx=None,
                    receipt_error=reason[:200], receipt_since=self.clock(),
                )
            )  # fmt: skip

    def refused_receipts(self, older_than_s: float) -> list[str]:
        """The jobs whose receipt the market refused more than ``older_than_s`` ago."""
        c = jobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.id)
                .where(c.receipt_status == R_REFUSED, c.receipt_since < self.clock() - older_than_s)
                .order_by(c.receipt_since, c.id)
            ).all()
        return [r.id for r in rows]

    def posted_above(self, block: int) -> list[Job]:
        """The jobs whose receipt was recorded posted in a block after ``block``."""
        c = jobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs).where(c.receipt_status == R_POSTED, c.receipt_block > block).order_by(c.id)
            ).all()
        return [Job.from_row(r) for r in rows]

    def receipts_unsettled(self, tx: str) -> int:
        """The receipts recorded posted in ``tx``, which the chain no longer has in that block (it
        lost its newest blocks), back to ``posting`` in a batch of their own, stale at once: the
        next :meth:`stale_batches` caller asks the chain what became of them. How many."""
        with self._tx() as conn:
            return conn.execute(
                jobs.update()
                .where(jobs.c.receipt_tx == tx, jobs.c.receipt_status == R_POSTED)
                .values(receipt_status=R_POSTING, receipt_batch=secrets.token_hex(16), receipt_since=0.0)
            ).rowcount

    def stale_batches(self, older_than_s: float) -> dict[str, list[Job]]:
        """Batches in ``posting`` for longer than ``older_than_s``: their worker died while posting
        (or is stuck). Whether their transaction landed is for the caller to ask the chain."""
        cutoff = self.clock() - older_than_s
        c = jobs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs).where(
                    c.receipt_status == R_POSTING, sa.func.coalesce(c.receipt_since, 0) < cutoff
                )
            ).all()
        batches: dict[str, list[Job]] = {}
        for row in rows:
            batches.setdefault(row.receipt_batch, []).append(Job.from_row(row))
        return batches

    # ------------------------------------------------------------------------------ workers

    def heartbeat(self, worker: str, queues: str, gpus: int) -> None:
        now = self.clock()
        with self._tx() as conn:
            updated = conn.execute(
                workers.update().where(workers.c.id == worker).values(seen_at=now, queues=queues, gpus=gpus)
            ).rowcount
            if not updated:
                conn.execute(workers.insert().values(id=worker, queues=queues, gpus=gpus, seen_at=now))

    def live_queues(self, within_s: float) -> set[str]:
        cutoff = self.clock() - within_s
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(workers.c.queues).where(workers.c.seen_at >= cutoff)).all()
        return {q for r in rows for q in r.queues.split(",") if q}


__all__ = [
    "ACTIVE",
    "CANCELLED",
    "CHECKING",
    "FAILED",
    "FINAL",
    "PUBLISHING",
    "QUEUED",
    "REJECTED",
    "RUNNING",
    "STAGING",
    "STATES",
    "SUCCEEDED",
    "BudgetExceeded",
    "Job",
    "JobError",
    "JobStore",
    "NewJob",
    "OrderAlreadyUsed",
    "QueueCaps",
    "QueueFull",
]
