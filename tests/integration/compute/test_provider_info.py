"""The provider says which compute environments a worker serves now: what ``datamarket up`` waits on
before it reports the local market ready."""

from __future__ import annotations

import pytest
import requests

from tests.integration.compute.market import ComputeMarket

pytestmark = pytest.mark.integration


def test_info_lists_each_offered_environment_and_whether_a_worker_serves_it(
    compute_market: ComputeMarket,
) -> None:
    url = compute_market.local.services["provider"].url
    info = requests.get(f"{url}/api/v1/info", timeout=10).json()
    environments = {e["name"]: e["serving"] for e in info["compute_environments"]}
    assert environments["cpu"] is True
    assert set(environments) <= {"cpu", "gpu"}
