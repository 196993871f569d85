"""Compute-to-data: a job's start, the sandbox's cost, GPU training in the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench_readme import machines
from bench_readme import references as ref
from bench_readme.markdown import NONE, fixed, millions, table
from bench_readme.results import Results
from bench_readme.section import Section


def _s(value: float, digits: int = 2) -> str:
    return f"{fixed(value, digits)} s"


def job_start_fill(results: Results) -> dict[str, str]:
    r = results["job_start.json"]
    brokers = r["results"]
    rows = [
        [
            "accepted request to the algorithm's first line, p50 / p99",
            *(f"{fixed(b['first_line_p50_s'], 2)} / {fixed(b['first_line_p99_s'], 2)} s" for b in brokers),
            str(ref.JOB_START_P50_S) + " (p50)",
            str(ref.OCEAN_JOB_START),
        ],
        ["of which queued, p50", *(_s(b["queued_p50_s"], 3) for b in brokers), NONE, NONE],
        ["of which staging, p50", *(_s(b["staging_p50_s"], 3) for b in brokers), NONE, NONE],
        ["the consumer's whole round trip, p50", *(_s(b["round_trip_p50_s"]) for b in brokers), NONE, NONE],
    ]
    names = {"redis": "Redis", "sqlite": "SQLite"}
    header = ["what", *(names.get(b["broker"], b["broker"]) for b in brokers), "target", "Ocean"]
    jobs = sorted({b["jobs"] for b in brokers})
    return {
        "jobs": " or ".join(str(j) for j in jobs),
        "machine": machines.describe(r),
        "table": table(header, rows),
    }


def _sandbox_column(r: Mapping[str, Any]) -> list[str]:
    training, start = r["training"], r["start_latency"]
    return [
        f"{fixed(training['bare_median_s'], 2)} vs {fixed(training['sandbox_median_s'], 2)} s "
        f"({training['overhead_pct']:+.2f}%)",
        f"{fixed(start['sandbox_p50_ms'], 0)} / {fixed(start['sandbox_p99_ms'], 0)} ms",
        f"{fixed(start['bare_python_p50_ms'], 0)} / {fixed(start['bare_python_p99_ms'], 0)} ms",
    ]


SANDBOX_FILES = ("sandbox_overhead.json", "sandbox_overhead_2cpu.json")


def sandbox_fill(results: Results) -> dict[str, str]:
    runs = [results[name] for name in SANDBOX_FILES]
    header = ["what"]
    for name, r in zip(SANDBOX_FILES, runs, strict=True):
        runs_and_isolation = f"{r['training']['runs']} runs, {r['sandbox']['isolation']}"
        header.append(f"`{name}`: {r['machine']['cpus']} CPUs ({runs_and_isolation})")
    columns = [_sandbox_column(r) for r in runs]
    whats = (
        "train_tabular bare vs in the sandbox, median",
        f"sandbox start to the first output line, p50 / p99 ({runs[0]['start_latency']['runs']} runs)",
        "bare Python start to the first output line, p50 / p99",
    )
    targets = [str(ref.SANDBOX_OVERHEAD_PCT), NONE, NONE]
    rows = [[what, *(c[i] for c in columns), targets[i]] for i, what in enumerate(whats)]
    machine_rows = [
        [f"`{n}`", machines.describe(r), r["sandbox"]["bwrap"]]
        for n, r in zip(SANDBOX_FILES, runs, strict=True)
    ]
    return {
        "table": table([*header, "target"], rows),
        "machines": table(["results", "machine", "sandbox"], machine_rows, left=3),
    }


def gpu_fill(results: Results) -> dict[str, str]:
    r = results["gpu_train.json"]
    bare, sandbox, t, p, m = r["bare"], r["sandbox"], r["table"], r["params"], r["machine"]
    rows = [
        ["training throughput", *(f"{millions(x['samples_per_second'])} samples/s" for x in (bare, sandbox))],
        ["training loop", *(f"{fixed(x['seconds'], 2)} s" for x in (bare, sandbox))],
        ["whole run, wall", *(f"{fixed(x['wall_s'], 1)} s" for x in (bare, sandbox))],
        ["test accuracy", *(f"{fixed(x['accuracy'], 3)}" for x in (bare, sandbox))],
    ]
    return {
        "rows": f"{t['rows'] / 1e6:g}M",
        "features": str(t["features"]),
        "classes": str(t["classes"]),
        "run": (
            f"{m['gpu']}, {m['cpus']} CPUs, torch {m['torch']} with CUDA {m['cuda']}, "
            f"{p['model'].upper()} {p['hidden']}x{p['layers']}, {p['epochs']} epochs, "
            f"batches of {p['batch_size']}" + (f", DP at epsilon {r['epsilon']:g}" if r.get("dp") else "")
        ),
        "table": table(["what", "bare", "in the sandbox"], rows),
    }


def raw_index_fill(results: Results) -> dict[str, str]:
    r = results["raw_index.json"]
    rows = []
    for case in r["cases"]:
        inside, child = case["in_process"], case["child"]
        rows.append([
            f"{case['dataset'].replace('_', ' ')}, {case['size_mib']} MiB",
            f"{fixed(inside['wall_s'], 2)} s", f"{fixed(inside['worker_peak_after_mib'], 0)} MiB",
            f"{fixed(child['wall_s'], 2)} s", f"{fixed(child['worker_peak_after_mib'], 0)} MiB",
            f"{fixed(child['child_peak_mib'], 0)} MiB", f"+{fixed(case['overhead_s'], 2)} s",
        ])  # fmt: skip
    return {
        "machine": machines.describe(r),
        "table": table(
            ["dataset", "in the worker", "worker peak", "in a child", "worker peak", "child peak", "cost"],
            rows,
        ),
    }


SECTIONS = (
    Section(
        template="job_start",
        title="Compute job start",
        script="scripts/bench/job_start.py",
        results=("job_start.json",),
        measures="a compute job's start: accepted request to the algorithm's first line",
        fill=job_start_fill,
    ),
    Section(
        template="sandbox_overhead",
        title="Sandbox overhead",
        script="scripts/bench/sandbox_overhead.py",
        results=SANDBOX_FILES,
        measures="what the bubblewrap sandbox costs",
        fill=sandbox_fill,
    ),
    Section(
        template="gpu_train",
        title="GPU training",
        script="scripts/bench/gpu_train.py",
        results=("gpu_train.json",),
        measures="GPU training throughput, bare and in the sandbox",
        fill=gpu_fill,
    ),
    Section(
        template="raw_index",
        title="The raw-row index in a child process",
        script="scripts/bench/raw_index.py",
        results=("raw_index.json",),
        measures="the raw-row index built in a memory-capped child beside in the worker: time and memory",
        fill=raw_index_fill,
    ),
)
