"""The event fold, on hand-built events: each transaction's events in the order the contract emits them."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from datamarket.chain.events import (
    MARKET_EVENTS,
    AllowlistSet,
    Approval,
    Bought,
    ComputeReceiptPosted,
    DatasetPublished,
    DatasetState,
    DatasetStateChanged,
    DatasetTransferred,
    DatasetTransferStarted,
    Dispensed,
    DispenserSet,
    EarningsWithdrawn,
    JobStatus,
    LogMeta,
    MarketFeeSet,
    MetadataUpdated,
    MetadataUpdaterSet,
    Minted,
    MintersCleared,
    MinterSet,
    OrderFunding,
    OrdersPausedSet,
    OrderStarted,
    PriceSet,
    PrivacyBudgetRaised,
    ProviderChanged,
    ProviderChangeStarted,
    PublishFeeSet,
    Transfer,
)
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.chain.replay import MarketState, MetadataVersion, Order, Receipt, ReplayError, replay
from datamarket.errors import DatamarketError


def address(name: str) -> str:
    return to_checksum_address(keccak(text=name)[:20])


def b32(name: str) -> str:
    return "0x" + keccak(text=name).hex()


MARKET, DT, DT2, USD = address("market"), address("datatoken"), address("datatoken 2"), address("usd")
ALICE, BOB, CAROL, DAVE = address("alice"), address("bob"), address("carol"), address("dave")
PROVIDER, PROVIDER2 = address("provider"), address("provider 2")
COLLECTOR, COLLECTOR2, FRONTEND, FRONTEND2 = (address(n) for n in ("collector", "collector 2", "fe", "fe 2"))
PRICE = 1000
NO_META = LogMeta(MARKET, 0, "", "", 0)


def event(cls: type, *args: Any, at: str = MARKET) -> Any:
    """An event without its place in the chain yet (``Chain.tx`` gives it one); ``at`` is its source."""
    return cls(dataclasses.replace(NO_META, address=at), *args)


def mint(to: str, amount: int, dt: str = DT) -> Transfer:
    return event(Transfer, ZERO_ADDRESS, to, amount, at=dt)


def burn(holder: str, dt: str = DT) -> Transfer:
    return event(Transfer, holder, ZERO_ADDRESS, 1, at=dt)


class Chain:
    """Events in chain order: one block per transaction, log indices counting up within a block."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.blocks = itertools.count(1)
        self.nonces = itertools.count(1)
        self.orders = itertools.count(0)
        self.tx_hashes: list[str] = []
        self.fee_bps = 0

    def tx(self, *events: Any) -> str:
        block = next(self.blocks)
        tx_hash = b32(f"tx {block}")
        for i, e in enumerate(events):
            meta = LogMeta(e.meta.address, block, b32(f"block {block}"), tx_hash, i)
            self.events.append(dataclasses.replace(e, meta=meta))
        self.tx_hashes.append(tx_hash)
        return tx_hash

    def state(self) -> MarketState:
        return replay(self.events, MARKET)

    # ------------------------------------------------------------------ what one call emits

    def deploy(self, collector: str = COLLECTOR, bps: int = 100) -> None:
        self.tx(event(MarketFeeSet, collector, bps))
        self.fee_bps = bps

    def publish(
        self, dt: str = DT, publisher: str = ALICE, *, index: int = 0, free: bool = False, limit: int = 0,
        price: int = PRICE, cap: int = 0, fee_bps: int = 0, collector: str = ZERO_ADDRESS,
        root: str = ZERO_HASH, budget: int = 10, services: int = 0b11,
    ) -> None:  # fmt: skip
        events = [
            event(DatasetPublished, dt, publisher, PROVIDER, index, services, budget, b32("v1"), "cid1")
        ]
        events.append(event(DispenserSet, dt, limit, cap) if free else event(PriceSet, dt, USD, price, cap))
        if fee_bps:
            events.append(event(PublishFeeSet, dt, collector, fee_bps))
        if root != ZERO_HASH:
            events.append(event(AllowlistSet, dt, root))
        self.tx(*events)

    def buy(self, buyer: str, amount: int = 1, *, dt: str = DT, cost: int | None = None, fees=None) -> None:
        """A buy at the price; by default with the market fee and no publish fee."""
        cost = PRICE * amount if cost is None else cost
        fees = (cost * self.fee_bps // 10_000, 0) if fees is None else fees
        self.tx(event(Bought, dt, buyer, USD, amount, cost, *fees, True), mint(buyer, amount, dt))

    def order(
        self, payer: str, funding: OrderFunding, *, dt: str = DT, provider: str = PROVIDER,
        fee: int = 0, nonce: int | None = None, service: int = 0,
    ) -> OrderStarted:  # fmt: skip
        nonce = next(self.nonces) if nonce is None else nonce
        return event(OrderStarted, dt, payer, provider, next(self.orders), payer, funding, service, USD, fee,
                     nonce, ZERO_HASH)  # fmt: skip

    def start_order(self, payer: str, **kwargs: Any) -> str:
        return self.tx(burn(payer, kwargs.get("dt", DT)), self.order(payer, OrderFunding.BURNED, **kwargs))

    def accept_dataset(self, dt: str, old: str, new: str, *, updater: bool = False, provider_change=False):
        events = [event(DatasetTransferred, dt, old, new), event(MintersCleared, dt)]
        if updater:
            events.append(event(MetadataUpdaterSet, dt, ZERO_ADDRESS))
        if provider_change:
            events.append(event(ProviderChangeStarted, dt, PROVIDER, ZERO_ADDRESS))
        self.tx(*events)


@pytest.fixture
def chain() -> Chain:
    chain = Chain()
    chain.deploy()
    return chain


def messages(state: MarketState) -> list[str]:
    return [v.message for v in state.violations]


# ---------------------------------------------------------------------- the dispatch


def test_every_market_event_and_transfer_has_a_handler() -> None:
    assert set(MarketState.HANDLERS) == set(MARKET_EVENTS.values()) | {Transfer}


# ---------------------------------------------------------------------- publish and policy


def test_publish_priced_with_publish_fee_and_allowlist(chain: Chain) -> None:
    chain.publish(fee_bps=250, collector=FRONTEND, root=b32("root"), cap=7)
    state = chain.state()
    ds = state.datasets[DT]
    assert (ds.index, ds.publisher, ds.provider, ds.services) == (0, ALICE, PROVIDER, 3)
    assert ds.state == DatasetState.ACTIVE
    assert (ds.free, ds.payment_token, ds.price, ds.cap, ds.dispenser_limit) == (False, USD, PRICE, 7, 0)
    assert (ds.publish_fee_bps, ds.publish_fee_collector) == (250, FRONTEND)
    assert (ds.allowlist_root, ds.has_allowlist) == (b32("root"), True)
    assert (ds.epsilon_budget, ds.epsilon_spent, ds.metadata_hash) == (10, 0, b32("v1"))
    assert ds.metadata_versions == [MetadataVersion("cid1", b32("v1"), ALICE, 2, chain.tx_hashes[1])]
    assert (state.dataset_count, state.fee_collector, state.fee_bps) == (1, COLLECTOR, 100)
    assert state.violations == []


def test_publish_free(chain: Chain) -> None:
    chain.publish(free=True, limit=3, cap=9)
    ds = chain.state().datasets[DT]
    assert (ds.free, ds.payment_token, ds.price, ds.cap, ds.dispenser_limit) == (True, ZERO_ADDRESS, 0, 9, 3)
    assert (ds.publish_fee_collector, ds.allowlist_root, ds.has_allowlist) == (ZERO_ADDRESS, ZERO_HASH, False)


def test_a_wrong_publish_index_is_a_violation(chain: Chain) -> None:
    chain.publish(index=4)
    assert messages(chain.state()) == [f"dataset {DT} has index 4, expected 0"]


def test_price_and_dispenser_switches(chain: Chain) -> None:
    chain.publish(cap=5)
    chain.tx(event(DispenserSet, DT, 2, 5))
    ds = chain.state().datasets[DT]
    assert (ds.free, ds.payment_token, ds.price, ds.dispenser_limit, ds.cap) == (True, ZERO_ADDRESS, 0, 2, 5)
    chain.tx(event(PriceSet, DT, USD, 7, 5))
    ds = chain.state().datasets[DT]
    assert (ds.free, ds.payment_token, ds.price, ds.dispenser_limit, ds.cap) == (False, USD, 7, 0, 5)
    assert chain.state().violations == []


def test_free_to_priced_with_datatokens_out_is_a_violation(chain: Chain) -> None:
    chain.publish(free=True, limit=2)
    chain.tx(mint(BOB, 1), event(Dispensed, DT, BOB, 1))
    chain.tx(event(PriceSet, DT, USD, 7, 0))
    assert messages(chain.state()) == [f"{DT} became priced with 1 free datatokens out"]


def test_metadata_updates_by_publisher_and_updater(chain: Chain) -> None:
    chain.publish()
    chain.tx(event(MetadataUpdaterSet, DT, BOB))
    chain.tx(event(MetadataUpdated, DT, BOB, b32("v2"), "cid2"))
    chain.tx(event(MetadataUpdated, DT, ALICE, b32("v3"), "cid3"))
    state = chain.state()
    ds = state.datasets[DT]
    assert ds.metadata_updater == BOB
    assert ds.metadata_hash == b32("v3")
    assert [(v.cid, v.hash, v.updated_by, v.block) for v in ds.metadata_versions] == [
        ("cid1", b32("v1"), ALICE, 2), ("cid2", b32("v2"), BOB, 4), ("cid3", b32("v3"), ALICE, 5),
    ]  # fmt: skip
    assert ds.metadata_versions[-1].tx_hash == chain.tx_hashes[-1]
    assert state.violations == []
    chain.tx(event(MetadataUpdated, DT, CAROL, b32("v4"), "cid4"))
    assert messages(chain.state()) == [f"{CAROL} updated {DT}'s metadata: not publisher nor updater"]


def test_state_budget_allowlist_and_publish_fee_collector(chain: Chain) -> None:
    chain.publish(fee_bps=100, collector=FRONTEND)
    chain.tx(event(DatasetStateChanged, DT, DatasetState.ACTIVE, DatasetState.PAUSED))
    chain.tx(event(PrivacyBudgetRaised, DT, 10, 25))
    chain.tx(event(AllowlistSet, DT, b32("root")))
    chain.tx(event(AllowlistSet, DT, ZERO_HASH))
    chain.tx(event(PublishFeeSet, DT, FRONTEND2, 100))
    state = chain.state()
    ds = state.datasets[DT]
    assert (ds.state, ds.epsilon_budget, ds.allowlist_root, ds.has_allowlist) == (
        DatasetState.PAUSED, 25, ZERO_HASH, False,
    )  # fmt: skip
    assert (ds.publish_fee_collector, ds.publish_fee_bps) == (FRONTEND2, 100)
    assert state.violations == []
    chain.tx(event(DatasetStateChanged, DT, DatasetState.ACTIVE, DatasetState.RETIRED))
    chain.tx(event(PrivacyBudgetRaised, DT, 25, 20))
    assert messages(chain.state()) == [
        f"{DT} moved ACTIVE -> RETIRED from state PAUSED",
        f"budget of {DT} went 25 -> 20 from 25",
    ]


# ---------------------------------------------------------------------- roles


def test_minters_lapse_when_the_dataset_goes_a_to_b_to_a(chain: Chain) -> None:
    chain.publish()
    chain.tx(event(MinterSet, DT, CAROL, True))
    chain.tx(event(MinterSet, DT, DAVE, True))
    chain.tx(event(MinterSet, DT, DAVE, False))
    chain.tx(event(MetadataUpdaterSet, DT, CAROL))
    assert chain.state().datasets[DT].minters == {CAROL}
    chain.tx(event(DatasetTransferStarted, DT, ALICE, BOB))
    assert chain.state().datasets[DT].pending_publisher == BOB
    chain.accept_dataset(DT, ALICE, BOB, updater=True)
    ds = chain.state().datasets[DT]
    assert (ds.publisher, ds.pending_publisher, ds.minters) == (BOB, ZERO_ADDRESS, set())
    assert ds.metadata_updater == ZERO_ADDRESS
    chain.tx(event(MinterSet, DT, DAVE, True))
    chain.tx(event(DatasetTransferStarted, DT, BOB, ALICE))
    chain.accept_dataset(DT, BOB, ALICE)
    state = chain.state()
    ds = state.datasets[DT]
    assert (ds.publisher, ds.pending_publisher, ds.minters) == (ALICE, ZERO_ADDRESS, set())
    assert state.violations == []
    # Carol was Alice's minter in her first tenure: that lapsed too.
    chain.tx(mint(CAROL, 1), event(Minted, DT, CAROL, CAROL, 1))
    assert messages(chain.state()) == [f"{CAROL} minted {DT}, neither its publisher nor a minter"]


def test_a_transfer_offer_can_be_withdrawn(chain: Chain) -> None:
    chain.publish()
    chain.tx(event(DatasetTransferStarted, DT, ALICE, BOB))
    chain.tx(event(DatasetTransferStarted, DT, ALICE, ZERO_ADDRESS))
    assert chain.state().datasets[DT].pending_publisher == ZERO_ADDRESS
    chain.accept_dataset(DT, ALICE, BOB)
    assert messages(chain.state()) == [f"{DT} went {ALICE} -> {BOB}; expected {ALICE} -> {ZERO_ADDRESS}"]


def test_mint_by_publisher_and_minter(chain: Chain) -> None:
    chain.publish(cap=3)
    chain.tx(event(MinterSet, DT, CAROL, True))
    chain.tx(mint(BOB, 1), event(Minted, DT, ALICE, BOB, 1))
    chain.tx(mint(DAVE, 2), event(Minted, DT, CAROL, DAVE, 2))
    state = chain.state()
    ds = state.datasets[DT]
    assert (ds.minted, ds.total_supply, ds.balances) == (3, 3, {BOB: 1, DAVE: 2})
    assert state.violations == []
    chain.tx(mint(DAVE, 1), event(Minted, DT, CAROL, DAVE, 1))
    assert messages(chain.state()) == [f"supply of {DT} is 4, above its cap 3"]


def test_provider_rotation(chain: Chain) -> None:
    chain.publish()
    chain.tx(event(ProviderChangeStarted, DT, PROVIDER, PROVIDER2))
    assert chain.state().datasets[DT].pending_provider == PROVIDER2
    chain.tx(event(ProviderChangeStarted, DT, PROVIDER, ZERO_ADDRESS))  # withdrawn
    assert chain.state().datasets[DT].pending_provider == ZERO_ADDRESS
    chain.tx(event(ProviderChangeStarted, DT, PROVIDER, PROVIDER2))
    chain.tx(event(ProviderChanged, DT, PROVIDER, PROVIDER2))
    state = chain.state()
    ds = state.datasets[DT]
    assert (ds.provider, ds.pending_provider) == (PROVIDER2, ZERO_ADDRESS)
    assert state.violations == []
    # The old provider's quotes and receipts no longer count.
    chain.tx(mint(BOB, 1), event(Minted, DT, ALICE, BOB, 1))
    chain.start_order(BOB)
    chain.tx(event(ComputeReceiptPosted, b32("job"), DT, 0, PROVIDER, b32("a"), b32("o"), 1, 1,
                   JobStatus.SUCCEEDED))  # fmt: skip
    assert messages(chain.state()) == [
        f"order of {DT} names provider {PROVIDER}, not {PROVIDER2}",
        f"{PROVIDER} posted a receipt of {DT}, whose provider is {PROVIDER2}",
    ]


def test_accepting_a_dataset_withdraws_a_pending_provider_change(chain: Chain) -> None:
    chain.publish()
    chain.tx(event(ProviderChangeStarted, DT, PROVIDER, PROVIDER2))
    chain.tx(event(DatasetTransferStarted, DT, ALICE, BOB))
    chain.accept_dataset(DT, ALICE, BOB, provider_change=True)
    state = chain.state()
    assert (state.datasets[DT].provider, state.datasets[DT].pending_provider) == (PROVIDER, ZERO_ADDRESS)
    assert state.violations == []
    chain.tx(event(ProviderChanged, DT, PROVIDER, PROVIDER2))
    assert messages(chain.state()) == [
        f"provider of {DT} changed {PROVIDER} -> {PROVIDER2}; expected {PROVIDER} -> {ZERO_ADDRESS}"
    ]


# ---------------------------------------------------------------------- buys, dispenses and orders


def test_buy_credits_the_payees_of_the_time(chain: Chain) -> None:
    chain.publish(fee_bps=200, collector=FRONTEND)
    chain.buy(BOB, 2, fees=(20, 40))
    chain.tx(event(MarketFeeSet, COLLECTOR2, 500))
    chain.tx(event(PublishFeeSet, DT, FRONTEND2, 200))
    chain.tx(event(DatasetTransferStarted, DT, ALICE, CAROL))
    chain.accept_dataset(DT, ALICE, CAROL)
    chain.buy(DAVE, 1, fees=(50, 20))
    state = chain.state()
    assert dict(+state.earnings) == {
        (USD, COLLECTOR): 20, (USD, FRONTEND): 40, (USD, ALICE): 2000 - 60,
        (USD, COLLECTOR2): 50, (USD, FRONTEND2): 20, (USD, CAROL): 1000 - 70,
    }  # fmt: skip
    ds = state.datasets[DT]
    assert (ds.minted, ds.total_supply, dict(ds.balances)) == (3, 3, {BOB: 2, DAVE: 1})
    assert state.violations == []


def test_a_buy_off_price_or_fee_is_a_violation(chain: Chain) -> None:
    chain.publish()
    chain.buy(BOB, 1, fees=(11, 0))
    chain.buy(BOB, 1, cost=PRICE - 1, fees=(9, 0))
    expected_fee = f"expected ({USD!r}, 1000, 10, 0), free False"
    assert messages(chain.state()) == [
        f"{DT} sold 1 for 1000 {USD} (fees 11, 0); {expected_fee}",
        f"{DT} sold 1 for 999 {USD} (fees 9, 0); expected ({USD!r}, 1000, 9, 0), free False",
    ]


def test_a_mint_without_a_buy_dispense_or_minted_is_a_violation(chain: Chain) -> None:
    chain.publish()
    tx = chain.tx(mint(BOB, 2))
    state = chain.state()
    assert [(v.tx_hash, v.message) for v in state.violations] == [
        (tx, f"minted 2 of {DT} to {BOB}; bought, dispensed or minted 0")
    ]


def test_dispense_counts_per_account_and_limits(chain: Chain) -> None:
    chain.publish(free=True, limit=2)
    chain.tx(mint(BOB, 2), event(Dispensed, DT, BOB, 2))
    chain.tx(mint(CAROL, 1), event(Dispensed, DT, CAROL, 1))
    state = chain.state()
    ds = state.datasets[DT]
    assert (dict(ds.dispensed), ds.total_supply) == ({BOB: 2, CAROL: 1}, 3)
    assert state.violations == []
    chain.tx(mint(BOB, 1), event(Dispensed, DT, BOB, 1))
    assert messages(chain.state()) == [f"{BOB} received 3 of {DT} free (free True, limit 2)"]


def test_start_order_burns_and_pays_the_provider(chain: Chain) -> None:
    chain.publish()
    chain.buy(BOB, 2)
    tx = chain.start_order(BOB, fee=7, nonce=42, service=1)
    state = chain.state()
    ds = state.datasets[DT]
    assert ds.orders == {0: Order(0, BOB, BOB, PROVIDER, 1, OrderFunding.BURNED, USD, 7, 42, ZERO_HASH, tx)}
    assert (ds.minted, ds.burned, ds.total_supply, ds.balances[BOB]) == (2, 1, 1, 1)
    assert (state.order_count, state.used_nonces, state.earnings[USD, PROVIDER]) == (1, {PROVIDER: {42}}, 7)
    assert state.violations == []


def test_a_burned_order_needs_its_burn_and_a_burn_its_order(chain: Chain) -> None:
    chain.publish()
    chain.buy(BOB, 2)
    chain.tx(chain.order(BOB, OrderFunding.BURNED))
    chain.tx(burn(BOB))
    assert messages(chain.state()) == [
        f"burned 0 of {DT} from {BOB}; 1 BURNED orders",
        f"burned 1 of {DT} from {BOB}; 0 BURNED orders",
    ]


def test_buy_and_order_priced_is_a_bought_order(chain: Chain) -> None:
    chain.publish()
    unminted = event(Bought, DT, BOB, USD, 1, PRICE, 10, 0, False)
    chain.tx(unminted, chain.order(BOB, OrderFunding.BOUGHT, fee=3))
    state = chain.state()
    ds = state.datasets[DT]
    assert (ds.total_supply, ds.orders[0].funding, state.order_count) == (0, OrderFunding.BOUGHT, 1)
    assert state.earnings == {(USD, COLLECTOR): 10, (USD, ALICE): 990, (USD, PROVIDER): 3}
    assert state.violations == []


def test_a_bought_order_needs_an_unminted_buy(chain: Chain) -> None:
    chain.publish()
    chain.tx(chain.order(BOB, OrderFunding.BOUGHT))
    chain.tx(event(Bought, DT, BOB, USD, 1, PRICE, 10, 0, True), chain.order(BOB, OrderFunding.BOUGHT))
    assert messages(chain.state()) == [
        f"bought 0 unminted of {DT} as {BOB}; 1 BOUGHT orders",
        f"minted 0 of {DT} to {BOB}; bought, dispensed or minted 1",
        f"bought 0 unminted of {DT} as {BOB}; 1 BOUGHT orders",
    ]


def test_buy_and_order_free_counts_against_the_payers_limit(chain: Chain) -> None:
    chain.publish(free=True, limit=2)
    chain.tx(mint(BOB, 1), event(Dispensed, DT, BOB, 1))
    chain.tx(chain.order(BOB, OrderFunding.FREE))
    state = chain.state()
    assert (state.datasets[DT].dispensed[BOB], state.datasets[DT].total_supply) == (2, 1)
    assert state.violations == []
    chain.tx(chain.order(BOB, OrderFunding.FREE))
    assert messages(chain.state()) == [f"{BOB} received 3 of {DT} free (free True, limit 2)"]


def test_a_free_order_on_a_priced_dataset_is_a_violation(chain: Chain) -> None:
    chain.publish()
    chain.tx(chain.order(BOB, OrderFunding.FREE))
    assert messages(chain.state()) == [f"{BOB} received 1 of {DT} free (free False, limit 0)"]


def test_quote_nonces_are_used_once_per_provider(chain: Chain) -> None:
    chain.publish()
    chain.publish(DT2, index=1)
    chain.tx(event(ProviderChangeStarted, DT2, PROVIDER, PROVIDER2))
    chain.tx(event(ProviderChanged, DT2, PROVIDER, PROVIDER2))
    chain.buy(BOB, 2)
    chain.buy(BOB, 1, dt=DT2)
    chain.start_order(BOB, nonce=5)
    chain.start_order(BOB, nonce=5, dt=DT2, provider=PROVIDER2)
    state = chain.state()
    assert state.used_nonces == {PROVIDER: {5}, PROVIDER2: {5}}
    assert state.violations == []
    chain.start_order(BOB, nonce=5)
    assert messages(chain.state()) == [f"quote nonce 5 of {PROVIDER} used again"]


def test_order_ids_count_market_wide(chain: Chain) -> None:
    chain.publish()
    chain.publish(DT2, index=1)
    chain.buy(BOB, 1)
    chain.buy(BOB, 1, dt=DT2)
    chain.start_order(BOB)
    chain.start_order(BOB, dt=DT2)
    state = chain.state()
    assert (list(state.datasets[DT].orders), list(state.datasets[DT2].orders)) == ([0], [1])
    assert state.order_count == 2
    skipped = dataclasses.replace(chain.order(BOB, OrderFunding.BURNED), order_id=7)
    chain.tx(event(Bought, DT, BOB, USD, 1, PRICE, 10, 0, True), mint(BOB, 1), burn(BOB), skipped)
    state = chain.state()
    assert messages(state) == ["order id 7, expected 2"]
    assert state.order_count == 8


def test_trading_a_paused_dataset_or_while_orders_are_paused_is_a_violation(chain: Chain) -> None:
    chain.publish()
    chain.tx(event(OrdersPausedSet, True))
    assert chain.state().orders_paused
    chain.buy(BOB, 1, fees=(10, 0))
    chain.tx(event(OrdersPausedSet, False))
    chain.tx(event(DatasetStateChanged, DT, DatasetState.ACTIVE, DatasetState.PAUSED))
    chain.start_order(BOB, service=2)
    assert messages(chain.state()) == [
        f"{DT} traded while ACTIVE (paused: True)",
        f"{DT} traded while PAUSED (paused: False)",
        f"order of {DT} for service 2, not offered",
    ]


# ---------------------------------------------------------------------- earnings


def test_withdraw_and_withdraw_to(chain: Chain) -> None:
    chain.publish()
    chain.buy(BOB, 1, fees=(10, 0))
    chain.tx(event(EarningsWithdrawn, ALICE, USD, ALICE, 990))
    chain.tx(event(EarningsWithdrawn, COLLECTOR, USD, DAVE, 10))  # withdrawTo: Dave is paid, not credited
    state = chain.state()
    assert dict(+state.earnings) == {}
    assert state.violations == []
    chain.buy(BOB, 1, fees=(10, 0))
    chain.tx(event(EarningsWithdrawn, ALICE, USD, ALICE, 900))
    chain.tx(event(EarningsWithdrawn, CAROL, USD, CAROL, 1))
    state = chain.state()
    assert messages(state) == [
        f"{ALICE} withdrew 900 {USD} of 990 owed",
        f"{CAROL} withdrew 1 {USD} of 0 owed",
    ]
    assert state.earnings[USD, ALICE] == 90


# ---------------------------------------------------------------------- receipts


def receipt(job: str, order_id: int, epsilon: int, spent_after: int, poster: str = PROVIDER) -> Any:
    return event(ComputeReceiptPosted, b32(job), DT, order_id, poster, b32("alg"), b32("out"), epsilon,
                 spent_after, JobStatus.SUCCEEDED)  # fmt: skip


def test_receipts_charge_the_budget(chain: Chain) -> None:
    chain.publish(budget=10)
    chain.buy(BOB, 1)
    chain.start_order(BOB, service=1)
    tx = chain.tx(receipt("job 1", 0, 3, 3), receipt("job 2", 0, 4, 7))
    state = chain.state()
    ds = state.datasets[DT]
    assert ds.epsilon_spent == 7
    assert ds.receipts[b32("job 2")] == Receipt(b32("job 2"), 0, PROVIDER, 4, 7, JobStatus.SUCCEEDED,
                                                b32("alg"), b32("out"), tx)  # fmt: skip
    assert (ds.receipt_count, ds.receipts_without_order()) == (2, [])
    assert state.violations == []


def test_receipt_spent_after_and_budget_are_checked(chain: Chain) -> None:
    chain.publish(budget=10)
    chain.tx(receipt("job 1", 3, 3, 2))
    chain.tx(receipt("job 2", 3, 8, 11))
    state = chain.state()
    assert messages(state) == [
        f"receipt {b32('job 1')} says spent 2; folded spent 3 of budget 10",
        f"receipt {b32('job 2')} says spent 11; folded spent 11 of budget 10",
    ]
    assert state.datasets[DT].receipts_without_order() == [b32("job 1"), b32("job 2")]


# ---------------------------------------------------------------------- sources and errors


def test_events_from_other_addresses_are_ignored(chain: Chain) -> None:
    chain.publish()
    imitation = address("hostile")
    chain.tx(
        event(DatasetPublished, DT2, ALICE, PROVIDER, 1, 1, 0, b32("x"), "x", at=imitation),
        event(MarketFeeSet, BOB, 1000, at=imitation),
        event(OrderStarted, DT, BOB, PROVIDER, 0, BOB, OrderFunding.FREE, 0, USD, 5, 1, ZERO_HASH, at=USD),
        event(Transfer, ZERO_ADDRESS, BOB, 5, at=USD),  # a payment token's own Transfer
        event(Transfer, ZERO_ADDRESS, BOB, 5, at=MARKET),  # not a market event
        event(Transfer, ZERO_ADDRESS, BOB, 5, at=DT2),  # not (yet) a datatoken
        event(Approval, BOB, MARKET, 5, at=DT),  # a datatoken's, but changes nothing here
    )
    state = chain.state()
    assert (list(state.datasets), state.fee_collector, state.order_count) == ([DT], COLLECTOR, 0)
    assert (state.earnings, state.datasets[DT].total_supply, state.violations) == ({}, 0, [])


def test_an_unknown_dataset_is_a_replay_error(chain: Chain) -> None:
    chain.publish()
    chain.tx(event(MinterSet, DT2, BOB, True))
    with pytest.raises(ReplayError) as caught:
        chain.state()
    assert isinstance(caught.value, DatamarketError)
    assert caught.value.code == "replay_error"
    assert str(caught.value).startswith(f"MinterSet in {chain.tx_hashes[-1]} names {DT2}, which is not a")


def test_a_second_publish_or_events_out_of_order_are_replay_errors(chain: Chain) -> None:
    chain.publish()
    published = chain.events[1]
    again = dataclasses.replace(published, meta=dataclasses.replace(published.meta, block_number=9))
    with pytest.raises(ReplayError, match="published twice"):
        chain.state().apply(again)
    with pytest.raises(ReplayError, match="out of chain order"):
        replay(chain.events[1:] + chain.events[:1], MARKET)


def test_apply_one_by_one_equals_replay(chain: Chain) -> None:
    chain.publish(free=True, limit=3)
    chain.tx(mint(BOB, 1), event(Dispensed, DT, BOB, 1))
    chain.start_order(BOB)
    state = MarketState(MARKET)
    for e in chain.events:
        state.apply(e)
    state.settle()
    state.settle()  # settling twice changes nothing
    assert state == chain.state()
    assert state.violations == []
