"""A dataset's audit report, built from the market's replayed events alone (no I/O here).

:func:`build_report` takes what :mod:`datamarket.audit.history` read from the chain (the events in
chain order, their blocks, the state :func:`datamarket.chain.replay.replay` folded from them) and
what :mod:`datamarket.audit.documents` found of each metadata document, and lays out the dataset's
history: metadata versions, orders with how each was paid, compute receipts with the budget they were
charged against, the timeline of every event. Its problems are what fails verification: a document
that does not match its hash or is invalid, a job id with two receipts, epsilon spent over the budget,
an order without its payment, a receipt for an order that is not the dataset's, and each rule the
replay found broken in one of the dataset's transactions.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from datamarket.audit.documents import DocumentCheck, DocumentStatus
from datamarket.audit.timeline import describe, epsilon_text
from datamarket.chain import events as ev
from datamarket.chain.events import OrderFunding
from datamarket.chain.logs import BlockRef
from datamarket.chain.quotes import ZERO_ADDRESS
from datamarket.chain.replay import Dataset, MarketState

if TYPE_CHECKING:
    from datamarket.audit.comparison import Comparison


class ProblemKind(enum.StrEnum):
    METADATA_HASH_MISMATCH = "metadata_hash_mismatch"
    METADATA_INVALID = "metadata_invalid"
    DUPLICATE_RECEIPT = "duplicate_receipt"
    EPSILON_OVER_BUDGET = "epsilon_over_budget"
    UNPAID_ORDER = "unpaid_order"
    RECEIPT_WITHOUT_ORDER = "receipt_without_order"
    RULE_VIOLATION = "rule_violation"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str
    tx_hash: str
    block_number: int
    log_index: int


@dataclass(frozen=True)
class Scope:
    """Which dataset, and which blocks were read: ``complete`` when they start at (or before) the
    market's deployment, so the replay saw the whole market."""

    chain_id: int
    market: str
    datatoken: str
    from_block: int
    to_block: int
    complete: bool = True

    @property
    def dataset_id(self) -> str:
        return f"eip155:{self.chain_id}/{self.datatoken}"


@dataclass(frozen=True)
class Entry:
    block_number: int
    timestamp: int | None
    tx_hash: str
    log_index: int
    event: str
    summary: str


@dataclass(frozen=True)
class MetadataLine:
    version: int
    cid: str
    sha256: str
    updated_by: str
    block_number: int
    timestamp: int | None
    tx_hash: str
    status: DocumentStatus
    reason: str


@dataclass(frozen=True)
class OrderLine:
    order_id: int
    consumer: str
    payer: str
    provider: str
    service_id: int
    funding: str
    #: How the order's datatoken was paid for, as the transaction's events show it ("" when unpaid).
    payment: str
    fee_token: str
    fee_amount: int
    tx_hash: str
    block_number: int
    timestamp: int | None

    @property
    def paid(self) -> bool:
        return bool(self.payment)


@dataclass(frozen=True)
class ReceiptLine:
    job_id: str
    order_id: int
    poster: str
    algorithm_hash: str
    output_hash: str
    epsilon: int
    spent_after: int
    #: The dataset's budget when the receipt was posted.
    budget: int
    status: str
    tx_hash: str
    block_number: int
    log_index: int
    timestamp: int | None
    #: Whether an earlier receipt has the same job id.
    repeated: bool


@dataclass
class AuditReport:
    scope: Scope
    dataset: Dataset
    metadata: list[MetadataLine] = field(default_factory=list)
    orders: list[OrderLine] = field(default_factory=list)
    receipts: list[ReceiptLine] = field(default_factory=list)
    timeline: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: What the backend serves, against the chain (``--backend``).
    comparison: Comparison | None = None

    @property
    def ok(self) -> bool:
        """Nothing failed verification: no problem, and no disagreement with the backend."""
        return not self.problems and not (self.comparison and self.comparison.disagreements)

    def summary(self) -> dict[str, Any]:
        statuses = Counter(line.status for line in self.metadata)
        return {
            "events": len(self.timeline),
            "metadata_versions": len(self.metadata),
            "metadata_verified": statuses[DocumentStatus.VERIFIED],
            "orders": len(self.orders),
            "receipts": len(self.receipts),
            "epsilon_spent": epsilon_text(self.dataset.epsilon_spent),
            "epsilon_budget": epsilon_text(self.dataset.epsilon_budget),
            "problems": len(self.problems),
            "warnings": len(self.warnings),
            **({"disagreements": len(self.comparison.disagreements)} if self.comparison else {}),
        }


def dataset_events(events: list[Any], market: str, datatoken: str) -> list[Any]:
    """The events of ``datatoken``'s history among the market's: the market's events that name it,
    and its own Transfers."""
    mine = []
    for e in events:
        if isinstance(e, ev.Transfer):
            if e.meta.address == datatoken:
                mine.append(e)
        elif e.meta.address == market and getattr(e, "datatoken", None) == datatoken:
            mine.append(e)
    return mine


def build_report(
    scope: Scope,
    state: MarketState,
    events: list[Any],
    blocks: Mapping[int, BlockRef],
    documents: Mapping[tuple[str, str], DocumentCheck],
) -> AuditReport:
    """The report of ``scope.datatoken`` from the market's ``events`` (in chain order) and the
    ``state`` replayed from them; ``documents`` holds each ``(cid, sha256)`` version's check."""
    dataset = state.datasets[scope.datatoken]
    mine = dataset_events(events, scope.market, scope.datatoken)
    report = AuditReport(scope, dataset)
    _Walk(report, blocks).run(mine)
    metadata_logs = {e.meta.tx_hash: e.meta.log_index for e in reversed(mine)
                     if isinstance(e, ev.DatasetPublished | ev.MetadataUpdated)}  # fmt: skip
    _check_documents(report, dataset, blocks, documents, metadata_logs)
    _check_orders_of_receipts(report, dataset)
    txs = {e.meta.tx_hash: e.meta.block_number for e in mine}
    for v in state.violations:
        if v.tx_hash in txs:
            report.problems.append(
                Problem(ProblemKind.RULE_VIOLATION, v.message, v.tx_hash, txs[v.tx_hash], v.log_index)
            )
    if not scope.complete:
        report.warnings.append(
            f"the history read starts at block {scope.from_block}, after the market's deployment: "
            "rules that span the whole market (quote nonces, withdrawals) were checked only from there"
        )
    report.problems.sort(key=lambda p: (p.block_number, p.log_index, p.kind))
    return report


def _time(blocks: Mapping[int, BlockRef], number: int) -> int | None:
    block = blocks.get(number)
    return block.timestamp if block else None


def iso_time(timestamp: int | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


class _Walk:
    """One pass over a dataset's events: the timeline, orders with their payments, receipts with the
    budget of the time, and the problems those show."""

    def __init__(self, report: AuditReport, blocks: Mapping[int, BlockRef]) -> None:
        self.report = report
        self.blocks = blocks
        self.budget = 0
        self.spent = 0
        self.free = False
        self.receipts_seen: dict[str, str] = {}  # job id -> tx of its first receipt

    def run(self, events: list[Any]) -> None:
        by_tx: dict[str, list[Any]] = defaultdict(list)
        for e in events:
            by_tx[e.meta.tx_hash].append(e)
        for tx_events in by_tx.values():
            payments = _Payments(tx_events)
            for e in tx_events:
                meta = e.meta
                self.report.timeline.append(Entry(
                    meta.block_number, _time(self.blocks, meta.block_number), meta.tx_hash, meta.log_index,
                    type(e).__name__, describe(e),
                ))  # fmt: skip
                if isinstance(e, ev.DatasetPublished):
                    self.budget = e.epsilon_budget
                elif isinstance(e, ev.PrivacyBudgetRaised):
                    self.budget = e.to
                elif isinstance(e, ev.PriceSet | ev.DispenserSet):
                    self.free = isinstance(e, ev.DispenserSet)
                elif isinstance(e, ev.OrderStarted):
                    self._order(e, payments)
                elif isinstance(e, ev.ComputeReceiptPosted):
                    self._receipt(e)

    def _problem(self, kind: ProblemKind, message: str, e: Any) -> None:
        meta = e.meta
        self.report.problems.append(Problem(kind, message, meta.tx_hash, meta.block_number, meta.log_index))

    def _order(self, e: ev.OrderStarted, payments: _Payments) -> None:
        payment = payments.take(e, self.free)
        line = OrderLine(
            e.order_id, e.consumer, e.payer, e.provider, e.service_id, e.funding.name, payment, e.fee_token,
            e.fee_amount, e.meta.tx_hash, e.meta.block_number, _time(self.blocks, e.meta.block_number),
        )  # fmt: skip
        self.report.orders.append(line)
        if not payment:
            self._problem(
                ProblemKind.UNPAID_ORDER,
                f"order {e.order_id} ({e.funding.name}) has no payment in its transaction",
                e,
            )

    def _receipt(self, e: ev.ComputeReceiptPosted) -> None:
        self.spent += e.epsilon
        first = self.receipts_seen.get(e.job_id)
        line = ReceiptLine(
            e.job_id, e.order_id, e.poster, e.algorithm_hash, e.output_hash, e.epsilon, e.spent_after,
            self.budget, e.status.name, e.meta.tx_hash, e.meta.block_number, e.meta.log_index,
            _time(self.blocks, e.meta.block_number), first is not None,
        )  # fmt: skip
        self.report.receipts.append(line)
        if first is not None:
            self._problem(
                ProblemKind.DUPLICATE_RECEIPT, f"job {e.job_id} has a receipt already (tx {first})", e
            )
        else:
            self.receipts_seen[e.job_id] = e.meta.tx_hash
        if self.spent > self.budget:
            self._problem(
                ProblemKind.EPSILON_OVER_BUDGET,
                f"receipt of job {e.job_id} brings epsilon spent to {epsilon_text(self.spent)}, over the "
                f"budget of {epsilon_text(self.budget)}",
                e,
            )


class _Payments:
    """What one transaction holds that pays for orders: burns of the datatoken (BURNED orders) and
    unminted buys (BOUGHT orders), by payer, each taken by one order."""

    def __init__(self, tx_events: list[Any]) -> None:
        self.burns: Counter[str] = Counter()
        self.buys: dict[str, list[ev.Bought]] = defaultdict(list)
        for e in tx_events:
            if isinstance(e, ev.Transfer) and e.to == ZERO_ADDRESS and e.from_ != ZERO_ADDRESS:
                self.burns[e.from_] += e.value
            elif isinstance(e, ev.Bought) and not e.minted:
                self.buys[e.buyer].extend([e] * e.amount)

    def take(self, order: ev.OrderStarted, free: bool) -> str:
        if order.funding == OrderFunding.BURNED and self.burns[order.payer] > 0:
            self.burns[order.payer] -= 1
            return "burned 1 datatoken"
        if order.funding == OrderFunding.BOUGHT and self.buys[order.payer]:
            bought = self.buys[order.payer].pop(0)
            return f"bought for {bought.cost // bought.amount} of {bought.payment_token}"
        if order.funding == OrderFunding.FREE and free:
            return "free, from the dispenser"
        return ""


_DOCUMENT_PROBLEMS = {
    DocumentStatus.HASH_MISMATCH: ProblemKind.METADATA_HASH_MISMATCH,
    DocumentStatus.INVALID: ProblemKind.METADATA_INVALID,
}


def _check_documents(
    report: AuditReport,
    dataset: Dataset,
    blocks: Mapping[int, BlockRef],
    documents: Mapping[tuple[str, str], DocumentCheck],
    log_indexes: Mapping[str, int],
) -> None:
    """One line per metadata version; ``log_indexes`` gives the event of each version's transaction."""
    for number, version in enumerate(dataset.metadata_versions, start=1):
        unfetched = DocumentCheck(DocumentStatus.UNAVAILABLE, "not fetched")
        check = documents.get((version.cid, version.hash), unfetched)
        at = _time(blocks, version.block)
        report.metadata.append(MetadataLine(
            number, version.cid, version.hash, version.updated_by, version.block, at, version.tx_hash,
            check.status, check.reason,
        ))  # fmt: skip
        what = f"metadata version {number} ({version.cid})"
        kind = _DOCUMENT_PROBLEMS.get(check.status)
        if kind is not None:
            where = (version.tx_hash, version.block, log_indexes.get(version.tx_hash, 0))
            report.problems.append(Problem(kind, f"{what}: {check.reason}", *where))
        elif check.status == DocumentStatus.UNAVAILABLE:
            report.warnings.append(f"{what} is unverified: {check.reason}")


def _check_orders_of_receipts(report: AuditReport, dataset: Dataset) -> None:
    for line in report.receipts:
        if line.order_id not in dataset.orders:
            report.problems.append(Problem(
                ProblemKind.RECEIPT_WITHOUT_ORDER,
                f"receipt of job {line.job_id} names order {line.order_id}, not one of this dataset's",
                line.tx_hash, line.block_number, line.log_index,
            ))  # fmt: skip


__all__ = ["AuditReport", "Entry", "MetadataLine", "OrderLine", "Problem", "ProblemKind", "ReceiptLine",
           "Scope", "build_report", "dataset_events", "iso_time"]  # fmt: skip
