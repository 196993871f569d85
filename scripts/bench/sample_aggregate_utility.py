"""Utility of sample and aggregate beside DP-SGD on breast_cancer, at epsilon 1, 3 and 8.

Usage: python scripts/bench/sample_aggregate_utility.py [--seeds 5] [--epsilons 1 3 8]
           [--blocks 10 25 50] [--bound 1] [--out bench/results/sample_aggregate.json]

For each seed the table is shuffled and cut into a training part (70%) and a test part (30%).

- Sample and aggregate (what an untrusted algorithm gets, docs/privacy.md): the training rows go through
  the worker's own split (`compute_to_data.aggregate.split_rows`) into k blocks; in each block a
  scikit-learn logistic regression (features scaled to [-1, 1] with the public bounds of the dataset's
  description, L2 penalty C = 0.5) gives 31 numbers (30 coefficients and the intercept); the worker's
  own release (`aggregate.release`: clip to [-bound, bound], average, Laplace noise of scale
  31 * 2 * bound / k / epsilon) makes the released model. A block with one class only (the fit
  fails) counts as the midpoint, as in the worker. Its accuracy is averaged over --draws noise
  draws per seed (one release is one draw: its accuracy varies a lot from draw to draw).
- DP-SGD: the `train_tabular` built-in, run as scripts/bench/dp_utility.py runs it (the same MLP and
  DP-SGD settings, public bounds), on the same training part.

Both are scored by accuracy on the test part. Prints a markdown table and records
bench/results/sample_aggregate.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from compute_to_data import aggregate
from datamarket.demo import breast_cancer_bounds
from datamarket.metadata.declarations import declare
from datamarket.output_spec import OutputSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dp_utility

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "sample_aggregate.json"
TEST_FRACTION = 0.3
C = 0.5


def scaled(frame: pd.DataFrame, bounds: dict[str, list[float]]) -> np.ndarray:
    """Features in [-1, 1] by the public per-feature bounds (nothing learnt from the data)."""
    cols = [c for c in frame.columns if c != "target"]
    lo = np.array([bounds[c][0] for c in cols])
    hi = np.array([bounds[c][1] for c in cols])
    x = frame[cols].to_numpy(dtype=np.float64)
    return np.clip(2 * (x - lo) / (hi - lo) - 1, -1, 1)


def block_model(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """One block's logistic regression as a vector (coefficients, intercept); None if it cannot fit."""
    if len(np.unique(y)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=C, max_iter=500).fit(x, y)
    return np.concatenate([model.coef_[0], model.intercept_])


def sample_aggregate_accuracy(
    train: pd.DataFrame, test: pd.DataFrame, bounds: dict, k: int, bound: float, epsilon: float, draws: int
) -> float:
    """Mean test accuracy of the released model over ``draws`` releases of the same blocks' models
    (one split, many noise draws: the noise, not the split, is what varies most)."""
    x_train, y_train = scaled(train, bounds), train["target"].to_numpy()
    n_coords = x_train.shape[1] + 1
    spec = OutputSpec.from_json({"format": "json", "shape": [n_coords], "lower": -bound, "upper": bound})
    outputs = [block_model(x_train[idx], y_train[idx]) for idx in aggregate.split_rows(range(len(train)), k)]
    x_test, y_test = scaled(test, bounds), test["target"].to_numpy()
    hits = []
    for _ in range(draws):
        released = aggregate.release(outputs, spec, epsilon).values
        hits.append(float((((x_test @ released[:-1] + released[-1]) > 0).astype(int) == y_test).mean()))
    return statistics.mean(hits)


def dp_sgd_accuracy(
    train: pd.DataFrame, test: pd.DataFrame, bounds: dict, epsilon: float, seed: int
) -> float:
    params = {"model": "mlp", "hidden": dp_utility.HIDDEN, "test_fraction": 0.0, **dp_utility.PRIVATE}
    # The label and the public bounds are the publisher's declarations, as on the market.
    declared = declare(train, targets=["target"], bounds={c: (lo, hi) for c, (lo, hi) in bounds.items()})
    with tempfile.TemporaryDirectory() as work:
        out = dp_utility.run_algorithm(Path(work), train, params, epsilon, seed, declared)
        net, meta = dp_utility.load_model(out / "model.safetensors")
        _, hits = dp_utility.losses_and_hits(net, meta, test)
    return float(hits.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 8.0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--draws", type=int, default=200, help="Noise draws per sample-and-aggregate run.")
    parser.add_argument("--bound", type=float, default=1.0, help="Bounds [-b, b] of every coefficient.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    frame = load_breast_cancer(as_frame=True).frame
    bounds = breast_cancer_bounds()
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(len(frame))
        cut = int(len(frame) * (1 - TEST_FRACTION))
        train = frame.iloc[order[:cut]].reset_index(drop=True)
        test = frame.iloc[order[cut:]].reset_index(drop=True)
        for epsilon in args.epsilons:
            row: dict[str, Any] = {"seed": seed, "epsilon": epsilon}
            for k in args.blocks:
                row[f"sa_k{k}"] = sample_aggregate_accuracy(
                    train, test, bounds, k, args.bound, epsilon, args.draws
                )
            row["dp_sgd"] = dp_sgd_accuracy(train, test, bounds, epsilon, seed)
            runs.append(row)
            shown = ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in ("seed", "epsilon"))
            print(f"seed {seed} eps {epsilon:g}: {shown}", flush=True)
    methods = [f"sa_k{k}" for k in args.blocks] + ["dp_sgd"]
    table = []
    for epsilon in args.epsilons:
        mine = [r for r in runs if r["epsilon"] == epsilon]
        entry: dict[str, Any] = {"epsilon": epsilon}
        for m in methods:
            values = [r[m] for r in mine]
            entry[m] = statistics.mean(values)
            entry[f"{m}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        table.append(entry)
    header = (
        "| epsilon | "
        + " | ".join([f"sample and aggregate, k = {k}" for k in args.blocks] + ["DP-SGD train_tabular (MLP)"])
        + " |"
    )
    print()
    print("test accuracy on breast_cancer (mean ± std over seeds)")
    print(header)
    print("|" + "---|" * (len(methods) + 1))
    for entry in table:
        cells = [f"{entry[m]:.3f} ± {entry[f'{m}_std']:.3f}" for m in methods]
        print(f"| {entry['epsilon']:g} | " + " | ".join(cells) + " |")
    record = {
        "benchmark": "sample_aggregate_utility",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "dataset": "breast_cancer",
        "test_fraction": TEST_FRACTION,
        "seeds": args.seeds,
        "sample_aggregate": {
            "model": "logistic regression (scikit-learn)",
            "C": C,
            "coordinates": 31,
            "bounds": [-args.bound, args.bound],
            "mechanism": aggregate.MECHANISM,
            "noise_draws_per_run": args.draws,
        },
        "dp_sgd": {
            "algorithm": "train_tabular",
            "model": "mlp",
            "hidden": dp_utility.HIDDEN,
            **dp_utility.PRIVATE,
            "delta": dp_utility.DELTA,
        },
        "table": table,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nrecorded {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
