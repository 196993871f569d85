"""The catalog's read queries (everything but search, in ``backend.api.search``).

Each function takes a connection opened by :func:`backend.api.snapshot.read`, so one answer's
queries all see the same snapshot, and returns rows; ``backend.api.records`` shapes them.
Listings run in chain order, (block number, log index), and page by that key.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, distinct, func, or_, select

from backend.db.models import (
    Block,
    Checkpoint,
    Dataset,
    Document,
    DocumentTag,
    Event,
    EventAccount,
    Market,
    MetadataVersion,
    Order,
    Receipt,
    Token,
)

DATASETS = Dataset.__table__
DOCUMENTS = Document.__table__
TAGS = DocumentTag.__table__
EVENTS = Event.__table__
BLOCKS = Block.__table__
ORDERS = Order.__table__
RECEIPTS = Receipt.__table__
VERSIONS = MetadataVersion.__table__
ACCOUNTS = EventAccount.__table__
TOKENS = Token.__table__
#: How many of each kind of row an account's answer lists (its counts give the totals).
ACCOUNT_LIMIT = 100


@dataclass(frozen=True)
class Listing:
    rows: list[Any]
    #: The (block number, log index) the next page starts after; None on the last page.
    next_key: tuple[int, int] | None


def checkpoint(conn: Connection) -> Any:
    return conn.execute(select(Checkpoint.__table__).order_by(Checkpoint.__table__.c.id).limit(1)).first()


def dataset_columns(*, full: bool = False) -> list[Any]:
    """The dataset's columns and its current document's (``index`` is ``dataset_index``: a Row has an
    ``index`` method)."""
    d, doc = DATASETS.c, DOCUMENTS.c
    columns = [c for c in d if c.name != "index"] + [
        d.index.label("dataset_index"), doc.id.label("document_id"), doc.status.label("document_status"),
        doc.reason.label("document_reason"), doc.name.label("document_name"),
        doc.description.label("document_description"),
    ]  # fmt: skip
    if full:
        columns += [doc.body.label("document_body"), doc.license.label("document_license")]
    return columns


def dataset_join() -> Any:
    """Datasets with the document their current metadata (CID and hash on chain) names, if fetched."""
    return DATASETS.outerjoin(
        DOCUMENTS,
        and_(DOCUMENTS.c.cid == DATASETS.c.metadata_cid, DOCUMENTS.c.sha256 == DATASETS.c.metadata_hash),
    )


def tags_of(conn: Connection, document_ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    if document_ids:
        rows = conn.execute(
            select(TAGS.c.document_id, TAGS.c.tag)
            .where(TAGS.c.document_id.in_(set(document_ids)))
            .order_by(TAGS.c.document_id, TAGS.c.tag)
        )
        for document_id, tag in rows:
            tags[document_id].append(tag)
    return tags


def dataset(conn: Connection, datatoken: str) -> Any:
    statement = (
        select(*dataset_columns(full=True))
        .select_from(dataset_join())
        .where(DATASETS.c.datatoken == datatoken)
    )
    return conn.execute(statement).first()


def dataset_exists(conn: Connection, datatoken: str) -> bool:
    return (
        conn.execute(select(DATASETS.c.datatoken).where(DATASETS.c.datatoken == datatoken)).first()
        is not None
    )


def _page(
    conn: Connection, statement: Select, table: Any, key: tuple[int, int] | None, limit: int
) -> Listing:
    """One page of ``statement`` in chain order, strictly after ``key``."""
    block, log = table.c.block_number, table.c.log_index
    if key is not None:
        statement = statement.where(or_(block > key[0], and_(block == key[0], log > key[1])))
    rows = conn.execute(statement.order_by(block, log).limit(limit + 1)).all()
    if len(rows) <= limit:
        return Listing(rows, None)
    rows = rows[:limit]
    return Listing(rows, (rows[-1].block_number, rows[-1].log_index))


def history(conn: Connection, datatoken: str, key: tuple[int, int] | None, limit: int) -> Listing:
    """Every event of the dataset (the market's and its datatoken's), with its block's time."""
    statement = (
        select(*EVENTS.c, BLOCKS.c.timestamp)
        .select_from(EVENTS.outerjoin(BLOCKS, BLOCKS.c.number == EVENTS.c.block_number))
        .where(EVENTS.c.datatoken == datatoken)
    )
    return _page(conn, statement, EVENTS, key, limit)


def version_marks(conn: Connection, datatoken: str) -> list[tuple[int, int, int]]:
    """(block number, log index, version) of each metadata version of the dataset, in chain order."""
    v = VERSIONS.c
    rows = conn.execute(
        select(v.block_number, v.log_index, v.version)
        .where(v.datatoken == datatoken)
        .order_by(v.block_number, v.log_index)
    )
    return [tuple(row) for row in rows]


def version_at(marks: list[tuple[int, int, int]], block_number: int, log_index: int) -> int | None:
    """The metadata version in force at (block, log): the last one set at or before it."""
    version = None
    for mark_block, mark_log, mark_version in marks:
        if (mark_block, mark_log) > (block_number, log_index):
            break
        version = mark_version
    return version


def orders(conn: Connection, datatoken: str, key: tuple[int, int] | None, limit: int) -> Listing:
    return _page(conn, select(ORDERS).where(ORDERS.c.datatoken == datatoken), ORDERS, key, limit)


def receipts(conn: Connection, datatoken: str, key: tuple[int, int] | None, limit: int) -> Listing:
    return _page(conn, select(RECEIPTS).where(RECEIPTS.c.datatoken == datatoken), RECEIPTS, key, limit)


def metadata_versions(conn: Connection, datatoken: str, key: tuple[int, int] | None, limit: int) -> Listing:
    """The dataset's metadata versions, each with what the indexer made of its document."""
    statement = (
        select(*VERSIONS.c, DOCUMENTS.c.status, DOCUMENTS.c.reason)
        .select_from(
            VERSIONS.outerjoin(
                DOCUMENTS, and_(DOCUMENTS.c.cid == VERSIONS.c.cid, DOCUMENTS.c.sha256 == VERSIONS.c.sha256)
            )
        )
        .where(VERSIONS.c.datatoken == datatoken)
    )
    return _page(conn, statement, VERSIONS, key, limit)


def order_days(conn: Connection, datatoken: str) -> list[tuple[int, int]]:
    """(day as Unix seconds at 00:00 UTC, orders that day) for the days the dataset had orders."""
    rows = conn.execute(select(ORDERS.c.timestamp).where(ORDERS.c.datatoken == datatoken))
    days: dict[int, int] = defaultdict(int)
    for (timestamp,) in rows:
        days[timestamp - timestamp % 86400] += 1
    return sorted(days.items())


@dataclass(frozen=True)
class AccountRows:
    published: list[Any]
    orders: list[Any]
    purchases: list[Any]
    receipts: list[Any]
    counts: dict[str, int]


def account(conn: Connection, address: str, limit: int = ACCOUNT_LIMIT) -> AccountRows:
    """An account's activity, latest first: what it published, its orders (as consumer or payer),
    its purchases and the compute receipts of the datasets it publishes."""
    d = DATASETS.c
    published_where = d.publisher == address
    orders_where = or_(ORDERS.c.consumer == address, ORDERS.c.payer == address)
    bought = and_(ACCOUNTS.c.account == address, ACCOUNTS.c.role == "buyer", EVENTS.c.name == "Bought")
    purchases_from = ACCOUNTS.join(
        EVENTS,
        and_(EVENTS.c.block_number == ACCOUNTS.c.block_number, EVENTS.c.log_index == ACCOUNTS.c.log_index),
    )
    receipts_where = RECEIPTS.c.datatoken.in_(select(d.datatoken).where(published_where))
    published = conn.execute(
        select(*dataset_columns())
        .select_from(dataset_join())
        .where(published_where)
        .order_by(d.published_block.desc(), d.index.desc())
        .limit(limit)
    ).all()
    order_rows = conn.execute(
        select(ORDERS).where(orders_where).order_by(ORDERS.c.block_number.desc(), ORDERS.c.log_index.desc())
        .limit(limit)
    ).all()  # fmt: skip
    purchases = conn.execute(
        select(EVENTS.c.block_number, EVENTS.c.log_index, EVENTS.c.tx_hash, EVENTS.c.datatoken, EVENTS.c.args,
               BLOCKS.c.timestamp)
        .select_from(purchases_from.outerjoin(BLOCKS, BLOCKS.c.number == EVENTS.c.block_number))
        .where(bought)
        .order_by(EVENTS.c.block_number.desc(), EVENTS.c.log_index.desc())
        .limit(limit)
    ).all()  # fmt: skip
    receipt_rows = conn.execute(
        select(RECEIPTS).where(receipts_where)
        .order_by(RECEIPTS.c.block_number.desc(), RECEIPTS.c.log_index.desc())
        .limit(limit)
    ).all()  # fmt: skip
    counts = {
        "published": _count(conn, select(func.count()).select_from(DATASETS).where(published_where)),
        "orders": _count(conn, select(func.count()).select_from(ORDERS).where(orders_where)),
        "purchases": _count(conn, select(func.count()).select_from(purchases_from).where(bought)),
        "receipts": _count(conn, select(func.count()).select_from(RECEIPTS).where(receipts_where)),
    }
    return AccountRows(published, order_rows, purchases, receipt_rows, counts)


def tokens(conn: Connection, addresses: Iterable[str | None]) -> dict[str, Any]:
    """The ``tokens`` rows (symbol, name, decimals as the token's contract answered) of ``addresses``,
    by address; a token the indexer has not described has no entry (nor has the native coin)."""
    wanted = sorted({a for a in addresses if a})
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(select(TOKENS).where(TOKENS.c.address.in_(wanted[start : start + 500])))
        found.update((row.address, row) for row in rows)
    return found


def _count(conn: Connection, statement: Select) -> int:
    return int(conn.execute(statement).scalar_one())


def stats(conn: Connection) -> dict[str, Any]:
    """The market's figures: datasets, publishers, orders, receipts, volume by payment token, fees."""
    d = DATASETS.c
    market = conn.execute(select(Market.__table__).limit(1)).first()
    volume = json.loads(market.volume) if market is not None and market.volume else {}
    total = select(func.count()).select_from(DATASETS)
    active = total.where(func.upper(d.state) == "ACTIVE")
    figures: dict[str, Any] = {
        "datasets": {"total": _count(conn, total), "active": _count(conn, active)},
        "publishers": _count(conn, select(func.count(distinct(d.publisher)))),
        "orders": _count(conn, select(func.count()).select_from(ORDERS)),
        "receipts": _count(conn, select(func.count()).select_from(RECEIPTS)),
        "volume": {str(token): str(amount) for token, amount in sorted(volume.items())},
        "fee_bps": None, "fee_collector": None, "orders_paused": None,
    }  # fmt: skip
    if market is not None:
        figures.update(
            orders=market.order_count, receipts=market.receipt_count, fee_bps=market.fee_bps,
            fee_collector=market.fee_collector, orders_paused=bool(market.orders_paused),
        )  # fmt: skip
    return figures


__all__ = [
    "ACCOUNT_LIMIT", "DATASETS", "DOCUMENTS", "TAGS", "AccountRows", "Listing", "account", "checkpoint",
    "dataset", "dataset_columns", "dataset_exists", "dataset_join", "history", "metadata_versions",
    "order_days", "orders", "receipts", "stats", "tags_of", "tokens", "version_at", "version_marks",
]  # fmt: skip
