"""The market's history read from a node: its events from a block to another, replayed.

:func:`read_history` reads every event of the market and its datatokens' transfers with
:func:`datamarket.chain.logs.market_batch` and folds them with :func:`datamarket.chain.replay.replay`,
the fold the indexer uses too. It starts at ``from_block``: at or before the market's deployment the
replay sees the whole market. Starting later (to skip blocks known to hold nothing of the dataset),
the market's configuration at the block before (fee, pause, order and dataset counts) is read from
the node and the replay starts from it, with only the datasets published in the range: the audited
dataset must be one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from datamarket.audit.errors import ChainMismatch, UnknownDataset
from datamarket.chain import events as ev
from datamarket.chain.logs import BlockRef, LogFetcher, RangeRefused, Rpc, market_batch
from datamarket.chain.market import Market
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.chain.replay import Dataset, MarketState
from datamarket.errors import ChainUnavailable

#: Market-wide events, kept when a replay starts after the deployment.
_MARKET_WIDE = (ev.MarketFeeSet, ev.OrdersPausedSet, ev.EarningsWithdrawn)


@dataclass(frozen=True)
class History:
    events: list[Any]
    blocks: dict[int, BlockRef]
    state: MarketState
    from_block: int
    to_block: int
    #: Whether the replay started at or before the market's deployment.
    complete: bool


@dataclass(frozen=True)
class MarketConfig:
    """The market's configuration at one block (its ``marketConfig()`` getter)."""

    fee_collector: str
    fee_bps: int
    orders_paused: bool
    dataset_count: int
    order_count: int


class Chain:
    """The node and market an audit reads."""

    def __init__(self, w3: Web3, market: str) -> None:
        self.w3 = w3
        self.rpc = Rpc(w3)
        self.market = Market(w3, market)

    def check_chain(self, expected: int | None) -> int:
        """The node's chain id, which must be ``expected`` when that is given."""
        found = self.rpc.chain_id()
        if expected is not None and expected != found:
            raise ChainMismatch(
                f"the dataset is on chain {expected}, the node is on chain {found}",
                details={"expected": expected, "found": found},
            )
        return found

    def head(self) -> int:
        return self.rpc.head()

    def check_dataset(self, datatoken: str, block: int) -> None:
        """UnknownDataset unless the market has ``datatoken`` at ``block``."""
        if not self._has_code(self.market.address, block):
            raise UnknownDataset(
                f"there is no market contract at {self.market.address} (block {block})",
                details={"market": self.market.address},
            )
        if self.market.dataset(datatoken, block).state == ev.DatasetState.NONE:
            raise UnknownDataset(
                f"{datatoken} is not a dataset of market {self.market.address} (block {block})",
                details={"datatoken": datatoken, "market": self.market.address, "block": block},
            )

    def config_before(self, block: int) -> MarketConfig | None:
        """The market's configuration at ``block - 1``; None when it did not exist yet."""
        if block == 0 or not self._has_code(self.market.address, block - 1):
            return None
        try:
            values = self.market.contract.functions.marketConfig().call(block_identifier=block - 1)
        except Exception as exc:  # a node that pruned that block's state, or went away
            raise ChainUnavailable(
                f"the chain node cannot tell the market's state at block {block - 1} (start at its "
                "deployment block instead, or ask an archive node)"
            ) from exc
        collector, bps, paused, dataset_count, order_count = values[:5]
        return MarketConfig(collector, bps, paused, dataset_count, order_count)

    def _has_code(self, address: str, block: int) -> bool:
        try:
            code = self.rpc.call("eth_getCode", [address, hex(block)])
        except RangeRefused as exc:  # no state kept for that block
            raise ChainUnavailable(f"the chain node cannot tell the code at block {block}") from exc
        return code not in (None, "0x", "")


def read_history(
    chain: Chain, datatoken: str, *, from_block: int, to_block: int, span: int = 2_000
) -> History:
    """The market's events in ``from_block``..``to_block`` and the state replayed from them, which
    holds ``datatoken`` (UnknownDataset when it was published before ``from_block``)."""
    market = chain.market.address
    batch = market_batch(LogFetcher(chain.rpc, span=span), market, {datatoken}, from_block, to_block)
    config = chain.config_before(from_block)
    events = batch.events if config is None else in_range(batch.events, market)
    state = start_state(market, config)
    for event in events:
        state.apply(event)
    state.settle()
    if datatoken not in state.datasets:
        raise UnknownDataset(
            f"{datatoken} was published before block {from_block}: audit from its publish block or earlier",
            details={"datatoken": datatoken, "from_block": from_block},
        )
    return History(events, batch.blocks, state, from_block, to_block, complete=config is None)


def in_range(events: list[Any], market: str) -> list[Any]:
    """The events of datasets published among ``events``, and the market-wide ones: what a replay
    that starts after the market's deployment can fold."""
    published = {
        e.datatoken for e in events if isinstance(e, ev.DatasetPublished) and e.meta.address == market
    }
    kept = []
    for e in events:
        subject = e.meta.address if isinstance(e, ev.Transfer) else getattr(e, "datatoken", None)
        if subject in published or (subject is None and isinstance(e, _MARKET_WIDE)):
            kept.append(e)
    return kept


def start_state(market: str, config: MarketConfig | None) -> MarketState:
    """A replay's starting state: the deployment's (None), or the market's configuration at the
    block before the first one read. The datasets published before are stand-ins that only count
    (a dataset's index is the count of those before it); no event names them."""
    state = MarketState(market)
    if config is None:
        return state
    state.fee_collector, state.fee_bps = config.fee_collector, config.fee_bps
    state.orders_paused, state.order_count = config.orders_paused, config.order_count
    for index in range(config.dataset_count):
        key = f"published before the range #{index}"
        state.datasets[key] = Dataset(key, index, ZERO_ADDRESS, ZERO_ADDRESS, 0, 0, ZERO_HASH)
    return state


__all__ = ["Chain", "History", "MarketConfig", "in_range", "read_history", "start_state"]
