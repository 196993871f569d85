"""Buying and ordering against a recording market: which transaction is sent, which order is found."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from web3.exceptions import TransactionNotFound

from datamarket.chain.devchain import dev_account
from datamarket.chain.market import TxResult
from datamarket.errors import ChainError
from datamarket.sdk import orders
from tests.fakes import DATATOKEN, ORDER, ORDER_ID, fake_market, order_event

FEE_TOKEN = "0x" + "fe" * 20
QUOTE = SimpleNamespace(fee_token=FEE_TOKEN, amount=3)
SIGNATURE = b"\x01" * 65


class RecordingMarket:
    """Records the market calls an order makes; ``held`` datatokens, a ``free`` dataset or not."""

    def __init__(self, *, held: int = 0, free: bool = False) -> None:
        self.account = dev_account(4)
        self.held, self.free = held, free
        self.calls: list[tuple] = []

    def _tx(self, name: str, *args) -> TxResult:
        self.calls.append((name, *args))
        return TxResult(tx_hash=f"0x{name}", block_number=1, gas_used=0, events=[order_event()])

    def dataset(self, datatoken):
        return SimpleNamespace(free=self.free)

    def dispense(self, datatoken, amount):
        return self._tx("dispense", datatoken, amount)

    def buy(self, datatoken, amount):
        return self._tx("buy", datatoken, amount)

    def balance_of(self, datatoken, owner):
        assert owner == self.account.address
        return self.held

    def ensure_allowance(self, token, amount):
        self.calls.append(("ensure_allowance", token, amount))

    def start_order(self, quote, signature):
        return self._tx("start_order", quote, signature)

    def buy_and_order(self, quote, signature):
        return self._tx("buy_and_order", quote, signature)


class QuotingProvider:
    def __init__(self) -> None:
        self.asked: list[tuple] = []

    def fee_quote(self, datatoken, consumer, service_id):
        self.asked.append((datatoken, consumer, service_id))
        return QUOTE, SIGNATURE


def test_buy_takes_from_the_dispenser_of_a_free_dataset_else_pays_the_price() -> None:
    free, priced = RecordingMarket(free=True), RecordingMarket()
    assert orders.buy(free, DATATOKEN).tx_hash == "0xdispense"
    assert orders.buy(priced, DATATOKEN).tx_hash == "0xbuy"
    assert free.calls == [("dispense", DATATOKEN, 1)] and priced.calls == [("buy", DATATOKEN, 1)]


def test_an_order_spends_a_held_datatoken_after_approving_the_fee() -> None:
    market, provider = RecordingMarket(held=1), QuotingProvider()
    tx = orders.order(market, provider, DATATOKEN, 1)
    assert provider.asked == [(DATATOKEN, market.account.address, 1)]
    assert market.calls == [("ensure_allowance", FEE_TOKEN, 3), ("start_order", QUOTE, SIGNATURE)]
    assert orders.order_of(tx) == ("0xstart_order", ORDER_ID)


def test_without_a_datatoken_an_order_buys_and_orders_in_one_transaction() -> None:
    market = RecordingMarket(held=0)
    orders.order(market, QuotingProvider(), DATATOKEN, 0)
    assert market.calls == [("buy_and_order", QUOTE, SIGNATURE)]


def test_order_of_needs_exactly_one_order_in_the_transaction() -> None:
    tx = TxResult(tx_hash=ORDER, block_number=1, gas_used=0, events=[order_event(1), order_event(2)])
    with pytest.raises(ChainError, match="found 2"):
        orders.order_of(tx)


def test_find_order_picks_this_accounts_order_of_the_service() -> None:
    mine = order_event(9)
    others = [order_event(8, consumer=dev_account(5).address), order_event(10, service_id=0)]
    assert orders.find_order(fake_market([*others, mine]), ORDER, DATATOKEN, 1, None) == 9
    assert orders.find_order(fake_market([*others, mine]), ORDER, DATATOKEN.lower(), 1, 9) == 9


def test_find_order_refusals() -> None:
    several = fake_market([order_event(9), order_event(11)])
    with pytest.raises(orders.OrderNotFound, match="2 orders") as caught:
        orders.find_order(several, ORDER, DATATOKEN, 1, None)
    assert caught.value.details == {"order_ids": [9, 11]}
    assert caught.value.code == "download_failed"
    assert orders.find_order(several, ORDER, DATATOKEN, 1, 11) == 11
    with pytest.raises(orders.OrderNotFound, match="no order 8"):
        orders.find_order(several, ORDER, DATATOKEN, 1, 8)
    with pytest.raises(orders.OrderNotFound, match="0 orders"):
        orders.find_order(fake_market([]), ORDER, DATATOKEN, 1, None)

    def not_mined(tx):
        raise TransactionNotFound(tx)

    unmined = SimpleNamespace(account=dev_account(4), tx_events=not_mined)
    with pytest.raises(orders.OrderNotFound, match="no mined transaction"):
        orders.find_order(unmined, ORDER, DATATOKEN, 1, None)
