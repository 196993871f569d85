"""The broker (a Redis server of the suite's own, append-only file on) killed with SIGKILL while one
job runs and others wait in its queue, then started again on the same data: the queued tasks are
still there and every job runs once, with one receipt. A job submitted while the broker is down is
refused with ``broker_unavailable`` (503), its order stays usable, and the same order starts the
job once the broker is back."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from datamarket.sdk import jobs
from datamarket.sdk.provider_client import ProviderRefused
from tests.integration.faults.market import FaultMarket
from tests.integration.faults.services import until

pytestmark = pytest.mark.integration

RUNNING_BUYER, QUEUED_BUYERS, REFUSED_BUYER = 4, (5, 6), 7


def _queued_tasks(m: FaultMarket) -> int:
    client = redis.Redis.from_url(m.broker.url, socket_timeout=2)
    try:
        return int(client.llen("cpu"))
    finally:
        client.close()


def test_a_broker_killed_with_jobs_queued_loses_none_and_refuses_clearly_while_down(
    fault_market: FaultMarket, tmp_path: Path
) -> None:
    m = fault_market
    running = m.start_job(RUNNING_BUYER, tmp_path / "running", seconds=3)
    until(lambda: jobs.status(running, provider=m.provider)["state"] == "running", "the first job running")
    queued = [m.start_job(b, tmp_path / f"queued-{b}", seconds=0.5) for b in QUEUED_BUYERS]
    assert _queued_tasks(m) >= 1  # the worker runs one job at a time: the others wait in the broker
    m.broker.kill()
    try:
        with pytest.raises(ProviderRefused) as refused:
            m.start_job(REFUSED_BUYER, tmp_path / "refused", seconds=0.5)
        assert (refused.value.status, refused.value.code) == (503, "broker_unavailable")
        order = refused.value.details
    finally:
        m.broker.start()
    again = m.start_job(
        REFUSED_BUYER, tmp_path / "again", seconds=0.5, order_tx=order["order_tx"], order_id=order["order_id"]
    )
    finals = m.assert_jobs_final_once([running, *queued, again], timeout=150)
    assert [(f["state"], f["attempts"]) for f in finals] == [("succeeded", 1)] * 4, finals
    assert [jobs.logs(h, provider=m.provider)["logs"].count("done") for h in [running, *queued, again]] == [
        1
    ] * 4
    m.assert_catalog_is_chain()
