"""The market the fuzz tests share: ``datamarket up`` in a temporary home, with a metrics token and
data for every endpoint to find (tests/fuzz/market.py). A compute job runs in bubblewrap, which CI
has; elsewhere the fuzz tests are skipped without it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datamarket import stack
from tests.fuzz.market import METRICS_TOKEN, FuzzMarket, seed
from tests.integration.compute.market import require_bubblewrap


@pytest.fixture(scope="package")
def fuzz_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzMarket]:
    require_bubblewrap()
    home = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAMARKET_HOME", str(home / "market"))
        mp.setenv("DATAMARKET_PROVIDER_METRICS_TOKEN", METRICS_TOKEN)
        try:
            yield seed(stack.up(home / "market"), home)
        finally:
            stack.down(home / "market")
