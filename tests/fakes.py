"""The fakes of the unit tests, in one place (integration tests use anvil and real stores instead).

Each follows the real adapter's interface and failure modes: a content store and a chain reader for
the provider (``FakeStore``, ``FakeChain``), a provider's compute API and a market for the SDK
(``FakeProvider``, ``fake_market``), sealed job results as a provider publishes them, and a complete
metadata document (``full_document``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, BinaryIO

from datamarket.chain.devchain import dev_account
from datamarket.chain.events import DatasetState, LogMeta, OrderFunding, OrderStarted
from datamarket.chain.market import DatasetRecord
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.chain.reader import BlockInfo, MetadataPointer, OrderTx
from datamarket.crypto import keys, stream
from datamarket.errors import ChainUnavailable
from datamarket.jobs.spec import job_hash
from datamarket.metadata.document import build_document, compute_service, download_service, file_entry
from datamarket.sdk import jobs
from datamarket.storage.base import ContentNotFound
from datamarket.storage.cid import raw_leaf_cid

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337


class FakeStore:
    """A content store for single-block documents (CIDv1 raw leaves, as the real stores give)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def add(self, stream: BinaryIO, *, cid_version: int = 1, only_hash: bool = False) -> str:
        data = stream.read()
        cid = raw_leaf_cid(data)
        if not only_hash:
            self.blobs[cid] = data
        return cid

    def cat(self, cid: str) -> Iterator[bytes]:
        if cid not in self.blobs:
            raise ContentNotFound(f"{cid} is not in the store at /secret/path", details={"cid": cid})
        return iter([self.blobs[cid]])

    def pin(self, cid: str) -> None:
        pass

    def unpin(self, cid: str) -> None:
        pass

    def has(self, cid: str) -> bool:
        return cid in self.blobs


@dataclass
class FakeChain:
    chain_id: int = CHAIN_ID
    market_address: str = MARKET
    latest: BlockInfo = field(default_factory=lambda: BlockInfo(number=100, timestamp=1_800_000_000))
    txs: dict[str, OrderTx] = field(default_factory=dict)
    datasets: dict[str, DatasetRecord] = field(default_factory=dict)
    pointers: dict[str, MetadataPointer] = field(default_factory=dict)
    used_quotes: set[tuple[str, int]] = field(default_factory=set)
    order_count: int = 0  # the next order's id, as the market counts them
    node_id: int | None = None
    down: bool = False
    calls: int = 0

    def _touch(self) -> None:
        self.calls += 1
        if self.down:
            raise ChainUnavailable("the chain node is unavailable")

    def latest_block(self) -> BlockInfo:
        self._touch()
        return self.latest

    def order_tx(self, tx_hash: str) -> OrderTx | None:
        self._touch()
        return self.txs.get(tx_hash)

    def dataset(self, datatoken: str, block: int | str = "latest") -> DatasetRecord | None:
        self._touch()
        return self.datasets.get(datatoken)

    def metadata_pointer(self, datatoken: str) -> MetadataPointer | None:
        self._touch()
        return self.pointers.get(datatoken)

    def is_quote_used(self, provider: str, nonce: int) -> bool:
        self._touch()
        return (provider, nonce) in self.used_quotes

    def node_chain_id(self) -> int:
        self._touch()
        return self.chain_id if self.node_id is None else self.node_id

    # ------------------------------------------------------------------ building the world

    def mine(self, blocks: int = 1, seconds: int = 12) -> None:
        self.latest = BlockInfo(self.latest.number + blocks, self.latest.timestamp + seconds * blocks)

    def add_order(
        self,
        tx_hash: str,
        *,
        datatoken: str,
        consumer: str,
        provider: str,
        service_id: int = 0,
        status: int = 1,
        market: str | None = None,
    ) -> OrderTx:
        """A mined transaction holding one OrderStarted (from ``market``, default this market)."""
        self.mine()
        meta = LogMeta(
            address=market or self.market_address,
            block_number=self.latest.number,
            block_hash="0x" + "ab" * 32,
            tx_hash=tx_hash,
            log_index=0,
        )
        order_id = self.order_count
        self.order_count += 1
        event = OrderStarted(
            meta,
            datatoken,
            consumer,
            provider,
            order_id,
            consumer,
            OrderFunding.BOUGHT,
            service_id,
            ZERO_ADDRESS,
            0,
            1,
            ZERO_HASH,
        )
        orders = (event,) if status == 1 and (market is None or market == self.market_address) else ()
        tx = OrderTx(tx_hash, status, self.latest.number, self.latest.timestamp, orders)
        self.txs[tx_hash] = tx
        return tx

    def set_state(self, datatoken: str, state: DatasetState) -> None:
        self.datasets[datatoken] = replace(self.datasets[datatoken], state=state)


def record(
    *, publisher: str, provider: str, metadata: bytes, services: int = 0b11, allowlist_root: str = ZERO_HASH
) -> DatasetRecord:
    return DatasetRecord(
        publisher=publisher,
        state=DatasetState.ACTIVE,
        services=services,
        free=False,
        has_allowlist=allowlist_root != ZERO_HASH,
        capped=False,
        publish_fee_bps=0,
        index=0,
        provider=provider,
        epsilon_budget=0,
        epsilon_spent=0,
        payment_token=ZERO_ADDRESS,
        price=0,
        cap=0,
        dispenser_limit=0,
        metadata_hash="0x" + hashlib.sha256(metadata).hexdigest(),
        publish_fee_collector=ZERO_ADDRESS,
        allowlist_root=allowlist_root,
    )


# ------------------------------------------------------------------ the SDK's side

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
        from datamarket.canonical import canonical_json

        return hashlib.sha256(canonical_json({"outputs": manifest, "salt": salt})).hexdigest()
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


# ------------------------------------------------------------------ a metadata document

PUBLISHER = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
PROVIDER = "0x1212121212121212121212121212121212121212"
CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
SHA = hashlib.sha256(b"plaintext").hexdigest()
ALGORITHM_HASH = hashlib.sha256(b"algorithm bundle").hexdigest()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


WRAPPED_KEY = {
    "scheme": "X25519-HKDF-SHA256-A256GCM",
    "key_id": "0123456789abcdef",
    "epk": b64(b"\x01" * 32),
    "nonce": b64(b"\x02" * 12),
    "ct": b64(b"\x03" * 48),
}

PROFILE = {
    "rows": 569,
    "columns": [
        {
            "name": "radius",
            "dtype": "float64",
            "kind": "numeric",
            "missing": 0,
            "stats": {"min": 6.981, "max": 28.11, "mean": 14.1, "std": 3.5, "quantiles": {"0.5": 13.4}},
        },
        {
            "name": "color",
            "dtype": "str",
            "kind": "categorical",
            "missing": 2,
            "stats": {"distinct": 3, "top": [{"value": "red", "count": 6}]},
        },
    ],
    "synthetic_rows": [{"radius": 12.5, "color": "red"}, {"radius": 20.25, "color": None}],
}


def full_document() -> dict[str, Any]:
    return build_document(
        name="Breast cancer (Wisconsin)",
        description="Diagnostic features — ünïcode welcome.",
        tags=["medical", "tabular"],
        license="CC-BY-4.0",
        publisher=PUBLISHER.lower(),
        files=[
            file_entry(
                cid=CID,
                plaintext_size=1200,
                plaintext_sha256=SHA,
                content_type="text/csv",
                wrapped_key=WRAPPED_KEY,
                chunk_size=65536,
            )
        ],
        profile=PROFILE,
        services=[
            download_service(
                id=0, provider_url="http://127.0.0.1:8030", provider_address=PROVIDER, timeout=86400
            ),
            compute_service(
                id=1,
                provider_url="https://provider.example.org/api",
                provider_address=PROVIDER,
                timeout=0,
                epsilon_budget=10,
                delta=1e-5,
                max_epsilon_per_job=1,
                trusted_algorithms=[ALGORITHM_HASH],
            ),
        ],
        created=datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC),
    )


# ------------------------------------------------------------------ a compute job and its request


def job_spec(**overrides: Any) -> dict:
    """A built-in job's spec (``POST /compute``'s ``job``), with ``overrides``."""
    values = {
        "algorithm": "train_tabular",
        "params": {"target": "label", "epochs": 3, "layers": [16, 8], "opts": {"lr": 0.01, "x": None}},
        "epsilon": 1.0,
        "environment": "cpu",
    }
    values.update(overrides)
    return values


def compute_request_json(**overrides: Any) -> dict:
    """A ComputeRequest's JSON form naming :func:`job_spec`'s hash, with ``overrides``."""
    values = {
        "datatoken": MARKET,
        "consumer": dev_account(4).address,
        "serviceId": 1,
        "orderTx": "0x" + "11" * 32,
        "orderId": 3,
        "consumerKey": "0x" + "22" * 32,
        "jobHash": job_hash(job_spec()),
        "nonce": 1,
    }
    values.update(overrides)
    return values
