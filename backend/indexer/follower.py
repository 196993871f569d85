"""The indexer's loop: follow the chain's head, write each batch of blocks, undo reorganisations.

Each step asks the node for its head, checks that the checkpoint's block is still on the chain (same
hash), and indexes up to ``head - confirmations`` in batches of at most the log fetcher's span. When
the checkpoint's block was replaced, the indexer walks its stored blocks down to the newest one the
node still has (the common ancestor), rolls back everything above it and indexes the new blocks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend.db.engine import session_factory
from backend.indexer import writer
from backend.indexer.projection import Catalog
from backend.indexer.tokens import describe, tokens_named
from datamarket.chain.logs import BlockRef, LogFetcher, Rpc, market_batch
from datamarket.errors import ChainUnavailable, ConfigError

log = logging.getLogger("datamarket.indexer")

#: About how many events one batch holds (see ``Indexer.batch_blocks``).
BATCH_EVENTS = 5_000


@dataclass
class StepResult:
    blocks: int = 0
    events: int = 0
    reorgs: int = 0


class Indexer:
    """Indexes one market of one chain into one catalog database (the caller holds the writer lock)."""

    def __init__(
        self,
        engine: Engine,
        rpc: Rpc,
        market: str,
        *,
        deploy_block: int = 0,
        confirmations: int = 0,
        max_span: int = 10_000,
        on_batch: Callable[[list], None] | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.rpc = rpc
        self.market = market
        self.deploy_block = deploy_block
        self.confirmations = confirmations
        self.fetcher = LogFetcher(rpc, span=min(2_000, max_span), max_span=max_span)
        #: Blocks per batch: halved after a batch of more than twice BATCH_EVENTS events, doubled after
        #: one of less than half, so that a batch (in memory, one transaction) stays about that size.
        #: It starts small: the first batch of a busy chain must not hold all of it.
        self.batch_blocks = min(100, max_span)
        self.max_span = max_span
        self.on_batch = on_batch
        self.chain_id = 0
        self.catalog: Catalog | None = None
        self.position = BlockRef(deploy_block - 1, "", 0)
        self.datatokens: set[str] = set()
        self.tokens: set[str] = set()  # payment tokens already described in the catalog

    def open(self) -> None:
        """Read the checkpoint and rebuild the fold from the stored events."""
        self.chain_id = self.rpc.chain_id()
        with self.sessions() as session:
            checkpoint = writer.read_checkpoint(session)
            if checkpoint is not None:
                if checkpoint.market != self.market or checkpoint.chain_id != self.chain_id:
                    raise ConfigError(
                        f"the catalog indexes market {checkpoint.market} on chain {checkpoint.chain_id}, "
                        f"not {self.market} on chain {self.chain_id}: use another database"
                    )
                self.position = BlockRef(
                    checkpoint.block_number, checkpoint.block_hash, checkpoint.block_time
                )
            self._reload(session)

    def _reload(self, session: Session) -> None:
        self.catalog = writer.load_catalog(session, self.market)
        self.datatokens = set(self.catalog.state.datasets)
        self.tokens = writer.known_tokens(session)

    def step(self) -> StepResult:
        """Index what is new; returns what was done. Raises ChainUnavailable when the node is away."""
        result = StepResult()
        head = self.rpc.head()
        if self.position.hash and self._replaced(self.position):
            self._roll_back(head)
            result.reorgs += 1
        target = head - self.confirmations
        while self.position.number < target:
            start = self.position.number + 1
            end = min(target, start + min(self.fetcher.span, self.batch_blocks) - 1)
            found = self._index(start, end, head)
            result.events += found
            if found > 2 * BATCH_EVENTS:
                self.batch_blocks = max(1, self.batch_blocks // 2)
            elif found < BATCH_EVENTS // 2:
                self.batch_blocks = min(self.max_span, self.batch_blocks * 2)
            result.blocks += end - start + 1
        return result

    def _replaced(self, block: BlockRef) -> bool:
        found = self.rpc.block(block.number)
        return found is None or found.hash != block.hash

    def _index(self, start: int, end: int, head: int) -> int:
        first = self.rpc.block(start)
        if first is None or (self.position.hash and first.parent != self.position.hash):
            # The checkpoint was replaced since this step looked: the next step rolls back.
            raise ChainUnavailable(f"block {start} does not follow the checkpoint (a reorganisation)")
        before = self.rpc.block(end)
        if before is None:
            raise ChainUnavailable(f"block {end} is gone (a reorganisation)")
        datatokens = set(self.datatokens)
        batch = market_batch(self.fetcher, self.market, datatokens, start, end)
        after = self.rpc.block(end)
        if after is None or after.hash != before.hash:
            raise ChainUnavailable(f"block {end} changed while its logs were read (a reorganisation)")
        if any(batch.blocks[e.meta.block_number].hash != e.meta.block_hash for e in batch.events):
            raise ChainUnavailable(
                f"blocks {start}-{end} changed while their logs were read (a reorganisation)"
            )
        assert self.catalog is not None
        new_tokens = tokens_named([e for e in batch.events if e.meta.address == self.market]) - self.tokens
        described = [describe(self.rpc, token) for token in sorted(new_tokens)]
        with self.sessions.begin() as session:
            try:
                folded = writer.write_batch(
                    session, self.catalog, batch, before, chain_id=self.chain_id, head=head, tokens=described
                )
            except BaseException:
                session.rollback()
                self._reload(session)  # the fold moved on; the database did not
                raise
        self.datatokens = datatokens
        self.tokens |= new_tokens
        self.position = before
        if self.on_batch is not None:
            self.on_batch(folded)
        if folded:
            log.info("indexed blocks %d-%d: %d events", start, end, len(folded))
        return len(folded)

    def _roll_back(self, head: int) -> None:
        with self.sessions.begin() as session:
            fork = self._common_ancestor(session)
            log.warning("reorganisation: block %d was replaced; rolling back to block %d",
                        self.position.number, fork.number)  # fmt: skip
            self.catalog = writer.rollback_to(session, fork, self.market, chain_id=self.chain_id, head=head)
        self.datatokens = set(self.catalog.state.datasets)
        self.position = fork

    def _common_ancestor(self, session: Session) -> BlockRef:
        below = self.position.number
        while True:
            stored = writer.recent_blocks(session, below)
            if not stored:
                return BlockRef(self.deploy_block - 1, "", 0)
            for block in stored:
                found = self.rpc.block(block.number)
                if found is not None and found.hash == block.hash:
                    return BlockRef(block.number, block.hash, block.timestamp)
            below = stored[-1].number - 1

    def run(
        self, stop: threading.Event, *, poll_s: float = 0.25, retry_s: float = 2.0,
        check: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        """Step until ``stop`` is set; a node that is away is retried, not fatal. ``check`` runs
        before each step (the writer's lock: it raises when the lock is lost)."""
        while not stop.is_set():
            started = time.monotonic()
            if check is not None:
                check()
            try:
                self.step()
            except ChainUnavailable as exc:
                log.warning("%s; retrying in %.0f s", exc, retry_s)
                stop.wait(retry_s)
                continue
            stop.wait(max(0.0, poll_s - (time.monotonic() - started)))


__all__ = ["Indexer", "StepResult"]
