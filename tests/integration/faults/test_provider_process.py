"""The provider (gunicorn's master and workers) killed with SIGKILL while a compute job runs and right
after it released a content key, then started again by ``datamarket up`` on the same port: the job
runs on to its end in the worker, once, with one receipt; the released key's nonce is still refused;
the download order still releases the key to a new request; the compute order still runs no second
job; the catalog equals the chain. While it is down, a client gets ``provider_unavailable``."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamarket.chain.quotes import SERVICE_DOWNLOAD
from datamarket.sdk import download, jobs, orders
from datamarket.sdk.provider_client import ProviderRefused, ProviderUnavailable
from tests.integration.faults.market import FaultMarket
from tests.integration.faults.services import until

pytestmark = pytest.mark.integration

JOB_BUYER, KEY_BUYER = 5, 6


def test_a_provider_killed_mid_flow_loses_no_job_key_release_or_nonce(
    fault_market: FaultMarket, tmp_path: Path
) -> None:
    m = fault_market
    handle = m.start_job(JOB_BUYER, tmp_path / "jobs", seconds=4)
    until(lambda: jobs.status(handle, provider=m.provider)["state"] == "running", "the job running")
    buyer = m.consumer(KEY_BUYER)
    order_tx, order_id = orders.order_of(
        orders.order(buyer, m.provider, m.download_datatoken, SERVICE_DOWNLOAD)
    )
    ask = download.sign_access(buyer, m.download_datatoken, order_tx, order_id)
    released = m.provider.access(ask.request.to_json(), ask.signature)
    assert len(download.open_answer(ask, released)) == 32

    m.kill("provider")
    with pytest.raises(ProviderUnavailable) as down:
        jobs.status(handle, provider=m.provider)
    assert down.value.code == "provider_unavailable"
    m.restart()

    # The nonce accepted before the kill is still spent.
    with pytest.raises(ProviderRefused) as replay:
        m.provider.access(ask.request.to_json(), ask.signature)
    assert (replay.value.status, replay.value.code) == (409, "nonce_used")
    # The order itself is still good for a new request.
    key = download.request_key(buyer, m.provider, m.download_datatoken, order_tx, order_id)
    assert key == download.open_answer(ask, released)
    # The job ran on in the worker: one attempt, one run, one receipt.
    [final] = m.assert_jobs_final_once([handle])
    assert (final["state"], final["attempts"]) == ("succeeded", 1), final
    assert jobs.logs(handle)["logs"].count("done") == 1
    # Its order ran this job and runs no other.
    with pytest.raises(ProviderRefused) as again:
        m.start_job(
            JOB_BUYER, tmp_path / "again", seconds=0.1, order_tx=handle.order_tx, order_id=handle.order_id
        )
    assert (again.value.status, again.value.code) == (409, "order_already_used")
    m.assert_catalog_is_chain()
