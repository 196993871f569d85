"""``POST /compute`` against a full queue: one consumer flooding a dataset is held to its own share
(429 ``consumer_queue_full``), a busy dataset to its share (503 ``dataset_queue_full``), the provider
to its total (503 ``queue_full``), each with Retry-After; a refused request leaves its nonce and its
order unused; and another consumer's job on another dataset is accepted and runs second, not after
the flood. The provider runs on the unit fakes, with a real SQLite job database and a broker that
keeps what it is sent."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account.signers.local import LocalAccount

from datamarket.auth import ComputeRequest, sign_compute_request
from datamarket.chain.devchain import dev_account
from datamarket.crypto.keys import KeyStore, public_bytes
from datamarket.jobs.spec import job_hash
from datamarket.jobs.store import JobStore
from provider.app import create_app
from provider.context import EXTENSION
from provider.jobs import QUEUE_RETRY_AFTER_S
from provider.nonces import SQLiteNonceStore
from tests.fakes import CHAIN_ID, MARKET, FakeChain, FakeStore
from tests.provider_api import internal_errors, validating
from tests.unit.provider.scenario import DATATOKEN, NOW, OTHER_DATATOKEN, Scenario, settings_for

JOB = {"algorithm": "dp_stats", "params": {}, "epsilon": 0.01, "environment": "cpu"}


class KeptTasks:
    """The broker's sending side: keeps each task it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], str]] = []

    def send_task(self, name: str, args: list[Any], queue: str) -> None:
        self.sent.append((name, args, queue))


@dataclass
class Market:
    s: Scenario
    jobs: JobStore
    broker: KeptTasks
    nonce: int = int(NOW * 1000)

    def body(self, consumer: LocalAccount, datatoken: str) -> dict[str, Any]:
        """A signed job request of ``consumer`` on a fresh compute order of ``datatoken``."""
        tx = self.s.order(consumer=consumer.address, datatoken=datatoken, service_id=1)
        self.nonce += 1
        req = ComputeRequest(
            datatoken=datatoken, consumer=consumer.address, service_id=1, order_tx=tx,
            order_id=self.s.order_id(tx), consumer_key="0x" + public_bytes(X25519PrivateKey.generate()).hex(),
            job_hash=job_hash(JOB), nonce=self.nonce,
        )  # fmt: skip
        signature = sign_compute_request(req, consumer.key, CHAIN_ID, MARKET)
        return {"request": req.to_json(), "signature": "0x" + signature.hex(), "job": JOB}

    def post(self, body: dict[str, Any]) -> Any:
        return self.s.client.post("/api/v1/compute", json=body)


def market(tmp_path: Path, **caps: int) -> Iterator[Market]:
    chain, store = FakeChain(), FakeStore()
    keys = KeyStore(tmp_path / "keys")
    keys.ensure_key()
    nonces = SQLiteNonceStore(tmp_path / "nonces.db", namespace="unit")
    now = [NOW]
    jobs = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=lambda: now[0])
    settings = settings_for(tmp_path, services=("download", "compute"), **caps)
    app = validating(
        create_app(
            settings, chain=chain, store=store, nonces=nonces, keys=keys, jobs=jobs, clock=lambda: now[0]
        )
    )
    broker = KeptTasks()
    app.extensions[EXTENSION].compute._celery = broker
    s = Scenario(
        app=app, client=app.test_client(), chain=chain, store=store, keys=keys, nonces=nonces,
        provider=dev_account(2), consumer=dev_account(3), content_key=secrets.token_bytes(32), now=now,
    )  # fmt: skip
    for datatoken in (DATATOKEN, OTHER_DATATOKEN):
        s.publish(datatoken)
        chain.datasets[datatoken] = replace(chain.datasets[datatoken], epsilon_budget=10_000_000)
    jobs.heartbeat("worker", "cpu", 0)
    yield Market(s=s, jobs=jobs, broker=broker)
    assert internal_errors(app) == 0, "a request reached the catch-all 500 handler"
    app.extensions[EXTENSION].close()


@pytest.fixture
def flood(tmp_path: Path) -> Iterator[Market]:
    yield from market(tmp_path, max_pending_jobs_per_consumer=10)


def test_a_flooding_consumer_is_held_to_its_share_and_another_dataset_runs_second(flood: Market) -> None:
    m = flood
    flooder, other = m.s.consumer, dev_account(5)
    accepted = []
    for _ in range(10):
        answer = m.post(m.body(flooder, DATATOKEN))
        assert answer.status_code == 202, answer.get_json()
        accepted.append(answer.get_json())
    last_nonce = m.s.last_nonce()
    refused_body = m.body(flooder, DATATOKEN)
    refused = m.post(refused_body)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "consumer_queue_full"
    assert refused.get_json()["error"]["details"] == {"pending": 10, "limit": 10}
    assert refused.headers["Retry-After"] == str(QUEUE_RETRY_AFTER_S)
    # Nothing was written: the nonce is unused, no job holds the order, no task was sent.
    assert m.s.last_nonce() == last_nonce
    assert m.jobs.pending_count() == 10 and len(m.broker.sent) == 10

    lone = m.post(m.body(other, OTHER_DATATOKEN))
    assert lone.status_code == 202, lone.get_json()
    lone_id = lone.get_json()["job_id"]

    # The worker takes the tasks in the order they were sent (the flood's first): each is a slot,
    # and the job database gives the second one to the other dataset.
    ran = []
    for _, (named,), queue in m.broker.sent:
        job = m.jobs.claim_next(m.jobs.get(named).environment, "worker", lease_s=60, max_attempts=2)
        assert queue == "cpu" and job is not None
        ran.append(job)
    assert lone_id in [job.id for job in ran[:2]]
    assert sorted(job.id for job in ran) == sorted([a["job_id"] for a in accepted] + [lone_id])

    # Once one of the flood's jobs has ended, the refused request (the same signed bytes) is taken.
    first = next(job for job in ran if job.datatoken == DATATOKEN)
    token = next(a["token"] for a in accepted if a["job_id"] == first.id)
    cancel = m.s.client.delete(f"/api/v1/compute/{first.id}", headers={"Authorization": f"Bearer {token}"})
    assert cancel.get_json()["cancel_requested"] is True
    assert m.post(refused_body).status_code == 429  # still running until its worker ends it
    assert m.jobs.finish(first.id, "cancelled", worker=first.lease_owner)
    again = m.post(refused_body)
    assert again.status_code == 202, again.get_json()
    assert m.s.last_nonce() == refused_body["request"]["nonce"]


@pytest.mark.parametrize(
    ("caps", "code"),
    [
        ({"max_pending_jobs_per_dataset": 2}, "dataset_queue_full"),
        ({"max_pending_jobs": 2}, "queue_full"),
    ],
)
def test_a_full_dataset_or_provider_answers_503_with_retry_after(
    tmp_path: Path, caps: dict[str, int], code: str
) -> None:
    for m in market(tmp_path, **caps):
        for i in range(2):
            assert m.post(m.body(dev_account(5 + i), DATATOKEN)).status_code == 202
        last_nonce = m.s.last_nonce(dev_account(7).address)
        refused = m.post(m.body(dev_account(7), DATATOKEN))
        assert refused.status_code == 503
        assert refused.get_json()["error"]["code"] == code
        assert refused.headers["Retry-After"] == str(QUEUE_RETRY_AFTER_S)
        assert m.s.last_nonce(dev_account(7).address) == last_nonce
        assert m.jobs.pending_count() == 2
        # The dataset's cap leaves room for another dataset; the provider's does not.
        other = m.post(m.body(dev_account(7), OTHER_DATATOKEN))
        assert other.status_code == (202 if code == "dataset_queue_full" else 503)
