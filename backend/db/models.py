"""The catalog's tables. The indexer writes them; the API and the pages only read them.

Three kinds of rows:
- what the chain said, append-only: ``events`` (every market event and datatoken transfer, its
  arguments as JSON), ``event_accounts`` (every address an event names), ``blocks`` (hash and time of
  each block an event came from) and the ``checkpoint``;
- projections of the replay (``datamarket.chain.replay``), rewritten for every dataset a batch touches:
  ``datasets``, ``orders``, ``receipts``, ``metadata_versions`` and the ``market`` row;
- what the content store said: ``documents`` (one per metadata document, valid or invalid with the
  reason, or waiting for a retry) and their ``document_tags``.

A reorganisation deletes the event rows above the common ancestor and everything derived from them.
uint256 amounts are decimal strings (SQLite's integers stop at 2^63); ``price_sort`` is a float copy of
the price for sorting and range filters.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ADDRESS = String(42)
HASH = String(66)
#: A metadata CID as the catalog keeps it (``backend.indexer.projection.catalog_cid``): the chain takes
#: a string of any length, an index entry does not.
CID_LENGTH = 512
CID = String(CID_LENGTH)


class Base(DeclarativeBase):
    pass


class Checkpoint(Base):
    """The last block the indexer has written (one row). Everything up to it is in the tables."""

    __tablename__ = "checkpoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    market: Mapped[str] = mapped_column(ADDRESS)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(HASH)
    block_time: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The chain's head when the indexer last looked (the API reports how far behind it is).
    head: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[float] = mapped_column(Float, default=0.0)


class Block(Base):
    __tablename__ = "blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(HASH)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class Event(Base):
    __tablename__ = "events"
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    block_hash: Mapped[str] = mapped_column(HASH)
    tx_hash: Mapped[str] = mapped_column(HASH, index=True)
    address: Mapped[str] = mapped_column(ADDRESS)
    name: Mapped[str] = mapped_column(String(40))
    #: The dataset the event concerns (a datatoken's Transfer: the datatoken); None for market-wide ones.
    datatoken: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    #: The event's arguments by field name; addresses checksummed, bytes 0x-hex, enums by name.
    args: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_events_datatoken", "datatoken", "block_number", "log_index"),)


class EventAccount(Base):
    """Each address an event names (publisher, buyer, consumer, sender, receiver...), for account pages."""

    __tablename__ = "event_accounts"
    account: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(24), primary_key=True)


class Market(Base):
    """The market-wide part of the replay (one row)."""

    __tablename__ = "market"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fee_collector: Mapped[str] = mapped_column(ADDRESS)
    fee_bps: Mapped[int] = mapped_column(Integer)
    orders_paused: Mapped[bool] = mapped_column(Boolean)
    order_count: Mapped[int] = mapped_column(BigInteger)
    receipt_count: Mapped[int] = mapped_column(BigInteger)
    violation_count: Mapped[int] = mapped_column(Integer)
    #: {payment token: decimal string}: everything buyers paid, by token.
    volume: Mapped[str] = mapped_column(Text)


class Dataset(Base):
    """One dataset as the replay of its events tells it, plus the totals the API sorts by."""

    __tablename__ = "datasets"
    datatoken: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, unique=True)
    publisher: Mapped[str] = mapped_column(ADDRESS, index=True)
    provider: Mapped[str] = mapped_column(ADDRESS, index=True)
    services: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    free: Mapped[bool] = mapped_column(Boolean)
    payment_token: Mapped[str] = mapped_column(ADDRESS, index=True)
    price: Mapped[str] = mapped_column(String(80))
    price_sort: Mapped[float] = mapped_column(Float, index=True)
    cap: Mapped[str] = mapped_column(String(80))
    dispenser_limit: Mapped[str] = mapped_column(String(80))
    publish_fee_bps: Mapped[int] = mapped_column(Integer)
    has_allowlist: Mapped[bool] = mapped_column(Boolean)
    epsilon_budget: Mapped[int] = mapped_column(BigInteger)
    epsilon_spent: Mapped[int] = mapped_column(BigInteger)
    metadata_cid: Mapped[str] = mapped_column(CID)
    metadata_hash: Mapped[str] = mapped_column(HASH)
    metadata_versions: Mapped[int] = mapped_column(Integer)
    total_supply: Mapped[str] = mapped_column(String(80))
    order_count: Mapped[int] = mapped_column(BigInteger, index=True)
    receipt_count: Mapped[int] = mapped_column(BigInteger)
    #: What buyers paid for its datatokens in all (decimal string, in the payment token of each sale).
    revenue: Mapped[str] = mapped_column(String(80))
    published_block: Mapped[int] = mapped_column(BigInteger, index=True)
    published_at: Mapped[int] = mapped_column(BigInteger)
    published_tx: Mapped[str] = mapped_column(HASH)
    updated_block: Mapped[int] = mapped_column(BigInteger)

    #: Search goes from the matching documents to the datasets whose current metadata they are.
    __table_args__ = (Index("ix_datasets_metadata", "metadata_cid", "metadata_hash"),)


class Order(Base):
    __tablename__ = "orders"
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    datatoken: Mapped[str] = mapped_column(ADDRESS, index=True)
    consumer: Mapped[str] = mapped_column(ADDRESS, index=True)
    payer: Mapped[str] = mapped_column(ADDRESS, index=True)
    provider: Mapped[str] = mapped_column(ADDRESS)
    service_id: Mapped[int] = mapped_column(Integer)
    funding: Mapped[str] = mapped_column(String(16))
    fee_token: Mapped[str] = mapped_column(ADDRESS)
    fee_amount: Mapped[str] = mapped_column(String(80))
    quote_nonce: Mapped[str] = mapped_column(String(24))
    environment: Mapped[str] = mapped_column(HASH)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(HASH)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class Receipt(Base):
    __tablename__ = "receipts"
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    job_id: Mapped[str] = mapped_column(HASH, index=True)
    datatoken: Mapped[str] = mapped_column(ADDRESS, index=True)
    order_id: Mapped[int] = mapped_column(BigInteger, index=True)
    poster: Mapped[str] = mapped_column(ADDRESS)
    algorithm_hash: Mapped[str] = mapped_column(HASH)
    output_hash: Mapped[str] = mapped_column(HASH, index=True)
    epsilon: Mapped[int] = mapped_column(BigInteger)
    spent_after: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    tx_hash: Mapped[str] = mapped_column(HASH)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class MetadataVersion(Base):
    __tablename__ = "metadata_versions"
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    datatoken: Mapped[str] = mapped_column(ADDRESS, index=True)
    version: Mapped[int] = mapped_column(Integer)
    cid: Mapped[str] = mapped_column(CID)
    sha256: Mapped[str] = mapped_column(HASH)
    updated_by: Mapped[str] = mapped_column(ADDRESS)
    tx_hash: Mapped[str] = mapped_column(HASH)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class Document(Base):
    """A metadata document as fetched from the content store and checked against its on-chain hash
    and the JSON Schema. ``status``: ``pending`` (not fetched yet, or unreachable: ``next_attempt``
    says when it is tried again), ``valid`` or ``invalid`` (``reason`` says why)."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cid: Mapped[str] = mapped_column(CID)
    sha256: Mapped[str] = mapped_column(HASH)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[float] = mapped_column(Float, default=0.0)
    fetched_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    license: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The words search matches: name, description, tags and column names.
    search_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ux_documents_cid_sha256", "cid", "sha256", unique=True),)


class Token(Base):
    """An ERC-20 that datasets are priced or fees are paid in, as its own getters describe it (read
    once, when the indexer first meets it). The token's contract wrote these, not the market: a
    symbol can imitate another token's, so pages show the address beside it. None where the
    contract does not answer (the amounts are then shown in base units)."""

    __tablename__ = "tokens"
    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    symbol: Mapped[str | None] = mapped_column(String(32), nullable=True)
    name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decimals: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DocumentTag(Base):
    __tablename__ = "document_tags"
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


__all__ = [
    "Base", "Block", "Checkpoint", "Dataset", "Document", "DocumentTag", "Event", "EventAccount", "Market",
    "MetadataVersion", "Order", "Receipt", "Token",
]  # fmt: skip
