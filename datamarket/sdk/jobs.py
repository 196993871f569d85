"""Compute-to-data, the consumer's side: order, ask for a job, follow it.

The consumer never sees the dataset. It orders the dataset's compute service, signs an EIP-712
``ComputeRequest`` naming the job (its ``jobHash``) and a one-time X25519 key made for this job, and
the provider runs the job in its sandbox. The started job is saved to its job file
(:mod:`datamarket.sdk.job_files`); its result is opened with :mod:`datamarket.sdk.results`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from datamarket import auth
from datamarket.chain.market import Market, dataset_id
from datamarket.chain.quotes import SERVICE_COMPUTE
from datamarket.crypto import keys
from datamarket.jobs.spec import ALGORITHM_NAME, job_hash, parse_job_spec
from datamarket.sdk import download, orders
from datamarket.sdk.job_files import JOB_ID, ComputeError, JobHandle, ensure_jobs_dir, save_job
from datamarket.sdk.provider_client import ProviderClient, ProviderRefused, ProviderUnavailable
from datamarket.storage.base import ContentStore, add_bytes

FINAL_STATES = frozenset({"succeeded", "failed", "rejected", "cancelled"})
MAX_POLL_FAILURES = 10


class JobTimeout(ComputeError, TimeoutError):
    code = "job_timeout"


def start_job(
    market: Market,
    provider: ProviderClient,
    store: ContentStore | None,
    datatoken: str,
    *,
    algorithm: str | Path,
    params: dict[str, Any],
    epsilon: float | None,
    environment: str = "cpu",
    order_tx: str | None = None,
    order_id: int | None = None,
    proof: list[str] | None = None,
    jobs_dir: Path,
    output: dict[str, Any] | None = None,
) -> JobHandle:
    """Order ``datatoken``'s compute service (unless ``order_tx`` is given: an order already paid for,
    which ``order_id`` picks when the transaction holds several) and start a job on it.

    ``algorithm`` is a built-in algorithm's name, or an existing file or folder: that is packed as
    a bundle and added to ``store`` first. ``output`` (see :mod:`datamarket.output_spec`) is for a
    bundle the dataset does not trust, which runs under sample and aggregate (docs/privacy.md). The
    job file is written to ``jobs_dir`` before this returns; the job's bearer token and one-time key
    live only there.
    """
    datatoken = auth.parse_address(datatoken, "datatoken")
    jobs_dir = Path(jobs_dir)
    ensure_jobs_dir(jobs_dir)  # before anything is paid for: a job that cannot be saved is lost
    # Everything about the job is checked before the bundle is stored or the order is paid for.
    spec = {
        "params": params,
        "epsilon": None if epsilon is None else float(epsilon),
        "environment": environment,
        **({} if output is None else {"output": output}),
    }
    bundle = _bundle(algorithm)
    if bundle is None:
        job = parse_job_spec({"algorithm": str(algorithm), **spec})
    else:
        if store is None:
            raise ComputeError("publishing an algorithm bundle needs a content store")
        # The rest of the job is checked (with a stand-in name) before the bundle is stored.
        parse_job_spec({"algorithm": "bundle", **spec})
        data, digest = bundle
        job = parse_job_spec({"algorithm": {"bundle": add_bytes(store, data), "sha256": digest}, **spec})

    ordered_now = order_tx is None
    if ordered_now:
        _check_before_ordering(market, provider, store, datatoken, job)
        order_tx, order_id = orders.order_of(orders.order(market, provider, datatoken, SERVICE_COMPUTE))
    else:
        order_id = orders.find_order(market, order_tx, datatoken, SERVICE_COMPUTE, order_id)

    one_time = X25519PrivateKey.generate()
    request = auth.ComputeRequest(
        datatoken=datatoken,
        consumer=market.account.address,
        service_id=SERVICE_COMPUTE,
        order_tx=order_tx,
        order_id=order_id,
        consumer_key="0x" + keys.public_bytes(one_time).hex(),
        job_hash=job_hash(job),
        nonce=time.time_ns() // 1_000_000,
    )
    signature = auth.sign_compute_request(request, market.account.key, market.chain_id, market.address)
    try:
        answer = provider.compute_start(request.to_json(), signature, job, proof)
    except ProviderRefused as exc:
        if not ordered_now:
            raise
        # The order is paid for and stays usable: say so rather than leave the consumer to find it.
        details = {
            **(exc.details if isinstance(exc.details, dict) else {}),
            "order_tx": request.order_tx,
            "order_id": request.order_id,
        }
        message = (
            f"{exc.message} (the order {request.order_id} in {request.order_tx} can be used again"
            " with --order-tx and --order-id)"
        )
        raise type(exc)(exc.code, message, status=exc.status, details=details) from None

    job_id, token = answer.get("job_id"), answer.get("token")
    if (
        not isinstance(job_id, str)
        or JOB_ID.fullmatch(job_id) is None
        or not isinstance(token, str)
        or not token
    ):
        raise ComputeError("the provider's answer to the job has no valid job_id and token")
    private = one_time.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    handle = JobHandle(
        job_id=job_id,
        token=token,
        provider_url=provider.base_url,
        datatoken=datatoken,
        dataset=dataset_id(market.chain_id, datatoken),
        order_tx=request.order_tx,
        order_id=request.order_id,
        private_key=private.hex(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        job=job,
        state=str(answer.get("state", "queued")),
        chain_id=market.chain_id,
        market=market.address,
    )
    try:
        path = save_job(jobs_dir, handle)
    except OSError as exc:
        raise ComputeError(f"job {job_id} started but its job file could not be written: {exc}") from None
    return replace(handle, path=path)


def _bundle(algorithm: str | Path) -> tuple[bytes, str] | None:
    """``(tar bytes, sha256)`` when ``algorithm`` names a file or folder; None for a built-in name."""
    path = Path(algorithm)
    if isinstance(algorithm, str) and not path.exists():
        if ALGORITHM_NAME.fullmatch(algorithm) is None:
            raise ComputeError(
                f"algorithm {algorithm!r} is neither a built-in name nor an existing file or folder"
            )
        return None
    if not path.exists():
        raise ComputeError(f"the algorithm {path} does not exist")
    return pack_bundle(path)


def pack_bundle(path: Path) -> tuple[bytes, str]:
    """An algorithm file or folder as bundle bytes and their sha256 (what a publisher trusts)."""
    from datamarket.bundle import bundle_hash, pack

    data = pack(Path(path))
    return data, bundle_hash(data)


def publish_bundle(store: ContentStore, path: Path) -> tuple[str, str, int]:
    """Add the bundle of ``path`` to ``store``: ``(cid, sha256, size)``."""
    data, digest = pack_bundle(path)
    return add_bytes(store, data), digest, len(data)


def _check_before_ordering(
    market: Market, provider: ProviderClient, store: ContentStore | None, datatoken: str, job: dict
) -> None:
    """Refuse, before paying, what the provider would certainly refuse: a dataset without a compute
    service, a job without epsilon where the dataset requires DP, an epsilon over the per-job cap or
    over what is left of the budget."""
    epsilon = job["epsilon"]
    if store is not None:
        dataset = download.resolve(market, store, datatoken)
        services = [s for s in dataset.metadata.get("services", []) if s.get("id") == SERVICE_COMPUTE]
        if not services:
            raise ComputeError("the dataset offers no compute service", details={"datatoken": datatoken})
        section = services[0].get("compute", {})
        if section.get("require_dp") and not epsilon:
            raise ComputeError("the dataset runs only differentially private jobs: pass --epsilon E")
        algorithm = job["algorithm"]
        untrusted = isinstance(algorithm, dict) and algorithm["sha256"] not in section.get(
            "trusted_algorithms", ()
        )
        if untrusted and section.get("allow_any_algorithm"):
            if job.get("output") is None or not epsilon:
                raise ComputeError(
                    "the dataset does not trust this algorithm: it runs under sample and aggregate, "
                    "which needs --output-shape, --output-bounds and --epsilon E (E > 0)"
                )
        elif job.get("output") is not None:
            raise ComputeError(
                "only an algorithm the dataset does not trust takes --output-shape/--output-bounds"
            )
        cap = services[0].get("compute", {}).get("privacy", {}).get("max_epsilon_per_job")
        if epsilon is not None and isinstance(cap, int | float) and epsilon > cap:
            raise ComputeError(
                f"epsilon {epsilon:g} is over the dataset's limit per job ({cap:g})",
                details={"max_epsilon_per_job": cap},
            )
    if epsilon:
        remaining = provider.privacy(datatoken).get("remaining")
        if isinstance(remaining, int | float) and epsilon > remaining:
            raise ComputeError(
                f"epsilon {epsilon:g} is over what is left of the dataset's privacy budget ({remaining:g})",
                details={"remaining": remaining},
            )


# ------------------------------------------------------------------------------------- following


def status(handle: JobHandle, *, provider: ProviderClient | None = None) -> dict[str, Any]:
    """The job's status record (``state``, ``progress``, ``timings``, ``epsilon``, ``error``, ...)."""
    return (provider or handle.provider()).compute_status(handle.job_id, handle.token)


def wait(
    handle: JobHandle,
    *,
    on_update: Callable[[dict[str, Any]], object] | None = None,
    poll_s: float = 0.5,
    timeout: float | None = None,
    provider: ProviderClient | None = None,
) -> dict[str, Any]:
    """Poll the job's status until it is final (succeeded, failed, rejected, cancelled) and return
    that status; ``on_update`` gets every status read. JobTimeout after ``timeout`` seconds; a
    provider that cannot be reached is retried, up to MAX_POLL_FAILURES times in a row."""
    client = provider or handle.provider()
    deadline = None if timeout is None else time.monotonic() + timeout
    failures = 0
    while True:
        try:
            current = client.compute_status(handle.job_id, handle.token)
        except ProviderUnavailable:
            failures += 1
            if failures >= MAX_POLL_FAILURES:
                raise
        else:
            failures = 0
            if on_update is not None:
                on_update(current)
            if current.get("state") in FINAL_STATES:
                return current
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise JobTimeout(
                    f"job {handle.job_id} did not finish within {timeout:g} s",
                    details={"job_id": handle.job_id},
                )
            time.sleep(min(poll_s, left))
        else:
            time.sleep(poll_s)


def logs(handle: JobHandle, *, provider: ProviderClient | None = None) -> dict[str, Any]:
    """``{"job_id", "state", "logs", "truncated"}``; logs are empty until the output policy passed."""
    return (provider or handle.provider()).compute_logs(handle.job_id, handle.token)


def cancel(handle: JobHandle, *, provider: ProviderClient | None = None) -> dict[str, Any]:
    return (provider or handle.provider()).compute_cancel(handle.job_id, handle.token)


__all__ = [
    "FINAL_STATES",
    "JobTimeout",
    "cancel",
    "logs",
    "pack_bundle",
    "publish_bundle",
    "start_job",
    "status",
    "wait",
]
