"""Built-in algorithm `dp_stats`: differentially private summary statistics of one table (pure epsilon-DP).

Staged into the sandbox as /job/algorithm/main.py beside _job.py, the job interface every built-in shares
(datamarket/builtins.py); it imports nothing from the repository (stdlib, numpy, pandas and _job only).
See docs/compute.md, "The algorithm interface".

The job's epsilon is required (> 0). It describes only the columns the publisher declared numeric, between
their declared bounds (`declarations` in /job/params.json, from the metadata document, never from the buyer;
a `bounds` param is refused). Params (all optional):
  columns    declared numeric columns to describe (default: every declared numeric column)
  bins       histogram bins per column (10)

Released statistics, each through the Laplace mechanism (add/remove-one neighbours):
  - the row count (sensitivity 1);
  - per column, the clipped mean: a noisy sum of clip(x, lo, hi) - (lo + hi) / 2 (sensitivity (hi - lo) / 2)
    divided by the column's noisy non-missing count (the total of its noisy histogram: post-processing);
  - per column, the histogram over linspace(lo, hi, bins + 1), values clipped to [lo, hi] (L1 sensitivity 1).
Epsilon is split evenly across all released statistics (basic composition), so the total is the job's
epsilon: metrics.json says `"epsilon_spent": epsilon, "delta": 0`. The noise is drawn from the operating
system's randomness, never from the job's seed. Nothing exact leaves: no count in the log or the metrics.

Outputs: /out/stats.json (the statistics, their noise scales and the budget split) and /out/metrics.json.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# _job sits beside this script (python -I leaves the script's folder off sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _job import JobError, declarations, load_job, log, progress, read_table, resolve_file, roots, run

FORMAT = "datamarket.dp_stats/1"
MAX_BINS = 1000


def first_table(job: dict[str, Any], data_dir: Path) -> Path:
    paths = [resolve_file(str(f), data_dir) for f in job.get("files") or []]
    if not paths:
        paths = sorted(p for p in data_dir.rglob("*") if p.is_file())
    for path in paths:
        if path.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".parquet")):
            if not path.is_file():
                raise JobError(f"not among the dataset's files: {path.name}")
            return path
    raise JobError("no CSV file among the job's files")


def main() -> int:
    started = time.perf_counter()
    data_dir, job_dir, out_dir = roots()
    job = load_job(job_dir)
    params: dict[str, Any] = job.get("params") or {}
    epsilon = job.get("epsilon")
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not math.isfinite(epsilon):
        raise JobError("dp_stats needs the job's epsilon (a number > 0)")
    if epsilon <= 0:
        raise JobError("dp_stats needs the job's epsilon (a number > 0)")
    epsilon = float(epsilon)
    bins = params.get("bins", 10)
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise JobError(f"params.bins must be an integer from 1 to {MAX_BINS}")
    declared = declarations(job)
    numeric = {
        name: (float(spec["lower"]), float(spec["upper"]))
        for name, spec in declared["columns"].items()
        if spec.get("type") == "numeric"
    }
    columns = params.get("columns")
    if columns is None:
        columns = list(numeric)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise JobError("params.columns must be a list of column names")
    for column in columns:
        if column not in numeric:
            raise JobError(f"column {column!r} is not a declared numeric column")
    if not columns:
        raise JobError("no declared numeric column to describe")

    path = first_table(job, data_dir)
    log(f"reading {path.name}")
    frame = read_table(path, use_pyarrow=False)
    for column in columns:
        if column not in frame.columns:
            raise JobError(f"declared column {column!r} is not in the data")
    bounds = {column: numeric[column] for column in columns}

    releases = 1 + 2 * len(columns)
    per = epsilon / releases
    log(f"{len(columns)} column(s), {releases} noisy releases, epsilon {per:.5g} each (basic composition)")
    rng = np.random.default_rng(secrets.randbits(128))  # never the job's seed

    n_rows = len(frame)
    stats: dict[str, Any] = {
        "format": FORMAT,
        "mechanism": "laplace",
        "composition": "basic",
        "epsilon": epsilon,
        "delta": 0.0,
        "releases": releases,
        "epsilon_per_release": per,
        "count": max(0.0, round(n_rows + rng.laplace(0.0, 1.0 / per), 1)),
        "count_noise_scale": 1.0 / per,
        "columns": {},
    }
    for i, column in enumerate(columns):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values)]
        lo, hi = bounds[column]
        source = "declared"
        clipped = np.clip(values, lo, hi)
        edges = np.linspace(lo, hi, bins + 1)
        counts, _ = np.histogram(clipped, bins=edges)
        noisy_counts = counts + rng.laplace(0.0, 1.0 / per, size=bins)
        mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
        noisy_sum = float(np.sum(clipped - mid)) + rng.laplace(0.0, half / per)
        mean = mid + noisy_sum / max(float(noisy_counts.sum()), 1.0)
        stats["columns"][column] = {
            "bounds": [lo, hi],
            "bounds_source": source,
            "mean": min(max(mean, lo), hi),
            "mean_sum_noise_scale": half / per,
            "histogram": {
                "edges": [float(e) for e in edges],
                "counts": [max(0, round(float(c))) for c in noisy_counts],
                "noise_scale": 1.0 / per,
            },
        }
        progress((i + 1) / len(columns))

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2, allow_nan=False) + "\n", "utf-8")
    metrics = {
        "dp": True,
        "epsilon_spent": epsilon,
        "delta": 0.0,
        "releases": releases,
        "epsilon_per_release": per,
        "columns": len(columns),
        "bins": bins,
        "seconds": round(time.perf_counter() - started, 4),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", "utf-8")
    log(f"done: {len(columns)} column(s) described, epsilon spent {epsilon:g}")
    return 0


if __name__ == "__main__":
    run(main)
