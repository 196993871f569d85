"""The market's logs over a block range, fetched with ``eth_getLogs`` in adaptive ranges.

Nodes refuse large ``eth_getLogs`` queries (too many blocks, too many results) or time out on them.
:class:`LogFetcher` asks for at most ``span`` blocks at a time: it halves the span when the node
refuses or times out, and doubles it back (up to ``max_span``) after each answer. One block that still
fails raises :class:`~datamarket.errors.ChainUnavailable`.

:func:`market_batch` fetches what a replay of the market needs (``datamarket.chain.replay``): every log
of the market contract, and the ``Transfer`` logs of its datatokens (known from ``DatasetPublished``,
including those published in the same range), decoded and in chain order, with each block's hash and
time. The indexer (``backend``) and ``datamarket audit`` both read the chain through it.

Requests go to the node as raw JSON-RPC (no web3 result formatting: catching up on 100,000 events is
mostly this), and the node's error texts are not passed on (they can hold its URL and key).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_utils import to_checksum_address
from web3 import Web3

from datamarket.chain.events import DatasetPublished, decode_log, topic_of
from datamarket.errors import ChainUnavailable

#: Addresses per ``eth_getLogs`` query of datatokens' ``Transfer`` logs.
ADDRESS_GROUP = 500


class RangeRefused(Exception):
    """The node refused or timed out on a range; a smaller one may pass."""


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str
    timestamp: int
    #: The parent block's hash, where the header was read ("" when the block came from a log).
    parent: str = ""


@dataclass
class Batch:
    """What blocks ``start``..``end`` hold for the market, in chain order."""

    start: int
    end: int
    events: list[Any] = field(default_factory=list)
    #: Every block some event came from, by number.
    blocks: dict[int, BlockRef] = field(default_factory=dict)


class Rpc:
    """Raw JSON-RPC calls through a web3 provider; any failure to get an answer is ChainUnavailable,
    and an error answer is :class:`RangeRefused` (the caller decides whether a smaller query helps)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def call(self, method: str, params: list[Any]) -> Any:
        try:
            answer = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        except (requests.Timeout, TimeoutError) as exc:
            raise RangeRefused("timeout") from exc
        except Exception as exc:  # connection refused, reset, bad gateway: the node is not there
            raise ChainUnavailable("the chain node is unavailable") from exc
        if "error" in answer:
            raise RangeRefused(str(answer["error"].get("code", "")))
        return answer["result"]

    def block(self, number: int | str) -> BlockRef | None:
        tag = number if isinstance(number, str) else hex(number)
        try:
            found = self.call("eth_getBlockByNumber", [tag, False])
        except RangeRefused as exc:
            raise ChainUnavailable(f"the chain node refused block {number}") from exc
        if found is None:
            return None
        return BlockRef(
            int(found["number"], 16), found["hash"], int(found["timestamp"], 16), found["parentHash"]
        )

    def chain_id(self) -> int:
        try:
            return int(self.call("eth_chainId", []), 16)
        except RangeRefused as exc:
            raise ChainUnavailable("the chain node refused eth_chainId") from exc

    def head(self) -> int:
        try:
            return int(self.call("eth_blockNumber", []), 16)
        except RangeRefused as exc:
            raise ChainUnavailable("the chain node refused eth_blockNumber") from exc


class LogFetcher:
    """``eth_getLogs`` over any range, split into spans the node accepts."""

    def __init__(self, rpc: Rpc, *, span: int = 2_000, max_span: int = 100_000) -> None:
        self.rpc = rpc
        self.max_span = max_span
        self.span = max(1, min(span, max_span))
        #: How many times the node refused a span (a benchmark and the tests read it).
        self.refusals = 0

    def get_logs(self, query: dict[str, Any], start: int, end: int) -> list[dict[str, Any]]:
        """Every log matching ``query`` (address, topics) in blocks ``start``..``end``."""
        logs: list[dict[str, Any]] = []
        for _, _, found in self.spans(query, start, end):
            logs.extend(found)
        return logs

    def spans(self, query: dict[str, Any], start: int, end: int) -> Iterator[tuple[int, int, list]]:
        """(first block, last block, logs) for consecutive spans covering ``start``..``end``."""
        low = start
        while low <= end:
            high = min(end, low + self.span - 1)
            try:
                found = self.rpc.call("eth_getLogs", [{**query, "fromBlock": hex(low), "toBlock": hex(high)}])
            except RangeRefused as exc:
                self.refusals += 1
                if high == low:
                    raise ChainUnavailable(f"the chain node refused the logs of block {low}") from exc
                self.span = max(1, (high - low + 1) // 2)
                continue
            yield low, high, found
            low = high + 1
            self.span = min(self.max_span, self.span * 2)


def _sort_key(log: dict[str, Any]) -> tuple[int, int]:
    return int(log["blockNumber"], 16), int(log["logIndex"], 16)


def market_batch(fetcher: LogFetcher, market: str, datatokens: set[str], start: int, end: int) -> Batch:
    """The market's events and its datatokens' transfers in ``start``..``end``.

    ``datatokens`` (checksum addresses) is updated in place with those published in the range.
    Logs marked ``removed`` (a node's answer during a reorganisation) are left out.
    """
    market = to_checksum_address(market)
    logs = fetcher.get_logs({"address": market}, start, end)
    events = [e for e in map(decode_log, logs) if e is not None]
    for event in events:
        if isinstance(event, DatasetPublished) and event.meta.address == market:
            datatokens.add(event.datatoken)
    transfer = topic_of("Transfer")
    tokens = sorted(datatokens)
    raw = list(logs)
    for i in range(0, len(tokens), ADDRESS_GROUP):
        group = tokens[i : i + ADDRESS_GROUP]
        found = fetcher.get_logs({"address": group, "topics": [transfer]}, start, end)
        raw.extend(found)
        events.extend(e for e in map(decode_log, found) if e is not None)
    live = {_sort_key(log) for log in raw if not log.get("removed")}
    events = [e for e in events if (e.meta.block_number, e.meta.log_index) in live]
    events.sort(key=lambda e: (e.meta.block_number, e.meta.log_index))
    return Batch(start, end, events, _blocks(fetcher.rpc, raw))


def _blocks(rpc: Rpc, logs: Iterable[dict[str, Any]]) -> dict[int, BlockRef]:
    """Each log's block: its hash from the log, its time from the log where the node includes it
    (``blockTimestamp``), otherwise from the block header."""
    blocks: dict[int, BlockRef] = {}
    missing: dict[int, str] = {}
    for log in logs:
        number = int(log["blockNumber"], 16)
        stamp = log.get("blockTimestamp")
        if stamp is None:
            missing[number] = log["blockHash"]
        else:
            blocks[number] = BlockRef(number, log["blockHash"], int(stamp, 16))
    for number in sorted(missing.keys() - blocks.keys()):
        header = rpc.block(number)
        if header is None or header.hash != missing[number]:
            raise ChainUnavailable(f"block {number} changed while its logs were read (a reorganisation)")
        blocks[number] = header
    return blocks


__all__ = ["Batch", "BlockRef", "LogFetcher", "RangeRefused", "Rpc", "market_batch"]
