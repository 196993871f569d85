"""A whole local market for the compute tests: ``datamarket up`` in a temporary home (anvil,
contracts, embedded store, provider under gunicorn, a compute worker with bubblewrap), with the
broker on Redis (127.0.0.1:6379, database 13; required in CI) and test-sized job limits. One
compute dataset (breast_cancer as CSV) trusts the test algorithms' bundle hashes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datamarket.demo import write_breast_cancer_csv
from datamarket.sdk.jobs import pack_bundle
from tests.integration.compute.market import JOBS, ComputeMarket, publish_compute_dataset, running_market


@pytest.fixture(scope="package")
def compute_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputeMarket]:
    home = tmp_path_factory.mktemp("market")
    with running_market(home) as running:
        local, market, store, provider = running.local, running.market, running.store, running.provider
        csv = home / "breast_cancer.csv"
        write_breast_cancer_csv(csv)
        trusted = {p.name: pack_bundle(p)[1] for p in sorted(JOBS.glob("*.py"))}
        published = publish_compute_dataset(local, market, store, provider, csv, tuple(trusted.values()))
        yield ComputeMarket(
            local=local, home=home, market=market, store=store, provider=provider,
            datatoken=published.datatoken, dataset=published.dataset, trusted=trusted, csv=csv,
        )  # fmt: skip
