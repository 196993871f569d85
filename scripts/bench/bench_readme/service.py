"""The services under load: many researchers at once, and clients that trickle their requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench_readme import machines
from bench_readme.markdown import NONE, fixed, number, table
from bench_readme.results import Results
from bench_readme.section import Chart, Section

ENDPOINTS = {"access": "access (POST /api/v1/access)", "search": "search (GET /api/v1/datasets?q=)"}


def _statuses(statuses: Mapping[str, int]) -> str:
    return ", ".join(f"{code}: {number(n)}" for code, n in sorted(statuses.items())) or NONE


def load_fill(results: Results) -> dict[str, str]:
    r = results["load.json"]
    earlier = results.earlier_run("load.json")
    runs = [("now", r)] + ([("before", earlier["figures"])] if earlier else [])
    rows = [
        [
            ENDPOINTS[kind] + ("" if when == "now" else ", before"),
            number(x["requests"]),
            f"{fixed(x['ok_per_s'], 1)}",
            f"{fixed(x['p50_ms'], 1)} ms",
            f"{fixed(x['p99_ms'], 1)} ms",
            f"{fixed(x['max_ms'], 1)} ms",
            _statuses(x["statuses"]),
        ]
        for kind in ENDPOINTS
        for when, run in runs
        if kind in run
        for x in (run[kind],)
    ]
    replayed = r.get("replayed") or {}
    return {
        "clients": number(r["clients"]),
        "seconds": f"{r['seconds']:g}",
        "machine": machines.describe(r),
        "table": table(["endpoint", "requests", "answered per s", "p50", "p99", "max", "statuses"], rows),
        "before": f"Before: {earlier['source']}." if earlier else "",
        "nonces": (
            f"Nonces accepted: {number(r['accepted_nonces'])}, accepted twice: "
            f"{number(r['doubled_nonces'])}; the accepted requests sent again were answered "
            f"{_statuses(replayed)}."
        ),
    }


def load_charts(results: Results) -> list[Chart]:
    r = results["load.json"]
    series = [
        {
            "label": f"{kind} (p50 {fixed(r[kind]['p50_ms'], 1)} ms, p99 {fixed(r[kind]['p99_ms'], 1)} ms)",
            "values": r[kind]["sample_ms"],
        }
        for kind in ENDPOINTS
        if kind in r and r[kind].get("sample_ms")
    ]
    if not series:
        return []
    spec = {
        "kind": "cdf",
        "title": f"Latency under load: {r['clients']} clients for {r['seconds']:g} s",
        "xlabel": "latency (ms, log scale)",
        "ylabel": "fraction of answered requests",
        "xscale": "log",
        "legend": "lower right",
        "series": series,
    }
    return [Chart("load_latency", "Latency distribution of access and search under load", spec)]


def _probe(row: Mapping[str, Any], key: str) -> str:
    return f"{fixed(row[key], 1)} ms" if key in row else NONE


def slow_fill(results: Results) -> dict[str, str]:
    r = results["slow_clients.json"]
    rows = [
        [
            workers,
            str(row["tricklers"]),
            _probe(row, "p50_ms"),
            _probe(row, "p99_ms"),
            f"{row['timed_out']} of {row['probes']}",
        ]
        for workers, figures in r["workers"].items()
        for row in figures
    ]
    return {
        "timeout": f"{r['timeout_s']:g}",
        "machine": machines.describe(r),
        "table": table(["workers", "trickling clients", "p50", "p99", "timed out"], rows, left=2),
    }


def slow_charts(results: Results) -> list[Chart]:
    r = results["slow_clients.json"]
    timeout_ms = r["timeout_s"] * 1000
    tricklers = sorted({row["tricklers"] for figures in r["workers"].values() for row in figures})
    at = {n: i for i, n in enumerate(tricklers)}  # evenly spaced: 0, 2, 20, 200 clients
    series = []
    for workers, figures in r["workers"].items():
        for key, style in (("p50_ms", "-"), ("p99_ms", "--")):
            answered = [row for row in figures if key in row]
            series.append(
                {"label": f"{workers}: {key[:3]}", "x": [at[row["tricklers"]] for row in answered],
                 "y": [row[key] for row in answered], "linestyle": style, "like": f"{workers}: p50"}
            )  # fmt: skip
        lost = [
            at[row["tricklers"]] for row in figures if row["timed_out"] and row["timed_out"] == row["probes"]
        ]
        if lost:
            series.append(
                {"label": f"{workers}: every probe timed out", "x": lost, "y": [timeout_ms] * len(lost),
                 "linestyle": "none", "marker": "x", "like": f"{workers}: p50"}
            )  # fmt: skip
    spec = {
        "kind": "lines",
        "title": "/healthz while clients trickle a request at 1 byte/s",
        "xlabel": "trickling clients",
        "ylabel": "/healthz latency (ms, log scale)",
        "yscale": "log",
        "xticks": list(range(len(tricklers))),
        "xticklabels": [str(n) for n in tricklers],
        "series": series,
        "hlines": [{"y": timeout_ms, "label": f"timeout ({r['timeout_s']:g} s)"}],
    }
    return [
        Chart("slow_clients", "/healthz latency against trickling clients, sync and gevent workers", spec)
    ]


FLOOD_RUNS = {
    "unlimited": "no limit (before)",
    "default": "default limit, each worker counting",
    "default_redis": "default limit, counted in Redis",
}


def flood_fill(results: Results) -> dict[str, str]:
    r = results["fees_flood.json"]
    rows = []
    for key, name in FLOOD_RUNS.items():
        run = r["runs"].get(key)
        if run is None:
            continue
        other = run["other_client"]
        rows.append([
            name, fixed(run["sent_per_s"], 1), fixed(run["served_per_s"], 2),
            f"{fixed(run['share_429'] * 100, 1)}%",
            _probe(run, "served_p50_ms") if run.get("served_p50_ms") is not None else NONE,
            f"{other['served']} of {other['asked']}, p50 {fixed(other['p50_ms'], 1)} ms",
        ])  # fmt: skip
    return {
        "threads": str(r["threads"]),
        "limit": r["default_fees_limit"],
        "machine": machines.describe(r),
        "table": table(
            ["run", "sent per s", "quotes served per s", "answered 429", "served p50", "the other client"],
            rows,
        ),
    }


SECTIONS = (
    Section(
        template="load",
        title="Load",
        script="scripts/bench/load.py",
        results=("load.json",),
        measures="200 researchers at once: key requests and searches, latency and status of each",
        fill=load_fill,
        charts=load_charts,
    ),
    Section(
        template="slow_clients",
        title="Slow clients",
        script="scripts/bench/slow_clients.py",
        results=("slow_clients.json",),
        measures="/healthz latency while clients trickle their requests, sync against gevent workers",
        fill=slow_fill,
        charts=slow_charts,
    ),
    Section(
        template="fees_flood",
        title="A flood of fee quotes",
        script="scripts/bench/fees_flood.py",
        results=("fees_flood.json",),
        measures="one client flooding POST /api/v1/fees, without and with rate limits",
        fill=flood_fill,
    ),
)
