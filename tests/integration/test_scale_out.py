"""The market scaled out on the machine's engines: ``datamarket up`` with the provider's jobs and
nonces and the backend's catalog in PostgreSQL, Redis as the broker and the test IPFS node as the
content store, and a second worker process beside the first. Twenty jobs submitted at once all
finish, each run exactly once (one attempt, one run of the algorithm, one receipt), spread over both
workers. The second worker serves the ``gpu`` queue too: on a machine with a GPU it takes the GPU jobs,
which no cpu-only worker may; here both take the cpu jobs. (docs/operations.md)"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from eth_account import Account
from eth_utils import keccak

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.events import ComputeReceiptPosted
from datamarket.chain.market import Market, mint_test_token
from datamarket.chain.quotes import SERVICE_COMPUTE
from datamarket.jobs.store import JobStore, workers
from datamarket.sdk import jobs, orders
from datamarket.sdk.provider_client import ProviderClient
from datamarket.storage import open_store
from tests.integration.compute.market import JOBS, LIMITS, publish_compute_dataset, require_bubblewrap
from tests.integration.storage.conftest import ipfs_node  # noqa: F401  the session's IPFS node
from tests.postgres import create_database, drop_database
from tests.redis_service import require_redis

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("DATAMARKET_TEST_SCALE_BROKER_URL", "redis://127.0.0.1:6379/12")
JOB_COUNT = 20


@dataclass
class ScaledMarket:
    local: stack.Stack
    jobs_url: str
    provider: ProviderClient
    market: Market
    datatoken: str
    store: object


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory, ipfs_node) -> Iterator[ScaledMarket]:  # noqa: F811
    require_bubblewrap()
    broker = require_redis(REDIS_URL, flush=True)
    databases = [create_database(f"dm_scale_{name}") for name in ("jobs", "nonces", "catalog")]
    home = tmp_path_factory.mktemp("scaled") / "market"
    second = None
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            **LIMITS,
            "DATAMARKET_HOME": str(home),
            "DATAMARKET_BROKER_URL": broker,
            "DATAMARKET_IPFS_API": ipfs_node.api_url,
            "DATAMARKET_PROVIDER_JOBS_URL": databases[0],
            "DATAMARKET_PROVIDER_NONCES_URL": databases[1],
            "DATAMARKET_BACKEND_DATABASE_URL": databases[2],
        }.items():
            mp.setenv(name, value)
        try:
            local = stack.up(home)
            log = (home / "logs" / "worker-2.log").open("wb")
            second = subprocess.Popen(
                [sys.executable, "-m", "compute_to_data", "--queues", "gpu,cpu", "--concurrency", "1"],
                env={**os.environ, **stack.provider_env(local)}, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            store = JobStore(databases[0])
            _until(lambda: _live_workers(store) >= 2, "two workers heartbeating", 60)
            chain = local.services["chain"]
            market = Market(DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3(), local.contracts["market"])
            provider = ProviderClient(local.services["provider"].url)
            content = open_store(local.store)
            slow = jobs.pack_bundle(JOBS / "slow.py")[1]
            published = publish_compute_dataset(local, market, content, provider, _csv(home), (slow,))
            yield ScaledMarket(local, databases[0], provider, market, published.datatoken, content)
        finally:
            if second is not None:
                second.terminate()
                second.wait(timeout=60)
            stack.down(home)
            for url in databases:
                drop_database(url)


def _csv(home: Path) -> Path:
    from datamarket.demo import write_breast_cancer_csv

    path = home / "breast_cancer.csv"
    write_breast_cancer_csv(path)
    return path


def _live_workers(store: JobStore) -> int:
    with store.engine.connect() as conn:
        cutoff = time.time() - 30
        return conn.execute(sa.select(sa.func.count()).where(workers.c.seen_at >= cutoff)).scalar_one()


def _until(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_twenty_jobs_at_once_run_exactly_once_over_both_workers(scaled: ScaledMarket, tmp_path: Path) -> None:
    w3 = scaled.market.w3
    usd = scaled.local.contracts["payment_token"]
    buyers = []
    for i in range(JOB_COUNT):
        # Throwaway keys of this test on the local chain, funded with local test money only.
        account = Account.from_key(keccak(text=f"scale-out-{i}"))
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])
        mint_test_token(w3, dev_account(0), usd, account.address, 10 * 10**18)
        buyer = scaled.market.as_account(account)
        order = orders.order(buyer, scaled.provider, scaled.datatoken, SERVICE_COMPUTE)
        buyers.append((buyer, order.tx_hash))

    handles: list = [None] * JOB_COUNT
    errors: list = []
    start = threading.Barrier(JOB_COUNT)

    def submit(i: int) -> None:
        buyer, order_tx = buyers[i]
        start.wait()
        try:
            handles[i] = jobs.start_job(
                buyer, scaled.provider, scaled.store, scaled.datatoken, algorithm=JOBS / "slow.py",
                params={"seconds": 1}, epsilon=None, order_tx=order_tx, jobs_dir=tmp_path / f"jobs-{i}",
            )  # fmt: skip
        except Exception as exc:  # every refusal is reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(JOB_COUNT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    finals = [jobs.wait(h, timeout=300, provider=scaled.provider) for h in handles]
    assert [f["state"] for f in finals] == ["succeeded"] * JOB_COUNT

    store = JobStore(scaled.jobs_url)
    ran = [store.get(h.job_id) for h in handles]
    assert len({job.id for job in ran}) == JOB_COUNT
    assert [job.attempts for job in ran] == [1] * JOB_COUNT
    assert all((job.logs or "").count("done") == 1 for job in ran)
    by_worker = {job.lease_owner.split("/", 1)[0] for job in ran}
    assert len(by_worker) == 2, by_worker
    posted = lambda: all(store.get(h.job_id).receipt_status == "posted" for h in handles)  # noqa: E731
    _until(posted, "every receipt posted", 120)
    # One receipt on chain per job, and none twice.
    receipts = [e.job_id for e in scaled.market.events(0) if isinstance(e, ComputeReceiptPosted)]
    assert sorted(receipts) == sorted("0x" + h.job_id.rjust(64, "0") for h in handles)
