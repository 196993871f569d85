"""What the services (the provider, its workers) read from the chain, behind one small interface.

:class:`ChainReader` is the seam: :class:`Web3ChainReader` is the real one (a JSON-RPC node through
web3 and :class:`~datamarket.chain.market.Market`), and unit tests use an in-memory one. Every
failure to reach the node becomes :class:`~datamarket.errors.ChainUnavailable` (HTTP 503); nothing
here decides whether an order is good (that is the provider's ``orders.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import requests
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import ProviderConnectionError, TransactionNotFound, Web3RPCError

from datamarket.chain.events import (
    DatasetPublished,
    DatasetState,
    MetadataUpdated,
    OrderStarted,
    decode_logs,
    topic_of,
)
from datamarket.chain.market import DatasetRecord, Market
from datamarket.errors import ChainUnavailable, ContractRevert

T = TypeVar("T")


@dataclass(frozen=True)
class BlockInfo:
    number: int
    timestamp: int


@dataclass(frozen=True)
class OrderTx:
    """A transaction as the chain knows it. ``block_number`` is None while it is pending; ``orders``
    holds only the OrderStarted events that the market itself emitted in it."""

    tx_hash: str
    status: int | None
    block_number: int | None
    block_timestamp: int | None
    orders: tuple[OrderStarted, ...] = ()

    @property
    def pending(self) -> bool:
        return self.block_number is None


@dataclass(frozen=True)
class MetadataPointer:
    """Where a dataset's current metadata document is: the latest DatasetPublished/MetadataUpdated."""

    cid: str
    sha256: str
    block_number: int
    #: Who published the dataset (DatasetPublished's sender, which no document can change). Key
    #: wraps are bound to the datatoken, not to it (``datamarket.crypto.contexts``).
    publisher: str = ""


class ChainReader(Protocol):
    chain_id: int
    market_address: str

    def latest_block(self) -> BlockInfo: ...

    def order_tx(self, tx_hash: str) -> OrderTx | None:
        """The transaction ``tx_hash``: None if the node does not know it."""
        ...

    def dataset(self, datatoken: str, block: int | str = "latest") -> DatasetRecord | None:
        """The market's record of ``datatoken`` at ``block``; None if it is not one of the market's
        datasets."""
        ...

    def metadata_pointer(self, datatoken: str) -> MetadataPointer | None: ...

    def is_quote_used(self, provider: str, nonce: int) -> bool: ...

    def node_chain_id(self) -> int:
        """The chain id the node reports (health check)."""
        ...


_UNREACHABLE = (requests.RequestException, ProviderConnectionError, Web3RPCError, OSError, TimeoutError)


class Web3ChainReader:
    """Reads through a JSON-RPC node; the market address and chain id are the provider's settings."""

    def __init__(
        self, w3: Web3, market_address: str, *, chain_id: int | None = None, deploy_block: int = 0
    ) -> None:
        self.w3 = w3
        self.market = Market(w3, market_address)
        self.market_address = self.market.address
        self._chain_id = chain_id
        self.deploy_block = deploy_block

    @property
    def chain_id(self) -> int:
        """The configured chain id, or the node's (asked once)."""
        if self._chain_id is None:
            self._chain_id = self.node_chain_id()
        return self._chain_id

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        market_address: str,
        *,
        chain_id: int | None = None,
        deploy_block: int = 0,
        timeout: float = 10,
    ) -> Web3ChainReader:
        """A reader for the node at ``rpc_url``; no request is made until it is used."""
        session = requests.Session()
        session.trust_env = False  # the node is named explicitly: no proxy from the environment
        w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, session=session))
        return cls(w3, market_address, chain_id=chain_id, deploy_block=deploy_block)

    def __repr__(self) -> str:
        return f"Web3ChainReader(market={self.market_address})"

    def _rpc(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except TransactionNotFound:
            raise  # an answer ("no such transaction"), though web3 derives it from Web3RPCError
        except _UNREACHABLE as exc:
            # The exception text may hold the node's URL (with an API key): not passed on.
            raise ChainUnavailable("the chain node is unavailable") from exc

    def latest_block(self) -> BlockInfo:
        block = self._rpc(self.w3.eth.get_block, "latest")
        return BlockInfo(number=int(block["number"]), timestamp=int(block["timestamp"]))

    def order_tx(self, tx_hash: str) -> OrderTx | None:
        try:
            receipt = self._rpc(self.w3.eth.get_transaction_receipt, tx_hash)
        except TransactionNotFound:
            try:
                self._rpc(self.w3.eth.get_transaction, tx_hash)
            except TransactionNotFound:
                return None
            return OrderTx(tx_hash=tx_hash, status=None, block_number=None, block_timestamp=None)
        block = self._rpc(self.w3.eth.get_block, receipt["blockNumber"])
        # Only the market's OrderStarted logs are decoded (decoding is the costly part).
        order_topic = bytes.fromhex(topic_of("OrderStarted")[2:])
        logs = [
            log
            for log in receipt["logs"]
            if log["topics"]
            and bytes(log["topics"][0]) == order_topic
            and to_checksum_address(log["address"]) == self.market_address
        ]
        orders = tuple(e for e in decode_logs(logs) if isinstance(e, OrderStarted))
        return OrderTx(
            tx_hash=tx_hash,
            status=int(receipt["status"]),
            block_number=int(receipt["blockNumber"]),
            block_timestamp=int(block["timestamp"]),
            orders=orders,
        )

    def dataset(self, datatoken: str, block: int | str = "latest") -> DatasetRecord | None:
        try:
            record = self._rpc(self.market.dataset, datatoken, block)
        except ContractRevert:
            return None
        return None if record.state == DatasetState.NONE else record

    def metadata_pointer(self, datatoken: str) -> MetadataPointer | None:
        topics = [
            [topic_of("DatasetPublished"), topic_of("MetadataUpdated")],
            "0x" + "00" * 12 + to_checksum_address(datatoken)[2:].lower(),
        ]
        query = {
            "address": self.market_address,
            "topics": topics,
            "fromBlock": self.deploy_block,
            "toBlock": "latest",
        }
        logs = self._rpc(self.w3.eth.get_logs, query)
        events = [
            e
            for e in decode_logs(logs)
            if isinstance(e, DatasetPublished | MetadataUpdated) and e.meta.address == self.market_address
        ]
        if not events:
            return None
        last = max(events, key=lambda e: (e.meta.block_number, e.meta.log_index))
        published = next((e for e in events if isinstance(e, DatasetPublished)), None)
        if published is None:
            return None
        return MetadataPointer(
            cid=last.metadata_cid,
            sha256=last.metadata_hash,
            block_number=last.meta.block_number,
            publisher=published.publisher,
        )

    def is_quote_used(self, provider: str, nonce: int) -> bool:
        return self._rpc(self.market.is_quote_used, provider, nonce)

    def node_chain_id(self) -> int:
        return int(self._rpc(lambda: self.w3.eth.chain_id))


__all__ = ["BlockInfo", "ChainReader", "MetadataPointer", "OrderTx", "Web3ChainReader"]
