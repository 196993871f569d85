"""A whole local market for the compute tests: ``datamarket up`` in a temporary home (anvil,
contracts, embedded store, provider under gunicorn, a compute worker with bubblewrap), with the
broker on Redis (127.0.0.1:6379, database 13; required in CI) and test-sized job limits. One
compute dataset (breast_cancer as CSV) trusts the test algorithms' bundle hashes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datamarket import stack
from datamarket.chain.devchain import DevChain
from datamarket.chain.market import Market
from datamarket.demo import write_breast_cancer_csv
from datamarket.sdk.jobs import pack_bundle
from datamarket.sdk.provider_client import ProviderClient
from datamarket.storage import open_store
from tests.integration.compute.market import (
    JOBS,
    LIMITS,
    ComputeMarket,
    publish_compute_dataset,
    require_bubblewrap,
    require_redis,
)


@pytest.fixture(scope="package")
def compute_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeMarket]:
    require_bubblewrap()
    broker = require_redis()
    home = tmp_path_factory.mktemp("market")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAMARKET_BROKER_URL", broker)
        mp.setenv("DATAMARKET_HOME", str(home))
        for name, value in LIMITS.items():
            mp.setenv(name, value)
        local = stack.up(home)
        try:
            chain = local.services["chain"]
            w3 = DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3()
            market = Market(w3, local.contracts["market"])
            store = open_store(local.store)
            provider = ProviderClient(local.services["provider"].url)
            csv = home / "breast_cancer.csv"
            write_breast_cancer_csv(csv)
            trusted = {p.name: pack_bundle(p)[1] for p in sorted(JOBS.glob("*.py"))}
            published = publish_compute_dataset(local, market, store, provider, csv, tuple(trusted.values()))
            yield ComputeMarket(
                local=local, home=home, market=market, store=store, provider=provider,
                datatoken=published.datatoken, dataset=published.dataset, trusted=trusted, csv=csv,
            )  # fmt: skip
        finally:
            stack.down(home)
