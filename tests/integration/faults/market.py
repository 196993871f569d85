"""The fault suite's market (the fixture is in conftest.py) and what every fault test checks after
the kill and the restart: each accepted job final once with one receipt on chain, and the catalog
equal to the chain (the replay of its events, row by row)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from web3.exceptions import TransactionNotFound

from backend.db import models
from backend.db.engine import open_engine, session_factory
from datamarket import stack
from datamarket.chain.devchain import dev_account
from datamarket.chain.events import ComputeReceiptPosted
from datamarket.chain.market import Market
from datamarket.jobs.store import R_POSTED, Job, JobStore
from datamarket.sdk import jobs
from datamarket.sdk.job_files import JobHandle
from datamarket.sdk.provider_client import ProviderClient
from datamarket.storage.base import StorageError
from datamarket.storage.kubo import KuboStore
from tests.integration.backend.catalog import assert_catalog_is_chain
from tests.integration.compute.market import JOBS
from tests.integration.faults.services import IpfsNode, RedisServer, kill_service, until


@dataclass
class FaultMarket:
    local: stack.Stack
    home: Path
    market: Market
    store: KuboStore
    provider: ProviderClient
    broker: RedisServer
    ipfs: IpfsNode
    databases: dict[str, str]
    compute_datatoken: str
    download_datatoken: str
    csv: Path

    # ------------------------------------------------------------------------------ faults

    def kill(self, name: str) -> None:
        kill_service(self.local, name)

    def restart(self) -> None:
        """``datamarket up`` again: it starts what is not running, on the same ports."""
        self.local = stack.up(self.home)
        assert self.local.services["provider"].url == self.provider.base_url

    def state_block(self) -> int:
        """The newest block in the chain's state file: where anvil restarts after a SIGKILL."""
        return int(json.loads((self.home / "chain" / "state.json").read_bytes())["best_block_number"])

    def store_answers(self) -> bool:
        try:
            self.store.version()
        except StorageError:
            return False
        return True

    # ------------------------------------------------------------------------------ the market

    def consumer(self, index: int) -> Market:
        return self.market.as_account(dev_account(index))

    def start_job(self, index: int, jobs_dir: Path, seconds: float, **kw: Any) -> JobHandle:
        return jobs.start_job(
            self.consumer(index), self.provider, self.store, self.compute_datatoken,
            algorithm=JOBS / "slow.py", params={"seconds": seconds}, epsilon=None, jobs_dir=jobs_dir, **kw,
        )  # fmt: skip

    def job_store(self) -> JobStore:
        return JobStore(self.databases["jobs"])

    # ------------------------------------------------------------------------------ the checks

    def receipts_on_chain(self) -> Counter[str]:
        """How many ComputeReceiptPosted the chain holds for each job id (32 hex digits)."""
        events = self.market.events(self.local.deploy_block)
        return Counter(e.job_id[-32:] for e in events if isinstance(e, ComputeReceiptPosted))

    def assert_jobs_final_once(self, handles: list[JobHandle], timeout: float = 120) -> list[dict]:
        """Every job reaches a final state; once each receipt is posted, the chain holds exactly
        one receipt for each job, and no job of the market has two."""
        finals = [jobs.wait(h, poll_s=0.2, timeout=timeout, provider=self.provider) for h in handles]
        store = self.job_store()
        try:
            until(lambda: all(self._on_chain(store.get(h.job_id)) for h in handles), "every receipt posted",
                  timeout=timeout, every=0.5)  # fmt: skip
        finally:
            store.close()
        receipts = self.receipts_on_chain()
        assert [receipts[h.job_id] for h in handles] == [1] * len(handles), receipts
        assert max(receipts.values()) == 1, receipts
        return finals

    def _on_chain(self, job: Job) -> bool:
        """Whether the job database says the receipt is posted, in a transaction the chain has."""
        if job.receipt_status != R_POSTED:
            return False
        try:
            mined = self.market.w3.eth.get_transaction_receipt(job.receipt_tx)
        except TransactionNotFound:
            return False
        return mined["blockNumber"] == job.receipt_block

    def assert_catalog_is_chain(self, timeout: float = 60) -> None:
        """Once the indexer reached the chain's head (the very block: same number, same hash), the
        catalog's events and dataset rows equal the replay of the chain's events."""
        engine = open_engine(self.databases["catalog"])
        w3 = self.market.w3
        try:

            def caught_up() -> bool:
                with session_factory(engine)() as session:
                    point = session.execute(select(models.Checkpoint)).scalar()
                head = w3.eth.get_block("latest")
                return point is not None and (point.block_number, point.block_hash) == (
                    head["number"],
                    "0x" + bytes(head["hash"]).hex(),
                )

            until(caught_up, "the indexer at the chain's head", timeout=timeout, every=0.2)
            world = SimpleNamespace(w3=w3, market=self.market, deploy_block=self.local.deploy_block)
            assert_catalog_is_chain(world, engine)  # type: ignore[arg-type]
        finally:
            engine.dispose()


__all__ = ["FaultMarket"]
