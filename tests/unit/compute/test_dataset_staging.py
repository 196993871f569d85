"""Staging reads at most the dataset's declared size, itself at most the worker's cap: a document may
declare less than its content holds (the publisher wrote both, and the plaintext's hash too)."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from compute_to_data import runner, sandbox
from datamarket.chain.devchain import dev_account
from datamarket.chain.reader import MetadataPointer
from datamarket.crypto import stream
from datamarket.crypto.contexts import COMPUTE, content_context
from datamarket.crypto.keys import KeyStore, wrap_key
from datamarket.metadata import document
from datamarket.storage.embedded import EmbeddedStore
from tests.fakes import CHAIN_ID, MARKET, FakeChain, record

DATATOKEN = "0x2279B7A0a67DB372996a5FaB50D91eAA73d2eBe6"
CHUNK = 65536
BLOCK = 256 * 1024  # what the embedded store yields at a time


class CountingStore(EmbeddedStore):
    """The embedded store (content of many blocks), counting the bytes of ``counted`` it hands out."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, sync=False)
        self.counted: str | None = None
        self.served = 0

    def cat(self, cid: str) -> Iterator[bytes]:
        for block in super().cat(cid):
            if cid == self.counted:
                self.served += len(block)
            yield block


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.chain, self.store = FakeChain(), CountingStore(tmp_path / "store")
        self.keys = KeyStore(tmp_path / "keys")
        self.keys.ensure_key()
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        self.ctx = runner.WorkerContext(
            jobs=None, chain=self.chain, store=self.store, keys=self.keys, jobs_dir=tmp_path,
            worker_id="unit", limits=sandbox.Limits(), lease_s=15.0, max_attempts=1,
            max_dataset_bytes=1 << 20,
        )  # type: ignore[arg-type]  # fmt: skip

    def publish(self, content: bytes, *, declared_plaintext: int | None = None) -> int:
        """Encrypt ``content`` into the store; the document declares ``declared_plaintext`` bytes
        (default: the truth) and the hash of the real content. Returns the declared ``size``."""
        key = secrets.token_bytes(32)
        cid = self.store.add(io.BytesIO(stream.encrypt_bytes(content, key, chunk_size=CHUNK)))
        context = content_context(CHAIN_ID, MARKET, DATATOKEN, offer=COMPUTE)
        entry = document.file_entry(
            cid=cid,
            plaintext_size=len(content) if declared_plaintext is None else declared_plaintext,
            plaintext_sha256=hashlib.sha256(content).hexdigest(),
            content_type="text/csv",
            wrapped_key=wrap_key(key, self.keys.public_keys()[0].public_key, context=context),
            chunk_size=CHUNK,
        )
        publisher = dev_account(1).address
        doc = document.build_document(
            name="staged", description="a dataset to stage", tags=["test"], license="CC0-1.0",
            publisher=publisher, files=[entry], profile=None,
            services=[
                document.compute_service(
                    id=1, provider_url="http://p", provider_address=dev_account(2).address, timeout=3600,
                    epsilon_budget=10, delta=1e-5, max_epsilon_per_job=1,
                )
            ],
            created="2026-11-28T12:00:00Z",
        )  # fmt: skip
        metadata = document.canonical_bytes(doc)
        meta_cid = self.store.add(io.BytesIO(metadata))
        self.chain.datasets[DATATOKEN] = record(
            publisher=publisher, provider=dev_account(2).address, metadata=metadata
        )
        self.chain.pointers[DATATOKEN] = MetadataPointer(
            meta_cid, self.chain.datasets[DATATOKEN].metadata_hash, 1, publisher=publisher
        )
        self.store.counted, self.store.served = cid, 0
        return entry["size"]

    def stage(self) -> list[Path]:
        _, files = runner.stage_data(self.ctx, SimpleNamespace(datatoken=DATATOKEN), self.data_dir)
        return files


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    # The data folder stays a plain folder here: no tmpfs is mounted by a unit test.
    monkeypatch.setattr(sandbox, "prepare_output", lambda folder, size: None)
    return World(tmp_path)


def rows(n: int) -> bytes:
    return b"".join(b"%d,%s\n" % (i, secrets.token_hex(8).encode()) for i in range(n))


def test_an_honest_dataset_under_the_cap_is_staged(world: World) -> None:
    content = rows(2000)
    world.publish(content)
    (staged,) = world.stage()
    assert staged.read_bytes() == content


def test_a_declared_size_over_the_cap_is_refused_before_any_byte_is_read(world: World) -> None:
    size = world.publish(rows(80_000))  # some 2 MiB, over the 1 MiB cap
    with pytest.raises(runner.JobFailure) as caught:
        world.stage()
    assert caught.value.code == "dataset_too_large"
    assert caught.value.details == {"size": size, "max_dataset_bytes": 1 << 20}
    assert world.store.served == 0
    assert list(world.data_dir.iterdir()) == []


def test_content_longer_than_declared_is_cut_off_at_the_declared_size(world: World) -> None:
    content = rows(400_000)  # some 10 MiB, its hash in the document
    declared = world.publish(content, declared_plaintext=100_000)
    with pytest.raises(runner.JobFailure) as caught:
        world.stage()
    assert caught.value.code == "dataset_too_large"
    assert caught.value.details == {}
    assert caught.value.message == "the dataset's content is longer than its document declares"
    # Read no further than one block past the declared size; nothing is left on disk.
    assert declared < world.store.served <= declared + BLOCK
    assert list(world.data_dir.iterdir()) == []
