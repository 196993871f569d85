"""A local market with a compute worker for the integration and security tests: its limits, the
published compute dataset and algorithms, helpers to start jobs and wait (the fixture: conftest.py)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.demo import breast_cancer_bounds
from datamarket.sdk import jobs
from datamarket.sdk.job_files import JobHandle
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.storage import open_store
from datamarket.storage.base import ContentStore
from tests import redis_service

JOBS = Path(__file__).parent / "jobs"
REDIS_URL = os.environ.get("DATAMARKET_TEST_BROKER_URL", "redis://127.0.0.1:6379/13")
PUBLISHER, CONSUMER = 2, 4
ONE = 10**18
#: Job limits of the test worker (the hostile suite's run-forever job ends at the wall time).
LIMITS = {
    "DATAMARKET_WORKER_JOB_WALL_TIME_S": "25",
    # Sample and aggregate jobs last k slots: short ones keep the security suite quick.
    "DATAMARKET_WORKER_JOB_AGGREGATE_SLOT_S": "3",
    "DATAMARKET_WORKER_JOB_MEMORY_MB": "2048",
    "DATAMARKET_WORKER_JOB_OUTPUT_MB": "8",
    "DATAMARKET_WORKER_JOB_PROCESSES": "64",
    "DATAMARKET_PROVIDER_JOB_LEASE_S": "1",
    "DATAMARKET_WORKER_RECEIPT_BATCH_DELAY_S": "0.5",
}


def require_redis() -> str:
    return redis_service.require_redis(REDIS_URL, flush=True)


def require_bubblewrap() -> None:
    if shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bubblewrap is required in CI (make install installs it)")
        pytest.skip("bubblewrap is not installed")


@dataclass(frozen=True)
class RunningMarket:
    local: stack.Stack
    market: Market
    store: ContentStore
    provider: ProviderClient


@contextmanager
def running_market(home: Path) -> Iterator[RunningMarket]:
    """``datamarket up`` in ``home`` with the test broker (Redis, flushed) and the test job limits,
    and ``datamarket down`` when the block ends."""
    require_bubblewrap()
    broker = require_redis()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAMARKET_BROKER_URL", broker)
        mp.setenv("DATAMARKET_HOME", str(home))
        for name, value in LIMITS.items():
            mp.setenv(name, value)
        local = stack.up(home)
        try:
            chain = local.services["chain"]
            w3 = DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3()
            yield RunningMarket(
                local=local, market=Market(w3, local.contracts["market"]), store=open_store(local.store),
                provider=ProviderClient(local.services["provider"].url),
            )  # fmt: skip
        finally:
            stack.down(home)


@dataclass
class ComputeMarket:
    local: stack.Stack
    home: Path
    market: Market
    store: ContentStore
    provider: ProviderClient
    datatoken: str
    dataset: str
    trusted: dict[str, str]  # bundle file name -> sha256
    csv: Path

    def publish(self, *, budget: float, per_job: float, require_dp: bool = False) -> str:
        """Another compute dataset (trusting the same algorithms); its datatoken."""
        published = publish_compute_dataset(
            self.local, self.market, self.store, self.provider, self.csv, tuple(self.trusted.values()),
            budget=budget, per_job=per_job, require_dp=require_dp,
        )  # fmt: skip
        return published.datatoken

    @property
    def consumer(self) -> Market:
        return self.market.as_account(dev_account(CONSUMER))


def publish_compute_dataset(
    local: stack.Stack, market: Market, store: ContentStore, provider: ProviderClient, csv: Path,
    trusted: tuple[str, ...], *, budget: float = 50.0, per_job: float = 5.0, require_dp: bool = False,
) -> Any:  # fmt: skip
    """Publish ``csv`` for compute only (1 lUSD an order) with this privacy budget."""
    return publish_file(
        PublishRequest(
            path=csv, name="Breast cancer (compute only)", price=1 * ONE,
            payment_token=local.contracts["payment_token"], download=False, compute=True,
            epsilon_budget=budget, max_epsilon_per_job=per_job, trusted_algorithms=trusted,
            require_dp=require_dp, targets=("target",),
            bounds={c: (lo, hi) for c, (lo, hi) in breast_cancer_bounds().items()},
        ),
        market=market.as_account(dev_account(PUBLISHER)), store=store, provider_info=provider.info(),
        provider_url=provider.base_url,
    )  # fmt: skip


def start(m: ComputeMarket, tmp_path: Path, algorithm, params=None, epsilon=None, **kw) -> JobHandle:
    return jobs.start_job(
        m.consumer, m.provider, m.store, m.datatoken, algorithm=algorithm, params=params or {},
        epsilon=epsilon, jobs_dir=tmp_path / "jobs", **kw,
    )  # fmt: skip


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s")
