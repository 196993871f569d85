"""Fakes shared by the SDK's unit tests: a provider's compute API, a market, sealed job results."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from types import SimpleNamespace

from datamarket.chain.devchain import dev_account
from datamarket.chain.events import LogMeta, OrderFunding, OrderStarted
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.crypto import keys, stream
from datamarket.sdk import jobs

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DATATOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
ORDER = "0x" + "ab" * 32
ORDER_ID = 7
JOB = "0123456789abcdef0123456789abcdef"


class FakeProvider:
    """Answers like a provider's compute API, keeping what it was sent."""

    base_url = "http://provider.test"

    def __init__(self, states=(), job_id: str = JOB) -> None:
        self.job_id = job_id
        self.started: list[dict] = []
        self.states = list(states)
        self.calls: list[tuple[str, str, str]] = []
        self.result: dict | None = None
        self.archive: bytes = b""
        self.remaining = 10.0

    def compute_start(self, request, signature, job, proof=None):
        self.started.append({"request": request, "signature": signature, "job": job, "proof": proof})
        return {"job_id": self.job_id, "token": "tok-" + self.job_id, "state": "queued"}

    def compute_status(self, job_id, token):
        self.calls.append(("status", job_id, token))
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if isinstance(state, Exception):
            raise state
        return {"job_id": job_id, **state}

    def compute_logs(self, job_id, token):
        self.calls.append(("logs", job_id, token))
        return {"job_id": job_id, "state": "succeeded", "logs": "progress: 1\ndone\n", "truncated": False}

    def compute_cancel(self, job_id, token):
        self.calls.append(("cancel", job_id, token))
        return {"job_id": job_id, "state": "cancelled"}

    def compute_result(self, job_id, token):
        self.calls.append(("result", job_id, token))
        return self.result

    def compute_archive(self, job_id, token):
        self.calls.append(("archive", job_id, token))
        return iter([self.archive[i : i + 1000] for i in range(0, len(self.archive), 1000)])

    def privacy(self, datatoken):
        return {"datatoken": datatoken, "remaining": self.remaining}


def order_event(order_id: int = ORDER_ID, consumer: str | None = None, service_id: int = 1) -> OrderStarted:
    meta = LogMeta(MARKET, 5, "0x" + "cd" * 32, ORDER, 0)
    consumer = consumer or dev_account(4).address
    return OrderStarted(meta, DATATOKEN, consumer, MARKET, order_id, consumer, OrderFunding.BOUGHT,
                        service_id, ZERO_ADDRESS, 0, 1, ZERO_HASH)  # fmt: skip


def fake_market(events=None):
    """A market whose ``ORDER`` transaction holds ``events`` (default: one compute order of account 4)."""
    events = [order_event()] if events is None else events
    return SimpleNamespace(
        account=dev_account(4), chain_id=31337, address=MARKET, tx_events=lambda tx: list(events)
    )


def start(tmp_path, provider=None, **overrides):
    """Start a job on ``ORDER`` with a fake market and provider; ``(handle, provider)``."""
    provider = provider or FakeProvider()
    args = {
        "algorithm": "train_tabular",
        "params": {"target": "label"},
        "epsilon": 1,
        "order_tx": ORDER,
        "jobs_dir": tmp_path / "jobs",
    }
    args.update(overrides)
    handle = jobs.start_job(fake_market(), provider, None, DATATOKEN, **args)
    return handle, provider


# ----------------------------------------------------------------------------------------- results


FILES = {
    "metrics.json": b'{"accuracy": 0.93, "epsilon_spent": 0.8}',
    "model/weights.safetensors": b"\x00" * 5000,
}


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    return info, data


def manifest_of(files: dict[str, bytes]) -> list[dict]:
    return [
        {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in sorted(files.items())
    ]


SALT = "5a" * 32


def output_hash(manifest: list[dict], salt: str = SALT) -> str:
    """As the worker makes it (compute_to_data.policy), which the client checks on its own."""
    try:
        from compute_to_data.policy import output_hash as policy_hash
    except ImportError:
        body = {"outputs": manifest, "salt": salt}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()
    return policy_hash(manifest, salt)


def sealed(handle, archive: bytes, manifest: list[dict], *, context: str | None = None) -> tuple[dict, bytes]:
    """The provider's result record and ciphertext for ``archive``, wrapped to the handle's key."""
    content_key = stream.new_content_key()
    ciphertext = stream.encrypt_bytes(archive, content_key, chunk_size=4096)
    wrapped = keys.wrap_key(
        content_key, handle.x25519().public_key(), context=context or handle.result_context()
    )
    result = {
        "job_id": handle.job_id,
        "cid": None,
        "size": len(ciphertext),
        "plaintext_size": len(archive),
        "plaintext_sha256": hashlib.sha256(archive).hexdigest(),
        "wrapped_key": wrapped,
        "outputs": manifest,
        "output_salt": SALT,
        "output_hash": output_hash(manifest),
    }
    return result, ciphertext


def standard(handle, files=FILES):
    archive = tar_of([file_member(p, d) for p, d in sorted(files.items())])
    return sealed(handle, archive, manifest_of(files))
