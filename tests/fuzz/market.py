"""The market the fuzz tests run against: ``datamarket up`` in a temporary home (anvil, the provider
and the backend under gunicorn, a compute worker, the indexer) with data for every endpoint to find:
a free download dataset with two orders, a compute dataset with a finished job, and the catalog
indexed up to them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.demo import write_breast_cancer_csv
from datamarket.sdk import jobs
from datamarket.sdk.jobs import pack_bundle
from datamarket.sdk.provider_client import ProviderClient
from datamarket.storage import open_store
from tests import load
from tests.integration.compute.market import CONSUMER, JOBS, PUBLISHER, publish_compute_dataset, wait_for

#: The bearer token of the provider's ``GET /metrics`` (a test value, 16 characters or more).
METRICS_TOKEN = "fuzz-metrics-token-0123456789"


@dataclass(frozen=True)
class FuzzMarket:
    local: stack.Stack
    provider: str
    backend: str
    #: The free download dataset and the compute dataset.
    datatokens: tuple[str, str]
    #: The finished job and its bearer token.
    job_id: str
    job_token: str
    #: The publisher, the provider and the compute job's consumer; the payment token.
    accounts: tuple[str, str, str]
    payment_token: str


def seed(local: stack.Stack, work: Path) -> FuzzMarket:
    """Publish the datasets, order them, run one compute job to its end; wait for the indexer."""
    chain = local.services["chain"]
    market = Market(DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3(), local.contracts["market"])
    provider = ProviderClient(local.services["provider"].url)
    buyers, _ = load.prepare(local, 2, work, seed="fuzz")
    csv = work / "breast_cancer.csv"
    write_breast_cancer_csv(csv)
    slow = JOBS / "slow.py"
    published = publish_compute_dataset(
        local, market, open_store(local.store), provider, csv, (pack_bundle(slow)[1],)
    )
    handle = jobs.start_job(
        market.as_account(dev_account(CONSUMER)), provider,
        open_store(local.store), published.datatoken, algorithm=slow, params={"seconds": 0.2},
        epsilon=None, jobs_dir=work / "jobs",
    )  # fmt: skip
    final = jobs.wait(handle, poll_s=0.2, timeout=120)
    if final["state"] != "succeeded":
        raise RuntimeError(f"the fuzz market's compute job ended {final['state']}")
    fuzz = FuzzMarket(
        local=local, provider=provider.base_url, backend=local.services["backend"].url,
        datatokens=(buyers[0].datatoken, published.datatoken), job_id=handle.job_id, job_token=handle.token,
        accounts=tuple(dev_account(i).address for i in (PUBLISHER, stack.PROVIDER_ACCOUNT, CONSUMER)),
        payment_token=local.contracts["payment_token"],
    )  # fmt: skip
    wait_for(lambda: _indexed(fuzz), timeout=60, what="the catalog listing both datasets and the receipt")
    return fuzz


def _indexed(fuzz: FuzzMarket) -> bool:
    """Whether the catalog lists both datasets, the job's receipt included."""
    answer = requests.get(f"{fuzz.backend}/api/v1/datasets", timeout=10)
    items = {d["datatoken"].lower(): d for d in answer.json()["items"]} if answer.ok else {}
    download, compute = (items.get(d.lower()) for d in fuzz.datatokens)
    return download is not None and compute is not None and compute["receipt_count"] >= 1
