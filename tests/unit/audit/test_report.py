"""The report built from fabricated events: every part of a dataset's history, and each problem."""

from __future__ import annotations

import pytest

from datamarket.audit.documents import DocumentStatus
from datamarket.audit.report import ProblemKind
from tests.unit.audit.market_history import (
    GENESIS_TIME,
    OTHER,
    PRICE,
    PROVIDER,
    PUBLISHER,
    USD,
    History,
    b32,
    sha256,
)


@pytest.fixture
def history() -> History:
    return History()


def kinds(report) -> list[ProblemKind]:
    return [p.kind for p in report.problems]


def test_a_clean_history_shows_every_item_and_no_problem(history: History) -> None:
    published = history.publish()
    history.update_metadata(b"v2")
    history.set_price(2 * PRICE)
    bought = history.buy_and_order(price=2 * PRICE)
    history.buy(price=2 * PRICE)
    burned = history.burn_and_order()
    receipt = history.receipt("job", 250_000, spent_after=250_000, order_id=1)

    report = history.report()

    assert report.ok and report.problems == [] and report.warnings == []
    assert [(m.version, m.cid, m.sha256, m.updated_by, m.tx_hash, m.status) for m in report.metadata] == [
        (1, "cid v1", sha256(b"v1"), PUBLISHER, published, DocumentStatus.VERIFIED),
        (2, "cid v2", sha256(b"v2"), PUBLISHER, history.events[3].meta.tx_hash, DocumentStatus.VERIFIED),
    ]
    assert [(o.order_id, o.funding, o.payment, o.fee_amount, o.tx_hash) for o in report.orders] == [
        (0, "BOUGHT", f"bought for {2 * PRICE} of {USD}", 7, bought),
        (1, "BURNED", "burned 1 datatoken", 7, burned),
    ]
    assert report.orders[0].timestamp == history.blocks[report.orders[0].block_number].timestamp
    (line,) = report.receipts
    assert (line.job_id, line.order_id, line.poster, line.algorithm_hash, line.output_hash) == (
        b32("job"), 1, PROVIDER, b32("algorithm"), b32("out"),
    )  # fmt: skip
    assert (line.epsilon, line.spent_after, line.budget, line.tx_hash, line.repeated) == (
        250_000, 250_000, 10_000_000, receipt, False,
    )  # fmt: skip
    assert [e.event for e in report.timeline] == [
        "DatasetPublished", "PriceSet", "MetadataUpdated", "PriceSet", "Bought", "OrderStarted", "Bought",
        "Transfer", "Transfer", "OrderStarted", "ComputeReceiptPosted",
    ]  # fmt: skip
    assert report.timeline[0].timestamp == GENESIS_TIME + 20  # block 2: the market's deployment is block 1
    assert report.timeline[7].summary.startswith("minted 1 to ")
    assert report.summary() == {
        "events": 11, "metadata_versions": 2, "metadata_verified": 2, "orders": 2, "receipts": 1,
        "epsilon_spent": "0.25", "epsilon_budget": "10", "problems": 0, "warnings": 0,
    }  # fmt: skip


def test_another_datasets_events_and_violations_stay_out(history: History) -> None:
    history.publish()
    history.publish(OTHER, index=1)
    history.unpaid_order(OTHER)  # a violation, in the other dataset's transaction
    report = history.report()
    assert report.ok
    assert {e.event for e in report.timeline} == {"DatasetPublished", "PriceSet"}
    assert not history.report(dt=OTHER).ok


def test_an_order_without_its_payment_is_flagged_with_the_rule_it_breaks(history: History) -> None:
    history.publish()
    tx = history.unpaid_order()
    report = history.report()
    assert kinds(report) == [ProblemKind.RULE_VIOLATION, ProblemKind.UNPAID_ORDER]
    assert {p.tx_hash for p in report.problems} == {tx}
    assert report.orders[0].payment == "" and not report.orders[0].paid
    assert (
        report.problems[0].message.startswith("burned 0 of ")
        and "1 BURNED orders" in report.problems[0].message
    )


def test_a_free_order_is_paid_by_the_dispenser_only_while_the_dataset_is_free(history: History) -> None:
    history.publish()
    history.free_order()
    history.make_free()
    history.free_order()
    report = history.report()
    assert [o.payment for o in report.orders] == ["", "free, from the dispenser"]
    assert ProblemKind.UNPAID_ORDER in kinds(report)


def test_a_receipt_posted_twice_is_flagged(history: History) -> None:
    history.publish()
    history.burn_and_order()
    first = history.receipt("job", 1_000_000, spent_after=1_000_000)
    again = history.receipt("job", 1_000_000, spent_after=2_000_000)
    report = history.report()
    assert kinds(report) == [ProblemKind.DUPLICATE_RECEIPT]
    (problem,) = report.problems
    assert problem.tx_hash == again and first in problem.message
    assert [r.repeated for r in report.receipts] == [False, True]
    assert report.dataset.epsilon_spent == 2_000_000  # both were charged


def test_epsilon_over_the_budget_is_flagged(history: History) -> None:
    history.publish(budget=1_000_000)
    history.burn_and_order()
    history.receipt("one", 600_000, spent_after=600_000)
    over = history.receipt("two", 600_000, spent_after=1_200_000)
    report = history.report()
    assert kinds(report) == [ProblemKind.EPSILON_OVER_BUDGET, ProblemKind.RULE_VIOLATION]
    assert report.problems[0].tx_hash == over
    assert "1.2" in report.problems[0].message and "budget of 1" in report.problems[0].message
    assert report.summary()["epsilon_spent"] == "1.2"


def test_a_receipt_for_an_order_that_is_not_the_datasets_is_flagged(history: History) -> None:
    history.publish()
    history.receipt("job", 1, spent_after=1, order_id=5)
    report = history.report()
    assert kinds(report) == [ProblemKind.RECEIPT_WITHOUT_ORDER]
    assert "order 5" in report.problems[0].message


@pytest.mark.parametrize(
    ("status", "kind"),
    [(DocumentStatus.HASH_MISMATCH, ProblemKind.METADATA_HASH_MISMATCH),
     (DocumentStatus.INVALID, ProblemKind.METADATA_INVALID)],
)  # fmt: skip
def test_a_document_that_fails_its_check_is_a_problem(history: History, status, kind) -> None:
    history.publish()
    tx = history.update_metadata(b"v2")
    report = history.report({b"v2": status})
    assert kinds(report) == [kind]
    assert (report.problems[0].tx_hash, report.problems[0].log_index) == (tx, 0)
    assert [m.status for m in report.metadata] == [DocumentStatus.VERIFIED, status]


def test_an_unavailable_document_is_a_warning_not_a_problem(history: History) -> None:
    history.publish()
    report = history.report({b"v1": DocumentStatus.UNAVAILABLE})
    assert report.ok
    assert report.warnings == ["metadata version 1 (cid v1) is unverified: why"]
    assert report.summary()["metadata_verified"] == 0


def test_a_history_that_starts_after_the_deployment_says_so(history: History) -> None:
    history.publish()
    report = history.report(complete=False)
    assert report.ok
    assert "after the market's deployment" in report.warnings[0]
