"""A stateful property test of the market against a real anvil, with the event replay as its model.

Hypothesis drives random sequences of every market operation, sent by three accounts that both publish
and consume, two providers that both sign quotes, the fee collectors and the market owner: publishes
(priced in two ERC-20s or the native coin, or free), buys, dispenses, orders (startOrder and
buyAndOrder, priced and free, with fresh, replayed or stale-provider quotes), withdrawals (to the payee
or to another account), compute receipts, budget raises, state changes, the market fee and pause,
metadata updates and updaters, minters and mints, dataset transfers, provider rotations, price and
dispenser switches, allowlists and publish-fee collectors; some by an account that must be refused.

The model is :mod:`datamarket.chain.replay`: each transaction's events are folded into a
``MarketState``, which tells each rule whether its call must revert, and with which error. After every
step:

* replaying every event since the deploy block (``eth_getLogs`` of the market and its datatokens) finds
  no breach of the market's rules and gives the model's state, which equals what the getters answer;
* the market holds, per payment token, exactly the earnings its payees have not withdrawn;
* a dataset's spent epsilon never exceeds its budget;
* each datatoken's supply is what buys, dispenses and mints created minus what orders burned;
* every order was paid for in its transaction (its payer's datatoken burned, or one bought and never
  minted), or was free within the payer's dispenser limit;
* no provider's quote nonce was used twice.

Each Hypothesis example starts from an ``evm_snapshot`` and is reverted at teardown.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
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
from datamarket.chain.allowlist import Allowlist
from datamarket.chain.devchain import dev_account
from datamarket.chain.events import (
    Bought,
    DatasetPublished,
    DatasetState,
    Dispensed,
    DispenserSet,
    EarningsWithdrawn,
    JobStatus,
    Minted,
    OrderFunding,
    OrderStarted,
    PriceSet,
    Transfer,
    decode_logs,
)
from datamarket.chain.market import (
    MAX_EPSILON_UNITS,
    ComputeReceipt,
    Market,
    TxResult,
    epsilon_units,
    mint_test_token,
)
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH, ProviderFee, sign_quote
from datamarket.chain.replay import Dataset, replay
from tests.conftest import CONSUMER_FUNDS, ONE, World, evm_revert, evm_snapshot, metadata_hash

pytestmark = pytest.mark.integration

TOKEN_KINDS = ("usd", "eur", "native")
FEE_TOKENS = ("none", "usd", "eur", "native")
prices = st.one_of(st.just(0), st.integers(1, 1000), st.integers(1, ONE))
service_ids = st.sampled_from([0, 0, 1, 1, 2])  # 2 is never offered: a few refusals
fee_amounts = st.one_of(st.just(0), st.integers(1, 10**6), st.integers(1, ONE))
epsilons = st.decimals(min_value=0, max_value=3, places=6, allow_nan=False, allow_infinity=False).map(
    epsilon_units
)
small_epsilons = st.one_of(st.just(0), st.integers(1, 500_000))  # receipts: up to 0.5 epsilon each
users = st.integers(0, 2)  # the three accounts that publish and consume
anyone = st.integers(0, 8)  # any account of the machine's pool
# Hypothesis favours the bounds of a range: a flag from its middle comes out closer to its odds.
sometimes = st.integers(0, 4).map(lambda n: n == 2)  # true about one time in five
mostly = st.integers(0, 4).map(lambda n: n != 2)  # true about four times in five
allowlist_choices = st.integers(0, 3)  # 0: anyone may order; else one of three lists
picks = st.integers(0, 100)  # picks one of the candidates a rule prefers
# Mostly what the dataset asks; else a buyer names a wrong token, or a maximum below the price.
wrongs = st.sampled_from(["", "", "", "token", "price"])
fees = st.tuples(st.sampled_from(FEE_TOKENS), fee_amounts)  # a quote's fee token and amount
# Mostly a fresh quote by the dataset's provider; else a nonce it used, or signed by the other provider.
quote_kinds = st.sampled_from(["fresh", "fresh", "fresh", "replayed", "stale"])
one_receipt = st.tuples(picks, small_epsilons, st.sampled_from(JobStatus))  # (which order, epsilon, status)
receipt_batches = st.lists(one_receipt, min_size=1, max_size=3)
budget_changes = st.one_of(st.integers(-1000, -1), st.integers(0, 10**7), epsilons)
states = st.sampled_from([DatasetState.ACTIVE, DatasetState.PAUSED] * 3 + [DatasetState.RETIRED])
ALGORITHM, OUTPUT = "0x" + "0a" * 32, "0x" + "0b" * 32


def or_nobody(accounts: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    """An account's index, or about one time in five None: the zero address (a role removed, an offer
    withdrawn, or an address the market refuses)."""
    return st.tuples(accounts, sometimes).map(lambda drawn: None if drawn[1] else drawn[0])


PUBLISH_ARGS = {
    "who": users,
    "token": st.sampled_from(TOKEN_KINDS),
    "price": prices,
    "publish_fee_bps": st.one_of(st.just(0), st.integers(0, 1000)),
    "services": st.integers(1, 3),
    "limit": st.integers(0, 4),
    "budget": epsilons,
    "cap": st.one_of(st.just(0), st.just(0), st.integers(1, 6)),
    "provider": st.integers(0, 1),
    "allowlist": allowlist_choices,
}

_GET_DATASET = next(f for f in artifacts.load("DataMarket").abi if f.get("name") == "getDataset")
_RECORD_FIELDS = [c["name"] for c in _GET_DATASET["outputs"][0]["components"]]
DATASET_TUPLE = "(" + ",".join(c["type"] for c in _GET_DATASET["outputs"][0]["components"]) + ")"
MARKET_CONFIG_TUPLE = "(address,uint16,bool,uint32,uint40)"


class Probe:
    """Reads many values in one JSON-RPC batch, at one state: the invariants run after every step, and
    one round trip for all their reads keeps the machine fast. ``expect`` also names the value a read
    must have, which ``check`` asserts."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.requests: list[tuple[str, list]] = []
        self.decoders: list[Callable[[str], Any]] = []
        self.expected: list[tuple[int, str, Any]] = []  # (read index, label, expected value)

    def read(self, to: str, signature: str, args: list, out_type: str = "uint256") -> None:
        self.requests.append(("eth_call", [{"to": to, "data": _calldata(signature, args)}, "latest"]))
        self.decoders.append(_decoder(out_type))

    def balance(self, token: str, account: str) -> None:
        """An ERC-20 balance, or the native coin's for the zero address."""
        if token == ZERO_ADDRESS:
            self.requests.append(("eth_getBalance", [account, "latest"]))
            self.decoders.append(_decoder("uint256"))
        else:
            self.read(token, "balanceOf(address)", [account])

    def expect(
        self, label: str, expected: Any, to: str, signature: str, args: list, out_type: str = "uint256"
    ):
        self.expected.append((len(self.requests), label, expected))
        self.read(to, signature, args, out_type)

    def run(self) -> list[Any]:
        if not self.requests:
            return []
        responses = self.w3.provider.make_batch_request(self.requests)
        assert isinstance(responses, list), responses
        return [decoder(r["result"]) for decoder, r in zip(self.decoders, responses, strict=True)]

    def check(self) -> None:
        """Every expected read must have its value; the message names each that does not (each field, for
        a struct expected as a dict)."""
        values = self.run()
        wrong = []
        for i, label, expected in self.expected:
            actual = values[i]
            if isinstance(expected, dict):
                actual = dict(zip(expected, actual, strict=True))
                wrong += [f"{label}.{k}: chain {actual[k]!r}, events {v!r}" for k, v in expected.items()
                          if actual[k] != v]  # fmt: skip
            elif actual != expected:
                wrong.append(f"{label}: chain {actual!r}, events {expected!r}")
        assert not wrong, "\n".join(wrong)


# Results are decoded by hand, a word at a time (all the types read here are static): thousands are read
# after every step, and eth_abi is slow at it. Values come out as the replay keeps them.
_WORD: dict[str, Callable[[str], Any]] = {
    "address": lambda word: to_checksum_address("0x" + word[-40:]),
    "bool": lambda word: int(word, 16) == 1,
    "bytes32": lambda word: "0x" + word,
}


@cache
def _decoder(abi_type: str) -> Callable[[str], Any]:
    """A decoder of one ``abi_type`` result: a uint, bool, address or bytes32, or a tuple of them."""
    types = abi_type.strip("()").split(",")
    words = [_WORD.get(t, lambda word: int(word, 16)) for t in types]
    if not abi_type.startswith("("):
        return lambda raw: words[0](raw[2:])
    return lambda raw: [word(raw[2 + 64 * i : 66 + 64 * i]) for i, word in enumerate(words)]


@cache
def _selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


def _calldata(signature: str, args: list[str | int]) -> str:
    """The call data of ``signature`` (e.g. ``earnings(address,address)``), whose arguments are all
    addresses or unsigned integers, each one ABI word."""
    words = (a[2:].lower().rjust(64, "0") if isinstance(a, str) else format(a, "064x") for a in args)
    return "0x" + _selector(signature) + "".join(words)


def first(*checks: tuple[Any, str]) -> str | None:
    """The error of the first failed check, in the order the contract checks them; None: it succeeds."""
    return next((code for failed, code in checks if failed), None)


def record_of(ds: Dataset) -> dict[str, Any]:
    """What ``getDataset`` must answer for a replayed dataset, by field, in the struct's order."""
    values = {
        "publisher": ds.publisher, "state": int(ds.state), "services": ds.services, "free": ds.free,
        "hasAllowlist": ds.has_allowlist, "capped": ds.cap != 0, "publishFeeBps": ds.publish_fee_bps,
        "index": ds.index, "provider": ds.provider, "epsilonBudget": ds.epsilon_budget,
        "epsilonSpent": ds.epsilon_spent, "paymentToken": ds.payment_token, "price": ds.price, "cap": ds.cap,
        "dispenserLimit": ds.dispenser_limit, "metadataHash": ds.metadata_hash,
        "publishFeeCollector": ds.publish_fee_collector, "allowlistRoot": ds.allowlist_root,
    }  # fmt: skip
    return {name: values[name] for name in _RECORD_FIELDS}


class MarketMachine(RuleBasedStateMachine):
    datasets = Bundle("datasets")

    def __init__(self, world: World, clients: dict[str, Market]) -> None:
        super().__init__()
        self.world = world
        self.w3 = world.w3
        self.market = world.market
        self.pool = self.pool_of(world)
        self.users, self.providers, self.collectors = self.pool[0:3], self.pool[3:5], self.pool[5:7]
        self.by_address = {account.address: account for account in self.pool}
        self.tokens = {"usd": world.usd, "eur": world.eur, "native": ZERO_ADDRESS}
        everyone = [u.address for u in self.users]
        lists = [Allowlist.of(everyone[:2]), Allowlist.of(everyone[1:]), Allowlist.of(everyone)]
        self.allowlist_roots = [ZERO_HASH, *(al.root for al in lists)]
        self.allowlists = {al.root: al for al in lists}
        self.jobs = itertools.count(1)
        self.documents = itertools.count(1)
        self.snapshot = evm_snapshot(self.w3)
        self.clients = clients  # a client for each account of the pool, by address
        self.events: list[Any] = []  # every event since the deploy block, as chain_events last read them
        self.read_up_to = world.deploy_block - 1
        self.unread = True  # blocks were mined since chain_events read the logs
        self.state = replay(self.chain_events(), self.market.address)  # the constructor's MarketFeeSet

    @staticmethod
    def pool_of(world: World) -> list[LocalAccount]:
        """Everyone who acts: three users who publish and consume, two providers, two fee collectors, an
        outsider and the market owner. ``anyone`` indexes it; the invariants read each one's values."""
        a = world.accounts
        return [a.publisher, a.consumer, a.consumer2, a.provider, dev_account(9), a.fee_collector,
                a.publish_market, a.outsider, a.owner]  # fmt: skip

    def teardown(self) -> None:
        evm_revert(self.w3, self.snapshot)

    # ------------------------------------------------------------------ helpers

    def client(self, account: LocalAccount) -> Market:
        return self.clients[account.address]

    def ds(self, dt: str) -> Dataset:
        return self.state.datasets[dt]

    def attempt(self, error: str | None, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Send ``action``: it must revert with ``error``, or (None) succeed, and its events go into the
        model. Returns the TxResult (or Published), or the ContractRevert."""
        if error is not None:
            return self.world.expect_revert(error, action, *args, **kwargs)
        result = action(*args, **kwargs)
        self.unread = True
        tx = result if isinstance(result, TxResult) else result.tx
        for event in tx.events:
            self.state.apply(event)
        self.state.settle()
        return result

    def publisher_or_not(self, dt: str, impostor: bool) -> tuple[Market, tuple[bool, str]]:
        """The dataset's publisher, or (impostor) another account, whom the market must refuse."""
        publisher = self.ds(dt).publisher
        if not impostor:
            return self.client(self.by_address[publisher]), (False, "")
        other = next(u for u in self.pool if u.address != publisher)
        return self.client(other), (True, "MarketNotPublisher")

    def likely(self, dt: str, usually: bool, pick: int, fits: Callable[[Dataset], Any]) -> str:
        """Usually a dataset the call can succeed on, when there is one; else the drawn one: most calls
        should go through, and the rest meet the market's refusals."""
        fitting = [d for d, ds in self.state.datasets.items() if fits(ds)] if usually else []
        return fitting[pick % len(fitting)] if fitting else dt

    @staticmethod
    def offered(ds: Dataset, service: int, usually: bool) -> int:
        """``service``, or usually, when the dataset does not offer it, the first service it offers."""
        if usually and not ds.services >> service & 1:
            return (ds.services & -ds.services).bit_length() - 1
        return service

    def fresh_metadata(self) -> tuple[str, str]:
        n = next(self.documents)
        return f"bafk-document-{n}", metadata_hash(f"document {n}".encode())

    def quote(
        self, ds: Dataset, consumer: str, fee: tuple[str, int], service: int, kind: str, pick: int
    ) -> tuple[ProviderFee, bytes, list[str], list[tuple[Any, str]]]:
        """A quote for ``consumer`` signed by the dataset's provider (kind stale: by the other provider),
        with a fresh nonce or (kind replayed) one the provider used; its allowlist proof; and the checks
        the market makes of it, in its order."""
        stale = kind == "stale"
        provider = next(p for p in self.providers if (p.address == ds.provider) != stale)
        used = sorted(self.state.used_nonces.get(ds.provider, ()))
        nonce = used[pick % len(used)] if kind == "replayed" and used else self.world.next_nonce()
        fee_token, amount = (ZERO_ADDRESS, 0) if fee[0] == "none" else (self.tokens[fee[0]], fee[1])
        quote = ProviderFee(
            datatoken=ds.datatoken, consumer=consumer, service_id=service, fee_token=fee_token, amount=amount,
            valid_until=self.world.now() + 3600, nonce=nonce,
        )  # fmt: skip
        signature = sign_quote(quote, provider.key, chain_id=self.market.chain_id, market=self.market.address)
        allowlist = self.allowlists.get(ds.allowlist_root)
        allowed = allowlist is None or _listed(allowlist, consumer)
        proof = allowlist.proof(consumer) if allowlist is not None and allowed else []
        checks = [
            (not ds.services >> service & 1, "MarketServiceNotOffered"),
            (stale, "MarketQuoteSignerMismatch"),
            (nonce in used, "MarketQuoteUsed"),
            (not allowed, "MarketNotAllowlisted"),
        ]
        return quote, signature, proof, checks

    def check_order(self, tx: TxResult, dt: str, quote: ProviderFee, payer: str, funding: OrderFunding):
        order = tx.event(OrderStarted)
        assert order == OrderStarted(
            meta=order.meta, datatoken=dt, consumer=quote.consumer, provider=self.ds(dt).provider,
            order_id=self.state.order_count - 1, payer=payer, funding=funding, service_id=quote.service_id,
            fee_token=quote.fee_token, fee_amount=quote.amount, quote_nonce=quote.nonce,
            environment=ZERO_HASH,
        )  # fmt: skip

    def open_checks(self, ds: Dataset) -> list[tuple[Any, str]]:
        return [(ds.state != DatasetState.ACTIVE, "MarketDatasetNotActive"),
                (self.state.orders_paused, "MarketOrdersPaused")]  # fmt: skip

    def payment(self, ds: Dataset, wrong: str) -> tuple[str, int]:
        """The payment token and maximum price a buyer names: the dataset's, or a wrong token or a max
        below the price (nothing to name wrong for a free dataset but a token and price at all)."""
        token, max_price = ds.payment_token, ds.price
        if wrong == "token":
            token = next(t for t in self.tokens.values() if t != ds.payment_token)
        elif wrong == "price":
            max_price = ds.price - 1 if ds.price else (1 if ds.free else 0)
        return token, max_price

    def chain_events(self) -> list[Any]:
        """Every event of the market and its datatokens since the deploy block, decoded, in chain order.

        Blocks read before are not read again (the chain only grows within an example): after a step that
        sent a transaction, the new blocks' logs of the market are read, then of every datatoken known.
        """
        if not self.unread:
            return self.events
        head = self.w3.eth.block_number
        window = {"fromBlock": self.read_up_to + 1, "toBlock": head}
        logs = list(self.w3.eth.get_logs({"address": self.market.address, **window}))
        new = decode_logs(logs)
        datatokens = {e.datatoken for e in [*self.events, *new] if isinstance(e, DatasetPublished)}
        if datatokens:
            logs += self.w3.eth.get_logs({"address": sorted(datatokens), **window})
            logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
            new = decode_logs(logs)
        self.events += new
        self.read_up_to, self.unread = head, False
        return self.events

    # ------------------------------------------------------------------ publish

    def publish(self, free: bool, a: dict[str, Any]) -> str:
        """Publishes with the drawn PUBLISH_ARGS ``a``; a free dataset is also given a token and price,
        which the market must ignore (and a priced one a dispenser limit)."""
        cid, sha = self.fresh_metadata()
        fee_bps = a["publish_fee_bps"]
        params = self.world.params(
            provider=self.providers[a["provider"]].address, metadata_cid=cid, metadata_hash=sha, free=free,
            payment_token=self.tokens[a["token"]], price=a["price"], publish_fee_bps=fee_bps,
            publish_fee_collector=self.collectors[1].address if fee_bps else ZERO_ADDRESS,
            services=a["services"], dispenser_limit=a["limit"], epsilon_budget=a["budget"], cap=a["cap"],
            allowlist_root=self.allowlist_roots[a["allowlist"]],
        )  # fmt: skip
        publisher = self.users[a["who"]].address
        published = self.attempt(None, self.client(self.by_address[publisher]).publish, params)
        ds = self.ds(published.datatoken)
        assert (ds.publisher, ds.free, ds.index) == (publisher, free, self.state.dataset_count - 1)
        return published.datatoken

    @initialize(target=datasets, **PUBLISH_ARGS)
    def first_priced(self, **args) -> str:
        return self.publish(False, args)

    @initialize(target=datasets, **PUBLISH_ARGS)
    def first_free(self, **args) -> str:
        return self.publish(True, args)

    @rule(target=datasets, free=st.booleans(), **PUBLISH_ARGS)
    def publish_another(self, free, **args) -> str:
        return self.publish(free, args)

    # ------------------------------------------------------------------ buy, dispense, mint

    @rule(dt=datasets, usually=mostly, pick=picks, who=users, amount=st.integers(1, 3), wrong=wrongs)
    def buy(self, dt, usually, pick, who, amount, wrong) -> None:
        dt = self.likely(dt, usually, pick, lambda ds: not ds.free and ds.state == DatasetState.ACTIVE)
        ds, buyer = self.ds(dt), self.users[who]
        token, max_price = self.payment(ds, wrong)
        error = first(
            *self.open_checks(ds),
            (ds.free, "MarketIsFree"),
            (token != ds.payment_token, "MarketPaymentTokenMismatch"),
            (max_price < ds.price, "MarketPriceAboveMax"),
            (ds.cap and ds.total_supply + amount > ds.cap, "DatatokenCapExceeded"),
        )
        tx = self.attempt(error, self.client(buyer).buy, dt, amount, payment_token=token, max_price=max_price)
        if error is None:
            bought = tx.event(Bought)
            assert (bought.buyer, bought.amount, bought.cost, bought.minted) == (
                buyer.address, amount, ds.price * amount, True)  # fmt: skip

    @rule(dt=datasets, usually=mostly, pick=picks, who=users, amount=st.integers(1, 3))
    def dispense(self, dt, usually, pick, who, amount) -> None:
        dt = self.likely(dt, usually, pick, lambda ds: ds.free and ds.dispenser_limit)
        ds, account = self.ds(dt), self.users[who]
        error = first(
            *self.open_checks(ds),
            (not ds.free, "MarketNotFree"),
            (ds.dispensed[account.address] + amount > ds.dispenser_limit, "MarketDispenserLimit"),
            (ds.cap and ds.total_supply + amount > ds.cap, "DatatokenCapExceeded"),
        )
        tx = self.attempt(error, self.client(account).dispense, dt, amount)
        if error is None:
            assert (tx.event(Dispensed).to, tx.event(Dispensed).amount) == (account.address, amount)

    @rule(dt=datasets, account=anyone, allowed=mostly, impostor=sometimes)
    def set_minter(self, dt, account, allowed, impostor) -> None:
        client, refused = self.publisher_or_not(dt, impostor)
        self.attempt(first(refused), client.set_minter, dt, self.pool[account].address, allowed)

    @rule(dt=datasets, usually=mostly, pick=picks, by=anyone, to=users, amount=st.integers(1, 3))
    def mint(self, dt, usually, pick, by, to, amount) -> None:
        """Usually by a minter of a dataset that has some; else by anyone, who may be refused."""
        dt = self.likely(dt, usually, pick, lambda ds: ds.minters)
        ds = self.ds(dt)
        minters = sorted(ds.minters) if usually else []
        minter = self.by_address[minters[by % len(minters)]] if minters else self.pool[by]
        error = first(
            (minter.address != ds.publisher and minter.address not in ds.minters, "MarketNotMinter"),
            (ds.state == DatasetState.RETIRED, "MarketDatasetNotActive"),
            (ds.cap and ds.total_supply + amount > ds.cap, "DatatokenCapExceeded"),
        )
        tx = self.attempt(error, self.client(minter).mint, dt, self.users[to].address, amount)
        if error is None:
            assert tx.event(Minted).by == minter.address

    # ------------------------------------------------------------------ orders

    @rule(dt=datasets, who=users, for_other=sometimes, fee=fees, service=service_ids, kind=quote_kinds,
          pick=picks, usually=mostly)  # fmt: skip
    def start_order(self, dt, who, for_other, fee, service, kind, pick, usually) -> None:
        """Usually spends a datatoken someone holds, for a service offered; else the drawn account's, who
        may hold none. One time in five the order is for another consumer."""
        held = [(d, i) for d, ds in self.state.datasets.items() for i, u in enumerate(self.users)
                if ds.balances[u.address]]  # fmt: skip
        if usually and held:
            dt, who = held[pick % len(held)]
        ds, payer = self.ds(dt), self.users[who]
        consumer = self.users[(who + for_other) % len(self.users)].address
        service = self.offered(ds, service, usually)
        quote, signature, proof, checks = self.quote(ds, consumer, fee, service, kind, pick)
        error = first(
            *self.open_checks(ds),
            (ds.balances[payer.address] == 0, "ERC20InsufficientBalance"),
            *checks,
        )
        tx = self.attempt(error, self.client(payer).start_order, quote, signature, proof)
        if error is None:
            self.check_order(tx, dt, quote, payer.address, OrderFunding.BURNED)
            burn = tx.event(Transfer)
            assert (burn.meta.address, burn) == (dt, Transfer(burn.meta, payer.address, ZERO_ADDRESS, 1))

    @rule(dt=datasets, who=users, for_other=sometimes, fee=fees, service=service_ids, kind=quote_kinds,
          pick=picks, wrong=wrongs, usually=mostly)  # fmt: skip
    def buy_and_order(self, dt, who, for_other, fee, service, kind, pick, wrong, usually) -> None:
        """Usually on an active dataset, for a service offered; priced or free as the dataset is now."""
        dt = self.likely(dt, usually, pick, lambda ds: ds.state == DatasetState.ACTIVE)
        ds, payer = self.ds(dt), self.users[who]
        consumer = self.users[(who + for_other) % len(self.users)].address
        token, max_price = self.payment(ds, wrong)
        service = self.offered(ds, service, usually)
        quote, signature, proof, checks = self.quote(ds, consumer, fee, service, kind, pick)
        error = first(
            *self.open_checks(ds),
            (ds.free and (token != ZERO_ADDRESS or max_price != 0), "MarketIsFree"),
            (ds.free and ds.dispensed[payer.address] + 1 > ds.dispenser_limit, "MarketDispenserLimit"),
            (not ds.free and token != ds.payment_token, "MarketPaymentTokenMismatch"),
            (not ds.free and max_price < ds.price, "MarketPriceAboveMax"),
            *checks,
        )
        free = ds.free
        tx = self.attempt(error, self.client(payer).buy_and_order, quote, signature, proof,
                          payment_token=token, max_price=max_price)  # fmt: skip
        if error is None:
            self.check_order(tx, dt, quote, payer.address, OrderFunding.FREE if free else OrderFunding.BOUGHT)
            assert not [e for e in tx.events if isinstance(e, Transfer)]
            assert [(e.buyer, e.amount, e.minted) for e in tx.events if isinstance(e, Bought)] == (
                [] if free else [(payer.address, 1, False)])  # fmt: skip

    @rule(dt=datasets, batch=receipt_batches, stale=sometimes, usually=mostly, pick=picks)
    def post_receipts(self, dt, batch, stale, usually, pick) -> None:
        """Usually for a dataset with orders, naming them; by its provider (stale: the other one)."""
        dt = self.likely(dt, usually, pick, lambda ds: ds.orders)
        ds = self.ds(dt)
        orders = sorted(ds.orders) or [self.state.order_count]  # a receipt's order id is the provider's word
        receipts, spent, exceeded = [], ds.epsilon_spent, None
        for which, epsilon, status in batch:
            job = "0x" + next(self.jobs).to_bytes(32, "big").hex()
            order_id = orders[which % len(orders)]
            receipts.append(ComputeReceipt(job, dt, order_id, ALGORITHM, OUTPUT, epsilon, status))
            spent += epsilon
            if exceeded is None and spent > ds.epsilon_budget:
                exceeded = {"datatoken": dt, "spent": spent, "budget": ds.epsilon_budget}
        poster = next(p for p in self.providers if (p.address == ds.provider) != stale)
        error = first((stale, "MarketNotProvider"), (exceeded, "MarketBudgetExceeded"))
        result = self.attempt(error, self.client(poster).post_compute_receipts, receipts)
        if error == "MarketBudgetExceeded":
            assert result.details == exceeded

    # ------------------------------------------------------------------ earnings

    @rule(
        usually=mostly, pick=picks, payee=anyone, token=st.sampled_from(TOKEN_KINDS),
        to=st.sampled_from(["self", "self", "self", "other", "other", "zero"]),
    )  # fmt: skip
    def withdraw(self, usually, pick, payee, token, to) -> None:
        """Usually what a payee is owed; else the drawn account's earnings in the drawn token."""
        owing = sorted(key for key, amount in self.state.earnings.items() if amount)
        if usually and owing:
            address, payee_address = owing[pick % len(owing)]
            account = self.by_address[payee_address]
        else:
            account, address = self.pool[payee], self.tokens[token]
        owed = self.state.earnings[address, account.address]
        client = self.client(account)
        if to == "self":
            recipient, action, args = account.address, client.withdraw, (address,)
        else:
            recipient = ZERO_ADDRESS if to == "zero" else next(x.address for x in self.pool if x != account)
            action, args = client.withdraw_to, (address, recipient)
        error = first((to == "zero", "MarketZeroAddress"), (owed == 0, "MarketNothingToWithdraw"))
        before = self.market.balance_of(address, recipient) if error is None else 0
        result = self.attempt(error, action, *args)
        if error is None:
            withdrawn = result.event(EarningsWithdrawn)
            assert (withdrawn.payee, withdrawn.token, withdrawn.to, withdrawn.amount) == (
                account.address, address, recipient, owed)  # fmt: skip
            gained = self.market.balance_of(address, recipient) - before
            if address == ZERO_ADDRESS and recipient == account.address:
                gained += self.world.gas_cost(result.tx_hash)
            assert gained == owed

    # ------------------------------------------------------------------ the publisher's settings

    @rule(dt=datasets, change=budget_changes, impostor=sometimes)
    def raise_budget(self, dt, change, impostor) -> None:
        ds = self.ds(dt)
        client, refused = self.publisher_or_not(dt, impostor)
        new = min(max(ds.epsilon_budget + change, 0), MAX_EPSILON_UNITS)
        error = first(refused, (new < ds.epsilon_budget, "MarketBudgetDecrease"))
        self.attempt(error, client.raise_privacy_budget, dt, new)

    @rule(dt=datasets, to=states, impostor=sometimes)
    def set_state(self, dt, to, impostor) -> None:
        ds = self.ds(dt)
        client, refused = self.publisher_or_not(dt, impostor)
        invalid = ds.state == DatasetState.RETIRED or to == ds.state
        self.attempt(first(refused, (invalid, "MarketInvalidStateTransition")), client.set_state, dt, to)

    @rule(dt=datasets, by=st.sampled_from(["publisher", "updater", "updater", "other"]))
    def update_metadata(self, dt, by) -> None:
        ds = self.ds(dt)
        address = {"publisher": ds.publisher, "updater": ds.metadata_updater}.get(by, ZERO_ADDRESS)
        account = self.by_address.get(address) or next(
            u for u in self.pool if u.address not in (ds.publisher, ds.metadata_updater)
        )
        allowed = account.address in (ds.publisher, ds.metadata_updater)
        cid, sha = self.fresh_metadata()
        self.attempt(first((not allowed, "MarketNotMetadataUpdater")), self.client(account).update_metadata,
                     dt, cid, sha)  # fmt: skip

    @rule(dt=datasets, updater=or_nobody(anyone), impostor=sometimes)
    def set_metadata_updater(self, dt, updater, impostor) -> None:
        client, refused = self.publisher_or_not(dt, impostor)
        address = ZERO_ADDRESS if updater is None else self.pool[updater].address
        self.attempt(first(refused), client.set_metadata_updater, dt, address)

    @rule(dt=datasets, token=st.sampled_from(TOKEN_KINDS), price=prices, impostor=sometimes)
    def set_price(self, dt, token, price, impostor) -> None:
        ds = self.ds(dt)
        client, refused = self.publisher_or_not(dt, impostor)
        error = first(refused, (ds.free and ds.total_supply > 0, "MarketFreeTokensOutstanding"))
        tx = self.attempt(error, client.set_price, dt, self.tokens[token], price)
        if error is None:
            event = tx.event(PriceSet)
            assert (event.payment_token, event.price, event.cap) == (self.tokens[token], price, ds.cap)

    @rule(dt=datasets, limit=st.integers(0, 4), impostor=sometimes)
    def set_dispenser(self, dt, limit, impostor) -> None:
        client, refused = self.publisher_or_not(dt, impostor)
        tx = self.attempt(first(refused), client.set_dispenser, dt, limit)
        if not impostor:
            assert (tx.event(DispenserSet).limit, self.ds(dt).free) == (limit, True)

    @rule(dt=datasets, allowlist=allowlist_choices, impostor=sometimes)
    def set_allowlist(self, dt, allowlist, impostor) -> None:
        client, refused = self.publisher_or_not(dt, impostor)
        self.attempt(first(refused), client.set_allowlist, dt, self.allowlist_roots[allowlist])

    @rule(dt=datasets, usually=mostly, pick=picks, by=anyone, new=or_nobody(anyone))
    def set_publish_fee_collector(self, dt, usually, pick, by, new) -> None:
        """Usually by the collector of a dataset that has one; else by anyone, who may be refused."""
        dt = self.likely(dt, usually, pick, lambda ds: ds.publish_fee_collector != ZERO_ADDRESS)
        ds = self.ds(dt)
        account = self.by_address.get(ds.publish_fee_collector) if usually else None
        account = account or self.pool[by]
        address = ZERO_ADDRESS if new is None else self.pool[new].address
        error = first((account.address != ds.publish_fee_collector, "MarketNotFeeCollector"),
                      (address == ZERO_ADDRESS, "MarketZeroAddress"))  # fmt: skip
        self.attempt(error, self.client(account).set_publish_fee_collector, dt, address)

    # ------------------------------------------------------------------ roles change hands

    @rule(dt=datasets, to=or_nobody(users), accept=mostly, wrong=sometimes, impostor=sometimes)
    def hand_over_dataset(self, dt, to, accept, wrong, impostor) -> None:
        """The publisher offers the dataset to one of the users (an earlier publisher too, or itself), or
        withdraws the offer (None); then, mostly, the one offered it (wrong: someone else) accepts."""
        client, refused = self.publisher_or_not(dt, impostor)
        offered_to = ZERO_ADDRESS if to is None else self.users[to].address
        self.attempt(first(refused), client.transfer_dataset, dt, offered_to)
        if not accept:
            return
        ds = self.ds(dt)
        acceptor = self.by_address.get(ds.pending_publisher)
        if wrong or acceptor is None:
            acceptor = next(u for u in self.pool if u.address != ds.pending_publisher)
        error = first((acceptor.address != ds.pending_publisher, "MarketNotPendingPublisher"))
        self.attempt(error, self.client(acceptor).accept_dataset, dt)
        if error is None:
            ds = self.ds(dt)
            assert (ds.publisher, ds.minters, ds.metadata_updater, ds.pending_provider) == (
                acceptor.address, set(), ZERO_ADDRESS, ZERO_ADDRESS)  # fmt: skip

    @rule(dt=datasets, provider=or_nobody(st.integers(0, 1)), accept=mostly, wrong=sometimes,
          impostor=sometimes)  # fmt: skip
    def rotate_provider(self, dt, provider, accept, wrong, impostor) -> None:
        """The publisher proposes one of the two providers (the current one too), or withdraws the
        proposal (None); then, mostly, the one proposed (wrong: the other provider) accepts. A proposal
        left pending is what a later hand-over must clear."""
        client, refused = self.publisher_or_not(dt, impostor)
        proposed = ZERO_ADDRESS if provider is None else self.providers[provider].address
        self.attempt(first(refused), client.propose_provider, dt, proposed)
        if not accept:
            return
        ds = self.ds(dt)
        acceptor = self.by_address.get(ds.pending_provider)
        if wrong or acceptor is None:
            acceptor = next(p for p in self.providers if p.address != ds.pending_provider)
        error = first((acceptor.address != ds.pending_provider, "MarketNotPendingProvider"))
        self.attempt(error, self.client(acceptor).accept_provider, dt)

    # ------------------------------------------------------------------ the market owner

    @rule(collector=st.integers(0, 1), bps=st.integers(0, 1000), paused=sometimes, impostor=sometimes)
    def market_owner(self, collector, bps, paused, impostor) -> None:
        """The owner sets the market fee, then pauses (sometimes) or resumes orders; an impostor cannot."""
        account = self.users[0] if impostor else self.world.accounts.owner
        error = first((impostor, "OwnableUnauthorizedAccount"))
        client = self.client(account)
        self.attempt(error, client.set_market_fee, self.collectors[collector].address, bps)
        self.attempt(error, client.set_orders_paused, paused)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def replaying_every_event_gives_the_getters(self) -> None:
        """The replay of every event finds no breach, is the model, and is what the getters answer for
        every dataset, account (all of the pool: anyone who can appear), token and used quote nonce."""
        replayed = replay(self.chain_events(), self.market.address)
        assert replayed.violations == []
        assert replayed == self.state, "the transactions' events and eth_getLogs disagree"
        market = self.market.address
        accounts = sorted(set(self.by_address) | {payee for _, payee in replayed.earnings})
        probe = Probe(self.w3)
        config = {"feeCollector": replayed.fee_collector, "feeBps": replayed.fee_bps,
                  "ordersPaused": replayed.orders_paused, "datasetCount": replayed.dataset_count,
                  "orderCount": replayed.order_count}  # fmt: skip
        probe.expect("marketConfig", config, market, "marketConfig()", [], MARKET_CONFIG_TUPLE)
        for dt, ds in replayed.datasets.items():
            probe.expect(
                f"getDataset({dt})", record_of(ds), market, "getDataset(address)", [dt], DATASET_TUPLE
            )
            for getter, value in (("pendingPublisher", ds.pending_publisher),
                                  ("pendingProvider", ds.pending_provider),
                                  ("metadataUpdater", ds.metadata_updater)):  # fmt: skip
                probe.expect(f"{getter}({dt})", value, market, f"{getter}(address)", [dt], "address")
            probe.expect(f"totalSupply({dt})", ds.total_supply, dt, "totalSupply()", [])
            for account in accounts:
                probe.expect(f"isMinter({dt}, {account})", account in ds.minters, market,
                             "isMinter(address,address)", [dt, account], "bool")  # fmt: skip
                probe.expect(f"dispensed({dt}, {account})", ds.dispensed[account], market,
                             "dispensed(address,address)", [dt, account])  # fmt: skip
                probe.expect(
                    f"balanceOf({dt}, {account})", ds.balances[account], dt, "balanceOf(address)", [account]
                )
        for token in sorted(set(self.tokens.values()) | {token for token, _ in replayed.earnings}):
            for account in accounts:
                probe.expect(f"earnings({token}, {account})", replayed.earnings[token, account], market,
                             "earnings(address,address)", [token, account])  # fmt: skip
        for provider, nonces in replayed.used_nonces.items():
            for nonce in sorted(nonces):
                probe.expect(f"isQuoteUsed({provider}, {nonce})", True, market, "isQuoteUsed(address,uint64)",
                             [provider, nonce], "bool")  # fmt: skip
        probe.check()

    @invariant()
    def the_market_holds_the_unpaid_earnings(self) -> None:
        """Through the getters alone: the market's balance of each token is what its payees (all of them
        in the pool) can still withdraw."""
        probe = Probe(self.w3)
        for token in self.tokens.values():
            probe.balance(token, self.market.address)
            for account in self.by_address:
                probe.read(self.market.address, "earnings(address,address)", [token, account])
        values = iter(probe.run())
        for token in self.tokens.values():
            held = next(values)
            assert held == sum(next(values) for _ in self.by_address), token

    @invariant()
    def no_dataset_spends_more_than_its_budget(self) -> None:
        probe = Probe(self.w3)
        for dt in self.state.datasets:
            probe.read(self.market.address, "getDataset(address)", [dt], DATASET_TUPLE)
        for dt, record in zip(self.state.datasets, probe.run(), strict=True):
            fields = dict(zip(_RECORD_FIELDS, record, strict=True))
            assert fields["epsilonSpent"] <= fields["epsilonBudget"], dt

    @invariant()
    def supply_is_what_was_created_minus_what_orders_burned(self) -> None:
        """From the market's events alone (not the datatokens' Transfers, which the replay counts)."""
        created: Counter[str] = Counter()
        for e in self.market_events():
            if (isinstance(e, Bought) and e.minted) or isinstance(e, Dispensed | Minted):
                created[e.datatoken] += e.amount
            elif isinstance(e, OrderStarted) and e.funding == OrderFunding.BURNED:
                created[e.datatoken] -= 1
        probe = Probe(self.w3)
        for dt in self.state.datasets:
            probe.expect(f"totalSupply({dt})", created[dt], dt, "totalSupply()", [])
        probe.check()

    @invariant()
    def every_order_is_paid_for_or_free_within_the_limit(self) -> None:
        """Each OrderStarted has what its funding says in its transaction (a burn of the payer's
        datatoken, or a Bought of one never minted), or is free on a free dataset within what the payer
        may receive in all; and no burn or unminted buy is left without its order."""
        by_tx: dict[str, list[Any]] = defaultdict(list)
        for event in self.chain_events():
            by_tx[event.meta.tx_hash].append(event)
        policy: dict[str, tuple[bool, int]] = {}  # datatoken -> (free, dispenser limit), as set by then
        received: Counter[tuple[str, str]] = Counter()  # (datatoken, account) -> what it received free
        for tx_hash, events in by_tx.items():
            burns = Counter((e.meta.address, e.from_) for e in events
                            if isinstance(e, Transfer) and e.to == ZERO_ADDRESS)  # fmt: skip
            unminted = Counter(
                (e.datatoken, e.buyer) for e in events if isinstance(e, Bought) and not e.minted
            )
            for e in events:
                if isinstance(e, PriceSet):
                    policy[e.datatoken] = (False, 0)
                elif isinstance(e, DispenserSet):
                    policy[e.datatoken] = (True, e.limit)
                elif isinstance(e, Dispensed):
                    received[e.datatoken, e.to] += e.amount
                elif isinstance(e, OrderStarted):
                    key = (e.datatoken, e.payer)
                    if e.funding == OrderFunding.BURNED:
                        assert burns[key] > 0, f"order {e.order_id} in {tx_hash} burned nothing"
                        burns[key] -= 1
                    elif e.funding == OrderFunding.BOUGHT:
                        assert unminted[key] > 0, f"order {e.order_id} in {tx_hash} bought nothing"
                        unminted[key] -= 1
                    else:
                        received[key] += 1
                        free, limit = policy[e.datatoken]
                        assert free and received[key] <= limit, f"free order {e.order_id} over the limit"
            assert not +burns and not +unminted, f"a burn or an unminted buy without its order in {tx_hash}"

    @invariant()
    def no_quote_nonce_is_used_twice(self) -> None:
        uses = Counter(
            (e.provider, e.quote_nonce) for e in self.market_events() if isinstance(e, OrderStarted)
        )
        assert [key for key, n in uses.items() if n > 1] == []

    def market_events(self) -> list[Any]:
        """The market's own events (every event's source is the market or one of its datatokens)."""
        return [e for e in self.chain_events() if e.meta.address == self.market.address]


def _listed(allowlist: Allowlist, address: str) -> bool:
    try:
        allowlist.proof(address)
    except KeyError:
        return False
    return True


def test_market_state_machine(world: World) -> None:
    a = world.accounts
    # The first publisher consumes too: fund it with both payment tokens, approved to the market.
    for token in (world.usd, world.eur):
        mint_test_token(world.w3, a.owner, token, a.publisher.address, CONSUMER_FUNDS)
        world.as_(a.publisher).approve(token, CONSUMER_FUNDS)
    clients = {account.address: world.as_(account) for account in MarketMachine.pool_of(world)}
    run_state_machine_as_test(
        lambda: MarketMachine(world, clients),
        settings=settings(
            max_examples=40,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
