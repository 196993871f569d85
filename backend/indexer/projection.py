"""From folded events to the catalog's rows: the replay (``datamarket.chain.replay``) is the only place
that knows what an event means, so the indexer and ``datamarket audit`` agree by construction.

:class:`Catalog` wraps a :class:`~datamarket.chain.replay.MarketState` and adds the totals the API
sorts by (revenue per dataset, volume per payment token). The functions below turn one event, or one
dataset of the state, into plain row dictionaries for ``backend.db.models``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from backend.db.models import CID_LENGTH
from datamarket.chain import events as ev
from datamarket.chain.logs import BlockRef
from datamarket.chain.quotes import ZERO_ADDRESS
from datamarket.chain.replay import Dataset, MarketState


@dataclass
class Catalog:
    """The market as its events tell it, plus the totals the replay does not keep."""

    market: str
    state: MarketState = field(init=False)
    revenue: Counter[str] = field(default_factory=Counter)  # by datatoken
    volume: Counter[str] = field(default_factory=Counter)  # by payment token
    published: dict[str, tuple[int, str]] = field(default_factory=dict)  # datatoken -> (block, tx)
    last_block: dict[str, int] = field(default_factory=dict)  # datatoken -> its last event's block

    def __post_init__(self) -> None:
        self.state = MarketState(self.market)

    def apply(self, event: Any) -> None:
        self.state.apply(event)
        datatoken = subject(event)
        if datatoken in self.state.datasets:
            self.last_block[datatoken] = event.meta.block_number
        if event.meta.address != self.market:
            return
        if isinstance(event, ev.Bought):
            self.revenue[event.datatoken] += event.cost
            self.volume[event.payment_token] += event.cost
        elif isinstance(event, ev.DatasetPublished):
            self.published[event.datatoken] = (event.meta.block_number, event.meta.tx_hash)

    def counts(self, event: Any) -> bool:
        """Whether the replay folds ``event`` (the market's own, or one of its datatokens' Transfers)."""
        source = event.meta.address
        if source == self.market:
            return ev.MARKET_EVENTS.get(type(event).__name__) is type(event)
        return isinstance(event, ev.Transfer) and source in self.state.datasets


def catalog_cid(cid: str) -> str:
    """A metadata CID as the catalog stores it. The market takes any string; a real CID is well under
    ``CID_LENGTH`` characters, and a longer one (which no store can serve) is kept as its start and a
    digest of the whole, so that one publisher cannot stop the indexer with a row the database refuses."""
    if len(cid) <= CID_LENGTH:
        return cid
    return cid[: CID_LENGTH - 80] + "...sha256:" + hashlib.sha256(cid.encode()).hexdigest()


def subject(event: Any) -> str | None:
    """The dataset an event concerns: its ``datatoken`` field, or the datatoken that sent a Transfer."""
    if isinstance(event, ev.Transfer | ev.Approval):
        return event.meta.address
    return getattr(event, "datatoken", None)


def accounts(event: Any) -> list[tuple[str, str]]:
    """(role, address) for every non-zero address an event names, but the dataset's own."""
    named = []
    for key, value in ev.event_args(event).items():
        is_address = isinstance(value, str) and len(value) == 42 and value.startswith("0x")
        if key != "datatoken" and is_address and value != ZERO_ADDRESS:
            named.append((key.rstrip("_"), value))
    return named


def event_row(event: Any) -> dict[str, Any]:
    meta = event.meta
    return {
        "block_number": meta.block_number, "log_index": meta.log_index, "block_hash": meta.block_hash,
        "tx_hash": meta.tx_hash, "address": meta.address, "name": type(event).__name__,
        "datatoken": subject(event), "args": json.dumps(ev.event_args(event), separators=(",", ":")),
    }  # fmt: skip


def event_from_row(row: Any) -> Any:
    meta = ev.LogMeta(row.address, row.block_number, row.block_hash, row.tx_hash, row.log_index)
    return ev.event_from_args(row.name, meta, json.loads(row.args))


def derived_row(event: Any, blocks: dict[int, BlockRef], state: MarketState) -> tuple[str, dict] | None:
    """The order, receipt or metadata version an event adds, as (table, row); None for other events."""
    meta = event.meta
    at = {"block_number": meta.block_number, "log_index": meta.log_index, "tx_hash": meta.tx_hash,
          "timestamp": blocks[meta.block_number].timestamp if meta.block_number in blocks else 0}  # fmt: skip
    if isinstance(event, ev.OrderStarted):
        return "orders", {
            **at, "order_id": event.order_id, "datatoken": event.datatoken, "consumer": event.consumer,
            "payer": event.payer, "provider": event.provider, "service_id": event.service_id,
            "funding": event.funding.name, "fee_token": event.fee_token, "fee_amount": str(event.fee_amount),
            "quote_nonce": str(event.quote_nonce), "environment": event.environment,
        }  # fmt: skip
    if isinstance(event, ev.ComputeReceiptPosted):
        return "receipts", {
            **at, "job_id": event.job_id, "datatoken": event.datatoken, "order_id": event.order_id,
            "poster": event.poster, "algorithm_hash": event.algorithm_hash, "output_hash": event.output_hash,
            "epsilon": event.epsilon, "spent_after": event.spent_after, "status": event.status.name,
        }  # fmt: skip
    if isinstance(event, ev.DatasetPublished | ev.MetadataUpdated):
        dataset = state.datasets[event.datatoken]
        by = event.publisher if isinstance(event, ev.DatasetPublished) else event.updated_by
        return "metadata_versions", {
            **at, "datatoken": event.datatoken, "version": len(dataset.metadata_versions),
            "cid": catalog_cid(event.metadata_cid), "sha256": event.metadata_hash, "updated_by": by,
        }  # fmt: skip
    return None


def dataset_row(catalog: Catalog, ds: Dataset, blocks: dict[int, int]) -> dict[str, Any]:
    """A dataset's row; ``blocks`` maps block numbers to times (its publish block must be there)."""
    published_block, published_tx = catalog.published[ds.datatoken]
    current = ds.metadata_versions[-1]
    return {
        "datatoken": ds.datatoken, "index": ds.index, "publisher": ds.publisher, "provider": ds.provider,
        "services": ds.services, "state": ds.state.name, "free": ds.free, "payment_token": ds.payment_token,
        "price": str(ds.price), "price_sort": float(ds.price), "cap": str(ds.cap),
        "dispenser_limit": str(ds.dispenser_limit), "publish_fee_bps": ds.publish_fee_bps,
        "has_allowlist": ds.has_allowlist, "epsilon_budget": ds.epsilon_budget,
        "epsilon_spent": ds.epsilon_spent, "metadata_cid": catalog_cid(current.cid),
        "metadata_hash": ds.metadata_hash,
        "metadata_versions": len(ds.metadata_versions), "total_supply": str(ds.total_supply),
        "order_count": len(ds.orders), "receipt_count": ds.receipt_count,
        "revenue": str(catalog.revenue[ds.datatoken]), "published_block": published_block,
        "published_at": blocks.get(published_block, 0), "published_tx": published_tx,
        "updated_block": catalog.last_block.get(ds.datatoken, published_block),
    }  # fmt: skip


def market_row(catalog: Catalog) -> dict[str, Any]:
    state = catalog.state
    return {
        "id": 1, "fee_collector": state.fee_collector, "fee_bps": state.fee_bps,
        "orders_paused": state.orders_paused, "order_count": state.order_count,
        "receipt_count": sum(ds.receipt_count for ds in state.datasets.values()),
        "violation_count": len(state.violations),
        "volume": json.dumps({token: str(amount) for token, amount in sorted(catalog.volume.items())}),
    }  # fmt: skip


__all__ = ["Catalog", "accounts", "dataset_row", "derived_row", "event_from_row", "event_row", "market_row",
           "subject"]  # fmt: skip
