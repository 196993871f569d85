"""A market's history built by hand for the audit's unit tests: each call is one transaction's events,
in the order the contract emits them, one block per transaction, ten seconds apart."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from typing import Any

from eth_utils import keccak, to_checksum_address

from datamarket.audit.documents import DocumentCheck, DocumentStatus
from datamarket.audit.report import AuditReport, Scope, build_report
from datamarket.chain import events as ev
from datamarket.chain.events import JobStatus, LogMeta, OrderFunding
from datamarket.chain.logs import BlockRef
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.chain.replay import replay


def address(name: str) -> str:
    return to_checksum_address(keccak(text=name)[:20])


def b32(name: str) -> str:
    return "0x" + keccak(text=name).hex()


def sha256(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


MARKET, DT, OTHER, USD = address("market"), address("datatoken"), address("other datatoken"), address("usd")
PUBLISHER, PROVIDER, CONSUMER = address("publisher"), address("provider"), address("consumer")
COLLECTOR = address("collector")
PRICE, FEE_BPS, BUDGET = 1000, 100, 10_000_000
GENESIS_TIME = 1_700_000_000


class History:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.blocks: dict[int, BlockRef] = {}
        self._block = itertools.count(1)
        self._orders = itertools.count(0)
        self._nonces = itertools.count(1)
        self.tx(self._at(ev.MarketFeeSet, COLLECTOR, FEE_BPS))

    @staticmethod
    def _at(cls: type, *args: Any, source: str = MARKET) -> Any:
        return cls(LogMeta(source, 0, "", "", 0), *args)

    def tx(self, *events: Any) -> str:
        block = next(self._block)
        tx_hash = b32(f"tx {block}")
        self.blocks[block] = BlockRef(block, b32(f"block {block}"), GENESIS_TIME + 10 * block)
        for i, e in enumerate(events):
            meta = LogMeta(e.meta.address, block, b32(f"block {block}"), tx_hash, i)
            self.events.append(dataclasses.replace(e, meta=meta))
        return tx_hash

    # ------------------------------------------------------------------ what one call emits

    def publish(self, dt: str = DT, *, index: int = 0, document: bytes = b"v1", budget: int = BUDGET) -> str:
        return self.tx(
            self._at(ev.DatasetPublished, dt, PUBLISHER, PROVIDER, index, 0b11, budget, sha256(document),
                     f"cid {document.decode()}"),
            self._at(ev.PriceSet, dt, USD, PRICE, 0),
        )  # fmt: skip

    def update_metadata(self, document: bytes, dt: str = DT) -> str:
        return self.tx(
            self._at(ev.MetadataUpdated, dt, PUBLISHER, sha256(document), f"cid {document.decode()}")
        )

    def set_price(self, price: int, dt: str = DT) -> str:
        return self.tx(self._at(ev.PriceSet, dt, USD, price, 0))

    def make_free(self, limit: int = 1, dt: str = DT) -> str:
        return self.tx(self._at(ev.DispenserSet, dt, limit, 0))

    def _order(self, funding: OrderFunding, dt: str, fee: int = 7) -> Any:
        order_id, nonce = next(self._orders), next(self._nonces)
        args = (CONSUMER, PROVIDER, order_id, CONSUMER, funding, 1, USD, fee, nonce, ZERO_HASH)
        return self._at(ev.OrderStarted, dt, *args)

    def buy_and_order(self, dt: str = DT, price: int = PRICE) -> str:
        """A buy that is never minted, and the order it funds (``OrderFunding.BOUGHT``)."""
        fee = price * FEE_BPS // 10_000
        return self.tx(self._at(ev.Bought, dt, CONSUMER, USD, 1, price, fee, 0, False),
                       self._order(OrderFunding.BOUGHT, dt))  # fmt: skip

    def buy(self, dt: str = DT, price: int = PRICE) -> str:
        fee = price * FEE_BPS // 10_000
        return self.tx(self._at(ev.Bought, dt, CONSUMER, USD, 1, price, fee, 0, True),
                       self._at(ev.Transfer, ZERO_ADDRESS, CONSUMER, 1, source=dt))  # fmt: skip

    def burn_and_order(self, dt: str = DT) -> str:
        return self.tx(self._at(ev.Transfer, CONSUMER, ZERO_ADDRESS, 1, source=dt),
                       self._order(OrderFunding.BURNED, dt))  # fmt: skip

    def unpaid_order(self, dt: str = DT) -> str:
        return self.tx(self._order(OrderFunding.BURNED, dt))

    def free_order(self, dt: str = DT) -> str:
        return self.tx(self._order(OrderFunding.FREE, dt, fee=0))

    def receipt(self, job: str, epsilon: int, *, spent_after: int, order_id: int = 0, dt: str = DT,
                output: str = "out") -> str:  # fmt: skip
        return self.tx(self._at(ev.ComputeReceiptPosted, b32(job), dt, order_id, PROVIDER, b32("algorithm"),
                                b32(output), epsilon, spent_after, JobStatus.SUCCEEDED))  # fmt: skip

    # ------------------------------------------------------------------ the report

    def report(
        self, documents: dict[bytes, DocumentStatus] | None = None, *, dt: str = DT, complete: bool = True
    ) -> AuditReport:
        """The report of ``dt``; each document (by its bytes) has the status given, verified by default."""
        state = replay(self.events, MARKET)
        checks = {}
        for version in state.datasets[dt].metadata_versions:
            raw = version.cid.removeprefix("cid ").encode()
            status = (documents or {}).get(raw, DocumentStatus.VERIFIED)
            checks[version.cid, version.hash] = DocumentCheck(status, "" if status == "verified" else "why")
        last = max(self.blocks)
        return build_report(
            Scope(31337, MARKET, dt, 0, last, complete), state, self.events, self.blocks, checks
        )
