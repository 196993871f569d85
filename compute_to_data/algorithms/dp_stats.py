"""Built-in algorithm `dp_stats`: differentially private summary statistics of one table (pure epsilon-DP).

Staged into the sandbox as /job/algorithm/main.py beside _job.py, the job interface every built-in shares
(compute_to_data/builtins.py); it imports nothing from the repository (stdlib, numpy, pandas and _job only).
See docs/compute.md, "The algorithm interface".

The job's epsilon is required (> 0). Params (all optional):
  columns    numeric columns to describe (default: every numeric column)
  bins       histogram bins per column (10)
  bounds     {column: [lo, hi]}: public bounds. Values are clipped to them; the histogram's edges are
             linspace(lo, hi, bins + 1), so the edges never come from the data.
  require_bounds  true: fail when a column has no bounds instead of estimating them (false)

Released statistics, each through the Laplace mechanism (add/remove-one neighbours):
  - the row count (sensitivity 1);
  - per column, the clipped mean: a noisy sum of clip(x, lo, hi) - (lo + hi) / 2 (sensitivity (hi - lo) / 2)
    divided by the column's noisy non-missing count (the total of its noisy histogram: post-processing);
  - per column, the histogram (L1 sensitivity 1);
  - per column without public bounds, its quartiles, estimated with the exponential mechanism over a fixed
    grid of candidates (0 and +-10^(k/8) for 10^-6 .. 10^9) that does not depend on the data; the bounds
    are then Tukey's fences [q1 - 1.5 IQR, q3 + 1.5 IQR] (post-processing). Quartiles rather than extreme
    percentiles: the gap in utility between a good and a far-off candidate is n/4 rather than n/100, which
    is what lets the mechanism find them on small tables. Estimated bounds are coarse (the grid's steps are
    a factor 1.33) and cost budget: give public bounds when you can.
Epsilon is split evenly across all released statistics (basic composition), so the total is the job's
epsilon: metrics.json says `"epsilon_spent": epsilon, "delta": 0`. The noise is drawn from the operating
system's randomness, never from the job's seed.

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

from _job import JobError, load_job, log, progress, read_table, resolve_file, roots, run

FORMAT = "datamarket.dp_stats/1"
LOW_QUANTILE, HIGH_QUANTILE = 0.25, 0.75
FENCE = 1.5  # Tukey's fences: [q1 - 1.5 IQR, q3 + 1.5 IQR]
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


def candidate_grid() -> np.ndarray:
    """Data-independent candidates for the DP bound estimates."""
    magnitudes = 10.0 ** (np.arange(-6 * 8, 9 * 8 + 1) / 8.0)
    return np.concatenate([-magnitudes[::-1], [0.0], magnitudes])


def dp_quantile(
    values: np.ndarray, q: float, epsilon: float, grid: np.ndarray, rng: np.random.Generator
) -> float:
    """Exponential mechanism, utility -|#{x <= c} - q n| (sensitivity 1), sampled by the Gumbel-max trick."""
    ordered = np.sort(values)
    ranks = np.searchsorted(ordered, grid, side="right")
    utility = -np.abs(ranks - q * len(ordered))
    scores = epsilon * utility / 2.0 + rng.gumbel(size=len(grid))
    return float(grid[int(np.argmax(scores))])


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
    bounds_given = params.get("bounds") or {}
    if not isinstance(bounds_given, dict):
        raise JobError("params.bounds must be an object {column: [lo, hi]}")
    require_bounds = bool(params.get("require_bounds", False))

    path = first_table(job, data_dir)
    log(f"reading {path.name}")
    frame = read_table(path, use_pyarrow=False)
    columns = params.get("columns")
    if columns is None:
        columns = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise JobError("params.columns must be a list of column names")
    for column in columns:
        if column not in frame.columns:
            raise JobError(f"column {column!r} is not in {path.name}")
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise JobError(f"column {column!r} is not numeric")
    if not columns:
        raise JobError("no numeric column to describe")
    bounds: dict[str, tuple[float, float]] = {}
    for column in columns:
        if column in bounds_given:
            pair = bounds_given[column]
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(b, int | float) for b in pair)
            ):
                raise JobError(f"params.bounds[{column!r}] must be [lo, hi]")
            lo, hi = float(pair[0]), float(pair[1])
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise JobError(f"params.bounds[{column!r}] must be finite with lo < hi")
            bounds[column] = (lo, hi)
    missing = [c for c in columns if c not in bounds]
    if missing and require_bounds:
        raise JobError(f"no bounds for {len(missing)} column(s): {', '.join(map(repr, missing))}")

    releases = 1 + 2 * len(columns) + 2 * len(missing)
    per = epsilon / releases
    log(f"{len(columns)} column(s), {releases} noisy releases, epsilon {per:.5g} each (basic composition)")
    rng = np.random.default_rng(secrets.randbits(128))  # never the job's seed
    grid = candidate_grid()

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
        values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values)]
        if column in bounds:
            lo, hi = bounds[column]
            source = "params"
        else:
            q1 = dp_quantile(values, LOW_QUANTILE, per, grid, rng)
            q3 = dp_quantile(values, HIGH_QUANTILE, per, grid, rng)
            q1, q3 = min(q1, q3), max(q1, q3)
            if q1 == q3:  # one grid point: widen to its neighbours
                at = int(np.searchsorted(grid, q1))
                q1, q3 = float(grid[max(at - 1, 0)]), float(grid[min(at + 1, len(grid) - 1)])
            lo, hi = q1 - FENCE * (q3 - q1), q3 + FENCE * (q3 - q1)
            source = "dp_quartiles"
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
        "bounds_estimated": len(missing),
        "seconds": round(time.perf_counter() - started, 4),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", "utf-8")
    log(f"done: {len(columns)} column(s) described, epsilon spent {epsilon:g}")
    return 0


if __name__ == "__main__":
    run(main)
