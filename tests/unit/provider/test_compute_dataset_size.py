"""POST /compute refuses a dataset whose declared size is over ``max_dataset_bytes`` (422
``dataset_too_large``) before anything is written: the request's nonce stays unused and no job is
made. Under the cap the same request goes on to the next checks."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from datamarket.auth import ComputeRequest, sign_compute_request
from datamarket.chain.devchain import dev_account
from datamarket.chain.quotes import SERVICE_COMPUTE
from datamarket.chain.reader import MetadataPointer
from datamarket.crypto.contexts import COMPUTE_OFFERS, content_context
from datamarket.crypto.keys import KeyStore, public_bytes, wrap_key
from datamarket.crypto.stream import ciphertext_size
from datamarket.jobs.spec import job_hash
from datamarket.jobs.store import JobStore
from datamarket.metadata import document
from provider.app import create_app
from provider.nonces import SQLiteNonceStore, Window
from tests.fakes import CHAIN_ID, MARKET, FakeChain, FakeStore, record
from tests.provider_api import internal_errors, validating
from tests.unit.provider.scenario import DATA_CID, DATATOKEN, NOW, settings_for

PLAINTEXT_SIZE = 5_000_000
DECLARED = ciphertext_size(PLAINTEXT_SIZE, 65536)
ALGORITHM = {"bundle": DATA_CID, "sha256": "cd" * 32}
JOB = {"algorithm": ALGORITHM, "params": {}, "epsilon": None, "environment": "cpu"}


class World:
    def __init__(self, tmp_path: Path, max_dataset_bytes: int) -> None:
        self.chain, self.store = FakeChain(), FakeStore()
        self.keys = KeyStore(tmp_path / "keys")
        self.keys.ensure_key()
        self.nonces = SQLiteNonceStore(tmp_path / "nonces.db", namespace="unit")
        self.jobs = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
        self.provider, self.consumer = dev_account(2), dev_account(3)
        settings = settings_for(
            tmp_path, services=("download", "compute"), max_dataset_bytes=max_dataset_bytes
        )
        self.app = validating(
            create_app(
                settings, chain=self.chain, store=self.store, nonces=self.nonces, keys=self.keys,
                jobs=self.jobs, clock=lambda: NOW,
            )
        )  # fmt: skip
        self.publish()

    def publish(self) -> None:
        context = content_context(CHAIN_ID, MARKET, DATATOKEN, offer=COMPUTE_OFFERS[0])
        wrapped = wrap_key(secrets.token_bytes(32), self.keys.public_keys()[0].public_key, context=context)
        doc = document.build_document(
            name="large",
            description="a dataset that declares five megabytes",
            tags=["test"],
            license="CC0-1.0",
            publisher=dev_account(1).address,
            files=[
                document.file_entry(
                    cid=DATA_CID, plaintext_size=PLAINTEXT_SIZE, plaintext_sha256="aa" * 32,
                    content_type="text/csv", wrapped_key=wrapped, chunk_size=65536,
                )
            ],
            profile=None,
            services=[
                document.compute_service(
                    id=SERVICE_COMPUTE, provider_url="http://p", provider_address=self.provider.address,
                    timeout=3600, epsilon_budget=10, delta=1e-5, max_epsilon_per_job=1,
                    trusted_algorithms=[ALGORITHM["sha256"]],
                )
            ],
            created="2026-11-28T12:00:00Z",
        )  # fmt: skip
        metadata = document.canonical_bytes(doc)
        cid = self.store.add(io.BytesIO(metadata))
        publisher = dev_account(1).address
        self.chain.datasets[DATATOKEN] = record(
            publisher=publisher, provider=self.provider.address, metadata=metadata, services=0b10
        )
        self.chain.pointers[DATATOKEN] = MetadataPointer(
            cid, self.chain.datasets[DATATOKEN].metadata_hash, 1, publisher=publisher
        )

    def post(self) -> tuple[int, dict]:
        tx = "0x" + secrets.token_hex(32)
        self.chain.add_order(
            tx, datatoken=DATATOKEN, consumer=self.consumer.address, provider=self.provider.address,
            service_id=SERVICE_COMPUTE,
        )  # fmt: skip
        self.chain.mine()
        req = ComputeRequest(
            datatoken=DATATOKEN,
            consumer=self.consumer.address,
            service_id=SERVICE_COMPUTE,
            order_tx=tx,
            order_id=self.chain.txs[tx].orders[0].order_id,
            consumer_key="0x" + public_bytes(X25519PrivateKey.generate()).hex(),
            job_hash=job_hash(JOB),
            nonce=int(NOW * 1000),
        )
        signature = sign_compute_request(req, self.consumer.key, CHAIN_ID, MARKET)
        body = {"request": req.to_json(), "signature": "0x" + signature.hex(), "job": JOB}
        response = self.app.test_client().post("/api/v1/compute", json=body)
        return response.status_code, response.json

    def close(self) -> None:
        assert internal_errors(self.app) == 0
        self.jobs.close()
        self.nonces.close()


@pytest.fixture
def small(tmp_path: Path):
    world = World(tmp_path, max_dataset_bytes=DECLARED - 1)
    yield world
    world.close()


def test_a_dataset_over_the_cap_is_refused_with_nothing_recorded(small: World) -> None:
    status, body = small.post()
    assert status == 422, body
    error = body["error"]
    assert error["code"] == "dataset_too_large"
    assert error["details"] == {"size": DECLARED, "max_dataset_bytes": DECLARED - 1}
    window = Window.around(int(NOW * 1000), 60_000)
    assert small.nonces.last(small.consumer.address, window) == 0  # the nonce is still unused
    assert small.jobs.pending_count() == 0


def test_a_dataset_at_the_cap_goes_on_to_the_next_checks(tmp_path: Path) -> None:
    world = World(tmp_path, max_dataset_bytes=DECLARED)
    try:
        status, body = world.post()
        # No worker serves the queue in a unit test: the next refusal after the size.
        assert (status, body["error"]["code"]) == (503, "no_worker")
    finally:
        world.close()
