"""The indexer's writes: one transaction per batch of blocks, one per rollback.

A batch writes its events, the rows derived from them, the datasets it touched and the checkpoint
together, so a process killed in the middle leaves the catalog at the previous checkpoint: the next
start re-reads the same blocks, and the events' primary key (block, log index) would refuse a double.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.db import models as m
from backend.indexer import projection as p
from datamarket.chain import events as ev
from datamarket.chain.logs import Batch, BlockRef

_CHUNK = 500
_DERIVED = {"orders": m.Order, "receipts": m.Receipt, "metadata_versions": m.MetadataVersion}


def read_checkpoint(session: Session) -> m.Checkpoint | None:
    return session.get(m.Checkpoint, 1)


def load_catalog(session: Session, market: str) -> p.Catalog:
    """The catalog's fold, rebuilt from the event rows (at start, and after a rollback)."""
    catalog = p.Catalog(market)
    rows = session.execute(select(m.Event).order_by(m.Event.block_number, m.Event.log_index)).scalars()
    for row in rows:
        catalog.apply(p.event_from_row(row))
    catalog.state.settle()
    return catalog


def write_batch(
    session: Session,
    catalog: p.Catalog,
    batch: Batch,
    end: BlockRef,
    *,
    chain_id: int,
    head: int,
    tokens: Sequence[dict] = (),
) -> list[Any]:
    """Fold and write ``batch`` (blocks up to ``end``) and the payment tokens that ``tokens``
    describes; returns the events the catalog folded."""
    folded = []
    derived: dict[str, list[dict]] = {table: [] for table in _DERIVED}
    documents = []
    for event in batch.events:
        if not catalog.counts(event):
            continue
        catalog.apply(event)
        folded.append(event)
        found = p.derived_row(event, batch.blocks, catalog.state)  # as of this event: versions count
        if found is not None:
            derived[found[0]].append(found[1])
        if isinstance(event, ev.DatasetPublished | ev.MetadataUpdated):
            documents.append({"cid": p.catalog_cid(event.metadata_cid), "sha256": event.metadata_hash,
                              "status": "pending", "attempts": 0, "next_attempt": 0.0})  # fmt: skip
    catalog.state.settle()
    blocks = {**batch.blocks, end.number: end}
    _upsert(session, m.Block, [{"number": b.number, "hash": b.hash, "timestamp": b.timestamp}
                                for b in blocks.values()], ["number"])  # fmt: skip
    _insert(session, m.Event, [p.event_row(e) for e in folded])
    _insert(session, m.EventAccount, [
        {"account": account, "role": role, "block_number": e.meta.block_number, "log_index": e.meta.log_index}
        for e in folded for role, account in dict(p.accounts(e)).items()
    ])  # fmt: skip
    for table, rows in derived.items():
        _insert(session, _DERIVED[table], rows)
    _insert_ignore(session, m.Document, documents, ["cid", "sha256"])
    _insert_ignore(session, m.Token, list(tokens), ["address"])
    touched = {d for e in folded if (d := p.subject(e)) in catalog.state.datasets}
    write_datasets(session, catalog, touched)
    _write_checkpoint(session, catalog, end, chain_id=chain_id, head=head)
    return folded


def write_datasets(session: Session, catalog: p.Catalog, datatokens: Iterable[str]) -> None:
    """Rewrite the rows of ``datatokens`` from the fold; those it does not know are deleted."""
    datatokens = sorted(datatokens)
    published = {catalog.published[d][0] for d in datatokens if d in catalog.published}
    times = (
        dict(
            session.execute(
                select(m.Block.number, m.Block.timestamp).where(m.Block.number.in_(published))
            ).all()
        )
        if published
        else {}
    )
    for chunk in _chunks(datatokens):
        session.execute(delete(m.Dataset).where(m.Dataset.datatoken.in_(chunk)))
    rows = [
        p.dataset_row(catalog, catalog.state.datasets[d], times)
        for d in datatokens
        if d in catalog.state.datasets
    ]
    _insert(session, m.Dataset, rows)
    session.execute(delete(m.Market))
    _insert(session, m.Market, [p.market_row(catalog)])


def rollback_to(session: Session, fork: BlockRef, market: str, *, chain_id: int, head: int) -> p.Catalog:
    """Forget every block above ``fork`` (the common ancestor of the old and the new chain) and what
    was derived from them; returns the fold rebuilt from the rows that remain."""
    touched = set(
        session.execute(select(m.Event.datatoken).where(m.Event.block_number > fork.number)).scalars()
    )
    for model in (m.Event, m.EventAccount, m.Order, m.Receipt, m.MetadataVersion, m.Block):
        column = model.number if model is m.Block else model.block_number
        session.execute(delete(model).where(column > fork.number))
    session.flush()
    catalog = load_catalog(session, market)
    write_datasets(session, catalog, {d for d in touched if d is not None})
    _write_checkpoint(session, catalog, fork, chain_id=chain_id, head=head)
    return catalog


def known_tokens(session: Session) -> set[str]:
    return set(session.execute(select(m.Token.address)).scalars())


def recent_blocks(session: Session, below: int, limit: int = 256) -> list[m.Block]:
    """The stored blocks at or below ``below``, newest first (candidates for the common ancestor)."""
    query = select(m.Block).where(m.Block.number <= below).order_by(m.Block.number.desc()).limit(limit)
    return list(session.execute(query).scalars())


def _write_checkpoint(
    session: Session, catalog: p.Catalog, end: BlockRef, *, chain_id: int, head: int
) -> None:
    row = session.get(m.Checkpoint, 1)
    values = {"chain_id": chain_id, "market": catalog.market, "block_number": end.number,
              "block_hash": end.hash, "block_time": end.timestamp, "head": head,
              "updated_at": time.time()}  # fmt: skip
    if row is None:
        session.add(m.Checkpoint(id=1, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _insert(session: Session, model: type, rows: list[dict]) -> None:
    if rows:  # Core, not the ORM's bulk path: a third of a batch's time went to the ORM
        session.connection().execute(model.__table__.insert(), rows)


def _dialect_insert(session: Session, model: type):
    return pg_insert(model) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(model)


def _insert_ignore(session: Session, model: type, rows: list[dict], keys: list[str]) -> None:
    if rows:
        session.execute(_dialect_insert(session, model).on_conflict_do_nothing(index_elements=keys), rows)


def _upsert(session: Session, model: type, rows: list[dict], keys: list[str]) -> None:
    if not rows:
        return
    statement = _dialect_insert(session, model)
    updates = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)


__all__ = ["load_catalog", "read_checkpoint", "recent_blocks", "rollback_to", "write_batch", "write_datasets"]
