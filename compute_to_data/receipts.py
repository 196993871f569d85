"""Compute receipts on chain, in batches: one ``postComputeReceipts`` transaction for every
receipt pending when the batch is taken (jobs that end within ``receipt_batch_delay_s`` of each
other share a transaction). The provider's key signs: the market accepts receipts of a dataset
only from that dataset's provider, and counts their epsilon against its budget.
"""

from __future__ import annotations

import logging
import threading

from eth_account import Account
from web3 import HTTPProvider, Web3

from datamarket.chain.events import JobStatus, topic_of
from datamarket.chain.market import ComputeReceipt, Market
from provider.settings import ProviderSettings

from .jobs import CANCELLED, FAILED, REJECTED, SUCCEEDED, Job, JobStore

log = logging.getLogger("datamarket.compute")

STATUS = {
    SUCCEEDED: JobStatus.SUCCEEDED,
    FAILED: JobStatus.FAILED,
    REJECTED: JobStatus.REJECTED,
    CANCELLED: JobStatus.CANCELLED,
}
ZERO32 = "0x" + "00" * 32
BATCH_LIMIT = 100
#: A batch still "posting" after this long lost its worker (a transaction waits 120 s at most).
STALE_AFTER_S = 180.0


def receipt_of(job: Job) -> ComputeReceipt:
    return ComputeReceipt(
        job_id="0x" + job.id.rjust(64, "0"),
        datatoken=job.datatoken,
        order_tx=job.order_tx,
        algorithm_hash="0x" + job.algorithm_hash,
        output_hash="0x" + job.output_hash if job.output_hash else ZERO32,
        epsilon=job.charged_units,
        status=STATUS[job.state],
    )


class ReceiptPoster:
    def __init__(self, jobs: JobStore, settings: ProviderSettings) -> None:
        self.jobs = jobs
        w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}))
        self.market = Market(w3, settings.market, Account.from_key(settings.private_key.reveal()))
        self.from_block = settings.market_deploy_block
        self._lock = threading.Lock()

    def recover_stale(self, older_than_s: float = STALE_AFTER_S) -> None:
        """Batches a dead worker left half-posted: marked posted when the chain has their receipts
        (the job ids are indexed in ComputeReceiptPosted), else put back to pending. Never posted
        twice: the chain would count the epsilon twice."""
        for batch, taken in self.jobs.stale_batches(older_than_s).items():
            found = self._posted_on_chain([j.id for j in taken])
            if found is None:
                continue  # the node is not answering: ask again at the next sweep
            if found:
                tx, block = found
                self.jobs.receipts_posted(batch, tx, block)
            else:
                self.jobs.receipts_failed(batch)

    def _posted_on_chain(self, job_ids: list[str]) -> tuple[str, int] | bool | None:
        topic = topic_of("ComputeReceiptPosted")
        try:
            logs = self.market.w3.eth.get_logs(
                {
                    "address": self.market.address,
                    "fromBlock": self.from_block,
                    "toBlock": "latest",
                    "topics": [topic, ["0x" + j.rjust(64, "0") for j in job_ids]],
                }
            )
        except Exception:
            return None
        if not logs:
            return False
        return "0x" + bytes(logs[0]["transactionHash"]).hex(), int(logs[0]["blockNumber"])

    def post_pending(self) -> int:
        """Post every pending receipt (in batches of at most BATCH_LIMIT); the number posted."""
        posted = 0
        with self._lock:
            while True:
                batch, taken = self.jobs.take_receipts(BATCH_LIMIT)
                if not taken:
                    return posted
                try:
                    tx = self.market.post_compute_receipts([receipt_of(j) for j in taken])
                except Exception as exc:
                    # Back to pending: the next batch (after the next job, or the worker's start)
                    # tries again. The error names no secret: it is a node or revert error.
                    log.warning(
                        "posting %d receipts failed (%s); they stay pending", len(taken), type(exc).__name__
                    )
                    self.jobs.receipts_failed(batch)
                    return posted
                self.jobs.receipts_posted(batch, tx.tx_hash, tx.block_number)
                posted += len(taken)
                log.info("posted %d compute receipts in %s", len(taken), tx.tx_hash)


__all__ = ["ReceiptPoster", "receipt_of"]
