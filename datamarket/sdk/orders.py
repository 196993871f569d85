"""Buying datatokens and ordering a dataset's services on chain, for downloads and compute jobs alike.

An order spends one datatoken for one service (download or compute) and pays the provider fee that
the provider quoted and signed; the provider then finds the order's ``OrderStarted`` event in the
order's transaction. A transaction may hold several orders, so an order is named by its
transaction and its order id.
"""

from __future__ import annotations

from eth_utils import to_checksum_address
from web3.exceptions import TransactionNotFound

from datamarket.chain.events import OrderStarted
from datamarket.chain.market import Market, TxResult
from datamarket.errors import DatamarketError
from datamarket.sdk.provider_client import ProviderClient


class OrderNotFound(DatamarketError):
    """The transaction named as an order is not mined, or does not hold the order asked for.

    Its code is ``download_failed``, as for any other failure to get at a dataset (the CLI's JSON
    errors carry it)."""

    code = "download_failed"


def buy(market: Market, datatoken: str) -> TxResult:
    """Buy one datatoken at the fixed price (the client approves exactly its cost), or take one from
    a free dataset's dispenser."""
    if market.dataset(datatoken).free:
        return market.dispense(datatoken, 1)
    return market.buy(datatoken, 1)


def order(market: Market, provider: ProviderClient, datatoken: str, service_id: int) -> TxResult:
    """Order ``service_id``: spend a held datatoken, or buy and order in one transaction.

    The payment token and price are the dataset's as read now, so a switch in between reverts; the
    market is approved for exactly what this order takes of each ERC-20 token."""
    consumer = market.account.address
    quote, signature = provider.fee_quote(datatoken, consumer, service_id)
    if market.balance_of(datatoken, consumer) > 0:
        market.ensure_allowance(quote.fee_token, quote.amount)
        return market.start_order(quote, signature)
    return market.buy_and_order(quote, signature)


def order_of(tx: TxResult) -> tuple[str, int]:
    """(transaction hash, order id) of the one order a transaction of this client started."""
    return tx.tx_hash, tx.event(OrderStarted).order_id


def find_order(market: Market, order_tx: str, datatoken: str, service_id: int, order_id: int | None) -> int:
    """The id of this account's order of ``service_id`` on ``datatoken`` in ``order_tx``: ``order_id``
    if the transaction holds it, else the only one there is (several: the caller must name one)."""
    try:
        events = market.tx_events(order_tx)
    except TransactionNotFound:
        raise OrderNotFound(f"no mined transaction {order_tx}") from None
    ids = [
        e.order_id
        for e in events
        if isinstance(e, OrderStarted)
        and e.datatoken == to_checksum_address(datatoken)
        and e.consumer == market.account.address
        and e.service_id == service_id
    ]
    if order_id is not None:
        if order_id not in ids:
            raise OrderNotFound(f"the transaction {order_tx} holds no order {order_id} of this account")
        return order_id
    if len(ids) != 1:
        raise OrderNotFound(
            f"the transaction {order_tx} holds {len(ids)} orders of this account for this service;"
            " name one with its order id",
            details={"order_ids": ids},
        )
    return ids[0]


__all__ = ["OrderNotFound", "buy", "find_order", "order", "order_of"]
