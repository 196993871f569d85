"""Built-in algorithm `train_tabular`: a classifier (MLP or logistic regression) on one table, optionally DP.

Staged into the sandbox as /job/algorithm/main.py beside _job.py (the job interface of every built-in) and
_training.py, the training core it shares with text_classifier (compute_to_data/builtins.py); it imports
nothing from the repository (stdlib, numpy, pandas, torch, opacus, safetensors, _job and _training only).
See docs/compute.md, "The algorithm interface".

Params (`params` in /job/params.json, all optional):
  target          label column (default: the last column); its distinct values are the classes
  classes         list of class labels (default: the distinct values found in the data)
  model           "mlp" | "logreg" (default "mlp")
  hidden, layers  MLP width (64) and number of hidden layers (1)
  epochs (20), batch_size (64), lr (1e-3, or 1e-2 with DP), weight_decay (0), test_fraction (0.2)
  max_grad_norm   per-example clipping norm for DP-SGD (1.0)
  bounds          {column: [lo, hi]}: public bounds; the column is clipped to them and scaled to [-1, 1]
  categories      {column: [values]}: one-hot these values of a non-numeric column
  max_categories  without `categories`, non-numeric columns with at most this many values are one-hot
                  encoded, others dropped (20; not in DP mode, where only `categories` is used)
  metrics_epsilon_fraction  share of epsilon spent on the noisy release of the metrics (0.1, DP only)

Without epsilon, numeric columns are standardized with the training split's mean and standard deviation.
With epsilon the preprocessing must not depend on the data: a column with `bounds` is clipped and scaled to
them, any other numeric column goes through sign(x) * log1p(|x|). The model is trained with DP-SGD (Opacus,
Poisson sampling, the noise calibrated by `make_private_with_epsilon`), and the released accuracy and loss
carry Laplace noise; `epsilon_spent` in metrics.json is the accountant's epsilon plus the metrics' share.
The DP noise and the Poisson sampling draw from the operating system's randomness, never from the job's
seed (a known seed would let the consumer subtract the noise): DP runs are not bit-for-bit reproducible.
The log transform keeps the guarantee but can cost most of the utility (on breast_cancer, whose features
sit far from 0, DP runs without bounds predict the majority class): give public bounds (documented
ranges, physical limits). Treated as public, as the dataset's schema: the column names, the set of labels
(unless `classes` is given) and the row count (hence n_train and n_test).

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

from _job import JobError, load_job, log, number, read_table, roots, run
from _training import (
    encode_target,
    jsonable,
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
    frame: pd.DataFrame, target: str, train: np.ndarray, dp: bool, params: dict[str, Any]
) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    bounds = params.get("bounds") or {}
    categories = params.get("categories") or {}
    if not isinstance(bounds, dict) or not isinstance(categories, dict):
        raise JobError("params.bounds and params.categories must be objects keyed by column")
    max_categories = number(params, "max_categories", 20, minimum=0, integer=True)
    blocks: list[np.ndarray] = []
    names: list[str] = []
    inputs: list[dict[str, Any]] = []
    for column in frame.columns:
        if column == target:
            continue
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            series = series.astype("float64")
        if column in categories:
            values = [jsonable(v) for v in categories[column]]
            blocks.append(one_hot(series, values))
            names += [f"{column}={v}" for v in values]
            inputs.append({"column": column, "kind": "one_hot", "categories": values})
        elif pd.api.types.is_numeric_dtype(series):
            x = series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
            x[~np.isfinite(x)] = np.nan
            if column in bounds:
                lo, hi = (float(b) for b in bounds[column])
                if not hi > lo:
                    raise JobError(f"params.bounds[{column!r}] must be [lo, hi] with lo < hi")
                spec = {"column": column, "kind": "bounded", "lo": lo, "hi": hi}
            elif dp:
                spec = {"column": column, "kind": "signed_log1p"}
            else:
                mean = float(np.nanmean(x[train])) if np.isfinite(x[train]).any() else 0.0
                std = float(np.nanstd(x[train])) if np.isfinite(x[train]).any() else 1.0
                spec = {"column": column, "kind": "standard", "mean": mean, "std": std if std > 0 else 1.0}
            blocks.append(transform(x, spec)[:, None])
            names.append(column)
            inputs.append(spec)
        elif not dp and max_categories > 0 and series.iloc[train].nunique(dropna=True) <= max_categories:
            values = sorted(str(v) for v in series.iloc[train].dropna().unique())
            blocks.append(one_hot(series.astype(str).where(series.notna()), values))
            names += [f"{column}={v}" for v in values]
            inputs.append({"column": column, "kind": "one_hot", "categories": values})
        else:
            reason = "give its categories in params.categories" if dp else "too many distinct values"
            log(f"dropped non-numeric column {column!r} ({reason})")
    if not blocks:
        raise JobError("no usable feature column")
    features = np.concatenate(blocks, axis=1).astype(np.float32)
    return features, names, inputs


def transform(x: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    kind = spec["kind"]
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
    as_text = series.map(lambda v: str(jsonable(v)))
    for j, value in enumerate(values):
        out[:, j] = (as_text == str(value)).to_numpy()
    return out


def main() -> int:
    started = time.perf_counter()
    data_dir, job_dir, out_dir = roots()
    job = load_job(job_dir)
    params: dict[str, Any] = job.get("params") or {}
    options = training_options(job, DEFAULT_MODEL)
    device = pick_device(job)

    path = table_files(job, data_dir)[0]
    log(f"reading {path.name}")
    frame = read_table(path)
    if frame.shape[1] < 2:
        raise JobError(f"{path.name} needs at least two columns (features and a target)")
    target = params.get("target") or frame.columns[-1]
    if target not in frame.columns:
        raise JobError(f"target column {target!r} is not in {path.name}")
    frame, labels, classes = encode_target(frame, target, params.get("classes"))
    train_idx, test_idx = split(len(labels), options["test_fraction"], options["seed"])
    features, names, inputs = build_features(frame, target, train_idx, options["dp"], params)
    del frame
    log(
        f"rows: {len(labels)} ({len(train_idx)} train, {len(test_idx)} test); features: {len(names)}; "
        f"classes: {len(classes)}"
    )

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
