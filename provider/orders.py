"""Order verification: does this transaction grant this access request? Pure functions, no I/O.

The caller reads the facts from the chain (``chain.py``) and the metadata document; these functions
decide, and refuse with a specific error:

- the transaction is known (404 ``order_not_found``), mined (409 ``order_pending``) with at least
  ``min_confirmations`` blocks (409 ``order_pending``) and succeeded (403 ``order_reverted``);
- it holds an OrderStarted from the market (403 ``not_an_order``) with the request's order id
  (``order_not_in_tx``: one transaction may hold several orders, each its own) for its datatoken
  (``order_wrong_dataset``), service (``order_wrong_service``) and consumer (``order_wrong_consumer``)
  whose provider is this provider (``order_wrong_provider``): the market pays the provider fee to
  the dataset's provider, so this also means the fee was paid to us;
- this provider is the dataset's provider now (403 ``not_this_provider``: after the publisher
  moved the dataset to another provider, the old one releases nothing for it);
- the dataset is Active (403 ``dataset_not_active``) and, when it has an allowlist, the request's
  Merkle proof shows the consumer is on the current list (403 ``not_allowlisted``);
- the order is not older than the service's timeout (410 ``order_expired``; timeout 0 never expires).
"""

from __future__ import annotations

from dataclasses import dataclass

from datamarket.auth import AccessRequest
from datamarket.chain import allowlist
from datamarket.chain.events import DatasetState, OrderStarted
from datamarket.chain.market import DatasetRecord
from datamarket.chain.reader import BlockInfo, OrderTx
from provider.errors import Conflict, Forbidden, NotFound, OrderExpired, OrderRefused


@dataclass(frozen=True)
class VerifiedOrder:
    """An order that grants the request (its age is checked separately, once the timeout is known)."""

    event: OrderStarted
    tx_hash: str
    block_number: int
    block_timestamp: int


def match_order(
    req: AccessRequest, tx: OrderTx | None, *, provider: str, latest: BlockInfo, min_confirmations: int
) -> VerifiedOrder:
    """The order in ``tx`` that matches ``req`` and this ``provider``, or the refusal."""
    if tx is None:
        raise NotFound("no transaction with this hash", code="order_not_found")
    if tx.pending or tx.block_number is None or tx.block_timestamp is None:
        raise Conflict(
            "the order transaction is not mined yet",
            code="order_pending",
            details={"confirmations": 0, "required": min_confirmations},
        )
    confirmations = latest.number - tx.block_number + 1
    if confirmations < min_confirmations:
        raise Conflict(
            "the order transaction does not have enough confirmations yet",
            code="order_pending",
            details={"confirmations": max(confirmations, 0), "required": min_confirmations},
        )
    if tx.status != 1:
        raise OrderRefused("the order transaction reverted", code="order_reverted")
    candidates = list(tx.orders)
    for code, keep in (
        ("not_an_order", lambda e: True),
        ("order_not_in_tx", lambda e: e.order_id == req.order_id),
        ("order_wrong_dataset", lambda e: e.datatoken == req.datatoken),
        ("order_wrong_service", lambda e: e.service_id == req.service_id),
        ("order_wrong_consumer", lambda e: e.consumer == req.consumer),
        ("order_wrong_provider", lambda e: e.provider == provider),
    ):
        candidates = [e for e in candidates if keep(e)]
        if not candidates:
            raise OrderRefused(_MESSAGES[code], code=code)
    return VerifiedOrder(candidates[0], tx.tx_hash, tx.block_number, tx.block_timestamp)


_MESSAGES = {
    "not_an_order": "the transaction started no order on this market",
    "order_not_in_tx": "the transaction holds no order with this id",
    "order_wrong_dataset": "the order is for another dataset",
    "order_wrong_service": "the order is for another service",
    "order_wrong_consumer": "the order was started for another consumer",
    "order_wrong_provider": "the order names another provider",
}


def check_dataset(
    record: DatasetRecord | None, consumer: str, proof: list[str], *, provider: str
) -> DatasetRecord:
    """``record``, if ``provider`` is its provider, the dataset is Active and ``consumer`` is on its
    allowlist when it has one."""
    if record is None:
        raise NotFound("no dataset with this datatoken on this market", code="unknown_dataset")
    if record.provider != provider:
        raise Forbidden(
            "this provider no longer serves the dataset", code="not_this_provider",
            details={"provider": record.provider},
        )  # fmt: skip
    if record.state != DatasetState.ACTIVE:
        raise Forbidden(
            "the dataset is not active",
            code="dataset_not_active",
            details={"state": record.state.name.lower()},
        )
    if record.has_allowlist and not allowlist.verify(proof, record.allowlist_root, consumer):
        raise Forbidden("the consumer is not on the dataset's allowlist", code="not_allowlisted")
    return record


def check_not_expired(order: VerifiedOrder, *, timeout: int, now: int) -> None:
    """The order (started at its block's timestamp) is at most ``timeout`` seconds old at chain
    time ``now``; ``timeout`` 0 means it never expires."""
    if timeout and now > order.block_timestamp + timeout:
        raise OrderExpired(
            "the order has expired",
            code="order_expired",
            details={"expired_at": order.block_timestamp + timeout, "now": now},
        )


__all__ = ["VerifiedOrder", "check_dataset", "check_not_expired", "match_order"]
