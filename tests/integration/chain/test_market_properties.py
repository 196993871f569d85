"""A stateful property test of the market against a real anvil.

Hypothesis drives random sequences of publishes, buys, dispenses, orders (provider-signed quotes with
fresh or replayed nonces), withdrawals, compute receipts and budget raises. A model in Python keeps
running totals, and after every step the chain must agree with it and with conservation laws:

* each datatoken's totalSupply is what was minted minus what orders burned;
* per payment token, what buyers paid (prices and provider fees, measured on chain) equals what
  payees can still withdraw plus what they withdrew, and the market holds exactly the former;
* a dataset's epsilon spent never exceeds its budget and is the sum of the receipts accepted;
* every OrderStarted is matched, in its transaction, by a payment (Bought) or a burned datatoken;
  the one exception is the free path of buyAndOrder on a dataset with an open dispenser.

Each Hypothesis example starts from an ``evm_snapshot`` and is reverted at teardown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from web3 import Web3

from datamarket.chain import artifacts
from datamarket.chain.events import (
    Bought,
    ComputeReceiptPosted,
    DatasetPublished,
    DatasetState,
    DatasetStateChanged,
    Dispensed,
    EarningsWithdrawn,
    MarketFeeSet,
    OrderStarted,
    PrivacyBudgetRaised,
    Transfer,
    decode_logs,
)
from datamarket.chain.market import MAX_EPSILON_UNITS, ComputeReceipt, TxResult, epsilon_units
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from tests.conftest import MARKET_FEE_BPS, ONE, World, evm_revert, evm_snapshot

pytestmark = pytest.mark.integration

PRICED_KINDS = ("usd", "eur", "native")
FEE_TOKENS = ("none", "usd", "eur", "native")
prices = st.one_of(st.just(0), st.integers(1, 1000), st.integers(1, ONE))
service_ids = st.sampled_from([0, 0, 1, 1, 2])  # 2 is never offered: a few refusals
replays = st.integers(0, 4).map(lambda n: n == 0)  # true one time in five: a replayed nonce, a no-op state
fee_amounts = st.one_of(st.just(0), st.integers(1, 10**6), st.integers(1, ONE))
epsilons = st.decimals(min_value=0, max_value=3, places=6, allow_nan=False, allow_infinity=False).map(
    epsilon_units
)
PUBLISH_ARGS = {
    "price": prices,
    "publish_fee_bps": st.one_of(st.just(0), st.integers(0, 1000)),
    "services": st.integers(1, 3),
    "dispenser_max": st.integers(0, 4),
    "budget": epsilons,
}


_GET_DATASET = next(f for f in artifacts.load("DataMarket").abi if f.get("name") == "getDataset")
DATASET_TUPLE = "(" + ",".join(c["type"] for c in _GET_DATASET["outputs"][0]["components"]) + ")"
_FIELD = {c["name"]: i for i, c in enumerate(_GET_DATASET["outputs"][0]["components"])}


class Probe:
    """Reads many values in one JSON-RPC batch, at one state: invariants run after every step, and
    one round trip for all of them keeps the machine fast."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.requests: list[tuple[str, list]] = []
        self.decoders: list = []

    def call(self, to: str, signature: str, arg_types: list[str], args: list, out_type: str) -> None:
        data = keccak(text=signature)[:4] + encode(arg_types, args)
        self.requests.append(("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]))
        self.decoders.append(lambda raw: decode([out_type], bytes.fromhex(raw[2:]))[0])

    def native_balance(self, account: str) -> None:
        self.requests.append(("eth_getBalance", [account, "latest"]))
        self.decoders.append(lambda raw: int(raw, 16))

    def run(self) -> list:
        if not self.requests:
            return []
        responses = self.w3.provider.make_batch_request(self.requests)
        assert isinstance(responses, list), responses
        return [decoder(r["result"]) for decoder, r in zip(self.decoders, responses, strict=True)]


@dataclass
class Dataset:
    datatoken: str
    kind: str
    payment_token: str
    price: int
    publish_fee_bps: int
    services: int
    dispenser_max: int
    budget: int
    spent: int = 0
    state: DatasetState = DatasetState.ACTIVE
    minted: int = 0
    burned: int = 0
    holdings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    orders: int = 0
    bought_orders: int = 0  # buyAndOrder: paid by a Bought in the same transaction
    dispenser_orders: set[str] = field(default_factory=set)  # buyAndOrder on a free dataset: tx hashes

    @property
    def free(self) -> bool:
        return self.kind == "free"


class MarketMachine(RuleBasedStateMachine):
    priced = Bundle("priced")
    free = Bundle("free")
    datasets = st.one_of(priced, free)

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.w3 = world.w3
        self.market = world.market
        a = world.accounts
        self.consumers = [a.consumer, a.consumer2]
        self.payees = [a.publisher.address, a.provider.address, a.fee_collector.address,
                       a.publish_market.address]  # fmt: skip
        self.tokens = {"usd": world.usd, "eur": world.eur, "native": ZERO_ADDRESS}
        self.snapshot = evm_snapshot(self.w3)
        self.start_block = self.w3.eth.block_number + 1

        self.fee_bps = MARKET_FEE_BPS
        self.model: dict[str, Dataset] = {}
        self.earnings: dict[tuple[str, str], int] = defaultdict(int)
        self.withdrawn: dict[str, int] = defaultdict(int)
        self.native_paid = 0
        self.used_nonces: list[int] = []
        self.initial = {
            token: sum(self.market.balance_of(token, c.address) for c in self.consumers)
            for token in (world.usd, world.eur)
        }
        self.receipt_jobs = 0

    def teardown(self) -> None:
        evm_revert(self.w3, self.snapshot)

    # ------------------------------------------------------------------ helpers

    def publish(self, kind, price, publish_fee_bps, services, dispenser_max, budget) -> str:
        a = self.world.accounts
        free = kind == "free"
        published = self.world.publish(
            free=free,
            payment_token=ZERO_ADDRESS if free else self.tokens[kind],
            price=0 if free else price,
            publish_fee_bps=publish_fee_bps,
            publish_fee_collector=a.publish_market.address if publish_fee_bps else ZERO_ADDRESS,
            services=services,
            dispenser_max_balance=dispenser_max if free else 0,
            epsilon_budget=budget,
        )
        dt = published.datatoken
        event = published.tx.event(DatasetPublished)
        assert (event.services, event.epsilon_budget, event.index) == (services, budget, len(self.model))
        self.model[dt] = Dataset(
            datatoken=dt, kind=kind, payment_token=ZERO_ADDRESS if free else self.tokens[kind],
            price=0 if free else price, publish_fee_bps=publish_fee_bps, services=services,
            dispenser_max=dispenser_max if free else 0, budget=budget,
        )  # fmt: skip
        return dt

    def credit_sale(self, ds: Dataset, cost: int, bought: Bought) -> None:
        market_fee = cost * self.fee_bps // 10_000
        publish_fee = cost * ds.publish_fee_bps // 10_000
        assert (bought.cost, bought.market_fee, bought.publish_fee) == (cost, market_fee, publish_fee)
        assert bought.payment_token == ds.payment_token
        a = self.world.accounts
        self.earnings[(ds.payment_token, a.fee_collector.address)] += market_fee
        self.earnings[(ds.payment_token, a.publish_market.address)] += publish_fee
        self.earnings[(ds.payment_token, a.publisher.address)] += cost - market_fee - publish_fee

    def record_native(self, tx: TxResult) -> None:
        self.native_paid += self.w3.eth.get_transaction(tx.tx_hash)["value"]

    def make_quote(self, ds: Dataset, consumer: str, fee_token: str, amount: int, service: int, nonce: int):
        token = ZERO_ADDRESS if fee_token == "none" else self.tokens[fee_token]
        return self.world.quote(ds.datatoken, consumer, service_id=service, fee_token=token,
                                amount=0 if fee_token == "none" else amount, nonce=nonce)  # fmt: skip

    def pick_nonce(self, replay: bool, index: int) -> tuple[int, bool]:
        if replay and self.used_nonces:
            return self.used_nonces[index % len(self.used_nonces)], True
        return self.world.next_nonce(), False

    def check_order(self, tx: TxResult, ds: Dataset, quote, consumer: str) -> None:
        order = tx.event(OrderStarted)
        provider = self.world.accounts.provider.address
        assert order == OrderStarted(
            meta=order.meta, datatoken=ds.datatoken, consumer=consumer, provider=provider, payer=consumer,
            service_id=quote.service_id, fee_token=quote.fee_token, fee_amount=quote.amount,
            valid_until=quote.valid_until, quote_nonce=quote.nonce, environment=ZERO_HASH,
        )  # fmt: skip
        self.earnings[(quote.fee_token, provider)] += quote.amount
        self.used_nonces.append(quote.nonce)
        ds.orders += 1

    # ------------------------------------------------------------------ rules

    # Every example starts with one priced and one free dataset, then may publish more.
    @initialize(target=priced, kind=st.sampled_from(PRICED_KINDS), **PUBLISH_ARGS)
    def first_priced(self, kind, price, publish_fee_bps, services, dispenser_max, budget) -> str:
        return self.publish(kind, price, publish_fee_bps, services, dispenser_max, budget)

    @initialize(target=free, **PUBLISH_ARGS)
    def first_free(self, price, publish_fee_bps, services, dispenser_max, budget) -> str:
        return self.publish("free", price, publish_fee_bps, services, dispenser_max, budget)

    @rule(target=priced, kind=st.sampled_from(PRICED_KINDS), **PUBLISH_ARGS)
    def publish_priced(self, kind, price, publish_fee_bps, services, dispenser_max, budget) -> str:
        return self.publish(kind, price, publish_fee_bps, services, dispenser_max, budget)

    @rule(target=free, **PUBLISH_ARGS)
    def publish_free(self, price, publish_fee_bps, services, dispenser_max, budget) -> str:
        return self.publish("free", price, publish_fee_bps, services, dispenser_max, budget)

    @rule(dt=priced, who=st.integers(0, 1), amount=st.integers(1, 3))
    def buy(self, dt, who, amount) -> None:
        ds, consumer = self.model[dt], self.consumers[who]
        client = self.world.as_(consumer)
        if ds.state is not DatasetState.ACTIVE:
            self.world.expect_revert("MarketDatasetNotActive", client.buy, dt, amount)
            return
        tx = client.buy(dt, amount)
        bought = tx.event(Bought)
        assert (bought.buyer, bought.amount) == (consumer.address, amount)
        self.credit_sale(ds, ds.price * amount, bought)
        self.record_native(tx)
        ds.minted += amount
        ds.holdings[consumer.address] += amount

    @rule(dt=free, who=st.integers(0, 1), amount=st.integers(1, 3))
    def dispense(self, dt, who, amount) -> None:
        ds, consumer = self.model[dt], self.consumers[who]
        client = self.world.as_(consumer)
        if ds.state is not DatasetState.ACTIVE:
            self.world.expect_revert("MarketDatasetNotActive", client.dispense, dt, amount)
        elif ds.holdings[consumer.address] + amount > ds.dispenser_max:
            error = self.world.expect_revert("MarketDispenserLimit", client.dispense, dt, amount)
            assert error.details == {"balanceAfter": ds.holdings[consumer.address] + amount,
                                     "maxBalance": ds.dispenser_max}  # fmt: skip
        else:
            dispensed = client.dispense(dt, amount).event(Dispensed)
            assert (dispensed.to, dispensed.amount) == (consumer.address, amount)
            ds.minted += amount
            ds.holdings[consumer.address] += amount

    @rule(dt=datasets, who=st.integers(0, 1))
    def buy_or_dispense_the_wrong_kind(self, dt, who) -> None:
        ds = self.model[dt]
        client = self.world.as_(self.consumers[who])
        if ds.state is not DatasetState.ACTIVE:
            self.world.expect_revert("MarketDatasetNotActive", client.dispense if ds.free else client.buy, dt)
        elif ds.free:
            self.world.expect_revert("MarketNotForSale", client.buy, dt)
        else:
            self.world.expect_revert("MarketNotFree", client.dispense, dt)

    @rule(
        dt=datasets, who=st.integers(0, 1), fee_token=st.sampled_from(FEE_TOKENS), amount=fee_amounts,
        service=service_ids, replay=replays, replay_index=st.integers(0, 100),
        held_only=st.integers(0, 3).map(lambda n: n > 0),  # mostly spend a datatoken someone holds
    )  # fmt: skip
    def order(self, dt, who, fee_token, amount, service, replay, replay_index, held_only) -> None:
        held = [
            (d, i)
            for d, ds in self.model.items()
            for i, c in enumerate(self.consumers)
            if ds.holdings[c.address]
        ]
        if held_only and held:
            dt, who = held[replay_index % len(held)]
        ds, consumer = self.model[dt], self.consumers[who]
        client = self.world.as_(consumer)
        nonce, replayed = self.pick_nonce(replay, replay_index)
        quote, signature = self.make_quote(ds, consumer.address, fee_token, amount, service, nonce)
        if ds.state is not DatasetState.ACTIVE:
            self.world.expect_revert("MarketDatasetNotActive", client.start_order, quote, signature)
        elif ds.holdings[consumer.address] == 0:
            self.world.expect_revert("ERC20InsufficientBalance", client.start_order, quote, signature)
        elif not ds.services & (1 << service):
            self.world.expect_revert("MarketServiceNotOffered", client.start_order, quote, signature)
        elif replayed:
            error = self.world.expect_revert("MarketQuoteUsed", client.start_order, quote, signature)
            assert error.details["nonce"] == nonce
        else:
            tx = client.start_order(quote, signature)
            burn = tx.event(Transfer)
            assert (burn.meta.address, burn.from_, burn.to, burn.value) == (
                dt,
                consumer.address,
                ZERO_ADDRESS,
                1,
            )
            self.check_order(tx, ds, quote, consumer.address)
            self.record_native(tx)
            ds.burned += 1
            ds.holdings[consumer.address] -= 1

    @rule(
        dt=datasets, who=st.integers(0, 1), fee_token=st.sampled_from(FEE_TOKENS), amount=fee_amounts,
        service=service_ids, replay=replays, replay_index=st.integers(0, 100),
    )  # fmt: skip
    def buy_and_order(self, dt, who, fee_token, amount, service, replay, replay_index) -> None:
        ds, consumer = self.model[dt], self.consumers[who]
        client = self.world.as_(consumer)
        nonce, replayed = self.pick_nonce(replay, replay_index)
        quote, signature = self.make_quote(ds, consumer.address, fee_token, amount, service, nonce)
        if ds.state is not DatasetState.ACTIVE:
            self.world.expect_revert("MarketDatasetNotActive", client.buy_and_order, quote, signature)
        elif ds.free and ds.dispenser_max == 0:
            self.world.expect_revert("MarketDispenserLimit", client.buy_and_order, quote, signature)
        elif not ds.services & (1 << service):
            self.world.expect_revert("MarketServiceNotOffered", client.buy_and_order, quote, signature)
        elif replayed:
            self.world.expect_revert("MarketQuoteUsed", client.buy_and_order, quote, signature)
        else:
            tx = client.buy_and_order(quote, signature)
            if ds.free:
                assert not [e for e in tx.events if isinstance(e, Bought | Transfer)]
                ds.dispenser_orders.add(tx.tx_hash)
            else:
                bought = tx.event(Bought)
                assert (bought.buyer, bought.amount) == (consumer.address, 1)
                self.credit_sale(ds, ds.price, bought)
                ds.bought_orders += 1
            self.check_order(tx, ds, quote, consumer.address)
            self.record_native(tx)

    @rule(
        owed_only=st.integers(0, 3).map(lambda n: n > 0),  # mostly a payee that has something to take
        index=st.integers(0, 100),
        payee=st.integers(0, 3),
        token=st.sampled_from(("usd", "eur", "native")),
    )
    def withdraw(self, owed_only, index, payee, token) -> None:
        a = self.world.accounts
        accounts = {x.address: x for x in (a.publisher, a.provider, a.fee_collector, a.publish_market)}
        owing = sorted(key for key, amount in self.earnings.items() if amount)
        if owed_only and owing:
            address, payee_address = owing[index % len(owing)]
            account = accounts[payee_address]
        else:
            account, address = list(accounts.values())[payee], self.tokens[token]
        owed = self.earnings[(address, account.address)]
        client = self.world.as_(account)
        if owed == 0:
            self.world.expect_revert("MarketNothingToWithdraw", client.withdraw, address)
            return
        before = self.market.balance_of(address, account.address)
        tx = client.withdraw(address)
        withdrawn = tx.event(EarningsWithdrawn)
        assert (withdrawn.payee, withdrawn.token, withdrawn.amount) == (account.address, address, owed)
        gained = self.market.balance_of(address, account.address) - before
        if address == ZERO_ADDRESS:
            gained += self.world.gas_cost(tx.tx_hash)
        assert gained == owed
        self.withdrawn[address] += gained
        self.earnings[(address, account.address)] = 0

    @rule(batch=st.lists(st.tuples(datasets, epsilons), min_size=1, max_size=4))
    def post_receipts(self, batch) -> None:
        receipts, running, exceeded = [], {}, None
        for dt, epsilon in batch:
            self.receipt_jobs += 1
            job = "0x" + self.receipt_jobs.to_bytes(32, "big").hex()
            receipts.append(
                ComputeReceipt(job, dt, "0x" + "0a" * 32, "0x" + "0b" * 32, "0x" + "0c" * 32, epsilon)
            )
            running[dt] = running.get(dt, self.model[dt].spent) + epsilon
            if exceeded is None and running[dt] > self.model[dt].budget:
                exceeded = {"datatoken": dt, "spent": running[dt], "budget": self.model[dt].budget}
        provider = self.world.as_(self.world.accounts.provider)
        if exceeded is not None:
            error = self.world.expect_revert("MarketBudgetExceeded", provider.post_compute_receipts, receipts)
            assert error.details == exceeded
            return
        tx = provider.post_compute_receipts(receipts)
        posted = [(e.datatoken, e.epsilon) for e in tx.events if isinstance(e, ComputeReceiptPosted)]
        assert posted == list(batch)
        for dt, spent in running.items():
            self.model[dt].spent = spent

    @rule(dt=datasets, change=st.one_of(st.integers(-1000, -1), st.integers(0, 10**7), epsilons))
    def raise_budget(self, dt, change) -> None:
        ds = self.model[dt]
        publisher = self.world.as_(self.world.accounts.publisher)
        new = min(max(ds.budget + change, 0), MAX_EPSILON_UNITS)
        if new < ds.budget:
            error = self.world.expect_revert("MarketBudgetDecrease", publisher.raise_privacy_budget, dt, new)
            assert error.details == {"budget": ds.budget, "requested": new}
            return
        raised = publisher.raise_privacy_budget(dt, new).event(PrivacyBudgetRaised)
        assert (raised.from_, raised.to) == (ds.budget, new)
        ds.budget = new

    @rule(dt=datasets, same=replays)
    def set_state(self, dt, same) -> None:
        """Pause or resume; one time in five, ask for the state the dataset is already in."""
        ds = self.model[dt]
        flipped = DatasetState.ACTIVE if ds.state is DatasetState.PAUSED else DatasetState.PAUSED
        target = ds.state if same else flipped
        publisher = self.world.as_(self.world.accounts.publisher)
        if target is ds.state:
            self.world.expect_revert("MarketInvalidStateTransition", publisher.set_state, dt, target)
            return
        changed = publisher.set_state(dt, target).event(DatasetStateChanged)
        assert (changed.from_, changed.to) == (ds.state, target)
        ds.state = target

    @rule(bps=st.integers(0, 1000))
    def set_market_fee(self, bps) -> None:
        fee_set = self.market.set_market_fee(self.world.accounts.fee_collector.address, bps).event(
            MarketFeeSet
        )
        assert fee_set.bps == bps
        self.fee_bps = bps

    # ------------------------------------------------------------------ invariants

    @invariant()
    def datatoken_supply_is_minted_minus_burned(self) -> None:
        probe = Probe(self.w3)
        for dt in self.model:
            probe.call(dt, "totalSupply()", [], [], "uint256")
            for consumer in self.consumers:
                probe.call(dt, "balanceOf(address)", ["address"], [consumer.address], "uint256")
        values = iter(probe.run())
        for ds in self.model.values():
            assert next(values) == ds.minted - ds.burned
            for consumer in self.consumers:
                assert next(values) == ds.holdings[consumer.address]

    @invariant()
    def epsilon_spent_is_the_accepted_receipts_and_within_budget(self) -> None:
        probe = Probe(self.w3)
        for dt in self.model:
            probe.call(self.market.address, "getDataset(address)", ["address"], [dt], DATASET_TUPLE)
        for ds, record in zip(self.model.values(), probe.run(), strict=True):
            state, budget, spent = (record[_FIELD[k]] for k in ("state", "epsilonBudget", "epsilonSpent"))
            assert (spent, budget, state) == (ds.spent, ds.budget, ds.state)
            assert spent <= budget

    @invariant()
    def payments_are_conserved_per_token(self) -> None:
        probe = Probe(self.w3)
        for token in self.tokens.values():
            for payee in self.payees:
                probe.call(self.market.address, "earnings(address,address)", ["address", "address"],
                           [token, payee], "uint256")  # fmt: skip
            if token == ZERO_ADDRESS:
                probe.native_balance(self.market.address)
            else:
                probe.call(token, "balanceOf(address)", ["address"], [self.market.address], "uint256")
                for consumer in self.consumers:
                    probe.call(token, "balanceOf(address)", ["address"], [consumer.address], "uint256")
        values = iter(probe.run())
        for token in self.tokens.values():
            owed = 0
            for payee in self.payees:
                on_chain = next(values)
                assert on_chain == self.earnings[(token, payee)], (token, payee)
                owed += on_chain
            held_by_market = next(values)
            if token == ZERO_ADDRESS:
                paid = self.native_paid
            else:
                paid = self.initial[token] - sum(next(values) for _ in self.consumers)
            assert paid == owed + self.withdrawn[token], token
            assert held_by_market == owed, token

    @invariant()
    def every_order_is_paid_for(self) -> None:
        if self.w3.eth.block_number < self.start_block:
            return  # nothing happened yet (a range starting past the head is an error for anvil)
        logs = decode_logs(self.w3.eth.get_logs({"fromBlock": self.start_block, "toBlock": "latest"}))
        by_tx: dict[str, list] = defaultdict(list)
        for event in logs:
            by_tx[event.meta.tx_hash].append(event)
        orders: dict[str, int] = defaultdict(int)
        for tx_hash, events in by_tx.items():
            for order in (e for e in events if isinstance(e, OrderStarted)):
                assert order.meta.address == self.market.address
                dt = order.datatoken
                orders[dt] += 1
                burns = [(e.meta.address, e.from_, e.to, e.value) for e in events if isinstance(e, Transfer)]
                sales = [
                    (e.meta.address, e.datatoken, e.buyer, e.amount) for e in events if isinstance(e, Bought)
                ]
                burned = (dt, order.payer, ZERO_ADDRESS, 1) in burns
                bought = (self.market.address, dt, order.payer, 1) in sales
                dispensed = tx_hash in self.model[dt].dispenser_orders and self.model[dt].free
                assert [burned, bought, dispensed].count(True) == 1, f"order in {tx_hash} without payment"
        for dt, ds in self.model.items():
            assert orders[dt] == ds.orders == ds.burned + ds.bought_orders + len(ds.dispenser_orders)


def test_market_state_machine(world: World) -> None:
    run_state_machine_as_test(
        lambda: MarketMachine(world),
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
