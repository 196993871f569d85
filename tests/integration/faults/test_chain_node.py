"""The chain node (anvil under its keeper, ``datamarket.chain_keeper``) killed with SIGKILL, then
started again by ``datamarket up`` from its state file. The keeper writes the state after every new
block; what was mined after its last write is gone, as in a short reorganisation. The keeper is
stopped (SIGSTOP) before the blocks that the test wants lost, so that the kill always lands before
their write, as it may by chance at any time.

- Between an order and the access request: an order whose block was written is still on chain and
  releases the key; one whose block was lost is ``order_not_found`` (404), and its payment is gone
  with it (the buyer's balance is as before); ordering again works.
- Right after a compute receipt was posted: the receipt's block is lost; the worker notices that
  the chain no longer has the transaction and posts the receipt again: one receipt on chain.
- The catalog rolls back what the chain lost and equals the chain.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from datamarket.chain.quotes import SERVICE_DOWNLOAD
from datamarket.jobs.store import R_POSTED
from datamarket.sdk import download, jobs, orders
from datamarket.sdk.provider_client import ProviderRefused
from tests.integration.faults.market import FaultMarket
from tests.integration.faults.services import until

pytestmark = pytest.mark.integration

KEPT_BUYER, LOST_BUYER, JOB_BUYER = 7, 8, 9


def _hold_writes(m: FaultMarket, block: int) -> None:
    """Once the state file holds ``block``, stop the keeper: nothing later reaches the file."""
    until(lambda: m.state_block() >= block, f"block {block} in the chain's state file", timeout=30)
    os.kill(m.local.services["chain"].pid, signal.SIGSTOP)


def _kill_chain(m: FaultMarket) -> int:
    """SIGKILL the chain's process group (anvil dies with its keeper); the head it will restart at."""
    m.kill("chain")
    return m.state_block()


def test_an_order_lost_with_the_chain_is_a_clear_404_and_one_kept_releases_the_key(
    fault_market: FaultMarket, tmp_path: Path
) -> None:
    m = fault_market
    token = m.local.contracts["payment_token"]
    kept_buyer, lost_buyer = m.consumer(KEPT_BUYER), m.consumer(LOST_BUYER)
    kept = orders.order(kept_buyer, m.provider, m.download_datatoken, SERVICE_DOWNLOAD)
    _hold_writes(m, kept.block_number)
    funds = lost_buyer.balance_of(token, lost_buyer.account.address)
    lost = orders.order(lost_buyer, m.provider, m.download_datatoken, SERVICE_DOWNLOAD)
    assert lost_buyer.balance_of(token, lost_buyer.account.address) < funds
    head = _kill_chain(m)
    assert kept.block_number <= head < lost.block_number
    m.restart()
    assert m.market.w3.eth.block_number == head

    # The order kept on chain releases the key.
    kept_tx, kept_id = orders.order_of(kept)
    assert len(download.request_key(kept_buyer, m.provider, m.download_datatoken, kept_tx, kept_id)) == 32
    # The lost one: a clear refusal, and the payment went with it.
    lost_tx, lost_id = orders.order_of(lost)
    with pytest.raises(ProviderRefused) as refused:
        download.request_key(lost_buyer, m.provider, m.download_datatoken, lost_tx, lost_id)
    assert (refused.value.status, refused.value.code) == (404, "order_not_found")
    assert lost_buyer.balance_of(token, lost_buyer.account.address) == funds
    # Ordering again works, and the catalog follows the chain through the lost blocks.
    again = download.download(lost_buyer, m.store, m.provider, m.download_datatoken, tmp_path / "data.csv")
    assert (tmp_path / "data.csv").read_bytes() == m.csv.read_bytes() and again.order_tx != lost_tx
    m.assert_catalog_is_chain()


def test_a_receipt_lost_with_the_chain_is_posted_again_once(
    fault_market: FaultMarket, tmp_path: Path
) -> None:
    m = fault_market
    handle = m.start_job(JOB_BUYER, tmp_path / "jobs", seconds=1)
    order_block = m.market.w3.eth.get_transaction_receipt(handle.order_tx)["blockNumber"]
    _hold_writes(m, order_block)
    store = m.job_store()
    try:
        until(lambda: store.get(handle.job_id).receipt_status == R_POSTED, "the receipt posted", timeout=60)
        first = store.get(handle.job_id)
        head = _kill_chain(m)
        assert first.receipt_block > head  # the receipt's block is lost
        m.restart()
        with pytest.raises(Exception, match="not found"):
            m.market.w3.eth.get_transaction_receipt(first.receipt_tx)
    finally:
        store.close()
    [final] = m.assert_jobs_final_once([handle])
    assert final["state"] == "succeeded"
    receipt = jobs.status(handle, provider=m.provider)["receipt"]
    assert m.market.w3.eth.get_transaction_receipt(receipt["tx"])["blockNumber"] == receipt["block"]
    m.assert_catalog_is_chain()
