"""Catalog rows as the indexer writes them, built through the models: a block per chain action, the
events with their arguments as ``datamarket.chain.events.event_args`` gives them, the projections
(datasets, orders, receipts, metadata versions, market) kept consistent with those events, and the
metadata documents with their tags and search text.

``Catalog(engine)`` is the one seam: the unit tests, the page tests and the browser tests' demo
catalog all fill the database through it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend.db import models as m
from datamarket.chain import events as ev
from datamarket.chain.devchain import dev_account
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH

CHAIN_ID = 31337
ONE = 10**18
MICRO = 1_000_000
GENESIS_TIME = 1_717_200_000  # 2024-06-01 00:00 UTC
BLOCK_TIME = 12
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USD = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
#: What each token's contract answers to symbol(), name() and decimals(), as the indexer stores it
#: the first time an event names the token (a token not listed answers nothing: a row of None).
TOKENS: dict[str, tuple[str | None, str | None, int | None]] = {USD: ("lUSD", "Local USD", 18)}


@cache
def account(index: int) -> str:
    return dev_account(index).address


def publisher() -> str:
    return account(2)


def provider() -> str:
    return account(3)


def consumer() -> str:
    return account(4)


def bytes32(*parts: Any) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


def cid_of(data: bytes) -> str:
    """A CIDv1-looking string for ``data`` (base32, like the content store's)."""
    return "bafkrei" + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")[:52]


def address_of(*parts: Any) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address("0x" + hashlib.sha256(repr(parts).encode()).hexdigest()[:40])


def profile_columns() -> list[dict[str, Any]]:
    return [
        {
            "name": "age",
            "dtype": "int64",
            "kind": "numeric",
            "missing": 0,
            "stats": {
                "min": 29,
                "max": 77,
                "mean": 54.4,
                "std": 9.0,
                "quantiles": {"0": 29, "0.25": 48, "0.5": 55, "0.75": 61, "1": 77},
            },
        },
        {
            "name": "cholesterol",
            "dtype": "float64",
            "kind": "numeric",
            "missing": 3,
            "stats": {
                "min": 126.0,
                "max": 564.0,
                "mean": 246.3,
                "std": 51.8,
                "quantiles": {"0": 126.0, "0.25": 211.0, "0.5": 240.5, "0.75": 274.75, "1": 564.0},
            },
        },
        {
            "name": "diagnosis",
            "dtype": "object",
            "kind": "categorical",
            "missing": 0,
            "stats": {
                "distinct": 2,
                "top": [{"value": "healthy", "count": 165}, {"value": "disease", "count": 138}],
            },
        },
    ]


def document(
    name: str,
    description: str,
    tags: list[str],
    columns: list[dict[str, Any]] | None,
    services: int,
    publisher_address: str,
) -> dict[str, Any]:
    """A ``datamarket/dataset@1`` document (its file and key fields shaped like a real one's)."""
    body: dict[str, Any] = {
        "schema": "datamarket/dataset@1",
        "name": name,
        "description": description,
        "tags": tags,
        "license": "CC-BY-4.0",
        "publisher": publisher_address,
        "created": "2024-06-01T00:00:00Z",
        "files": [
            {
                "cid": cid_of(name.encode()),
                "size": 4096,
                "plaintext_size": 4000,
                "content_type": "text/csv",
                "plaintext_sha256": hashlib.sha256(name.encode()).hexdigest(),
                "encryption": {
                    "algorithm": "AES-256-GCM-STREAM-1",
                    "chunk_size": 65536,
                    "wrapped_key": {
                        "scheme": "X25519-HKDF-SHA256-A256GCM",
                        "key_id": "0123456789abcdef",
                        "epk": "ZXBr",
                        "nonce": "bm9uY2U",
                        "ct": "Y3Q",
                    },
                },
            }
        ],
        "services": [],
    }
    if columns is not None:
        body["profile"] = {"rows": 303, "columns": columns}
    if services & 1:
        body["services"].append(
            {
                "id": 0,
                "type": "download",
                "provider_url": "http://127.0.0.1:8030",
                "provider_address": provider(),
                "timeout": 0,
            }
        )
    if services & 2:
        body["services"].append(
            {
                "id": 1,
                "type": "compute",
                "provider_url": "http://127.0.0.1:8030",
                "provider_address": provider(),
                "timeout": 0,
                "compute": {
                    "trusted_algorithms": [],
                    "allow_any_algorithm": False,
                    "privacy": {"epsilon_budget": 10, "delta": 1e-5, "max_epsilon_per_job": 2},
                },
            }
        )
    return body


@dataclass
class Published:
    datatoken: str
    document_id: int | None
    publish_block: int


class Catalog:
    """Fills a migrated catalog database with consistent rows, one chain action at a time."""

    def __init__(self, engine: Engine, *, chain_id: int = CHAIN_ID, start_block: int = 100) -> None:
        self.engine = engine
        self.chain_id = chain_id
        self.block_number = start_block
        self.index = itertools.count()
        self.order_ids = itertools.count(1)
        self.volume: dict[str, int] = {}
        self.times: dict[int, int] = {}
        self.token_answers = dict(TOKENS)
        self.tokens_written: set[str] = set()

    def describe_token(
        self, address: str, symbol: str | None, name: str | None, decimals: int | None
    ) -> None:
        """What ``address``'s contract answers when the indexer first asks (before an event names it)."""
        self.token_answers[address] = (symbol, name, decimals)

    # -- blocks and events ------------------------------------------------------------------------
    def _block(self, session: Session, timestamp: int | None = None) -> tuple[int, int, str]:
        self.block_number += 1
        number = self.block_number
        time = timestamp if timestamp is not None else GENESIS_TIME + number * BLOCK_TIME
        block_hash = bytes32("block", number)
        session.add(m.Block(number=number, hash=block_hash, timestamp=time))
        self.times[number] = time
        return number, time, block_hash

    def _event(
        self,
        session: Session,
        event_cls: type,
        address: str,
        block: tuple[int, int, str],
        log_index: int,
        tx_hash: str,
        subject: str | None,
        **fields: Any,
    ) -> None:
        number, _, block_hash = block
        meta = ev.LogMeta(address, number, block_hash, tx_hash, log_index)
        event = event_cls(meta=meta, **fields)
        args = ev.event_args(event)
        session.add(
            m.Event(
                block_number=number,
                log_index=log_index,
                block_hash=block_hash,
                tx_hash=tx_hash,
                address=address,
                name=event_cls.__name__,
                datatoken=subject,
                args=json.dumps(args, separators=(",", ":")),
            )
        )
        for key, value in args.items():
            if key != "datatoken" and isinstance(value, str) and len(value) == 42 and value != ZERO_ADDRESS:
                session.add(
                    m.EventAccount(
                        account=value, block_number=number, log_index=log_index, role=key.rstrip("_")
                    )
                )

    def _token(self, session: Session, address: str) -> None:
        """The token's row, written when an event first names it (never for the native coin)."""
        if address == ZERO_ADDRESS or address in self.tokens_written:
            return
        symbol, name, decimals = self.token_answers.get(address, (None, None, None))
        session.add(m.Token(address=address, symbol=symbol, name=name, decimals=decimals))
        self.tokens_written.add(address)

    def _document(
        self,
        session: Session,
        body: dict[str, Any] | None,
        *,
        status: str,
        reason: str | None,
        raw: bytes | None = None,
    ) -> tuple[str, str, int]:
        data = raw if raw is not None else json.dumps(body, sort_keys=True).encode()
        cid, sha = cid_of(data), "0x" + hashlib.sha256(data).hexdigest()
        if status == "absent":
            return cid, sha, -1
        valid = status == "valid" and body is not None
        columns = [c["name"] for c in (body or {}).get("profile", {}).get("columns", [])]
        row = m.Document(
            cid=cid,
            sha256=sha,
            status=status,
            reason=reason,
            attempts=1,
            next_attempt=0.0,
            fetched_at=1.0,
            name=body["name"] if valid else None,
            description=body["description"] if valid else None,
            license=body["license"] if valid else None,
            search_text=" ".join([body["name"], body["description"], *body["tags"], *columns])
            if valid
            else None,
            body=data.decode() if valid else None,
        )
        session.add(row)
        session.flush()
        if valid:
            for tag in body["tags"]:
                session.add(m.DocumentTag(document_id=row.id, tag=tag))
        return cid, sha, row.id

    # -- chain actions ----------------------------------------------------------------------------
    def publish(
        self,
        name: str = "Heart disease (Cleveland)",
        *,
        description: str = "Clinical measurements of 303 patients, with a diagnosis of heart disease.",
        tags: list[str] | None = None,
        columns: list[dict[str, Any]] | None = None,
        price: int = 5 * ONE,
        payment_token: str = USD,
        services: int = 3,
        state: str = "ACTIVE",
        epsilon_budget: float = 10.0,
        publisher_address: str | None = None,
        document_status: str = "valid",
        reason: str | None = None,
        raw_document: bytes | None = None,
        timestamp: int | None = None,
    ) -> Published:
        """A dataset published with a price (free when ``price`` is 0) and its document as the
        indexer left it: ``valid``, ``invalid`` (with ``reason``), ``pending`` or ``absent`` (no row)."""
        publisher_address = publisher_address or publisher()
        index = next(self.index)
        datatoken = address_of("datatoken", index)
        body = document(
            name,
            description,
            tags if tags is not None else ["health", "cardiology"],
            profile_columns() if columns is None else columns,
            services,
            publisher_address,
        )
        with Session(self.engine) as session, session.begin():
            block = self._block(session, timestamp)
            cid, sha, document_id = self._document(
                session, body, status=document_status, reason=reason, raw=raw_document
            )
            tx = bytes32("publish", index)
            budget = round(epsilon_budget * MICRO)
            self._event(
                session,
                ev.DatasetPublished,
                MARKET,
                block,
                0,
                tx,
                datatoken,
                datatoken=datatoken,
                publisher=publisher_address,
                provider=provider(),
                index=index,
                services=services,
                epsilon_budget=budget,
                metadata_hash=sha,
                metadata_cid=cid,
            )
            if price:
                self._token(session, payment_token)
                self._event(
                    session,
                    ev.PriceSet,
                    MARKET,
                    block,
                    1,
                    tx,
                    datatoken,
                    datatoken=datatoken,
                    payment_token=payment_token,
                    price=price,
                    cap=1000,
                )
            else:
                self._event(
                    session,
                    ev.DispenserSet,
                    MARKET,
                    block,
                    1,
                    tx,
                    datatoken,
                    datatoken=datatoken,
                    limit=1,
                    cap=1000,
                )
            session.add(
                m.MetadataVersion(
                    block_number=block[0],
                    log_index=0,
                    datatoken=datatoken,
                    version=1,
                    cid=cid,
                    sha256=sha,
                    updated_by=publisher_address,
                    tx_hash=tx,
                    timestamp=block[1],
                )
            )
            session.add(
                m.Dataset(
                    datatoken=datatoken,
                    index=index,
                    publisher=publisher_address,
                    provider=provider(),
                    services=services,
                    state=state,
                    free=price == 0,
                    payment_token=payment_token if price else ZERO_ADDRESS,
                    price=str(price),
                    price_sort=float(price),
                    cap="1000",
                    dispenser_limit="1" if price == 0 else "0",
                    publish_fee_bps=0,
                    has_allowlist=False,
                    epsilon_budget=budget,
                    epsilon_spent=0,
                    metadata_cid=cid,
                    metadata_hash=sha,
                    metadata_versions=1,
                    total_supply="0",
                    order_count=0,
                    receipt_count=0,
                    revenue="0",
                    published_block=block[0],
                    published_at=block[1],
                    published_tx=tx,
                    updated_block=block[0],
                )
            )
        self._checkpoint()
        return Published(datatoken, document_id if document_id > 0 else None, block[0])

    def buy_and_order(
        self,
        datatoken: str,
        *,
        buyer: str | None = None,
        timestamp: int | None = None,
        service_id: int = 0,
        fee_token: str = ZERO_ADDRESS,
        fee_amount: int = 0,
    ) -> int:
        """Buy one datatoken and order a service with it in one transaction: Bought, Transfer (mint),
        OrderStarted (with the provider's fee), Transfer (burn). Returns the order id."""
        buyer = buyer or consumer()
        order_id = next(self.order_ids)
        with Session(self.engine) as session, session.begin():
            ds = session.get(m.Dataset, datatoken)
            block = self._block(session, timestamp)
            tx = bytes32("order", order_id)
            cost = int(ds.price)
            self._token(session, ds.payment_token)
            self._token(session, fee_token)
            self._event(
                session,
                ev.Bought,
                MARKET,
                block,
                0,
                tx,
                datatoken,
                datatoken=datatoken,
                buyer=buyer,
                payment_token=ds.payment_token,
                amount=ONE,
                cost=cost,
                market_fee=cost // 100,
                publish_fee=0,
                minted=True,
            )
            self._event(
                session,
                ev.Transfer,
                datatoken,
                block,
                1,
                tx,
                datatoken,
                from_=ZERO_ADDRESS,
                to=buyer,
                value=ONE,
            )
            self._event(
                session,
                ev.OrderStarted,
                MARKET,
                block,
                2,
                tx,
                datatoken,
                datatoken=datatoken,
                consumer=buyer,
                provider=ds.provider,
                order_id=order_id,
                payer=buyer,
                funding=ev.OrderFunding.BOUGHT,
                service_id=service_id,
                fee_token=fee_token,
                fee_amount=fee_amount,
                quote_nonce=order_id,
                environment=ZERO_HASH,
            )
            self._event(
                session,
                ev.Transfer,
                datatoken,
                block,
                3,
                tx,
                datatoken,
                from_=buyer,
                to=ZERO_ADDRESS,
                value=ONE,
            )
            session.add(
                m.Order(
                    order_id=order_id,
                    datatoken=datatoken,
                    consumer=buyer,
                    payer=buyer,
                    provider=ds.provider,
                    service_id=service_id,
                    funding="BOUGHT",
                    fee_token=fee_token,
                    fee_amount=str(fee_amount),
                    quote_nonce=str(order_id),
                    environment=ZERO_HASH,
                    block_number=block[0],
                    log_index=2,
                    tx_hash=tx,
                    timestamp=block[1],
                )
            )
            ds.order_count += 1
            ds.revenue = str(int(ds.revenue) + cost)
            ds.updated_block = block[0]
            self.volume[ds.payment_token] = self.volume.get(ds.payment_token, 0) + cost
        self._checkpoint()
        return order_id

    def receipt(
        self, datatoken: str, order_id: int, *, epsilon: float = 1.0, status: str = "SUCCEEDED"
    ) -> str:
        """A compute receipt for ``order_id``; returns the job id."""
        job_id = bytes32("job", order_id)
        with Session(self.engine) as session, session.begin():
            ds = session.get(m.Dataset, datatoken)
            block = self._block(session)
            tx = bytes32("receipt", order_id)
            units = round(epsilon * MICRO)
            spent = ds.epsilon_spent + units
            self._event(
                session,
                ev.ComputeReceiptPosted,
                MARKET,
                block,
                0,
                tx,
                datatoken,
                job_id=job_id,
                datatoken=datatoken,
                order_id=order_id,
                poster=ds.provider,
                algorithm_hash=bytes32("algorithm"),
                output_hash=bytes32("output", order_id),
                epsilon=units,
                spent_after=spent,
                status=ev.JobStatus[status],
            )
            session.add(
                m.Receipt(
                    block_number=block[0],
                    log_index=0,
                    job_id=job_id,
                    datatoken=datatoken,
                    order_id=order_id,
                    poster=ds.provider,
                    algorithm_hash=bytes32("algorithm"),
                    output_hash=bytes32("output", order_id),
                    epsilon=units,
                    spent_after=spent,
                    status=status,
                    tx_hash=tx,
                    timestamp=block[1],
                )
            )
            ds.receipt_count += 1
            ds.epsilon_spent = spent
            ds.updated_block = block[0]
        self._checkpoint()
        return job_id

    def update_metadata(
        self, datatoken: str, *, status: str = "valid", reason: str | None = None, name: str | None = None
    ) -> int:
        """A new metadata version (its document as the indexer left it); returns its version number."""
        with Session(self.engine) as session, session.begin():
            ds = session.get(m.Dataset, datatoken)
            block = self._block(session)
            version = ds.metadata_versions + 1
            body = document(
                name or f"Version {version}",
                "Updated description.",
                ["health"],
                profile_columns(),
                ds.services,
                ds.publisher,
            )
            cid, sha, _ = self._document(session, body, status=status, reason=reason)
            tx = bytes32("metadata", datatoken, version)
            self._event(
                session,
                ev.MetadataUpdated,
                MARKET,
                block,
                0,
                tx,
                datatoken,
                datatoken=datatoken,
                updated_by=ds.publisher,
                metadata_hash=sha,
                metadata_cid=cid,
            )
            session.add(
                m.MetadataVersion(
                    block_number=block[0],
                    log_index=0,
                    datatoken=datatoken,
                    version=version,
                    cid=cid,
                    sha256=sha,
                    updated_by=ds.publisher,
                    tx_hash=tx,
                    timestamp=block[1],
                )
            )
            ds.metadata_versions = version
            ds.metadata_cid, ds.metadata_hash = cid, sha
            ds.updated_block = block[0]
        self._checkpoint()
        return version

    def set_state(self, datatoken: str, state: str) -> None:
        with Session(self.engine) as session, session.begin():
            ds = session.get(m.Dataset, datatoken)
            block = self._block(session)
            self._event(
                session,
                ev.DatasetStateChanged,
                MARKET,
                block,
                0,
                bytes32("state", datatoken, state),
                datatoken,
                datatoken=datatoken,
                from_=ev.DatasetState[ds.state],
                to=ev.DatasetState[state],
            )
            ds.state = state
            ds.updated_block = block[0]
        self._checkpoint()

    def _checkpoint(self, *, head_ahead: int = 2) -> None:
        with Session(self.engine) as session, session.begin():
            market = session.get(m.Market, 1)
            counts = session.query(m.Order).count(), session.query(m.Receipt).count()
            volume = json.dumps({token: str(amount) for token, amount in sorted(self.volume.items())})
            if market is None:
                session.add(
                    m.Market(
                        id=1,
                        fee_collector=account(5),
                        fee_bps=100,
                        orders_paused=False,
                        order_count=counts[0],
                        receipt_count=counts[1],
                        violation_count=0,
                        volume=volume,
                    )
                )
            else:
                market.order_count, market.receipt_count, market.volume = counts[0], counts[1], volume
            checkpoint = session.get(m.Checkpoint, 1)
            number = self.block_number
            values = {
                "chain_id": self.chain_id,
                "market": MARKET,
                "block_number": number,
                "block_hash": bytes32("block", number),
                "block_time": self.times.get(number, 0),
                "head": number + head_ahead,
                "updated_at": 0.0,
            }
            if checkpoint is None:
                session.add(m.Checkpoint(id=1, **values))
            else:
                for key, value in values.items():
                    setattr(checkpoint, key, value)


__all__ = [
    "CHAIN_ID",
    "MARKET",
    "ONE",
    "TOKENS",
    "USD",
    "Catalog",
    "Published",
    "account",
    "consumer",
    "profile_columns",
    "provider",
    "publisher",
]
