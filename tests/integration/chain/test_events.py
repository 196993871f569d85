"""Events from real transactions: every market event decodes, and the log getter agrees with receipts."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from datamarket.chain.allowlist import Allowlist
from datamarket.chain.events import (
    MARKET_EVENTS,
    DatasetState,
    MarketFeeSet,
    OrderStarted,
    Transfer,
    decode_logs,
    topic_of,
)
from datamarket.chain.market import ComputeReceipt, Market, TxResult, epsilon_units
from datamarket.chain.quotes import ZERO_ADDRESS
from tests.conftest import MARKET_FEE_BPS, ONE, World, metadata_hash

pytestmark = pytest.mark.integration

# A contract that emits LOG1(topic = calldata[0:32], data = calldata[32:]): it can imitate any event.
LOG_EMITTER_RUNTIME = "366000600037600035602036036020a100"
LOG_EMITTER_INIT = "0x6011600c6000396011" + "6000f3" + LOG_EMITTER_RUNTIME


def run_every_market_action(world: World) -> list[TxResult]:
    a = world.accounts
    market, publisher, consumer = world.market, world.as_(a.publisher), world.as_(a.consumer)
    allowlist = Allowlist.of([a.consumer.address, a.consumer2.address])
    txs = [market.set_market_fee(a.fee_collector.address, 200), market.set_orders_paused(True),
           market.set_orders_paused(False)]  # fmt: skip

    paid = world.publish(
        publish_fee_bps=100, publish_fee_collector=a.publish_market.address, allowlist_root=allowlist.root
    )
    free = world.publish(free=True, dispenser_limit=5)
    dt = paid.datatoken
    txs += [paid.tx, free.tx]
    txs.append(publisher.update_metadata(dt, "bafy-v2", metadata_hash(b"v2")))
    txs.append(publisher.set_state(dt, DatasetState.PAUSED))
    txs.append(publisher.set_state(dt, DatasetState.ACTIVE))
    txs.append(publisher.set_metadata_updater(dt, a.outsider.address))
    txs.append(publisher.set_minter(dt, a.outsider.address, True))
    txs.append(world.as_(a.outsider).mint(dt, a.consumer.address, 1))
    txs.append(publisher.set_allowlist(dt, allowlist.root))
    txs.append(publisher.raise_privacy_budget(dt, epsilon_units(50)))
    txs.append(consumer.dispense(free.datatoken, 2))
    txs.append(consumer.buy(dt, 2))
    quote, signature = world.quote(dt, fee_token=world.usd, amount=ONE)
    txs.append(consumer.start_order(quote, signature, allowlist.proof(a.consumer.address)))
    order = txs[-1].event(OrderStarted)
    receipt = ComputeReceipt(
        job_id="0x" + keccak(text="job").hex(), datatoken=dt, order_id=order.order_id,
        algorithm_hash="0x" + keccak(text="algo").hex(), output_hash="0x" + keccak(text="out").hex(),
        epsilon=epsilon_units("0.25"),
    )  # fmt: skip
    txs.append(world.as_(a.provider).post_compute_receipts([receipt]))
    txs.append(world.as_(a.publisher).withdraw(world.usd))
    txs.append(world.as_(a.fee_collector).withdraw_to(world.usd, a.outsider.address))
    txs.append(world.as_(a.publish_market).set_publish_fee_collector(dt, a.outsider.address))
    txs.append(publisher.propose_provider(dt, a.stranger.address))
    txs.append(world.as_(a.stranger).accept_provider(dt))
    txs.append(publisher.set_dispenser(dt, 3))
    txs.append(publisher.transfer_dataset(free.datatoken, a.consumer2.address))
    txs.append(world.as_(a.consumer2).accept_dataset(free.datatoken))
    return txs


def test_every_market_event_type_is_decoded_from_real_transactions(world: World, market: Market) -> None:
    start = world.block_number() + 1
    txs = run_every_market_action(world)

    from_receipts = [e for tx in txs for e in tx.events if e.meta.address == market.address]
    assert {type(e) for e in from_receipts} == set(MARKET_EVENTS.values())

    # The getter returns the same events, decoded the same way, in chain order.
    assert market.events(start) == from_receipts
    assert market.events(start, txs[4].block_number) == [
        e for e in from_receipts if e.meta.block_number <= txs[4].block_number
    ]
    later = txs[10].block_number
    assert market.events(later) == [e for e in from_receipts if e.meta.block_number >= later]
    assert [(e.meta.block_number, e.meta.log_index) for e in from_receipts] == sorted(
        (e.meta.block_number, e.meta.log_index) for e in from_receipts
    )


def test_the_getter_sees_the_constructor_event(world: World, market: Market) -> None:
    first = market.events(world.deploy_block, world.deploy_block)
    assert len(first) == 1
    fee_set = first[0]
    assert isinstance(fee_set, MarketFeeSet)
    assert (fee_set.collector, fee_set.bps) == (world.accounts.fee_collector.address, MARKET_FEE_BPS)
    assert fee_set.meta.address == market.address
    assert market.events(world.block_number()) == []


def test_transaction_events_are_the_markets_and_its_datatokens_only(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(price=ONE).datatoken
    tx = world.as_(a.consumer).buy(dt)
    receipt = world.receipt(tx.tx_hash)

    # The receipt also has the payment token's Transfer, which decodes by topic like a datatoken's...
    decoded = decode_logs(receipt["logs"])
    usd_transfers = [e for e in decoded if isinstance(e, Transfer) and e.meta.address == world.usd]
    assert [(e.from_, e.to, e.value) for e in usd_transfers] == [(a.consumer.address, market.address, ONE)]
    # ...but the client's result keeps the market's Bought and the datatoken's mint only.
    assert [(type(e).__name__, e.meta.address) for e in tx.events] == [
        ("Bought", market.address),
        ("Transfer", dt),
    ]


def test_an_imitation_of_a_market_event_is_not_the_markets(world: World, market: Market) -> None:
    w3, owner = world.w3, world.accounts.owner
    start = world.block_number() + 1
    deployed = owner.sign_transaction(
        {
            "data": LOG_EMITTER_INIT,
            "gas": 200_000,
            "gasPrice": w3.eth.gas_price,
            "chainId": 31337,
            "nonce": w3.eth.get_transaction_count(owner.address),
        }
    )
    emitter = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(deployed.raw_transaction))[
        "contractAddress"
    ]
    # OrdersPausedSet(bool) has no indexed arguments, so LOG1 imitates it exactly.
    fake = owner.sign_transaction(
        {"to": emitter, "data": topic_of("OrdersPausedSet") + "00" * 31 + "01", "gas": 100_000,
         "gasPrice": w3.eth.gas_price, "chainId": 31337, "nonce": w3.eth.get_transaction_count(owner.address)}
    )  # fmt: skip
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(fake.raw_transaction))

    imitation = decode_logs(receipt["logs"])
    assert len(imitation) == 1 and imitation[0].paused is True
    assert imitation[0].meta.address == emitter != market.address
    assert market.events(start) == []
    assert market._own_events(receipt["logs"]) == []
    assert market.orders_paused() is False


def test_native_payments_emit_no_token_transfer(world: World, market: Market) -> None:
    dt = world.publish(payment_token=ZERO_ADDRESS, price=100).datatoken
    tx = world.as_(world.accounts.consumer).buy(dt, 3)
    assert [type(e).__name__ for e in tx.events] == ["Bought", "Transfer"]
    assert tx.event(Transfer).value == 3
