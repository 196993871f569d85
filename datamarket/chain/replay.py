"""Rebuild the market's state from its events alone: the fold the indexer and ``datamarket audit`` share.

``replay(events, market)`` folds decoded events (:mod:`datamarket.chain.events`: the market's events and
its datatokens' ``Transfer`` events, in chain order) into a :class:`MarketState`; ``MarketState.apply``
does the same one event at a time. Nothing here talks to a node: the same events always give the same
state, which must equal what the market's getters answer at the block of the last event.

Sources. An event counts only when its ``meta.address`` is the market (a market event) or one of the
market's datatokens, known from ``DatasetPublished`` (a ``Transfer``; ``Approval`` changes nothing
here). Everything else is ignored: decoding goes by topic, so a payment token's own ``Transfer`` or a
hostile contract's imitation ``OrderStarted`` decode too.

Consistency. The fold also checks what the events let it see of the market's rules: an order is paid
for (``BURNED``: a datatoken of the payer burned in the same transaction; ``BOUGHT``: a ``Bought`` with
``minted`` false in the same transaction; ``FREE``: within the payer's dispenser limit), every mint is
a buy, a dispense or a ``Minted``, fees are the rates of the time, a quote nonce is used once, a
receipt's ``spent_after`` is the folded spent epsilon and within the budget, and so on. A breach is
recorded in ``MarketState.violations`` and the fold goes on, so an audit reports every breach at once.
:class:`ReplayError` is raised only where the fold cannot go on: an event that names a dataset never
published, a second publish of one, or events out of chain order.

Transactions. A transaction's mints, burns, buys and orders are reconciled when the next transaction's
first event arrives, or on ``settle()``: an incremental caller settles after each block it folds.

What the events cannot give. The market's owner (its ``Ownable2Step`` events are not replayed); the
market fee before the first event folded (the constructor's ``MarketFeeSet``: a replay starts at the
deploy block); whether an order's quote was signed, unexpired and allowlisted (``OrderStarted`` has no
expiry, signature or proof, and a Merkle root does not name its members); what was paid in the native
coin (``msg.value``: the earnings it credited are known); datatoken allowances (``Approval`` is not
folded); and job ids' uniqueness and receipts' order ids, which the market does not check
(``Dataset.receipts`` keeps the last receipt of each job id, ``receipt_count`` counts them all, and
``receipts_without_order`` lists those whose order is not one of the dataset's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from datamarket.chain import events as ev
from datamarket.chain.events import DatasetState, JobStatus, OrderFunding
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.errors import ChainError

BPS = 10_000


class ReplayError(ChainError):
    """The events cannot be folded: they name a dataset never published, publish one twice, or are out
    of chain order. Breaches of the market's rules are not raised but kept as :class:`Violation`."""

    code = "replay_error"


@dataclass(frozen=True)
class Violation:
    """An event, or a transaction's events, that the market's rules should have made impossible."""

    tx_hash: str
    log_index: int
    message: str


@dataclass(frozen=True)
class MetadataVersion:
    cid: str
    hash: str
    updated_by: str
    block: int
    tx_hash: str


@dataclass(frozen=True)
class Order:
    order_id: int
    consumer: str
    payer: str
    provider: str
    service_id: int
    funding: OrderFunding
    fee_token: str
    fee_amount: int
    nonce: int
    environment: str
    tx_hash: str


@dataclass(frozen=True)
class Receipt:
    job_id: str
    order_id: int
    poster: str
    epsilon: int
    spent_after: int
    status: JobStatus
    algorithm_hash: str
    output_hash: str
    tx_hash: str


@dataclass
class Dataset:
    """One dataset as its events tell it; the comments name the events that change each field."""

    datatoken: str
    index: int  # DatasetPublished
    publisher: str  # DatasetPublished, DatasetTransferred
    provider: str  # DatasetPublished, ProviderChanged
    services: int  # DatasetPublished
    epsilon_budget: int  # DatasetPublished, PrivacyBudgetRaised
    metadata_hash: str  # DatasetPublished, MetadataUpdated
    state: DatasetState = DatasetState.ACTIVE  # DatasetStateChanged
    pending_publisher: str = ZERO_ADDRESS  # DatasetTransferStarted, DatasetTransferred
    pending_provider: str = ZERO_ADDRESS  # ProviderChangeStarted, ProviderChanged
    # PriceSet (free false, dispenser limit 0) and DispenserSet (free true, payment token and price 0)
    free: bool = False
    payment_token: str = ZERO_ADDRESS
    price: int = 0
    cap: int = 0
    dispenser_limit: int = 0
    publish_fee_bps: int = 0  # PublishFeeSet
    publish_fee_collector: str = ZERO_ADDRESS  # PublishFeeSet
    allowlist_root: str = ZERO_HASH  # AllowlistSet
    minters: set[str] = field(default_factory=set)  # MinterSet, MintersCleared
    metadata_updater: str = ZERO_ADDRESS  # MetadataUpdaterSet
    # DatasetPublished, MetadataUpdated
    metadata_versions: list[MetadataVersion] = field(default_factory=list)
    epsilon_spent: int = 0  # ComputeReceiptPosted
    minted: int = 0  # Transfer from the zero address
    burned: int = 0  # Transfer to the zero address
    balances: Counter[str] = field(default_factory=Counter)  # Transfer
    dispensed: Counter[str] = field(default_factory=Counter)  # Dispensed, OrderStarted (FREE, to the payer)
    orders: dict[int, Order] = field(default_factory=dict)  # OrderStarted
    receipts: dict[str, Receipt] = field(default_factory=dict)  # ComputeReceiptPosted, by job id
    receipt_count: int = 0  # ComputeReceiptPosted

    @property
    def total_supply(self) -> int:
        return self.minted - self.burned

    @property
    def has_allowlist(self) -> bool:
        return self.allowlist_root != ZERO_HASH

    def receipts_without_order(self) -> list[str]:
        """Job ids whose receipt names an order id that is not one of this dataset's orders (the market
        does not check a receipt's order id: the provider answers for it)."""
        return [job for job, receipt in self.receipts.items() if receipt.order_id not in self.orders]


@dataclass
class _TxLedger:
    """What one transaction minted, burned, bought and ordered, per (datatoken, account): reconciled
    when the transaction ends, since a buy's ``Bought`` comes before its mint and a dispense's after."""

    tx_hash: str = ""
    log_index: int = 0
    mints: Counter[tuple[str, str]] = field(default_factory=Counter)  # Transfer from zero
    mint_causes: Counter[tuple[str, str]] = field(default_factory=Counter)  # Bought(minted), Dispensed...
    burns: Counter[tuple[str, str]] = field(default_factory=Counter)  # Transfer to zero
    burned_orders: Counter[tuple[str, str]] = field(default_factory=Counter)  # OrderStarted BURNED, by payer
    unminted_buys: Counter[tuple[str, str]] = field(default_factory=Counter)  # Bought(minted false)
    bought_orders: Counter[tuple[str, str]] = field(default_factory=Counter)  # OrderStarted BOUGHT, by payer


@dataclass
class MarketState:
    """The market as its events tell it. Feed events with :meth:`apply` in chain order and call
    :meth:`settle` after the last one (:func:`replay` does both)."""

    market: str
    fee_collector: str = ZERO_ADDRESS  # MarketFeeSet (the constructor emits the first)
    fee_bps: int = 0  # MarketFeeSet
    orders_paused: bool = False  # OrdersPausedSet
    order_count: int = 0  # OrderStarted: the next order id
    datasets: dict[str, Dataset] = field(default_factory=dict)  # DatasetPublished, by datatoken
    used_nonces: dict[str, set[int]] = field(default_factory=dict)  # OrderStarted, per provider
    # What each payee may withdraw (only non-zero entries). Bought credits the market fee collector, the
    # publish fee collector and the publisher of the time; OrderStarted credits the provider its fee;
    # EarningsWithdrawn takes the payee's all.
    earnings: Counter[tuple[str, str]] = field(default_factory=Counter)  # by (token, payee)
    violations: list[Violation] = field(default_factory=list)
    _tx: _TxLedger = field(default_factory=_TxLedger, init=False, repr=False)
    _position: tuple[int, int] = field(default=(-1, -1), init=False, repr=False)

    @property
    def dataset_count(self) -> int:
        return len(self.datasets)

    # ------------------------------------------------------------------ folding

    def apply(self, event: Any) -> None:
        """Fold one event; events from neither the market nor one of its datatokens are ignored."""
        source = event.meta.address
        if source == self.market:
            if ev.MARKET_EVENTS.get(type(event).__name__) is not type(event):
                return
        elif not (isinstance(event, ev.Transfer) and source in self.datasets):
            return
        position = (event.meta.block_number, event.meta.log_index)
        if position <= self._position:
            raise ReplayError(f"event at block {position[0]} log {position[1]} is out of chain order")
        self._position = position
        if event.meta.tx_hash != self._tx.tx_hash:
            self.settle()
            self._tx.tx_hash = event.meta.tx_hash
        self._tx.log_index = event.meta.log_index
        self.HANDLERS[type(event)](self, event)

    def settle(self) -> None:
        """Reconcile the last transaction's mints, burns, buys and orders (see :class:`_TxLedger`)."""
        tx = self._tx
        checks = (
            (tx.mints, tx.mint_causes, "minted {} of {} to {}; bought, dispensed or minted {}"),
            (tx.burns, tx.burned_orders, "burned {} of {} from {}; {} BURNED orders"),
            (tx.unminted_buys, tx.bought_orders, "bought {} unminted of {} as {}; {} BOUGHT orders"),
        )
        for found, expected, message in checks:
            for key in sorted(found.keys() | expected.keys()):
                if found[key] != expected[key]:
                    self._violation(message.format(found[key], *key, expected[key]))
        self._tx = _TxLedger()

    # ------------------------------------------------------------------ dataset life

    def _published(self, e: ev.DatasetPublished) -> None:
        if e.datatoken in self.datasets:
            raise ReplayError(f"dataset {e.datatoken} is published twice")
        if e.index != self.dataset_count:
            self._violation(f"dataset {e.datatoken} has index {e.index}, expected {self.dataset_count}")
        ds = Dataset(
            datatoken=e.datatoken, index=e.index, publisher=e.publisher, provider=e.provider,
            services=e.services, epsilon_budget=e.epsilon_budget, metadata_hash=e.metadata_hash,
        )  # fmt: skip
        ds.metadata_versions.append(_version(e, e.publisher))
        self.datasets[e.datatoken] = ds

    def _price_set(self, e: ev.PriceSet) -> None:
        ds = self._dataset(e)
        if ds.free and ds.total_supply:
            self._violation(f"{e.datatoken} became priced with {ds.total_supply} free datatokens out")
        ds.free, ds.dispenser_limit, ds.cap = False, 0, e.cap
        ds.payment_token, ds.price = e.payment_token, e.price

    def _dispenser_set(self, e: ev.DispenserSet) -> None:
        ds = self._dataset(e)
        ds.free, ds.dispenser_limit, ds.cap = True, e.limit, e.cap
        ds.payment_token, ds.price = ZERO_ADDRESS, 0

    def _publish_fee_set(self, e: ev.PublishFeeSet) -> None:
        ds = self._dataset(e)
        ds.publish_fee_collector, ds.publish_fee_bps = e.collector, e.bps

    def _metadata_updated(self, e: ev.MetadataUpdated) -> None:
        ds = self._dataset(e)
        if e.updated_by not in (ds.publisher, ds.metadata_updater):
            self._violation(f"{e.updated_by} updated {e.datatoken}'s metadata: not publisher nor updater")
        ds.metadata_hash = e.metadata_hash
        ds.metadata_versions.append(_version(e, e.updated_by))

    def _state_changed(self, e: ev.DatasetStateChanged) -> None:
        ds = self._dataset(e)
        if e.from_ != ds.state or ds.state == DatasetState.RETIRED:
            self._violation(f"{e.datatoken} moved {e.from_.name} -> {e.to.name} from state {ds.state.name}")
        ds.state = e.to

    def _allowlist_set(self, e: ev.AllowlistSet) -> None:
        self._dataset(e).allowlist_root = e.root

    def _metadata_updater_set(self, e: ev.MetadataUpdaterSet) -> None:
        self._dataset(e).metadata_updater = e.updater

    def _minter_set(self, e: ev.MinterSet) -> None:
        minters = self._dataset(e).minters
        if e.allowed:
            minters.add(e.account)
        else:
            minters.discard(e.account)

    def _minters_cleared(self, e: ev.MintersCleared) -> None:
        self._dataset(e).minters.clear()

    def _provider_change_started(self, e: ev.ProviderChangeStarted) -> None:
        ds = self._dataset(e)
        if e.provider != ds.provider:
            self._violation(f"provider change of {e.datatoken} names {e.provider}, not {ds.provider}")
        ds.pending_provider = e.new_provider

    def _provider_changed(self, e: ev.ProviderChanged) -> None:
        ds = self._dataset(e)
        if (e.from_, e.to) != (ds.provider, ds.pending_provider):
            self._violation(f"provider of {e.datatoken} changed {e.from_} -> {e.to}; "
                            f"expected {ds.provider} -> {ds.pending_provider}")  # fmt: skip
        ds.provider, ds.pending_provider = e.to, ZERO_ADDRESS

    def _transfer_started(self, e: ev.DatasetTransferStarted) -> None:
        ds = self._dataset(e)
        if e.from_ != ds.publisher:
            self._violation(f"{e.from_} offered {e.datatoken}, published by {ds.publisher}")
        ds.pending_publisher = e.to

    def _transferred(self, e: ev.DatasetTransferred) -> None:
        """Then MintersCleared, MetadataUpdaterSet(0) and ProviderChangeStarted(provider, 0) as needed."""
        ds = self._dataset(e)
        if (e.from_, e.to) != (ds.publisher, ds.pending_publisher):
            self._violation(f"{e.datatoken} went {e.from_} -> {e.to}; "
                            f"expected {ds.publisher} -> {ds.pending_publisher}")  # fmt: skip
        ds.publisher, ds.pending_publisher = e.to, ZERO_ADDRESS

    def _budget_raised(self, e: ev.PrivacyBudgetRaised) -> None:
        ds = self._dataset(e)
        if e.from_ != ds.epsilon_budget or e.to < e.from_:
            self._violation(f"budget of {e.datatoken} went {e.from_} -> {e.to} from {ds.epsilon_budget}")
        ds.epsilon_budget = e.to

    # ------------------------------------------------------------------ datatokens

    def _transfer(self, e: ev.Transfer) -> None:
        """A datatoken's Transfer: balances, and supply from mints (from zero) and burns (to zero)."""
        ds = self.datasets[e.meta.address]
        if e.from_ == ZERO_ADDRESS:
            ds.minted += e.value
            self._tx.mints[ds.datatoken, e.to] += e.value
        else:
            ds.balances[e.from_] -= e.value
        if e.to == ZERO_ADDRESS:
            ds.burned += e.value
            self._tx.burns[ds.datatoken, e.from_] += e.value
        else:
            ds.balances[e.to] += e.value
        if ds.cap and ds.total_supply > ds.cap:
            self._violation(f"supply of {ds.datatoken} is {ds.total_supply}, above its cap {ds.cap}")

    def _minted(self, e: ev.Minted) -> None:
        ds = self._dataset(e)
        if e.by != ds.publisher and e.by not in ds.minters:
            self._violation(f"{e.by} minted {e.datatoken}, neither its publisher nor a minter")
        self._tx.mint_causes[e.datatoken, e.to] += e.amount

    def _dispensed(self, e: ev.Dispensed) -> None:
        ds = self._dataset(e)
        self._check_open(ds)
        self._take_from_dispenser(ds, e.to, e.amount)
        self._tx.mint_causes[e.datatoken, e.to] += e.amount

    def _bought(self, e: ev.Bought) -> None:
        """Credits the market fee collector, the publish fee collector and the publisher of the time."""
        ds = self._dataset(e)
        self._check_open(ds)
        expected = (ds.payment_token, ds.price * e.amount, e.cost * self.fee_bps // BPS,
                    e.cost * ds.publish_fee_bps // BPS)  # fmt: skip
        if ds.free or (e.payment_token, e.cost, e.market_fee, e.publish_fee) != expected:
            self._violation(
                f"{e.datatoken} sold {e.amount} for {e.cost} {e.payment_token} (fees {e.market_fee}, "
                f"{e.publish_fee}); expected {expected}, free {ds.free}"
            )
        self._credit(e.payment_token, self.fee_collector, e.market_fee)
        self._credit(e.payment_token, ds.publish_fee_collector, e.publish_fee)
        self._credit(e.payment_token, ds.publisher, e.cost - e.market_fee - e.publish_fee)
        if e.minted:
            self._tx.mint_causes[e.datatoken, e.buyer] += e.amount
        else:
            self._tx.unminted_buys[e.datatoken, e.buyer] += e.amount

    # ------------------------------------------------------------------ orders and receipts

    def _order_started(self, e: ev.OrderStarted) -> None:
        """Records the order, uses its quote nonce, credits the provider's fee and checks its funding."""
        ds = self._dataset(e)
        self._check_open(ds)
        if e.order_id != self.order_count:
            self._violation(f"order id {e.order_id}, expected {self.order_count}")
        if e.provider != ds.provider:
            self._violation(f"order of {e.datatoken} names provider {e.provider}, not {ds.provider}")
        if not ds.services >> e.service_id & 1:
            self._violation(f"order of {e.datatoken} for service {e.service_id}, not offered")
        nonces = self.used_nonces.setdefault(e.provider, set())
        if e.quote_nonce in nonces:
            self._violation(f"quote nonce {e.quote_nonce} of {e.provider} used again")
        nonces.add(e.quote_nonce)
        if e.funding == OrderFunding.BURNED:
            self._tx.burned_orders[e.datatoken, e.payer] += 1
        elif e.funding == OrderFunding.BOUGHT:
            self._tx.bought_orders[e.datatoken, e.payer] += 1
        else:
            self._take_from_dispenser(ds, e.payer, 1)
        self._credit(e.fee_token, e.provider, e.fee_amount)
        ds.orders[e.order_id] = Order(
            e.order_id, e.consumer, e.payer, e.provider, e.service_id, e.funding, e.fee_token, e.fee_amount,
            e.quote_nonce, e.environment, e.meta.tx_hash,
        )  # fmt: skip
        self.order_count = max(self.order_count, e.order_id + 1)

    def _receipt_posted(self, e: ev.ComputeReceiptPosted) -> None:
        ds = self._dataset(e)
        ds.epsilon_spent += e.epsilon
        if e.poster != ds.provider:
            self._violation(f"{e.poster} posted a receipt of {e.datatoken}, whose provider is {ds.provider}")
        if e.spent_after != ds.epsilon_spent or ds.epsilon_spent > ds.epsilon_budget:
            self._violation(f"receipt {e.job_id} says spent {e.spent_after}; folded spent "
                            f"{ds.epsilon_spent} of budget {ds.epsilon_budget}")  # fmt: skip
        ds.receipts[e.job_id] = Receipt(e.job_id, e.order_id, e.poster, e.epsilon, e.spent_after, e.status,
                                        e.algorithm_hash, e.output_hash, e.meta.tx_hash)  # fmt: skip
        ds.receipt_count += 1

    # ------------------------------------------------------------------ market-wide

    def _withdrawn(self, e: ev.EarningsWithdrawn) -> None:
        owed = self.earnings.pop((e.token, e.payee), 0)
        if e.amount != owed or owed == 0:
            self._violation(f"{e.payee} withdrew {e.amount} {e.token} of {owed} owed")
        self._credit(e.token, e.payee, owed - e.amount)

    def _market_fee_set(self, e: ev.MarketFeeSet) -> None:
        self.fee_collector, self.fee_bps = e.collector, e.bps

    def _orders_paused_set(self, e: ev.OrdersPausedSet) -> None:
        self.orders_paused = e.paused

    HANDLERS: ClassVar[dict[type, Callable[[MarketState, Any], None]]] = {
        ev.DatasetPublished: _published, ev.PriceSet: _price_set, ev.DispenserSet: _dispenser_set,
        ev.PublishFeeSet: _publish_fee_set, ev.MetadataUpdated: _metadata_updated,
        ev.DatasetStateChanged: _state_changed, ev.AllowlistSet: _allowlist_set,
        ev.MetadataUpdaterSet: _metadata_updater_set, ev.MinterSet: _minter_set,
        ev.MintersCleared: _minters_cleared, ev.ProviderChangeStarted: _provider_change_started,
        ev.ProviderChanged: _provider_changed, ev.DatasetTransferStarted: _transfer_started,
        ev.DatasetTransferred: _transferred, ev.PrivacyBudgetRaised: _budget_raised, ev.Minted: _minted,
        ev.Dispensed: _dispensed, ev.Bought: _bought, ev.OrderStarted: _order_started,
        ev.ComputeReceiptPosted: _receipt_posted, ev.EarningsWithdrawn: _withdrawn,
        ev.MarketFeeSet: _market_fee_set, ev.OrdersPausedSet: _orders_paused_set,
        ev.Transfer: _transfer,
    }  # fmt: skip

    # ------------------------------------------------------------------ helpers

    def _dataset(self, event: Any) -> Dataset:
        ds = self.datasets.get(event.datatoken)
        if ds is None:
            raise ReplayError(
                f"{type(event).__name__} in {event.meta.tx_hash} names {event.datatoken}, "
                f"which is not a published dataset of market {self.market}"
            )
        return ds

    def _credit(self, token: str, payee: str, amount: int) -> None:
        if amount:  # as the market: a zero credit names nobody
            self.earnings[token, payee] += amount

    def _check_open(self, ds: Dataset) -> None:
        if ds.state != DatasetState.ACTIVE or self.orders_paused:
            self._violation(f"{ds.datatoken} traded while {ds.state.name} (paused: {self.orders_paused})")

    def _take_from_dispenser(self, ds: Dataset, account: str, amount: int) -> None:
        ds.dispensed[account] += amount
        if not ds.free or ds.dispensed[account] > ds.dispenser_limit:
            self._violation(f"{account} received {ds.dispensed[account]} of {ds.datatoken} free "
                            f"(free {ds.free}, limit {ds.dispenser_limit})")  # fmt: skip

    def _violation(self, message: str) -> None:
        self.violations.append(Violation(self._tx.tx_hash, self._tx.log_index, message))


def _version(e: ev.DatasetPublished | ev.MetadataUpdated, by: str) -> MetadataVersion:
    return MetadataVersion(e.metadata_cid, e.metadata_hash, by, e.meta.block_number, e.meta.tx_hash)


def replay(events: Iterable[Any], market: str) -> MarketState:
    """The state of ``market`` after ``events`` (decoded, in chain order; others' events are ignored)."""
    state = MarketState(market)
    for event in events:
        state.apply(event)
    state.settle()
    return state


__all__ = ["Dataset", "MarketState", "MetadataVersion", "Order", "Receipt", "ReplayError", "Violation",
           "replay"]  # fmt: skip
