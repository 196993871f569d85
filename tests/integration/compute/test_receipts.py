"""Receipts on chain (the session's anvil): pending receipts go out in one batch transaction with
the charged epsilon, a batch that a dead worker left half-posted is neither lost nor posted twice
(the chain's epsilonSpent would count it twice), and a receipt that the market refuses holds back
none of the others."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from compute_to_data.receipts import REFUSED_RETRY_S, STALE_AFTER_S, ReceiptPoster, receipt_of
from datamarket.chain.events import ComputeReceiptPosted
from datamarket.jobs import store as J
from datamarket.jobs.store import JobStore, NewJob
from provider.settings import ProviderSettings, Secret
from tests.conftest import World, evm_revert, evm_snapshot

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def finished_jobs(store: JobStore, datatoken: str, consumer: str, n: int) -> list[str]:
    """n jobs that reached a final state: the first succeeded (charged 1.5), the others cancelled."""
    ids = []
    for i in range(n):
        order = "0x" + secrets.token_hex(32)
        job, _ = store.create(
            NewJob(consumer=consumer, datatoken=datatoken, service_id=1, order_tx=order,
                   order_id=secrets.randbits(62),
                   consumer_key="0x" + "22" * 32, algorithm="dp_stats", algorithm_hash="ab" * 32,
                   params={}, environment="cpu", epsilon_units=1_500_000 if i == 0 else 0, delta=1e-5),
            budget_units=10_000_000, chain_spent_units=0, chain_block=0,
        )  # fmt: skip
        if i == 0:
            owner = store.claim(job.id, "w", lease_s=60, max_attempts=1).lease_owner
            for a, b in ((J.STAGING, J.RUNNING), (J.RUNNING, J.CHECKING), (J.CHECKING, J.PUBLISHING)):
                store.advance(job.id, owner, a, b)
            store.advance(job.id, owner, J.PUBLISHING, J.SUCCEEDED, output_hash="cd" * 32)
        else:
            store.request_cancel(job.id)
        ids.append(job.id)
    return ids


@pytest.fixture
def setup(world: World, tmp_path: Path):
    datatoken = world.publish().datatoken  # provider: world.accounts.provider, budget 10 epsilon
    clock = Clock()
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=clock)
    settings = ProviderSettings(
        rpc_url=world.w3.provider.endpoint_uri, market=world.market.address,
        private_key=Secret(world.accounts.provider.key.hex()),  # a public anvil dev key
        data_dir=tmp_path, market_deploy_block=world.deploy_block,
    )  # fmt: skip
    yield world, store, ReceiptPoster(store, settings), clock, datatoken
    store.close()


def receipts_on_chain(world: World, from_block: int) -> list[ComputeReceiptPosted]:
    return [e for e in world.market.events(from_block) if isinstance(e, ComputeReceiptPosted)]


def test_pending_receipts_go_out_in_one_transaction(setup) -> None:
    world, store, poster, _, datatoken = setup
    start = world.block_number()
    ids = finished_jobs(store, datatoken, world.accounts.consumer.address, 3)
    assert poster.post_pending() == 3
    posted = receipts_on_chain(world, start + 1)
    assert {e.job_id[-32:] for e in posted} == set(ids)
    assert len({e.meta.tx_hash for e in posted}) == 1
    assert world.market.dataset(datatoken).epsilon_spent == 1_500_000
    assert {store.get(i).receipt_status for i in ids} == {J.R_POSTED}
    assert poster.post_pending() == 0


def test_a_batch_left_half_posted_is_recovered_without_posting_twice(setup) -> None:
    world, store, poster, clock, datatoken = setup
    start = world.block_number()
    ids = finished_jobs(store, datatoken, world.accounts.consumer.address, 2)
    # A worker took the batch, its transaction landed, then the worker died before recording it.
    _, taken = store.take_receipts()
    tx = poster.market.post_compute_receipts([receipt_of(j) for j in taken])
    clock.now += STALE_AFTER_S - 1
    poster.recover_stale()
    assert {store.get(i).receipt_status for i in ids} == {J.R_POSTING}  # not stale yet
    clock.now += 2
    poster.recover_stale()
    assert {(store.get(i).receipt_status, store.get(i).receipt_tx) for i in ids} == {(J.R_POSTED, tx.tx_hash)}
    assert poster.post_pending() == 0
    assert len(receipts_on_chain(world, start + 1)) == 2
    assert world.market.dataset(datatoken).epsilon_spent == 1_500_000


def test_a_batch_whose_transaction_never_landed_goes_back_to_pending(setup) -> None:
    world, store, poster, clock, datatoken = setup
    start = world.block_number()
    ids = finished_jobs(store, datatoken, world.accounts.consumer.address, 2)
    store.take_receipts()  # the worker died before sending
    clock.now += STALE_AFTER_S + 1
    poster.recover_stale()
    assert {store.get(i).receipt_status for i in ids} == {J.R_PENDING}
    assert poster.post_pending() == 2
    assert len(receipts_on_chain(world, start + 1)) == 2


def test_a_recorded_transaction_the_node_never_saw_goes_back_to_pending(setup) -> None:
    world, store, poster, clock, datatoken = setup
    ids = finished_jobs(store, datatoken, world.accounts.consumer.address, 1)
    batch, _ = store.take_receipts()
    store.receipts_sent(batch, "0x" + secrets.token_hex(32))  # signed, then the worker died
    clock.now += STALE_AFTER_S + 1
    poster.recover_stale()
    assert store.get(ids[0]).receipt_status == J.R_PENDING and store.get(ids[0]).receipt_tx is None
    assert poster.post_pending() == 1


def test_a_posted_receipt_whose_block_the_chain_lost_is_posted_again_once(setup) -> None:
    world, store, poster, _, datatoken = setup
    ids = finished_jobs(store, datatoken, world.accounts.consumer.address, 2)
    before = evm_snapshot(world.w3)
    assert poster.post_pending() == 2
    lost = store.get(ids[0]).receipt_tx
    poster.recheck_posted()  # on chain in its block: left alone
    assert {(store.get(i).receipt_status, store.get(i).receipt_tx) for i in ids} == {(J.R_POSTED, lost)}
    evm_revert(world.w3, before)  # the chain loses the receipt's block (a node restarted from older state)
    poster.recheck_posted()
    poster.recover_stale()
    assert {store.get(i).receipt_status for i in ids} == {J.R_PENDING}
    assert poster.post_pending() == 2
    posted = receipts_on_chain(world, world.deploy_block)
    assert sorted(e.job_id[-32:] for e in posted) == sorted(ids)
    assert world.market.dataset(datatoken).epsilon_spent == 1_500_000
    poster.recheck_posted()  # the same signed transaction again (same nonce, same receipts): on chain now
    assert {(store.get(i).receipt_status, store.get(i).receipt_tx) for i in ids} == {
        (J.R_POSTED, posted[0].meta.tx_hash)
    }


def test_a_receipt_the_market_refuses_holds_back_none_of_the_others(setup) -> None:
    world, store, poster, clock, datatoken = setup
    consumer = world.accounts.consumer.address
    start = world.block_number()
    # A dataset served by another provider: the market refuses this provider's receipts for it.
    elsewhere = world.publish(provider=world.accounts.outsider.address).datatoken
    good = finished_jobs(store, datatoken, consumer, 6)
    bad = finished_jobs(store, elsewhere, consumer, 1)
    assert poster.post_pending() == 6
    posted = receipts_on_chain(world, start + 1)
    assert {e.job_id[-32:] for e in posted} == set(good)
    assert len({e.meta.tx_hash for e in posted}) <= 3  # halves, not one transaction a receipt
    refused = store.get(bad[0])
    assert refused.receipt_status == J.R_REFUSED and refused.receipt_tx is None
    assert refused.receipt_error.startswith("MarketNotProvider(")
    # Later receipts go out together again, without it; it is tried alone only after a while.
    more = finished_jobs(store, datatoken, consumer, 3)
    before = world.block_number()
    assert poster.post_pending() == 3
    later = receipts_on_chain(world, before + 1)
    assert {e.job_id[-32:] for e in later} == set(more) and len({e.meta.tx_hash for e in later}) == 1
    clock.now += REFUSED_RETRY_S + 1
    assert poster.post_pending() == 0
    assert store.get(bad[0]).receipt_status == J.R_REFUSED
    assert world.market.dataset(datatoken).epsilon_spent == 3_000_000  # 1.5 from each lot


def test_a_refused_receipt_lands_once_the_market_takes_it(setup) -> None:
    world, store, poster, clock, _ = setup
    # Budget 1 epsilon, and a job charged 1.5 (the provider's reservation would not let this
    # happen; a second provider database serving the same dataset could).
    published = world.publish(epsilon_budget=1_000_000)
    job = finished_jobs(store, published.datatoken, world.accounts.consumer.address, 1)[0]
    assert poster.post_pending() == 0
    assert store.get(job).receipt_error.startswith("MarketBudgetExceeded(")
    world.as_(world.accounts.publisher).raise_privacy_budget(published.datatoken, 2_000_000)
    assert poster.post_pending() == 0  # not yet: refused receipts wait REFUSED_RETRY_S
    clock.now += REFUSED_RETRY_S + 1
    assert poster.post_pending() == 1
    landed = store.get(job)
    assert landed.receipt_status == J.R_POSTED and landed.receipt_error is None
    assert world.market.dataset(published.datatoken).epsilon_spent == 1_500_000


def test_a_receipt_posted_while_the_check_lists_them_is_left_alone(setup) -> None:
    """Another thread posts a receipt between the check's first look at the head and its listing:
    its block is above that first head, yet the chain has it; it stays posted."""
    world, store, poster, _, datatoken = setup
    first, second = finished_jobs(store, datatoken, world.accounts.consumer.address, 2)
    listed = store.posted_above

    def posted_meanwhile(block: int):
        assert poster.post_pending() == 2  # mined above the head the check read first
        return listed(block)

    store.posted_above = posted_meanwhile
    poster.recheck_posted()
    store.posted_above = listed
    assert {store.get(i).receipt_status for i in (first, second)} == {J.R_POSTED}
