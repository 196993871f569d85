"""Kill -9 faults of every service of the market, in the middle of its flow, then a restart: the flow
completes (a client may send again what was refused with a clear code) or fails with a clear code,
and nothing is lost or done twice (orders, nonces, jobs, receipts, the catalog's rows). One module per
service: the chain node, the provider, the broker, the IPFS node and the database connections. The
worker and the indexer are killed elsewhere: ``test_a_worker_killed_mid_job_does_not_lose_the_job``
in tests/integration/compute/test_compute_jobs.py, and tests/integration/backend/test_indexer_crashes.py
(SIGKILL mid-batch, a second indexer taking over, sessions ended). docs/operations.md, "Faults".

The market is the suite's own, started by ``datamarket up`` (``stack.up``): anvil under its keeper
with its state on disk, the provider under gunicorn, a compute worker, the indexer and the backend,
with the provider's jobs and nonces and the backend's catalog in PostgreSQL databases of their own,
a Redis broker of the suite's own (append-only file on, in a temporary folder, on a free loopback
port: the machine's shared Redis is never touched) and an IPFS node of its own (js-ipfs) as the
content store. The limits are the compute suite's (short leases). Published once: a compute dataset
that trusts the slow test algorithm, and a download dataset. Redis, PostgreSQL, bubblewrap and the
IPFS node are required in CI (CI=true), skipped without them elsewhere."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.demo import write_breast_cancer_csv
from datamarket.sdk.jobs import pack_bundle
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.storage.kubo import KuboStore
from tests.integration.compute.market import (
    JOBS,
    LIMITS,
    PUBLISHER,
    publish_compute_dataset,
    require_bubblewrap,
)
from tests.integration.faults.market import FaultMarket
from tests.integration.faults.services import IpfsNode, RedisServer
from tests.postgres import create_database, drop_database

ONE = 10**18


def _require(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="package")
def fault_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultMarket]:
    require_bubblewrap()
    _require("redis-server", shutil.which("redis-server") is not None)
    _require("the IPFS node (scripts/ipfs/install.sh)", IpfsNode.installed())
    root = tmp_path_factory.mktemp("faults")
    databases = {name: create_database(f"dm_faults_{name}") for name in ("jobs", "nonces", "catalog")}
    broker = RedisServer(root / "redis")
    ipfs = IpfsNode(root / "ipfs")
    home = root / "market"
    try:
        broker.start()
        ipfs.start()
        with pytest.MonkeyPatch.context() as mp:
            for name, value in {
                **LIMITS,
                "DATAMARKET_HOME": str(home),
                "DATAMARKET_BROKER_URL": broker.url,
                "DATAMARKET_IPFS_API": ipfs.api_url,
                "DATAMARKET_PROVIDER_JOBS_URL": databases["jobs"],
                "DATAMARKET_PROVIDER_NONCES_URL": databases["nonces"],
                "DATAMARKET_BACKEND_DATABASE_URL": databases["catalog"],
            }.items():
                mp.setenv(name, value)
            try:  # stopped even when it fails to start: what did start is not left running
                yield _published(stack.up(home), home, broker, ipfs, databases)
            finally:
                stack.down(home)
    finally:
        broker.kill()
        ipfs.stop()
        for url in databases.values():
            drop_database(url)


def _published(
    local: stack.Stack, home: Path, broker: RedisServer, ipfs: IpfsNode, databases: dict[str, str]
) -> FaultMarket:
    chain = local.services["chain"]
    market = Market(DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3(), local.contracts["market"])
    store = KuboStore(ipfs.api_url, timeout=30)
    provider = ProviderClient(local.services["provider"].url)
    csv = home / "breast_cancer.csv"
    write_breast_cancer_csv(csv)
    slow = pack_bundle(JOBS / "slow.py")[1]
    compute = publish_compute_dataset(local, market, store, provider, csv, (slow,), budget=1000, per_job=5)
    download = publish_file(
        PublishRequest(
            path=csv, name="Breast cancer (download)", price=1 * ONE,
            payment_token=local.contracts["payment_token"],
        ),
        market=market.as_account(dev_account(PUBLISHER)), store=store, provider_info=provider.info(),
        provider_url=provider.base_url,
    )  # fmt: skip
    return FaultMarket(
        local=local, home=home, market=market, store=store, provider=provider, broker=broker, ipfs=ipfs,
        databases=databases, compute_datatoken=compute.datatoken, download_datatoken=download.datatoken,
        csv=csv,
    )  # fmt: skip
