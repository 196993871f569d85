"""One compute job's steps, run by a worker: stage, run, check, publish (docs/compute.md).

Each step starts by moving the job's state in the database on the condition that this worker still
holds it and nobody asked to cancel it; a step that finds the job moved stops without touching it.
Every attempt starts from an empty job directory, so a job taken over after a worker died simply
runs again from staging: the steps are idempotent.

The job directory (mode 0700, under the provider's ``jobs_dir``) holds ``data/`` (a tmpfs with the
decrypted dataset, read-only inside the sandbox), ``job/`` (params.json and the algorithm,
read-only), ``out/`` (the size-capped tmpfs the algorithm writes) and ``logs.txt``. All of it is
removed when the attempt ends, whatever the outcome.
"""

from __future__ import annotations

import json
import logging
import math
import mimetypes
import os
import secrets
import shutil
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from datamarket import builtins, bundle
from datamarket.chain.reader import ChainReader
from datamarket.crypto import keys, stream
from datamarket.crypto.contexts import COMPUTE_OFFERS, content_context, result_context
from datamarket.errors import ChainUnavailable, DatamarketError
from datamarket.jobs.dataset_size import DEFAULT_MAX_DATASET_BYTES
from datamarket.jobs.store import (
    CANCELLED,
    CHECKING,
    FAILED,
    PUBLISHING,
    REJECTED,
    RUNNING,
    STAGING,
    SUCCEEDED,
    Job,
    JobStore,
)
from datamarket.metadata import declarations
from datamarket.metadata.resolve import DatasetDocument, DocumentCache, DocumentUnavailable
from datamarket.storage.base import ChunkReader, ContentStore, StorageError, StoreUnavailable, cat_bytes

from . import failures, policy, sample_aggregate, sandbox
from .policy import index_process

log = logging.getLogger("datamarket.compute")

MAX_BUNDLE_BYTES = 64 * 1024 * 1024
#: At most one progress update this often (seconds).
PROGRESS_INTERVAL_S = 2.0
#: Progress is released in steps of this size.
PROGRESS_STEP = 0.1


class JobFailure(DatamarketError):
    """A job that ends as failed (or rejected, with ``state``); the message goes to the consumer."""

    def __init__(self, code: str, message: str, *, details: dict | None = None, state: str = FAILED) -> None:
        super().__init__(message, details=details)
        self.code = code
        self.state = state

    def as_error(self) -> dict:
        return {"code": self.code, "message": self.message, "details": self.details or {}}


class ProgressGate:
    """What of the algorithm's ``progress: <x>`` lines reaches the job record, which the buyer
    reads while the job runs (so before any output policy): an exact float would carry some 50 bits
    of the algorithm's choosing per line. Only a tenth-step, rising, rate-limited value passes:
    at most ten distinct values per run, at most one every ``PROGRESS_INTERVAL_S``."""

    def __init__(self) -> None:
        self.released = 0.0
        self.at = -math.inf

    def offer(self, line: str, now: float) -> float | None:
        """The value to record for ``line`` seen at ``now`` (monotonic seconds), or None."""
        text = line.strip().lower()
        if not text.startswith("progress:"):
            return None
        try:
            value = float(text.split(":", 1)[1])
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        # Floor to the step (with a tolerance for 0.3 written as 0.29999...), and never 1.0: the
        # job reaches 1.0 only when it has succeeded.
        step = math.floor(min(max(value, 0.0), 1.0) / PROGRESS_STEP + 1e-9)
        quantized = round(min(step, round(1 / PROGRESS_STEP) - 1) * PROGRESS_STEP, 1)
        if quantized <= self.released or now - self.at < PROGRESS_INTERVAL_S:
            return None
        self.released, self.at = quantized, now
        return quantized


class Stopped(Exception):
    """The job moved under us (cancelled, or taken over): stop quietly."""


@dataclass
class GpuPool:
    """The GPUs of this worker; a GPU job takes one for its whole run."""

    devices: tuple[int, ...] = ()
    _free: list[int] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self._free = list(self.devices)

    @classmethod
    def detect(cls) -> GpuPool:
        """NVIDIA GPUs from their device nodes (no CUDA library is loaded in the worker)."""
        found = sorted(int(p.name[6:]) for p in Path("/dev").glob("nvidia[0-9]*") if p.name[6:].isdigit())
        return cls(devices=tuple(found))

    def acquire(self, timeout: float, cancel: threading.Event | None = None) -> int:
        """A free GPU, waiting at most ``timeout`` s; Stopped once ``cancel`` is set."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._free:
                if cancel is not None and cancel.is_set():
                    raise Stopped
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JobFailure("no_gpu", "no GPU became free on this worker")
                self._cond.wait(min(left, 0.5))
            return self._free.pop(0)

    def release(self, device: int) -> None:
        with self._cond:
            self._free.append(device)
            self._cond.notify()


@dataclass
class WorkerContext:
    """What a worker needs to run jobs."""

    jobs: JobStore
    chain: ChainReader
    store: ContentStore
    keys: keys.KeyStore
    jobs_dir: Path
    worker_id: str
    limits: sandbox.Limits
    lease_s: float
    max_attempts: int
    #: Sample and aggregate: each block's fixed time slot (seconds).
    aggregate_slot_s: float = 60.0
    published_algorithms: bool = True
    max_metadata_bytes: int = 1024 * 1024
    documents: DocumentCache = field(default_factory=DocumentCache)
    gpus: GpuPool = field(default_factory=GpuPool)
    python: Path | None = None
    policy_limits: policy.PolicyLimits = field(default_factory=policy.PolicyLimits)
    #: The child process that builds the raw-row index: its memory and CPU time.
    index_limits: index_process.IndexLimits = field(default_factory=index_process.IndexLimits)
    #: The largest dataset (declared ciphertext size) staged; its content is read up to that size.
    max_dataset_bytes: int = DEFAULT_MAX_DATASET_BYTES
    #: Called with the job id when a job ends (the worker schedules the receipts' batch).
    on_final: Callable[[str], None] = lambda job_id: None


def data_file_name(content_type: str) -> str:
    ext = {"text/csv": ".csv", "text/plain": ".txt", "application/json": ".json"}.get(content_type)
    return "data" + (ext or mimetypes.guess_extension(content_type or "") or "")


def run_job(ctx: WorkerContext, job_id: str, hold: Callable[[str], Any]) -> str | None:
    """Run the next job of ``job_id``'s environment that this worker can claim; return that job's
    final state (None if nothing was waiting).

    A task is a slot, not an order to run the job it names: the job database picks the job
    (:meth:`~datamarket.jobs.store.JobStore.claim_next`, fair across datasets), so a dataset with
    many jobs waiting does not hold up another's. ``hold(job_id)`` is a context manager
    (``LeaseKeeper.hold``) that renews the lease while the job runs and yields the event set when
    the job's cancellation is asked for."""
    named = ctx.jobs.get(job_id)
    if named is None:
        return None
    job = ctx.jobs.claim_next(
        named.environment, ctx.worker_id, lease_s=ctx.lease_s, max_attempts=ctx.max_attempts
    )
    if job is None:
        after = ctx.jobs.get(job_id)
        if after is not None and after.final:
            ctx.on_final(job_id)
        return None
    job_id = job.id
    owner = job.lease_owner or ""
    # A folder per attempt: a late attempt's clean-up never touches the next one's files. What an
    # earlier attempt left (its worker died: the claim succeeded only on a lapsed lease) goes now.
    for earlier in ctx.jobs_dir.glob(f"{job_id}-*"):
        _cleanup(earlier)
    workdir = ctx.jobs_dir / f"{job_id}-{job.attempts}"
    with hold(job_id, owner) as cancel:
        # The job directory is gone before the job is final: a consumer who sees the final state
        # never races the clean-up.
        success: dict[str, Any] | None = None
        failure: JobFailure | None = None
        outage = False
        try:
            success = _attempt(ctx, job, workdir, cancel)
        except Stopped:
            pass
        except JobFailure as exc:
            failure = exc
        except (ChainUnavailable, StoreUnavailable, DocumentUnavailable, OperationalError) as exc:
            # A passing outage of the node, the store or the job database (a lost connection): the
            # job goes back to the queue (its consumer paid for it), unless it has used its attempts.
            log.warning("job %s: %s; giving it back to the queue", job_id, type(exc).__name__)
            outage = True
        except Exception:
            log.exception("job %s: internal error", job_id)
            failure = JobFailure("internal_error", "the worker failed running the job")
        finally:
            _cleanup(workdir)
        # The attempt's outcome is written even across a lost connection to the job database: its
        # writes are conditional (on the state and this worker's lease), so one that did land is
        # not applied twice.
        if success is not None:
            _reconnecting(lambda: ctx.jobs.advance(job_id, owner, PUBLISHING, SUCCEEDED, **success))
        elif outage:
            _reconnecting(lambda: ctx.jobs.requeue(
                job_id, owner, max_attempts=ctx.max_attempts,
                error={"code": "provider_unavailable", "message": "the chain, the content store or the job "
                       "database did not answer, on every attempt", "details": {}},
            ))  # fmt: skip
        elif failure is not None:
            _reconnecting(
                lambda: ctx.jobs.finish(job_id, failure.state, worker=owner, error=failure.as_error())
            )
    now = ctx.jobs.get(job_id)
    if now is not None and not now.final and now.cancel_requested:
        ctx.jobs.finish(job_id, CANCELLED)
        now = ctx.jobs.get(job_id)
    if now is not None and now.final:
        ctx.on_final(job_id)
    return now.state if now is not None else None


#: A write the job database lost the connection for is tried again this many times, this far apart.
DB_ATTEMPTS, DB_RETRY_S = 5, 0.5


def _reconnecting(write: Callable[[], Any]) -> Any:
    """``write()``, again on a new connection when the job database dropped the one it used."""
    for attempt in range(DB_ATTEMPTS):
        try:
            return write()
        except OperationalError:
            if attempt == DB_ATTEMPTS - 1:
                raise
            log.warning("the job database dropped the connection; writing again")
            time.sleep(DB_RETRY_S)
    return None


def _step(ctx: WorkerContext, job: Job, from_state: str, to_state: str, **values: Any) -> None:
    if not ctx.jobs.advance(job.id, job.lease_owner or "", from_state, to_state, **values):
        raise Stopped


def _attempt(ctx: WorkerContext, job: Job, workdir: Path, cancel: threading.Event) -> dict[str, Any]:
    """Stage, run, check and publish; returns the values the job's final (succeeded) row gets."""
    _cleanup(workdir)
    workdir.mkdir(parents=True, mode=0o700)
    os.chmod(workdir, 0o700)
    data_dir, job_dir, out_dir = workdir / "data", workdir / "job", workdir / "out"
    for d in (data_dir, job_dir, out_dir):
        d.mkdir(mode=0o755)

    # ---- staging
    doc, files = stage_data(ctx, job, data_dir)
    if sample_aggregate.applies(ctx, job, doc):  # an untrusted algorithm: docs/privacy.md
        return sample_aggregate.run(ctx, job, workdir, doc, files, cancel)
    index = build_raw_index(ctx, files, workdir, cancel)
    stage_algorithm(ctx, job, job_dir / "algorithm", doc)
    device = "cuda" if job.environment == "gpu" else "cpu"
    service = doc.service(job.service_id) or {}
    params = {
        "params": job.params,
        # The publisher's public declarations, from the metadata document: never from the buyer.
        "declarations": declarations.job_declarations(service.get("compute") or {}),
        "epsilon": job.epsilon_units / 1e6 if job.epsilon_units else None,
        "delta": job.delta,
        "device": device,
        "files": [f"/data/{f.name}" for f in files],
        "seed": int(job.id[:8], 16),
    }
    (job_dir / "params.json").write_text(json.dumps(params, sort_keys=True))
    sandbox.prepare_output(out_dir, ctx.limits.output_bytes)
    if cancel.is_set():
        raise Stopped
    _step(ctx, job, STAGING, RUNNING)

    # ---- running
    gpu = ctx.gpus.acquire(ctx.limits.wall_time_s, cancel) if job.environment == "gpu" else None
    started = time.time()
    try:
        result = run_sandboxed(ctx, job, workdir, cancel, gpu)
    finally:
        if gpu is not None:
            ctx.gpus.release(gpu)
    log_text, truncated = _read_logs(workdir / "logs.txt", ctx.limits.log_bytes)
    if result.first_output_s is not None:
        # From the accepted request (the provider's clock, same host or NTP) to the first output.
        first = round(started + result.first_output_s - job.created_at, 6)
        ctx.jobs.record(job.id, job.lease_owner or "", first_output_s=first)
    if result.reason == "cancelled":
        raise Stopped
    if result.reason != "exited" or result.exit_code != 0:
        # A failed run releases nothing, its logs included: they could print what the data says,
        # and no output policy checked them. (It is charged all the same: it ran on the data.)
        raise JobFailure(*failures.sandbox_reason(result.reason))
    _step(ctx, job, RUNNING, CHECKING)

    # ---- checking
    epsilon = job.epsilon_units / 1e6 if job.epsilon_units else None
    verdict = policy.check_outputs(
        out_dir,
        log_text,
        index,
        epsilon=epsilon,
        dp_required=bool(job.epsilon_units),
        limits=ctx.policy_limits,
    )
    if not verdict.ok:
        # The verdict's message and file name come from the outputs: only its code goes out.
        log.info("job %s: rejected (%s)", job.id, verdict.code)
        raise JobFailure(*failures.reason(verdict.code), state=REJECTED)
    _step(ctx, job, CHECKING, PUBLISHING)

    # ---- publishing
    result_doc = publish_outputs(ctx, job, out_dir)
    return {
        "result": result_doc,
        "output_hash": result_doc["output_hash"],
        "logs": log_text,
        "logs_truncated": truncated,
        "progress": 1.0,
    }


def build_raw_index(
    ctx: WorkerContext, files: list[Path], workdir: Path, cancel: threading.Event
) -> policy.RawIndex:
    """The output policy's raw-row index of the staged files, built in a capped child process."""
    try:
        return index_process.build_index(
            files, workdir, limits=ctx.index_limits, policy_limits=ctx.policy_limits, cancel=cancel
        )
    except index_process.IndexBuildCancelled:
        raise Stopped from None
    except index_process.IndexBuildError as exc:
        raise JobFailure(exc.code, exc.message) from None


class _LongerThanDeclared(Exception):
    """The store gave more bytes than the dataset's document declares."""


def _at_most(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """``chunks`` while they total at most ``limit`` bytes; :class:`_LongerThanDeclared` before the
    first chunk that goes beyond (so no byte past ``limit`` is passed on, nor read further)."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise _LongerThanDeclared
        yield chunk


def stage_data(ctx: WorkerContext, job: Job, data_dir: Path) -> tuple[DatasetDocument, list[Path]]:
    """Decrypt the dataset's file into ``data_dir`` (a tmpfs sized to it), reading no more than the
    declared size, itself at most ``max_dataset_bytes``."""
    record = ctx.chain.dataset(job.datatoken)
    if record is None:
        raise JobFailure("unknown_dataset", "the dataset is no longer on the market")
    doc = ctx.documents.get_or_load(
        ctx.chain, ctx.store, job.datatoken, record, max_bytes=ctx.max_metadata_bytes
    )
    entry = doc.file
    declared = int(entry["size"])  # the ciphertext's; the document is checked to match plaintext_size
    if declared > ctx.max_dataset_bytes:
        raise JobFailure(
            "dataset_too_large",
            "the dataset is larger than this provider's workers take for compute",
            details={"size": declared, "max_dataset_bytes": ctx.max_dataset_bytes},
        )
    sandbox.prepare_output(data_dir, int(entry["plaintext_size"]) + (1 << 20))
    # Bound to the dataset the job was ordered for: a wrap copied from another dataset fails here,
    # before any byte is decrypted or the algorithm starts. Either offer may run jobs; the document
    # does not say which the wrap was made for (its owner could change it), so both are tried.
    content_key = None
    for offer in COMPUTE_OFFERS:
        context = content_context(ctx.chain.chain_id, ctx.chain.market_address, job.datatoken, offer=offer)
        try:
            content_key = ctx.keys.unwrap(entry["encryption"]["wrapped_key"], context=context)
            break
        except keys.KeyMaterialError:
            continue
    if content_key is None:
        raise JobFailure("key_unavailable", "the dataset's content key does not open on this provider")
    target = data_dir / data_file_name(entry.get("content_type", ""))
    try:
        stream.decrypt_to_path(
            ChunkReader(_at_most(ctx.store.cat(entry["cid"]), declared)),
            target,
            content_key,
            expected_sha256=entry["plaintext_sha256"],
        )
    except stream.DecryptionError:
        raise JobFailure(
            "data_corrupted", "the dataset's ciphertext does not decrypt to its published hash"
        ) from None
    except _LongerThanDeclared:
        raise JobFailure(
            "dataset_too_large", "the dataset's content is longer than its document declares"
        ) from None
    finally:
        del content_key
    os.chmod(target, 0o444)
    return doc, [target]


def stage_algorithm(ctx: WorkerContext, job: Job, dest: Path, doc: DatasetDocument) -> None:
    """The algorithm into ``dest``. A published bundle is checked again here: the provider may have
    turned published algorithms off, or the dataset may no longer trust it, since it was queued."""
    dest.mkdir(mode=0o755)
    if isinstance(job.algorithm, str):
        builtins.stage(job.algorithm, dest)
    else:
        service = doc.service(job.service_id) or {}
        compute = service.get("compute") or {}
        trusted = job.algorithm["sha256"] in compute.get("trusted_algorithms", ())
        if not ctx.published_algorithms or not (trusted or compute.get("allow_any_algorithm")):
            raise JobFailure("algorithm_not_trusted", "the dataset no longer trusts this algorithm")
        try:
            data = cat_bytes(ctx.store, job.algorithm["bundle"], max_size=MAX_BUNDLE_BYTES)
        except StoreUnavailable:
            raise
        except StorageError as exc:  # not in the store, too large, or not a valid DAG
            raise JobFailure(
                "invalid_bundle",
                "the algorithm bundle cannot be read from the content store",
                details={"reason": exc.code},
            ) from None
        if bundle.bundle_hash(data) != job.algorithm["sha256"]:
            raise JobFailure("algorithm_mismatch", "the algorithm bundle does not match its hash")
        try:
            bundle.unpack(data, dest)
        except bundle.BundleError as exc:
            # The buyer made the bundle before the job saw any data: its reason is theirs to read.
            raise JobFailure(
                "invalid_bundle", f"the algorithm bundle is not a valid bundle: {exc.message}"
            ) from None
    for path in dest.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def run_sandboxed(
    ctx: WorkerContext, job: Job, workdir: Path, cancel: threading.Event, gpu: int | None
) -> sandbox.SandboxResult:
    progress = ProgressGate()

    def on_line(line: str) -> None:
        value = progress.offer(line, time.monotonic())
        if value is not None:
            ctx.jobs.set_progress(job.id, job.lease_owner or "", value)

    python = ctx.python or Path(os.sys.executable)
    spec = sandbox.SandboxSpec(
        argv=(str(python), "/job/algorithm/main.py"),
        data_dir=workdir / "data",
        job_dir=workdir / "job",
        out_dir=workdir / "out",
        log_path=workdir / "logs.txt",
        limits=ctx.limits,
        gpus=(gpu,) if gpu is not None else (),
        name=f"job-{job.id}",
        python=python,
    )
    return sandbox.run(spec, on_line=on_line, cancel=cancel)


def _read_logs(path: Path, limit: int) -> tuple[str, bool]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return "", False
    return raw[:limit].decode("utf-8", "replace"), len(raw) >= limit


def publish_outputs(ctx: WorkerContext, job: Job, out_dir: Path) -> dict[str, Any]:
    """Tar the outputs, encrypt the tar to the consumer's key, add it to the content store. The tar
    and its ciphertext go through files beside ``out`` (not memory: outputs may be large)."""
    manifest = policy.manifest(out_dir)
    archive, sealed = out_dir.parent / "result.tar", out_dir.parent / "result.enc"
    digest = tar_outputs(out_dir, manifest, archive)
    content_key = stream.new_content_key()
    with archive.open("rb") as src, sealed.open("wb") as dst:
        stream.encrypt_stream(src, dst, content_key)
    with sealed.open("rb") as src:
        cid = ctx.store.add(src)
    context = result_context(ctx.chain.chain_id, ctx.chain.market_address, job.datatoken, job.id)
    salt = secrets.token_hex(32)
    wrapped = keys.wrap_key(content_key, bytes.fromhex(job.consumer_key[2:]), context=context)
    del content_key
    return {
        "job_id": job.id,
        "cid": cid,
        "size": sealed.stat().st_size,
        "plaintext_size": archive.stat().st_size,
        "plaintext_sha256": digest,
        "wrapped_key": wrapped,
        "outputs": manifest,
        "output_salt": salt,
        "output_hash": policy.output_hash(manifest, salt),
    }


def tar_outputs(out_dir: Path, manifest: list[dict], target: Path) -> str:
    """A deterministic tar (sorted, mtime 0, owner 0, mode 0644) of the files in ``manifest``,
    written to ``target``; returns its sha256."""
    with target.open("wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for entry in manifest:
            info = tarfile.TarInfo(entry["path"])
            info.size, info.mtime, info.mode, info.uid, info.gid = entry["size"], 0, 0o644, 0, 0
            with (out_dir / entry["path"]).open("rb") as f:
                tar.addfile(info, f)
    h = sha256()
    with target.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cleanup(workdir: Path) -> None:
    """Unmount the job's tmpfs (the decrypted data first) and remove its folder; each step runs
    whatever the one before it did, and a failure is logged, never raised over the job's outcome."""
    for sub in ("data", "out"):
        try:
            sandbox.release_output(workdir / sub)
        except Exception:
            log.exception("job folder %s: unmounting %s failed", workdir.name, sub)
    shutil.rmtree(workdir, ignore_errors=True)


__all__ = ["GpuPool", "JobFailure", "WorkerContext", "data_file_name", "run_job", "tar_outputs"]
