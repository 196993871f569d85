"""In-memory adapters for the provider's unit tests (and only there: integration tests use anvil
and real stores). Each one follows the real adapter's interface and failure modes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from datamarket.chain.events import DatasetState, LogMeta, OrderFunding, OrderStarted
from datamarket.chain.market import DatasetRecord
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.chain.reader import BlockInfo, MetadataPointer, OrderTx
from datamarket.errors import ChainUnavailable
from datamarket.storage.base import ContentNotFound
from datamarket.storage.cid import raw_leaf_cid

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337


class FakeStore:
    """A content store for single-block documents (CIDv1 raw leaves, as the real stores give)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def add(self, stream: BinaryIO, *, cid_version: int = 1, only_hash: bool = False) -> str:
        data = stream.read()
        cid = raw_leaf_cid(data)
        if not only_hash:
            self.blobs[cid] = data
        return cid

    def cat(self, cid: str) -> Iterator[bytes]:
        if cid not in self.blobs:
            raise ContentNotFound(f"{cid} is not in the store at /secret/path", details={"cid": cid})
        return iter([self.blobs[cid]])

    def pin(self, cid: str) -> None:
        pass

    def unpin(self, cid: str) -> None:
        pass

    def has(self, cid: str) -> bool:
        return cid in self.blobs


@dataclass
class FakeChain:
    chain_id: int = CHAIN_ID
    market_address: str = MARKET
    latest: BlockInfo = field(default_factory=lambda: BlockInfo(number=100, timestamp=1_800_000_000))
    txs: dict[str, OrderTx] = field(default_factory=dict)
    datasets: dict[str, DatasetRecord] = field(default_factory=dict)
    pointers: dict[str, MetadataPointer] = field(default_factory=dict)
    used_quotes: set[tuple[str, int]] = field(default_factory=set)
    order_count: int = 0  # the next order's id, as the market counts them
    node_id: int | None = None
    down: bool = False
    calls: int = 0

    def _touch(self) -> None:
        self.calls += 1
        if self.down:
            raise ChainUnavailable("the chain node is unavailable")

    def latest_block(self) -> BlockInfo:
        self._touch()
        return self.latest

    def order_tx(self, tx_hash: str) -> OrderTx | None:
        self._touch()
        return self.txs.get(tx_hash)

    def dataset(self, datatoken: str, block: int | str = "latest") -> DatasetRecord | None:
        self._touch()
        return self.datasets.get(datatoken)

    def metadata_pointer(self, datatoken: str) -> MetadataPointer | None:
        self._touch()
        return self.pointers.get(datatoken)

    def is_quote_used(self, provider: str, nonce: int) -> bool:
        self._touch()
        return (provider, nonce) in self.used_quotes

    def node_chain_id(self) -> int:
        self._touch()
        return self.chain_id if self.node_id is None else self.node_id

    # ------------------------------------------------------------------ building the world

    def mine(self, blocks: int = 1, seconds: int = 12) -> None:
        self.latest = BlockInfo(self.latest.number + blocks, self.latest.timestamp + seconds * blocks)

    def add_order(
        self,
        tx_hash: str,
        *,
        datatoken: str,
        consumer: str,
        provider: str,
        service_id: int = 0,
        status: int = 1,
        market: str | None = None,
    ) -> OrderTx:
        """A mined transaction holding one OrderStarted (from ``market``, default this market)."""
        self.mine()
        meta = LogMeta(
            address=market or self.market_address,
            block_number=self.latest.number,
            block_hash="0x" + "ab" * 32,
            tx_hash=tx_hash,
            log_index=0,
        )
        order_id = self.order_count
        self.order_count += 1
        event = OrderStarted(
            meta,
            datatoken,
            consumer,
            provider,
            order_id,
            consumer,
            OrderFunding.BOUGHT,
            service_id,
            ZERO_ADDRESS,
            0,
            1,
            ZERO_HASH,
        )
        orders = (event,) if status == 1 and (market is None or market == self.market_address) else ()
        tx = OrderTx(tx_hash, status, self.latest.number, self.latest.timestamp, orders)
        self.txs[tx_hash] = tx
        return tx

    def set_state(self, datatoken: str, state: DatasetState) -> None:
        self.datasets[datatoken] = replace(self.datasets[datatoken], state=state)


def record(
    *, publisher: str, provider: str, metadata: bytes, services: int = 0b11, allowlist_root: str = ZERO_HASH
) -> DatasetRecord:
    return DatasetRecord(
        publisher=publisher,
        state=DatasetState.ACTIVE,
        services=services,
        free=False,
        has_allowlist=allowlist_root != ZERO_HASH,
        capped=False,
        publish_fee_bps=0,
        index=0,
        provider=provider,
        epsilon_budget=0,
        epsilon_spent=0,
        payment_token=ZERO_ADDRESS,
        price=0,
        cap=0,
        dispenser_limit=0,
        metadata_hash="0x" + hashlib.sha256(metadata).hexdigest(),
        publish_fee_collector=ZERO_ADDRESS,
        allowlist_root=allowlist_root,
    )
