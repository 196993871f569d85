"""An audit report written out: a JSON object (everything, machine-readable), the timeline as CSV
(with pandas), or text for a person, its summary last. Token amounts are written as decimal strings
(they exceed what a JSON number holds exactly), epsilon as a decimal and in the contracts' units."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

import pandas as pd

from datamarket.audit.comparison import Comparison
from datamarket.audit.report import AuditReport, iso_time
from datamarket.audit.timeline import epsilon_text
from datamarket.chain.quotes import ZERO_ADDRESS

TIMELINE_COLUMNS = ["block_number", "time", "tx_hash", "log_index", "event", "summary", "problems"]


def _epsilon(units: int) -> dict[str, Any]:
    return {"epsilon": epsilon_text(units), "units": units}


def to_json(report: AuditReport) -> dict[str, Any]:
    scope, ds = report.scope, report.dataset
    state = {
        "publisher": ds.publisher, "provider": ds.provider, "state": ds.state.name, "free": ds.free,
        "payment_token": ds.payment_token, "price": str(ds.price), "cap": str(ds.cap),
        "dispenser_limit": str(ds.dispenser_limit), "publish_fee_bps": ds.publish_fee_bps,
        "allowlist_root": ds.allowlist_root, "metadata_hash": ds.metadata_hash,
        "epsilon_budget": _epsilon(ds.epsilon_budget), "epsilon_spent": _epsilon(ds.epsilon_spent),
        "total_supply": str(ds.total_supply),
        "holders": {holder: str(amount) for holder, amount in sorted(ds.balances.items()) if amount},
    }  # fmt: skip
    return {
        "dataset": {
            "id": scope.dataset_id,
            "chain_id": scope.chain_id,
            "market": scope.market,
            "datatoken": scope.datatoken,
        },
        "blocks": {"from": scope.from_block, "to": scope.to_block, "whole_market": scope.complete},
        "ok": report.ok,
        "state": state,
        "metadata": [
            {**asdict(m), "status": m.status.value, "time": iso_time(m.timestamp)} for m in report.metadata
        ],
        "orders": [
            {**asdict(o), "fee_amount": str(o.fee_amount), "paid": o.paid, "time": iso_time(o.timestamp)}
            for o in report.orders
        ],
        "receipts": [
            {
                **asdict(r),
                "epsilon": _epsilon(r.epsilon),
                "spent_after": _epsilon(r.spent_after),
                "budget": _epsilon(r.budget),
                "time": iso_time(r.timestamp),
            }
            for r in report.receipts
        ],
        "timeline": [{**asdict(e), "time": iso_time(e.timestamp)} for e in report.timeline],
        "problems": [{**asdict(p), "kind": p.kind.value} for p in report.problems],
        "warnings": list(report.warnings),
        "backend": None if report.comparison is None else _comparison_json(report.comparison),
        "summary": report.summary(),
    }


def _comparison_json(found: Comparison) -> dict[str, Any]:
    return {
        "url": found.url,
        "block": asdict(found.block),
        "behind": found.behind,
        "disagreements": [{**asdict(d), "message": d.message} for d in found.disagreements],
    }


def timeline_frame(report: AuditReport) -> pd.DataFrame:
    """The timeline, one row per event, with the kinds of the problems found at that event."""
    problems: dict[tuple[str, int], list[str]] = defaultdict(list)
    for p in report.problems:
        problems[p.tx_hash, p.log_index].append(p.kind.value)
    rows = [
        {
            "block_number": e.block_number,
            "time": iso_time(e.timestamp),
            "tx_hash": e.tx_hash,
            "log_index": e.log_index,
            "event": e.event,
            "summary": e.summary,
            "problems": " ".join(problems.get((e.tx_hash, e.log_index), [])),
        }
        for e in report.timeline
    ]
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def to_csv(report: AuditReport) -> str:
    return timeline_frame(report).to_csv(index=False)


def to_table(report: AuditReport) -> list[str]:
    """The report for a person: the dataset now, then each part of its history, then the summary."""
    scope, ds = report.scope, report.dataset
    whole = "the whole market history" if scope.complete else "after the market's deployment"
    lines = [f"Audit of {scope.dataset_id} (market {scope.market})",
             f"blocks {scope.from_block}..{scope.to_block} ({whole})", "", "Dataset"]  # fmt: skip
    price = (f"free, {ds.dispenser_limit} per account" if ds.free
             else f"{ds.price} of {ds.payment_token}")  # fmt: skip
    spent = f"{epsilon_text(ds.epsilon_spent)} spent of {epsilon_text(ds.epsilon_budget)}"
    rows = {"publisher": ds.publisher, "provider": ds.provider, "state": ds.state.name, "price": price,
            "supply": ds.total_supply, "epsilon": spent}  # fmt: skip
    lines += [f"  {name:<10} {value}" for name, value in rows.items()]
    lines += _section("Metadata versions", [
        f"  {m.version}  block {m.block_number}  {iso_time(m.timestamp)}  {m.cid}  by {m.updated_by}  "
        f"{m.status.value}" + (f": {m.reason}" if m.reason else "")
        for m in report.metadata
    ])  # fmt: skip
    lines += _section("Orders", [
        f"  {o.order_id}  block {o.block_number}  {iso_time(o.timestamp)}  consumer {o.consumer}  "
        f"service {o.service_id}  {o.funding}: {o.payment or 'NO PAYMENT'}, paid by {o.payer}; "
        f"provider fee {_fee(o.fee_amount, o.fee_token)}  tx {o.tx_hash}"
        for o in report.orders
    ])  # fmt: skip
    lines += _section("Receipts", [
        f"  job {r.job_id}  order {r.order_id}  {r.status}  epsilon {epsilon_text(r.epsilon)} (spent "
        f"{epsilon_text(r.spent_after)} of {epsilon_text(r.budget)})  algorithm {r.algorithm_hash}  "
        f"output {r.output_hash}  block {r.block_number}  tx {r.tx_hash}{'  REPEATED' if r.repeated else ''}"
        for r in report.receipts
    ])  # fmt: skip
    lines += _section("Timeline", [
        f"  block {e.block_number}  {iso_time(e.timestamp)}  {e.event}: {e.summary}" for e in report.timeline
    ])  # fmt: skip
    if report.comparison is not None:
        c = report.comparison
        title = f"Backend {c.url} at block {c.block.number} ({c.behind} blocks behind the node)"
        lines += _section(title, [f"  {d.message}" for d in c.disagreements] or ["  agrees with the chain"])
    lines += _section("Problems", [
        f"  [{p.kind.value}] block {p.block_number} tx {p.tx_hash}: {p.message}" for p in report.problems
    ])  # fmt: skip
    lines += _section("Warnings", [f"  {w}" for w in report.warnings])
    lines += ["", summary_line(report)]
    return lines


def _fee(amount: int, token: str) -> str:
    return "none" if amount == 0 else f"{amount} of {'the native coin' if token == ZERO_ADDRESS else token}"


def _section(title: str, body: list[str]) -> list[str]:
    return ["", title, *(body or ["  none"])]


def summary_line(report: AuditReport) -> str:
    s = report.summary()
    text = (
        f"{s['events']} events, {s['metadata_verified']} of {s['metadata_versions']} metadata versions "
        "verified, "
        f"{s['orders']} orders, {s['receipts']} receipts, epsilon {s['epsilon_spent']} spent of "
        f"{s['epsilon_budget']}, {s['problems']} problems"
    )
    if "disagreements" in s:
        text += f", {s['disagreements']} disagreements with the backend"
    return f"{text}: {'OK' if report.ok else 'FAILED'}"


__all__ = ["TIMELINE_COLUMNS", "summary_line", "timeline_frame", "to_csv", "to_json", "to_table"]
