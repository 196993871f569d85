"""A started compute job as the consumer keeps it: its job file, ``<jobs dir>/<job id>.json``.

The job file (mode 0600, in a folder of mode 0700) holds the job's bearer token and the one-time
X25519 private key the job's result is wrapped to: the consumer's own secrets, kept on its own disk
so that the job can be followed and its result opened later, from another process
(``datamarket compute status JOB``).
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from datamarket.atomic_files import write_atomically
from datamarket.crypto.contexts import result_context
from datamarket.errors import DatamarketError
from datamarket.sdk.provider_client import ProviderClient

JOB_ID = re.compile(r"[0-9a-f]{32}")


class ComputeError(DatamarketError):
    code = "compute_failed"


class JobNotFound(ComputeError, LookupError):
    code = "job_not_found"


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


def ensure_jobs_dir(jobs_dir: Path) -> None:
    """Make the jobs folder (mode 0700) if needed; ComputeError when it cannot hold job files."""
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
    ensure_jobs_dir(jobs_dir)
    final = jobs_dir / f"{handle.job_id}.json"
    write_atomically(final, (json.dumps(handle.to_json(), indent=2, sort_keys=True) + "\n").encode())
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


__all__ = ["JOB_ID", "ComputeError", "JobHandle", "JobNotFound", "ensure_jobs_dir", "load_job", "save_job"]
