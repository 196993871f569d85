"""Every connection to the market's PostgreSQL databases (the provider's jobs and nonces, the
backend's catalog) killed (``pg_terminate_backend``) while a job is being claimed and others are
submitted, the server itself left running: each process opens new connections. A request that
met a dead connection is refused with a clear 503 (``nonce_store_unavailable``) and the same order
starts its job when sent again; a nonce accepted before is still refused; every job runs once, with
one receipt; the indexer goes on and the catalog equals the chain."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from datamarket.chain.quotes import SERVICE_DOWNLOAD
from datamarket.sdk import download, jobs, orders
from datamarket.sdk.job_files import JobHandle
from datamarket.sdk.provider_client import ProviderRefused
from tests.integration.faults.market import FaultMarket
from tests.integration.faults.services import advisory_locks, connections, terminate_connections, until

pytestmark = pytest.mark.integration

RUNNING_BUYER, CLAIMED_BUYER, SUBMITTING_BUYERS, KEY_BUYER = 9, 4, (5, 6, 7), 8
#: What a request that met a dead connection may be answered: the service says which store failed.
RETRYABLE = {"nonce_store_unavailable"}


def _submit(m: FaultMarket, buyer: int, jobs_dir: Path, refusals: list[tuple[int, str]]) -> JobHandle:
    """A job, sent again (with the order, once paid for) while the provider answers a retryable 503."""
    order: dict = {}
    for _ in range(3):
        try:
            return m.start_job(buyer, jobs_dir, seconds=0.5, **order)
        except ProviderRefused as exc:
            refusals.append((exc.status, exc.code))
            if exc.code not in RETRYABLE:
                raise
            if "order_tx" in exc.details:  # refused after the order was paid for (else: at the fee quote)
                order = {"order_tx": exc.details["order_tx"], "order_id": exc.details["order_id"]}
    raise AssertionError(f"refused three times: {refusals}")


def test_connections_killed_mid_claim_and_submission_lose_no_job_nonce_or_event(
    fault_market: FaultMarket, tmp_path: Path
) -> None:
    m = fault_market
    urls = list(m.databases.values())
    buyer = m.consumer(KEY_BUYER)
    order_tx, order_id = orders.order_of(
        orders.order(buyer, m.provider, m.download_datatoken, SERVICE_DOWNLOAD)
    )
    ask = download.sign_access(buyer, m.download_datatoken, order_tx, order_id)
    m.provider.access(ask.request.to_json(), ask.signature)

    running = m.start_job(RUNNING_BUYER, tmp_path / "running", seconds=3)
    until(lambda: jobs.status(running, provider=m.provider)["state"] == "running", "the first job running")
    claimed = m.start_job(CLAIMED_BUYER, tmp_path / "claimed", seconds=1)
    # Every 0.2 s for 4 s: while one job runs, the next is being claimed, the indexer indexes them.
    killed = 0
    for _ in range(20):
        killed += terminate_connections(urls)
        time.sleep(0.2)
    assert killed > 0
    refusals: list[tuple[int, str]] = []
    submitted = [_submit(m, b, tmp_path / f"job-{b}", refusals) for b in SUBMITTING_BUYERS[:1]]
    terminate_connections(urls)
    submitted += [_submit(m, b, tmp_path / f"job-{b}", refusals) for b in SUBMITTING_BUYERS[1:]]
    assert all(status == 503 for status, _ in refusals), refusals

    with pytest.raises(ProviderRefused) as replay:
        m.provider.access(ask.request.to_json(), ask.signature)
    assert (replay.value.status, replay.value.code) == (409, "nonce_used")
    handles = [running, claimed, *submitted]
    finals = m.assert_jobs_final_once(handles)
    # A job whose writes met a dead connection ran again (one more attempt); one whose attempts all
    # met one failed with a clear code. Never an internal error.
    outcomes = [(f["state"], (f["error"] or {}).get("code")) for f in finals]
    assert set(outcomes) <= {("succeeded", None), ("failed", "provider_unavailable")}, finals
    assert outcomes.count(("succeeded", None)) >= 3, finals
    for handle, final in zip(handles, finals, strict=True):
        if final["state"] == "succeeded":
            assert jobs.logs(handle, provider=m.provider)["logs"].count("done") == 1
    m.assert_catalog_is_chain()
    until(lambda: connections(urls) > 0, "the services connected again")
    # The indexer holds the catalog's writer lock again: a second indexer would still wait.
    until(lambda: advisory_locks(m.databases["catalog"]) == 1, "the indexer's writer lock", timeout=10)
