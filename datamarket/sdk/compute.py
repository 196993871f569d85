"""Compute-to-data, the consumer's side: order, ask for a job, follow it, fetch and open its result.

The consumer never sees the dataset. It orders the dataset's compute service, signs an EIP-712
``ComputeRequest`` naming the job (its ``jobHash``) and a one-time X25519 key made for this job, and
the provider runs the job in its sandbox. The result is a tar of the job's ``/out``, encrypted with
the stream format under a fresh content key wrapped to that one-time key (context
``result:<job id>``), so only this consumer opens it.

A started job is saved to ``<jobs dir>/<job id>.json`` (mode 0600): the job's bearer token and the
one-time private key are the consumer's own secrets, kept on its own disk so that the job can be
followed and its result opened later, from another process (``datamarket compute status JOB``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from datamarket import auth
from datamarket.chain.market import Market, dataset_id
from datamarket.chain.quotes import SERVICE_COMPUTE
from datamarket.crypto import keys, stream
from datamarket.crypto.contexts import result_context
from datamarket.errors import DatamarketError
from datamarket.sdk import download
from datamarket.sdk.provider_client import ProviderClient, ProviderError, ProviderUnavailable
from datamarket.storage.base import ChunkReader, ContentNotFound, ContentStore, StoreUnavailable, add_bytes

FINAL_STATES = frozenset({"succeeded", "failed", "rejected", "cancelled"})
JOB_ID = re.compile(r"[0-9a-f]{32}")
MAX_POLL_FAILURES = 10
_SHA256 = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")
_NAME_BYTES = 255
_PATH_BYTES = 4096


class ComputeError(DatamarketError):
    code = "compute_failed"


class JobNotFound(ComputeError, LookupError):
    code = "job_not_found"


class JobTimeout(ComputeError, TimeoutError):
    code = "job_timeout"


class ResultError(ComputeError, ValueError):
    """A result that does not check out: a bad manifest, an archive that is not what the result
    says (sha256, files, sizes), or a member that is not a plain file under the output folder."""

    code = "invalid_result"


@dataclass(frozen=True)
class JobHandle:
    """A started job, as saved in its job file. ``token`` and ``private_key`` (the one-time X25519
    key the result is wrapped to, hex) are secrets: never printed, kept only in the job file."""

    job_id: str
    token: str = field(repr=False)
    provider_url: str
    datatoken: str
    order_tx: str
    private_key: str = field(repr=False)
    created_at: str
    dataset: str = ""
    job: dict[str, Any] = field(default_factory=dict)
    state: str = "queued"  # as the provider reported it when the job was made (not saved)
    path: Path | None = None  # the job file
    #: The chain and market the job was ordered on: the result's wrap is bound to them.
    chain_id: int = 0
    market: str = ""
    #: The order's id in its OrderStarted (its transaction may hold several orders).
    order_id: int | None = None

    def provider(self) -> ProviderClient:
        return ProviderClient(self.provider_url)

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "token": self.token,
            "provider_url": self.provider_url,
            "datatoken": self.datatoken,
            "dataset": self.dataset,
            "order_tx": self.order_tx,
            "order_id": self.order_id,
            "x25519_private_key": self.private_key,
            "created_at": self.created_at,
            "job": self.job,
            "chain_id": self.chain_id,
            "market": self.market,
        }

    @classmethod
    def from_json(cls, data: Any, path: Path | None = None) -> JobHandle:
        if not isinstance(data, dict):
            raise ComputeError(f"the job file {path} is not a job file")
        try:
            handle = cls(
                job_id=data["job_id"],
                token=data["token"],
                provider_url=data["provider_url"],
                datatoken=data["datatoken"],
                dataset=data.get("dataset", ""),
                order_tx=data["order_tx"],
                order_id=data.get("order_id"),
                private_key=data["x25519_private_key"],
                created_at=data["created_at"],
                job=data.get("job", {}),
                path=path,
                chain_id=data.get("chain_id", 0),
                market=data.get("market", ""),
            )
        except (KeyError, TypeError):
            raise ComputeError(f"the job file {path} is not a job file") from None
        if (
            not isinstance(handle.job_id, str)
            or JOB_ID.fullmatch(handle.job_id) is None
            or not isinstance(handle.token, str)
            or not isinstance(handle.private_key, str)
            or re.fullmatch(r"[0-9a-f]{64}", handle.private_key) is None
        ):
            raise ComputeError(f"the job file {path} is damaged")
        return handle

    def x25519(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(bytes.fromhex(self.private_key))

    def result_context(self) -> str:
        """The context the worker wrapped this job's result key under (``contexts.result_context``)."""
        try:
            return result_context(self.chain_id, self.market, self.datatoken, self.job_id)
        except (ValueError, TypeError):
            raise ComputeError(
                f"the job file of {self.job_id} does not name the chain and market the job ran on"
            ) from None


# ------------------------------------------------------------------------------------------ start


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
    _ensure_jobs_dir(jobs_dir)  # before anything is paid for: a job that cannot be saved is lost
    # Everything about the job is checked before the bundle is stored or the order is paid for.
    spec = {
        "params": params,
        "epsilon": None if epsilon is None else float(epsilon),
        "environment": environment,
        **({} if output is None else {"output": output}),
    }
    bundle = _bundle(algorithm)
    if bundle is None:
        job = auth.parse_job_spec({"algorithm": str(algorithm), **spec})
    else:
        if store is None:
            raise ComputeError("publishing an algorithm bundle needs a content store")
        # The rest of the job is checked (with a stand-in name) before the bundle is stored.
        auth.parse_job_spec({"algorithm": "bundle", **spec})
        data, digest = bundle
        job = auth.parse_job_spec({"algorithm": {"bundle": add_bytes(store, data), "sha256": digest}, **spec})

    ordered_now = order_tx is None
    if ordered_now:
        _check_before_ordering(market, provider, store, datatoken, job)
        order_tx, order_id = download.order_of(download.order(market, provider, datatoken, SERVICE_COMPUTE))
    else:
        order_id = download.find_order(market, order_tx, datatoken, SERVICE_COMPUTE, order_id)

    one_time = X25519PrivateKey.generate()
    request = auth.ComputeRequest(
        datatoken=datatoken,
        consumer=market.account.address,
        service_id=SERVICE_COMPUTE,
        order_tx=order_tx,
        order_id=order_id,
        consumer_key="0x" + keys.public_bytes(one_time).hex(),
        job_hash=auth.job_hash(job),
        nonce=time.time_ns() // 1_000_000,
    )
    signature = auth.sign_compute_request(request, market.account.key, market.chain_id, market.address)
    try:
        answer = provider.compute_start(request.to_json(), signature, job, proof)
    except ProviderError as exc:
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
    return _with_path(handle, path)


def _bundle(algorithm: str | Path) -> tuple[bytes, str] | None:
    """``(tar bytes, sha256)`` when ``algorithm`` names a file or folder; None for a built-in name."""
    path = Path(algorithm)
    if isinstance(algorithm, str) and not path.exists():
        if auth.ALGORITHM_NAME.fullmatch(algorithm) is None:
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


# ------------------------------------------------------------------------------------- job files


def _ensure_jobs_dir(jobs_dir: Path) -> None:
    try:
        jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ComputeError(f"cannot create the jobs folder {jobs_dir}: {exc}") from None
    if not os.access(jobs_dir, os.W_OK | os.X_OK):
        raise ComputeError(f"the jobs folder {jobs_dir} is not writable")


def save_job(jobs_dir: Path, handle: JobHandle) -> Path:
    """Write ``<jobs_dir>/<job id>.json``, mode 0600, atomically (a temporary file renamed)."""
    if JOB_ID.fullmatch(handle.job_id) is None:
        raise ComputeError("not a job id")
    _ensure_jobs_dir(jobs_dir)
    final = jobs_dir / f"{handle.job_id}.json"
    tmp = jobs_dir / f".{handle.job_id}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(handle.to_json(), f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def load_job(jobs_dir: Path, job_id: str) -> JobHandle:
    """The job saved in ``jobs_dir``; JobNotFound when there is none."""
    if not isinstance(job_id, str) or JOB_ID.fullmatch(job_id) is None:
        raise JobNotFound(f"{job_id!r} is not a job id (32 hex digits)")
    path = Path(jobs_dir) / f"{job_id}.json"
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ComputeError(f"the job file {path} is readable by others: set its mode to 0600")
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise JobNotFound(f"no job {job_id} in {jobs_dir}", details={"job_id": job_id}) from None
    except (OSError, ValueError) as exc:
        raise ComputeError(f"cannot read the job file {path}: {exc}") from None
    handle = JobHandle.from_json(data, path)
    if handle.job_id != job_id:
        raise ComputeError(f"the job file {path} holds another job")
    return handle


def _with_path(handle: JobHandle, path: Path) -> JobHandle:
    return replace(handle, path=path)


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


# ---------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class _Output:
    path: PurePosixPath
    size: int
    sha256: str


def fetch_result(
    handle: JobHandle,
    store: ContentStore | None,
    out_dir: Path,
    *,
    provider: ProviderClient | None = None,
) -> list[Path]:
    """Fetch, decrypt, check and extract the job's result into ``out_dir``; the files written.

    The ciphertext comes from ``store`` by its CID, or from the provider's archive endpoint when the
    store does not hold it. The archive's plaintext must hash to the result's ``plaintext_sha256``
    and hold exactly the files of ``outputs`` (regular files, relative paths without ``..``), each
    with its size and sha256; nothing lands in ``out_dir`` unless all of it checks out.
    """
    client = provider or handle.provider()
    result = client.compute_result(handle.job_id, handle.token)
    cid, size, plaintext_sha256, plaintext_size, outputs = _parse_result(result)
    content_key = keys.unwrap_key(result["wrapped_key"], handle.x25519(), context=handle.result_context())

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".datamarket-result-") as tmp:
        staging = Path(tmp)
        archive = staging / "result.tar"
        got = _decrypt_archive(handle, client, store, cid, size, content_key, archive, plaintext_sha256)
        if plaintext_size is not None and got != plaintext_size:
            raise ResultError(f"the decrypted result is {got} bytes, the result states {plaintext_size}")
        del content_key
        files = staging / "files"
        files.mkdir()
        _extract(archive, files, outputs)
        return _install(files, out_dir, outputs)


def _parse_result(
    result: Any,
) -> tuple[str | None, int | None, str, int | None, dict[PurePosixPath, _Output]]:
    if not isinstance(result, dict) or not isinstance(result.get("wrapped_key"), dict):
        raise ResultError("the provider's result has no wrapped key")
    cid = result.get("cid")
    if cid is not None and not isinstance(cid, str):
        raise ResultError("the result's cid is not a string")
    size = result.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ResultError("the result's size is not a byte count")
    digest = result.get("plaintext_sha256")
    match = _SHA256.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise ResultError("the result's plaintext_sha256 is not a sha256")
    plain_size = result.get("plaintext_size")
    if plain_size is not None and (isinstance(plain_size, bool) or not isinstance(plain_size, int)):
        raise ResultError("the result's plaintext_size is not a byte count")
    entries = result.get("outputs")
    if not isinstance(entries, list):
        raise ResultError("the result's outputs is not a list")
    outputs: dict[PurePosixPath, _Output] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ResultError("an entry of the result's outputs is not an object")
        path = _safe_path(entry.get("path"))
        n, sha = entry.get("size"), entry.get("sha256")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ResultError(f"output {path} has no valid size")
        if not isinstance(sha, str) or _SHA256.fullmatch(sha) is None:
            raise ResultError(f"output {path} has no valid sha256")
        if path in outputs:
            raise ResultError(f"output {path} is listed twice")
        outputs[path] = _Output(path, n, _SHA256.fullmatch(sha).group(1).lower())
    _check_output_hash(result)
    return cid, size, match.group(1).lower(), plain_size, outputs


def _check_output_hash(result: dict[str, Any]) -> None:
    """The result's ``output_hash`` (what the job's receipt on chain commits to) is the sha256 of
    the canonical JSON of ``{"outputs": <its manifest>, "salt": <its output_salt>}`` (as
    ``compute_to_data.policy.output_hash`` makes it); the salt keeps the public hash from
    confirming guesses about the result."""
    salt = result.get("output_salt")
    if not isinstance(salt, str) or len(salt) != 64 or any(c not in "0123456789abcdef" for c in salt):
        raise ResultError("the result has no output_salt (64 lower-case hex digits)")
    try:
        expected = hashlib.sha256(
            auth.canonical_json({"outputs": result["outputs"], "salt": salt})
        ).hexdigest()
    except (TypeError, ValueError, UnicodeEncodeError):
        raise ResultError("the result's outputs are not JSON") from None
    given = result.get("output_hash")
    if not isinstance(given, str) or given.lower().removeprefix("0x") != expected:
        raise ResultError("the result's output_hash is not the hash of its outputs")


def _safe_path(name: Any) -> PurePosixPath:
    """A relative path that stays below its root: no absolute path, no ``..``, no empty or ``.``
    component (one leading ``./`` is allowed), no backslash or NUL."""
    if not isinstance(name, str) or not name:
        raise ResultError("an output has no path")
    text = name.removeprefix("./")
    if (
        not text
        or text.startswith("/")
        or "\\" in text
        or "\x00" in text
        or len(text.encode("utf-8", "surrogateescape")) > _PATH_BYTES
    ):
        raise ResultError(f"output path {name!r} is not a safe relative path")
    parts = text.rstrip("/").split("/")
    if any(p in ("", ".", "..") or len(p.encode("utf-8", "surrogateescape")) > _NAME_BYTES for p in parts):
        raise ResultError(f"output path {name!r} is not a safe relative path")
    return PurePosixPath(*parts)


def _decrypt_archive(
    handle: JobHandle,
    client: ProviderClient,
    store: ContentStore | None,
    cid: str | None,
    size: int | None,
    key: bytes,
    archive: Path,
    plaintext_sha256: str,
) -> int:
    sources: list[Callable[[], Iterable[bytes]]] = []
    if store is not None and cid:
        with contextlib.suppress(StoreUnavailable, ValueError):
            if store.has(cid):
                sources.append(lambda: store.cat(cid))
    sources.append(lambda: client.compute_archive(handle.job_id, handle.token))
    for i, source in enumerate(sources):
        last = i == len(sources) - 1
        try:
            chunks = _limited(source(), size)
            reader = io.BufferedReader(ChunkReader(chunks), 1 << 20)
            return stream.decrypt_to_path(reader, archive, key, expected_sha256=plaintext_sha256)
        except stream.PlaintextMismatch:
            raise ResultError(
                "the decrypted result's sha256 differs from the result's plaintext_sha256"
            ) from None
        except (ContentNotFound, StoreUnavailable):
            if last:
                raise
    raise AssertionError("unreachable: the provider's archive is always the last source")


def _limited(chunks: Iterable[bytes], size: int | None) -> Iterator[bytes]:
    """``chunks``, checked to add up to exactly ``size`` bytes when the result states it."""
    count = 0
    for chunk in chunks:
        count += len(chunk)
        if size is not None and count > size:
            raise ResultError(f"the encrypted result is larger than the {size} bytes the result states")
        yield chunk
    if size is not None and count != size:
        raise ResultError(f"the encrypted result is {count} bytes, the result states {size}")


def _extract(archive: Path, root: Path, outputs: dict[PurePosixPath, _Output]) -> None:
    """Extract the regular files of ``archive`` below ``root``, each checked against ``outputs``."""
    seen: set[PurePosixPath] = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isdir() and member.name in (".", "./"):
                    continue
                path = _safe_path(member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    raise ResultError(f"result member {path} is not a regular file")
                expected = outputs.get(path)
                if expected is None:
                    raise ResultError(f"result member {path} is not among the result's outputs")
                if path in seen:
                    raise ResultError(f"result member {path} appears twice")
                seen.add(path)
                if member.size != expected.size:
                    raise ResultError(
                        f"output {path} is {member.size} bytes, the result states {expected.size}"
                    )
                target = root.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:  # pragma: no cover - isreg() members always have a file object
                    raise ResultError(f"result member {path} cannot be read")
                digest = hashlib.sha256()
                with src, open(target, "xb") as dst:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        dst.write(block)
                if digest.hexdigest() != expected.sha256:
                    raise ResultError(f"output {path}'s sha256 differs from the result's")
    except tarfile.TarError as exc:
        raise ResultError(f"the decrypted result is not a tar archive ({exc})") from None
    except OSError as exc:  # a file where another output needs a folder, a full disk
        raise ResultError(f"cannot extract the result: {exc}") from None
    missing = sorted(str(p) for p in outputs.keys() - seen)
    if missing:
        raise ResultError(f"the result archive lacks outputs: {', '.join(missing)}")


def _install(files: Path, out_dir: Path, outputs: dict[PurePosixPath, _Output]) -> list[Path]:
    """Move the checked files from the staging folder into ``out_dir``, never through a link: every
    folder on the way is checked (and made) one component at a time."""
    written = []
    for path in outputs:
        try:
            parent = out_dir
            for part in path.parts[:-1]:
                parent = parent / part
                if parent.is_symlink():
                    raise ResultError(f"output {path} would be written through the link {parent}")
                if not parent.exists():
                    parent.mkdir()
                elif not parent.is_dir():
                    raise ResultError(f"output {path} needs a folder where {parent} is a file")
            target = parent / path.name
            if target.is_dir() and not target.is_symlink():
                raise ResultError(f"output {path} is a folder in {out_dir}")
            os.replace(files.joinpath(*path.parts), target)  # replaces a link itself, never its target
        except OSError as exc:
            raise ResultError(f"cannot write output {path} to {out_dir}: {exc}") from None
        written.append(target)
    return written


__all__ = [
    "FINAL_STATES",
    "ComputeError",
    "JobHandle",
    "JobNotFound",
    "JobTimeout",
    "ResultError",
    "cancel",
    "fetch_result",
    "load_job",
    "logs",
    "pack_bundle",
    "publish_bundle",
    "save_job",
    "start_job",
    "status",
    "wait",
]
