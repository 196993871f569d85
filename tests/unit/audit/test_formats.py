"""The report as JSON, CSV (parsed back with pandas) and text."""

from __future__ import annotations

import io
import json

import pandas as pd

from datamarket.audit.documents import DocumentStatus
from datamarket.audit.formats import TIMELINE_COLUMNS, to_csv, to_json, to_table
from tests.unit.audit.market_history import DT, History


def a_report(**documents):
    history = History()
    history.publish()
    history.update_metadata(b"v2")
    history.burn_and_order()
    history.receipt("job", 250_000, spent_after=250_000)
    history.receipt("job", 250_000, spent_after=500_000)
    return history.report({b"v2": DocumentStatus.HASH_MISMATCH, **documents})


def test_json_holds_the_whole_report_and_is_json() -> None:
    report = a_report()
    data = json.loads(json.dumps(to_json(report)))
    assert data["dataset"] == {"id": f"eip155:31337/{DT}", "chain_id": 31337, "market": report.scope.market,
                               "datatoken": DT}  # fmt: skip
    assert data["ok"] is False
    assert [m["status"] for m in data["metadata"]] == ["verified", "hash_mismatch"]
    assert data["orders"][0]["paid"] is True and data["orders"][0]["fee_amount"] == "7"
    assert data["receipts"][1]["spent_after"] == {"epsilon": "0.5", "units": 500_000}
    assert data["receipts"][1]["time"].endswith("+00:00")
    assert [p["kind"] for p in data["problems"]] == ["metadata_hash_mismatch", "duplicate_receipt"]
    assert data["state"]["price"] == "1000" and data["state"]["epsilon_spent"]["epsilon"] == "0.5"
    assert data["backend"] is None
    assert data["summary"]["problems"] == 2 and len(data["timeline"]) == data["summary"]["events"]


def test_csv_is_the_timeline_with_the_problems_at_each_event() -> None:
    report = a_report()
    frame = pd.read_csv(io.StringIO(to_csv(report)), keep_default_na=False)
    assert list(frame.columns) == TIMELINE_COLUMNS
    assert len(frame) == len(report.timeline)
    assert list(frame["event"]) == [e.event for e in report.timeline]
    assert list(frame["tx_hash"]) == [e.tx_hash for e in report.timeline]
    flagged = frame[frame["problems"] != ""]
    assert list(flagged["problems"]) == ["metadata_hash_mismatch", "duplicate_receipt"]
    assert pd.to_datetime(frame["time"]).is_monotonic_increasing


def test_the_table_ends_with_its_summary() -> None:
    lines = to_table(a_report())
    assert lines[0] == f"Audit of eip155:31337/{DT} (market {a_report().scope.market})"
    for title in ("Dataset", "Metadata versions", "Orders", "Receipts", "Timeline", "Problems", "Warnings"):
        assert title in lines
    assert any("REPEATED" in line for line in lines)
    assert lines[-1] == (
        "7 events, 1 of 2 metadata versions verified, 1 orders, 2 receipts, epsilon 0.5 spent of 10, "
        "2 problems: FAILED"
    )


def test_a_clean_report_says_ok() -> None:
    history = History()
    history.publish()
    assert to_table(history.report())[-1].endswith("0 problems: OK")
