"""Compute-to-data on the provider: ``POST /api/v1/compute`` and the job's status, logs, result
and cancellation; ``GET /api/v1/privacy/<datatoken>`` (docs/compute.md).

``POST /compute`` checks, in this order, and writes only at the end:

1. the body: the signed ComputeRequest, the job spec, and that ``jobHash`` is the spec's hash (400);
2. nonce window, signature, nonces already accepted (as ``/access``: 422, 401, 409);
3. the order on chain for a compute service, the dataset's state and allowlist, the order's age
   (as ``/access``);
4. the algorithm: a built-in, or a published bundle the dataset trusts (or any, where it allows
   any) (403 ``algorithm_not_trusted``, 422 ``unknown_algorithm``); a built-in's params choose only
   among the publisher's declarations (422 ``param_not_allowed``, ``target_not_declared``,
   ``no_declared_target``, ``column_not_declared``); a bundle it does not trust runs only under
   sample and aggregate (docs/privacy.md): it needs the job's ``output`` spec (422
   ``output_spec_required``), an epsilon > 0 (422 ``epsilon_required``) and the cpu environment;
   any other job must not send an ``output`` (422 ``output_spec_unexpected``);
5. epsilon: declared where the algorithm needs it, at most the dataset's per-job maximum (422);
6. resources: the environment is offered and a worker serves it (422, 503); the consumer's key can
   take the result (400 ``invalid_public_key``);
7. one transaction of the job database (:meth:`JobStore.create`): the order has run no job (409
   ``order_already_used``), the epsilon fits the budget on chain minus the reservations of unposted
   jobs (422 ``epsilon_exceeds_budget``), the queue has room for the job: this consumer's pending
   jobs (429 ``consumer_queue_full``), this dataset's (503 ``dataset_queue_full``), all of them (503
   ``queue_full``), each with ``Retry-After``; then the nonce is consumed (one atomic insert) and the
   job row committed.
   A refusal in this step leaves the nonce unused and the order free, so the same signed request
   can be sent again later. Then the task is sent. If the broker cannot take it, the job is
   withdrawn (its order is free again) and the answer is 503 ``broker_unavailable``, unless a
   worker has taken it meanwhile.

The job's other endpoints take ``Authorization: Bearer <token>``, the token the POST answered;
an unknown job and a wrong token get the same 404.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from datamarket import builtins
from datamarket.auth import (
    ComputeRequest,
    InvalidRequest,
    parse_address,
    parse_signature,
    require_fields,
    verify_compute_signature,
)
from datamarket.chain.market import epsilon_units
from datamarket.crypto.keys import InvalidPublicKey, wrap_key
from datamarket.jobs.queue import enqueue, make_celery
from datamarket.jobs.spec import job_hash, parse_job_spec
from datamarket.jobs.store import (
    SUCCEEDED,
    BudgetExceeded,
    Job,
    JobStore,
    NewJob,
    OrderAlreadyUsed,
    QueueCaps,
    QueueFull,
)
from datamarket.metadata import declarations
from provider.access import AccessBody, authenticate, authorize, nonce_window, parse_proof
from provider.context import ProviderContext, current, json_body
from provider.dataset_size import check_dataset_size
from provider.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unavailable, Unprocessable

log = logging.getLogger("provider.jobs")

bp = Blueprint("compute", __name__, url_prefix="/api/v1")

#: A worker that has not been seen for this long does not count as serving its queue.
WORKER_SEEN_S = 30.0
#: ``Retry-After`` (seconds) of a refusal for a full queue: about the time a short job takes.
QUEUE_RETRY_AFTER_S = 30


@dataclass
class ComputeBackend:
    """The provider's side of compute: the job database and a sending-only Celery app."""

    jobs: JobStore
    broker_url: str
    lease_s: float
    _celery: Any = field(default=None, repr=False)

    @property
    def celery(self) -> Any:
        if self._celery is None:
            self._celery = make_celery(self.broker_url, lease_s=self.lease_s)
        return self._celery

    def close(self) -> None:
        self.jobs.close()


def backend(ctx: ProviderContext) -> ComputeBackend:
    if ctx.compute is None:
        raise Forbidden("this provider does not offer compute", code="service_not_offered")
    return ctx.compute


def parse_compute_body(body: dict[str, Any]) -> tuple[AccessBody, dict[str, Any]]:
    require_fields(body, {"request", "signature", "job"}, frozenset({"allowlist_proof"}), what="body")
    req = ComputeRequest.from_json(body["request"])
    job = parse_job_spec(body["job"])
    if job_hash(job) != req.job_hash:
        raise InvalidRequest("jobHash is not the hash of the job", details={"field": "jobHash"})
    signature = parse_signature(body["signature"])
    return AccessBody(request=req, signature=signature, allowlist_proof=parse_proof(body)), job  # type: ignore[arg-type]


def algorithm_of(job: dict[str, Any], service: dict[str, Any], ctx: ProviderContext) -> tuple[Any, str, bool]:
    """(the algorithm as stored, its sha256 hex, whether it needs an epsilon)."""
    algorithm = job["algorithm"]
    if isinstance(algorithm, str):
        try:
            builtin = builtins.get(algorithm)
        except KeyError:
            raise Unprocessable(
                "no built-in algorithm has this name",
                code="unknown_algorithm",
                details={"algorithm": algorithm, "builtins": sorted(builtins.BUILTINS)},
            ) from None
        if job["environment"] == "gpu" and not builtin.gpu:
            raise Unprocessable("this algorithm does not use a GPU", code="environment_unavailable")
        return algorithm, builtins.hash(algorithm), builtin.requires_epsilon
    compute = service["compute"]
    trusted = algorithm["sha256"] in compute["trusted_algorithms"] or compute["allow_any_algorithm"]
    if not ctx.settings.published_algorithms or not trusted:
        raise Forbidden(
            "the dataset does not trust this algorithm",
            code="algorithm_not_trusted",
            details={"sha256": algorithm["sha256"]},
        )
    return algorithm, algorithm["sha256"], False


def untrusted(job: dict[str, Any], compute: dict[str, Any]) -> bool:
    """A published bundle the dataset does not trust (it allows any): sample and aggregate."""
    algorithm = job["algorithm"]
    return not isinstance(algorithm, str) and algorithm["sha256"] not in compute["trusted_algorithms"]


def check_aggregate(job: dict[str, Any], compute: dict[str, Any], epsilon: float) -> None:
    """What a job under sample and aggregate must declare, and what no other job may."""
    output = job.get("output")
    if not untrusted(job, compute):
        if output is not None:
            raise Unprocessable(
                "only an algorithm the dataset does not trust runs under sample and aggregate: "
                "leave out job.output",
                code="output_spec_unexpected",
            )
        return
    if output is None:
        raise Unprocessable(
            "the dataset does not trust this algorithm: it runs under sample and aggregate, "
            "so the job must declare job.output (format, shape, lower and upper bounds)",
            code="output_spec_required",
        )
    if not epsilon:
        raise Unprocessable(
            "an algorithm the dataset does not trust runs only with an epsilon > 0", code="epsilon_required"
        )
    if job["environment"] != "cpu":
        raise Unprocessable(
            "sample and aggregate runs on the cpu environment only", code="environment_unavailable"
        )


def start_job(ctx: ProviderContext, body: dict[str, Any]) -> dict[str, Any]:
    compute = backend(ctx)
    access, job = parse_compute_body(body)
    req: ComputeRequest = access.request  # type: ignore[assignment]
    authenticate(ctx, access, verify=verify_compute_signature)
    doc = authorize(ctx, req, access.allowlist_proof, kind="compute")  # type: ignore[arg-type]
    check_dataset_size(doc, ctx.settings.max_dataset_bytes)
    service = doc.service(req.service_id)
    assert service is not None  # authorize checked it
    algorithm, algorithm_hash, needs_epsilon = algorithm_of(job, service, ctx)
    if isinstance(algorithm, str):
        try:
            declarations.check_params(
                job["params"], service["compute"], needs_target=builtins.get(algorithm).needs_target
            )
        except declarations.UndeclaredParam as exc:
            raise Unprocessable(exc.message, code=exc.code, details=exc.details) from None
    privacy = service["compute"]["privacy"]
    epsilon = job["epsilon"] or 0
    check_aggregate(job, service["compute"], epsilon)
    if needs_epsilon and not epsilon:
        raise Unprocessable("this algorithm needs an epsilon", code="epsilon_required")
    if service["compute"].get("require_dp") and not epsilon:
        raise Forbidden(
            "this dataset runs only differentially private jobs: declare an epsilon", code="dp_required"
        )
    if epsilon > privacy["max_epsilon_per_job"]:
        raise Unprocessable(
            "epsilon is more than the dataset allows per job",
            code="epsilon_exceeds_per_job",
            details={"requested": epsilon, "max_epsilon_per_job": privacy["max_epsilon_per_job"]},
        )
    try:
        units = epsilon_units(epsilon)
    except ValueError:
        raise InvalidRequest("epsilon has more than 6 decimals", details={"field": "epsilon"}) from None
    environment = job["environment"]
    if environment not in ctx.settings.compute_environments:
        raise Unprocessable(
            "this provider does not offer that compute environment",
            code="environment_unavailable",
            details={"environments": list(ctx.settings.compute_environments)},
        )
    if environment not in compute.jobs.live_queues(WORKER_SEEN_S):
        raise Unavailable("no worker serves this environment now", code="no_worker")
    try:  # the result will be wrapped to this key: refuse an unusable one now, not after the run
        wrap_key(bytes(32), req.consumer_key_bytes, context="consumer-key-check")
    except InvalidPublicKey:
        raise InvalidPublicKey(
            "consumerKey is not a usable X25519 public key", details={"field": "consumerKey"}
        ) from None
    # The budget and what was spent, read at the very block the reservations are counted against.
    latest = ctx.chain.latest_block()
    record = ctx.chain.dataset(req.datatoken, latest.number)
    if record is None:
        raise Unavailable("the chain node did not answer for that block", code="chain_unavailable")
    try:
        created, token = compute.jobs.create(
            NewJob(
                consumer=req.consumer,
                datatoken=req.datatoken,
                service_id=req.service_id,
                order_tx=req.order_tx,
                order_id=req.order_id,
                consumer_key=req.consumer_key,
                algorithm=algorithm,
                algorithm_hash=algorithm_hash,
                params=job["params"],
                environment=environment,
                epsilon_units=units,
                delta=float(privacy["delta"]),
                output=job.get("output"),
            ),
            budget_units=record.epsilon_budget,
            chain_spent_units=record.epsilon_spent,
            chain_block=latest.number,
            caps=QueueCaps(
                total=ctx.settings.max_pending_jobs,
                per_consumer=ctx.settings.max_pending_jobs_per_consumer,
                per_dataset=ctx.settings.max_pending_jobs_per_dataset,
            ),
            admit=lambda: ctx.nonces.consume(req.consumer, req.nonce, nonce_window(ctx)),
        )
    except OrderAlreadyUsed as exc:
        raise Conflict(exc.message, code=exc.code, details=exc.details) from None
    except BudgetExceeded as exc:
        raise Unprocessable(exc.message, code=exc.code, details=exc.details) from None
    except QueueFull as exc:
        refusal = TooManyRequests if exc.code == "consumer_queue_full" else Unavailable
        raise refusal(
            exc.message, code=exc.code, details=exc.details, retry_after_s=QUEUE_RETRY_AFTER_S
        ) from None
    try:
        enqueue(compute.celery, created.id, environment)
    except Exception as exc:
        log.warning("job %s: the broker did not take the task (%s)", created.id, type(exc).__name__)
        # A worker may have taken the job meanwhile (another job's task is a slot for it too): then
        # it runs, and the answer is the job. Otherwise it is withdrawn: its order stays usable.
        if compute.jobs.withdraw(created.id):
            raise Unavailable("the job queue is not available", code="broker_unavailable") from None
    ctx.metrics.compute_jobs.labels(environment=environment).inc()
    return {"job_id": created.id, "token": token, "state": created.state}


#: The buyer sees each state's duration in whole steps of this many seconds: how long the algorithm
#: ran (or took to print its first line) is a channel of its choosing, kept coarse. The exact
#: figures stay in the job database for the operator.
TIMING_GRAIN_S = 1.0


def coarse_timings(timings: dict[str, float]) -> dict[str, float]:
    return {state: math.ceil(seconds / TIMING_GRAIN_S) * TIMING_GRAIN_S for state, seconds in timings.items()}


def job_status(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "state": job.state,
        "dataset": job.datatoken,
        "algorithm": job.algorithm if isinstance(job.algorithm, str) else dict(job.algorithm),
        "algorithm_hash": job.algorithm_hash,
        "environment": job.environment,
        "epsilon": {"requested": job.epsilon_units / 1e6, "charged": job.charged_units / 1e6},
        "progress": job.progress,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "timings": coarse_timings(job.timings),
        "error": job.error,
        "output_hash": job.output_hash,
        "receipt": {"tx": job.receipt_tx, "block": job.receipt_block} if job.receipt_tx else None,
    }


def authorized_job(ctx: ProviderContext, job_id: str) -> Job:
    compute = backend(ctx)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if len(job_id) != 32 or any(c not in "0123456789abcdef" for c in job_id) or not token:
        raise NotFound("no such job", code="job_not_found")
    job = compute.jobs.get_authorized(job_id, token)
    if job is None:
        raise NotFound("no such job", code="job_not_found")
    return job


@bp.post("/compute")
def post_compute() -> ResponseReturnValue:
    return jsonify(start_job(current(), json_body())), 202


@bp.get("/compute/<job_id>")
def get_job(job_id: str) -> ResponseReturnValue:
    return jsonify(job_status(authorized_job(current(), job_id)))


@bp.get("/compute/<job_id>/logs")
def get_logs(job_id: str) -> ResponseReturnValue:
    job = authorized_job(current(), job_id)
    return jsonify(
        {"job_id": job.id, "state": job.state, "logs": job.logs or "", "truncated": job.logs_truncated}
    )


def _finished(job: Job) -> dict[str, Any]:
    if job.state != SUCCEEDED or job.result is None:
        raise Conflict(
            "the job has no result (it has not succeeded)",
            code="job_not_finished",
            details={"state": job.state},
        )
    return job.result


@bp.get("/compute/<job_id>/result")
def get_result(job_id: str) -> ResponseReturnValue:
    return jsonify(_finished(authorized_job(current(), job_id)))


@bp.get("/compute/<job_id>/result/archive")
def get_archive(job_id: str) -> ResponseReturnValue:
    ctx = current()
    result = _finished(authorized_job(ctx, job_id))
    chunks = ctx.store.cat(result["cid"])
    return Response(
        stream_with_context(chunks),
        mimetype="application/octet-stream",
        headers={"Content-Length": str(result["size"])},
    )


@bp.delete("/compute/<job_id>")
def delete_job(job_id: str) -> ResponseReturnValue:
    ctx = current()
    job = authorized_job(ctx, job_id)
    after = backend(ctx).jobs.request_cancel(job.id) or job
    return jsonify({"job_id": after.id, "state": after.state, "cancel_requested": after.cancel_requested})


@bp.get("/privacy/<datatoken>")
def get_privacy(datatoken: str) -> ResponseReturnValue:
    ctx = current()
    datatoken = parse_address(datatoken, "datatoken")
    latest = ctx.chain.latest_block()
    record = ctx.chain.dataset(datatoken, latest.number)
    if record is None:
        raise NotFound("no dataset with this datatoken on this market", code="unknown_dataset")
    reserved = ctx.compute.jobs.reserved(datatoken, latest.number) if ctx.compute is not None else 0
    remaining = max(record.epsilon_budget - record.epsilon_spent - reserved, 0)
    return jsonify(
        {
            "datatoken": datatoken,
            "budget": record.epsilon_budget / 1e6,
            "spent": record.epsilon_spent / 1e6,
            "reserved": reserved / 1e6,
            "remaining": remaining / 1e6,
            "block": latest.number,
        }
    )


__all__ = ["ComputeBackend", "bp", "job_status", "start_job"]
