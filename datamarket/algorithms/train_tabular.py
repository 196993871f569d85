"""Built-in algorithm `train_tabular`: a classifier (MLP or logistic regression) on one table, optionally DP.

Staged into the sandbox as /job/algorithm/main.py beside _job.py (the job interface of every built-in) and
_training.py, the training core it shares with text_classifier (datamarket/builtins.py); it imports
nothing from the repository (stdlib, numpy, pandas, torch, opacus, safetensors, _job and _training only).
See docs/compute.md, "The algorithm interface".

What the job may use comes from the publisher's declarations (`declarations` in /job/params.json, written
by the worker from the metadata document, never from the buyer): the target must be a declared target, its
classes are its declared values (rows with another label are dropped, silently), the features are the
declared columns only. A numeric column is clipped to its declared bounds; a categorical column is one-hot
encoded over its declared values (without DP: only those occurring at least `min_category_count` times in
the training split), at most `max_categories` of them. `classes`, `bounds`, `categories`, `max_categories`
and `min_category_count` in the params are refused.

Params (`params` in /job/params.json, all optional):
  target          the label column, one of the declared targets (default: the first declared target)
  model           "mlp" | "logreg" (default "mlp")
  hidden, layers  MLP width (64) and number of hidden layers (1)
  epochs (20), batch_size (64), lr (1e-3, or 1e-2 with DP), weight_decay (0), test_fraction (0.2)
  max_grad_norm   per-example clipping norm for DP-SGD (1.0)
  metrics_epsilon_fraction  share of epsilon spent on the noisy release of the metrics (0.1, DP only)

Without epsilon, numeric columns are clipped and standardized with the training split's mean and standard
deviation. With epsilon the preprocessing does not depend on the data: clipped and scaled to [-1, 1] by the
declared bounds. The model is trained with DP-SGD (Opacus, Poisson sampling); nothing exact leaves: the row
count is released with Laplace noise (5% of epsilon) and the sample rate, the number of steps and the
metrics' denominators come from that noisy count; the released accuracy and loss carry Laplace noise
(metrics_epsilon_fraction of epsilon); DP-SGD gets the rest. metrics.json has no n_train or n_test,
`epsilon_spent` is the three shares' sum, and the log carries no count and no data value.
The DP noise and the Poisson sampling draw from the operating system's randomness, never from the job's
seed (a known seed would let the consumer subtract the noise): DP runs are not bit-for-bit reproducible.

Outputs: /out/model.safetensors (the weights; safetensors metadata key "datamarket" holds a small JSON
document: the features, the preprocessing, the classes, the architecture) and /out/metrics.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# _job and _training sit beside this script (python -I leaves the script's folder off sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _job import JobError, declarations, declared_target, load_job, log, read_table, roots, run, value_key
from _training import (
    declared_classes,
    encode_target,
    layer_sizes,
    pick_device,
    split,
    table_files,
    train_and_evaluate,
    training_options,
    write_outputs,
)

FORMAT = "datamarket.train_tabular/1"
DEFAULT_MODEL = "mlp"


# --- tabular features ----------------------------------------------------------------------------------


def build_features(
    frame: pd.DataFrame, target: str, train: np.ndarray, dp: bool, declared: dict[str, Any]
) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """The feature matrix from the declared columns only (others are dropped): a numeric column is
    clipped to its declared bounds (then, without DP, standardized on the training split; with DP,
    scaled to [-1, 1]); a categorical column is one-hot encoded over its declared values, and without
    DP only over those occurring at least min_category_count times in the training split, capped at
    max_categories (the most frequent first). No category that is not declared ever reaches the model
    or its metadata."""
    k, cap = declared["min_category_count"], declared["max_categories"]
    blocks: list[np.ndarray] = []
    names: list[str] = []
    inputs: list[dict[str, Any]] = []
    for column in frame.columns:
        spec = declared["columns"].get(column)
        if column == target or spec is None:
            continue
        series = frame[column]
        if spec.get("type") == "numeric":
            lo, hi = float(spec["lower"]), float(spec["upper"])
            x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
            x[~np.isfinite(x)] = np.nan
            x = np.clip(x, lo, hi)
            if dp:
                feature = {"column": column, "kind": "bounded", "lo": lo, "hi": hi}
            else:
                seen = np.isfinite(x[train])
                mean = float(np.nanmean(x[train])) if seen.any() else 0.0
                std = float(np.nanstd(x[train])) if seen.any() else 1.0
                feature = {
                    "column": column, "kind": "standard", "lo": lo, "hi": hi,
                    "mean": mean, "std": std if std > 0 else 1.0,
                }  # fmt: skip
            blocks.append(transform(x, feature)[:, None])
            names.append(column)
            inputs.append(feature)
        elif spec.get("type") == "categorical":
            values = categories(series, spec["values"], train, dp, k, cap)
            if not values:
                continue
            blocks.append(one_hot(series, values))
            names += [f"{column}={v}" for v in values]
            inputs.append({"column": column, "kind": "one_hot", "categories": values})
    if not blocks:
        raise JobError("no usable declared feature column")
    features = np.concatenate(blocks, axis=1).astype(np.float32)
    return features, names, inputs


def categories(
    series: pd.Series, declared: list[Any], train: np.ndarray, dp: bool, k: int, cap: int
) -> list[Any]:
    """The values a categorical column is encoded over: with DP, the declared values (the first cap of
    them; the choice must not depend on the data); without DP, the declared values occurring at least k
    times in the training split, the cap most frequent."""
    if dp:
        return list(declared[:cap])
    counts = series.iloc[train].dropna().map(value_key).value_counts()
    frequent = [v for v in declared if counts.get(value_key(v), 0) >= k]
    frequent.sort(key=lambda v: -int(counts.get(value_key(v), 0)))
    return frequent[:cap]


def transform(x: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    kind = spec["kind"]
    if "lo" in spec:
        x = np.clip(x, spec["lo"], spec["hi"])
    if kind == "standard":
        out = (x - spec["mean"]) / spec["std"]
    elif kind == "bounded":
        half = (spec["hi"] - spec["lo"]) / 2
        out = np.clip((x - (spec["lo"] + half)) / half, -1.0, 1.0)
    else:
        out = np.sign(x) * np.log1p(np.abs(x))
    return np.nan_to_num(out, nan=0.0)


def one_hot(series: pd.Series, values: list[Any]) -> np.ndarray:
    out = np.zeros((len(series), len(values)), dtype=np.float32)
    as_text = series.map(lambda v: value_key(v) if pd.notna(v) else None)
    for j, value in enumerate(values):
        out[:, j] = (as_text == value_key(value)).to_numpy()
    return out


def main() -> int:
    started = time.perf_counter()
    data_dir, job_dir, out_dir = roots()
    job = load_job(job_dir)
    params: dict[str, Any] = job.get("params") or {}
    options = training_options(job, DEFAULT_MODEL)
    device = pick_device(job)

    declared = declarations(job)
    target = declared_target(params, declared)
    classes = declared_classes(declared, target)

    path = table_files(job, data_dir)[0]
    log(f"reading {path.name}")
    frame = read_table(path)
    if target not in frame.columns:
        raise JobError("the declared target column is not in the data")
    frame, labels = encode_target(frame, target, classes)
    train_idx, test_idx = split(len(labels), options["test_fraction"], options["seed"])
    features, names, inputs = build_features(frame, target, train_idx, options["dp"], declared)
    del frame
    # No row counts in the log: with DP nothing exact leaves the job.
    log(f"features: {len(names)}; classes: {len(classes)}")

    net, metrics = train_and_evaluate(features, labels, train_idx, test_idx, len(classes), options, device)
    metrics["total_seconds"] = round(time.perf_counter() - started, 4)
    description = {
        "format": FORMAT,
        "model": options["model"],
        "layers": layer_sizes(options, len(names), len(classes)),
        "activation": "relu",
        "target": str(target),
        "classes": classes,
        "features": names,
        "inputs": inputs,
        "dp": options["dp"],
    }
    write_outputs(out_dir, net, description, metrics)
    return 0


if __name__ == "__main__":
    run(main)
