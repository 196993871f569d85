"""Compute receipts on chain, in batches: one ``postComputeReceipts`` transaction for the
receipts of one dataset pending when the batch is taken (jobs that end within
``receipt_batch_delay_s`` of each other share a transaction; the market takes one dataset per
transaction, so each dataset's pending receipts go in a batch of their own). The provider's key
signs: the market accepts receipts of a dataset only from that dataset's provider, and counts
their epsilon against its budget.

A batch that the market reverts is split in halves, and so on down to the receipt at fault (say,
of a dataset whose provider is no longer this one), so that it holds back none of the others: it
is set aside as refused, with the market's reason, and tried again every ``REFUSED_RETRY_S`` (a
budget raised since may let it in).
"""

from __future__ import annotations

import logging
import threading

from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, TransactionNotFound

from compute_to_data.settings import WorkerSettings
from datamarket.chain.events import JobStatus, topic_of
from datamarket.chain.market import ComputeReceipt, Market, revert_from
from datamarket.jobs.store import CANCELLED, FAILED, REJECTED, SUCCEEDED, Job, JobStore

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
#: How often a receipt that the market refused is tried again, alone.
REFUSED_RETRY_S = 600.0
#: A receipt this many blocks below the chain's head is final; above, the worker checks that the
#: chain still has its transaction in its block (a chain may lose its newest blocks).
FINAL_DEPTH = 64
#: What :meth:`ReceiptPoster._post` found: landed, reverted by the market, or not known now (the
#: node is down, or the transaction is unconfirmed and left to ``recover_stale``).
POSTED, REVERTED, UNKNOWN = "posted", "reverted", "unknown"


def receipt_of(job: Job) -> ComputeReceipt:
    return ComputeReceipt(
        job_id="0x" + job.id.rjust(64, "0"),
        datatoken=job.datatoken,
        order_id=job.order_id,
        algorithm_hash="0x" + job.algorithm_hash,
        output_hash="0x" + job.output_hash if job.output_hash else ZERO32,
        epsilon=job.charged_units,
        status=STATUS[job.state],
    )


class ReceiptPoster:
    def __init__(self, jobs: JobStore, settings: WorkerSettings) -> None:
        self.jobs = jobs
        w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}))
        self.market = Market(w3, settings.market, Account.from_key(settings.private_key.reveal()))
        self.from_block = settings.market_deploy_block
        self._lock = threading.Lock()

    def recover_stale(self, older_than_s: float = STALE_AFTER_S) -> None:
        """Settle batches left ``posting`` (their worker died, or the node did not confirm in
        time), never posting a receipt twice (the chain would count its epsilon twice): a batch
        whose recorded transaction was mined is posted (or, reverted, pending again); one whose
        transaction the node no longer knows, or that was never sent, is pending again unless the
        chain has its receipts; one still in the mempool waits."""
        for batch, taken in self.jobs.stale_batches(older_than_s).items():
            try:
                outcome = self._outcome(taken)
            except Exception as exc:  # the node is not answering: ask again at the next sweep
                log.warning("checking a stale receipt batch failed (%s)", type(exc).__name__)
                continue
            if outcome == "wait":
                continue
            if outcome is None:
                self.jobs.receipts_failed(batch)
            else:
                self.jobs.receipts_posted(batch, *outcome)

    def recheck_posted(self, depth: int = FINAL_DEPTH) -> None:
        """Receipts recorded posted in the newest ``depth`` blocks whose transaction the chain no
        longer has in that block (a reorganisation, or a local node killed before it wrote its last
        blocks to disk) go back to be settled by :meth:`recover_stale`: posted again unless the
        chain has them elsewhere."""
        w3 = self.market.w3
        try:
            recent: dict[str, list[Job]] = {}
            for job in self.jobs.posted_above(w3.eth.block_number - depth):
                recent.setdefault(job.receipt_tx or "", []).append(job)
            # The head once the receipts are listed: each was recorded from a node at or above its
            # block, so a block above this head is one the chain lost, not one posted meanwhile.
            head = w3.eth.block_number
            for tx, posted in recent.items():
                block = posted[0].receipt_block or 0
                if block <= head and self._mined_in(tx) == block:
                    continue
                count = self.jobs.receipts_unsettled(tx)
                log.warning("receipts transaction %s is not in block %d now: settling %d receipts again",
                            tx, block, count)  # fmt: skip
        except Exception as exc:  # the node is not answering: ask again at the next sweep
            log.warning("checking the posted receipts failed (%s)", type(exc).__name__)

    def _mined_in(self, tx: str) -> int | None:
        try:
            return int(self.market.w3.eth.get_transaction_receipt(tx)["blockNumber"])
        except TransactionNotFound:
            return None

    def _outcome(self, taken: list[Job]) -> tuple[str, int] | str | None:
        w3 = self.market.w3
        tx = next((j.receipt_tx for j in taken if j.receipt_tx), None)
        if tx is not None:
            try:
                mined = w3.eth.get_transaction_receipt(tx)
            except TransactionNotFound:
                mined = None
            if mined is not None:
                return (tx, int(mined["blockNumber"])) if mined["status"] == 1 else None
            try:
                w3.eth.get_transaction(tx)
                return "wait"  # still in the mempool
            except TransactionNotFound:
                pass
        logs = w3.eth.get_logs(
            {
                "address": self.market.address,
                "fromBlock": self.from_block,
                "toBlock": "latest",
                "topics": [topic_of("ComputeReceiptPosted"), ["0x" + j.id.rjust(64, "0") for j in taken]],
            }
        )
        if logs:
            return "0x" + bytes(logs[0]["transactionHash"]).hex(), int(logs[0]["blockNumber"])
        return None

    def post_pending(self) -> int:
        """Post every pending receipt (in batches of at most BATCH_LIMIT), then try the long-refused
        ones again; the number posted."""
        posted = 0
        with self._lock:
            while True:
                batch, taken = self.jobs.take_receipts(BATCH_LIMIT)
                if not taken:
                    break
                done, settled = self._settle(batch, taken)
                posted += done
                if not settled:
                    return posted
            refused = self.jobs.refused_receipts(REFUSED_RETRY_S)
            while refused:
                # One dataset's receipts per batch: what is left waits for the next round.
                batch, taken = self.jobs.take_receipts(BATCH_LIMIT, ids=refused)
                if not taken:
                    break
                done, settled = self._settle(batch, taken)
                posted += done
                if not settled:
                    break
                taken_ids = {j.id for j in taken}
                refused = [i for i in refused if i not in taken_ids]
        return posted

    def _settle(self, batch: str, taken: list[Job]) -> tuple[int, bool]:
        """Post a taken batch; when the market reverts it, post each half of it in turn, down to
        single receipts, which are refused. A revert at estimation costs no gas, so finding the
        receipt at fault costs a few estimates and a transaction per good half. (How many landed,
        whether every receipt was settled, posted or refused, rather than left for later.)"""
        outcome, reason = self._post(batch, taken)
        if outcome == POSTED:
            return len(taken), True
        if outcome == UNKNOWN:
            return 0, False
        if len(taken) == 1:
            self._refuse(batch, taken[0], reason)
            return 0, True
        self.jobs.receipts_failed(batch)
        ids = [j.id for j in taken]
        posted = 0
        for half in (ids[: len(ids) // 2], ids[len(ids) // 2 :]):
            again, retaken = self.jobs.take_receipts(len(half), ids=half)
            if not retaken:
                continue  # another worker took them
            done, settled = self._settle(again, retaken)
            posted += done
            if not settled:
                return posted, False
        return posted, True

    def _refuse(self, batch: str, job: Job, reason: str) -> None:
        log.warning(
            "the market refused the receipt of job %s (dataset %s): %s", job.id, job.datatoken, reason
        )
        self.jobs.receipts_refused(batch, reason)

    def _post(self, batch: str, taken: list[Job]) -> tuple[str, str]:
        """Sign, record the transaction's hash, send, wait; (outcome, the market's reason when it
        reverted). A reverted batch stays taken for the caller to split or refuse; an unknown one
        is back to pending, or left for :meth:`recover_stale` when it may have been sent."""
        w3, account = self.market.w3, self.market.account
        fn = self.market.contract.functions.postComputeReceipts(
            taken[0].datatoken, [receipt_of(j).as_tuple() for j in taken]
        )
        try:
            tx = fn.build_transaction(
                {
                    "from": account.address,
                    "nonce": w3.eth.get_transaction_count(account.address, "pending"),
                    "chainId": w3.eth.chain_id,
                }
            )
            signed = account.sign_transaction(tx)
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:  # nothing was sent
            return REVERTED, str(revert_from(exc))
        except Exception as exc:  # the node is down: nothing was sent
            log.warning("posting %d receipts failed (%s); they stay pending", len(taken), type(exc).__name__)
            self.jobs.receipts_failed(batch)
            return UNKNOWN, ""
        tx_hash = "0x" + bytes(signed.hash).hex()
        self.jobs.receipts_sent(batch, tx_hash)
        try:
            w3.eth.send_raw_transaction(signed.raw_transaction)
            mined = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        except Exception as exc:  # sent or not, mined or not: recover_stale finds out from the chain
            log.warning("receipts transaction %s: no confirmation (%s)", tx_hash, type(exc).__name__)
            return UNKNOWN, ""
        if mined["status"] != 1:  # reverted in its block (the state changed since the estimate)
            return REVERTED, f"reverted in transaction {tx_hash}"
        self.jobs.receipts_posted(batch, tx_hash, int(mined["blockNumber"]))
        log.info("posted %d compute receipts in %s", len(taken), tx_hash)
        return POSTED, ""


__all__ = ["ReceiptPoster", "receipt_of"]
