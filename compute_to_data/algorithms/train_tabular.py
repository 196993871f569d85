"""Built-in algorithm `train_tabular`: a classifier (MLP or logistic regression) on one table, optionally DP.

Standalone: copied alone into the sandbox as /job/algorithm/main.py, so it imports nothing from the
repository (stdlib, numpy, pandas, torch, opacus, safetensors only). See docs/compute.md, "The algorithm
interface".

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

import json
import math
import os
import secrets
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from torch import nn

FORMAT = "datamarket.train_tabular/1"
DEFAULT_MODEL = "mlp"


# >>> shared training core: the same text in train_tabular.py and text_classifier.py (a test checks it) >>>

MAX_CLASSES = 100
LOSS_CLIP = 5.0  # per-example cross-entropy is clipped to [0, LOSS_CLIP] for the DP release of the loss
EVAL_CHUNK = 65536

# Opacus and torch warnings that say nothing about the job (the noise comes from OS-seeded generators).
warnings.filterwarnings("ignore", message="Secure RNG turned off")
warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
warnings.filterwarnings("ignore", message="Full backward hook is firing")


class JobError(Exception):
    """A problem with the job's parameters or data: reported on stderr, exit status 2."""


def log(message: str) -> None:
    print(message, flush=True)


def progress(fraction: float) -> None:
    print(f"progress: {min(max(fraction, 0.0), 1.0):.3f}", flush=True)


def roots() -> tuple[Path, Path, Path]:
    env = os.environ
    return (
        Path(env.get("DATAMARKET_DATA_DIR") or "/data"),
        Path(env.get("DATAMARKET_JOB_DIR") or "/job"),
        Path(env.get("DATAMARKET_OUT_DIR") or "/out"),
    )


def load_job(job_dir: Path) -> dict[str, Any]:
    path = job_dir / "params.json"
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobError(f"{path} is missing") from exc
    except json.JSONDecodeError as exc:
        raise JobError(f"{path} is not valid JSON: {exc.msg}") from exc
    if not isinstance(job, dict):
        raise JobError("params.json must hold a JSON object")
    if not isinstance(job.get("params") or {}, dict):
        raise JobError("params.json: 'params' must be an object")
    return job


def resolve_file(name: str, data_dir: Path) -> Path:
    """A path of `files` ("/data/x.csv" inside the sandbox) mapped onto the data root in use."""
    path = Path(name)
    if path.is_absolute() and path.exists():
        return path
    parts = path.parts
    if path.is_absolute() and len(parts) > 2 and parts[1] == "data":
        return data_dir.joinpath(*parts[2:])
    return data_dir / path


def table_files(job: dict[str, Any], data_dir: Path) -> list[Path]:
    files = job.get("files") or []
    paths = [resolve_file(str(f), data_dir) for f in files]
    if not paths:
        paths = sorted(p for p in data_dir.rglob("*") if p.is_file())
    tables = [p for p in paths if p.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".parquet"))]
    if not tables:
        raise JobError("no CSV file among the job's files")
    missing = [p.name for p in tables if not p.is_file()]
    if missing:
        raise JobError(f"not among the dataset's files: {', '.join(missing)}")
    return tables


def read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    sep = "\t" if name.endswith(".tsv") else ","
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        try:
            import pyarrow  # noqa: F401  (optional: a much faster, multi-threaded CSV reader)
        except ImportError:
            return pd.read_csv(path, sep=sep, low_memory=False)
        try:
            return pd.read_csv(path, sep=sep, engine="pyarrow")
        except Exception:  # what pyarrow cannot parse, the C parser may
            return pd.read_csv(path, sep=sep, low_memory=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # ParserError and EmptyDataError are ValueErrors
        raise JobError(f"cannot read {path.name}: {type(exc).__name__}") from None


def number(params: dict[str, Any], key: str, default: float, *, minimum: float, integer: bool = False) -> Any:
    value = params.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JobError(f"params.{key} must be a number")
    if integer and int(value) != value:
        raise JobError(f"params.{key} must be an integer")
    if value < minimum:
        raise JobError(f"params.{key} must be at least {minimum}")
    return int(value) if integer else float(value)


def jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def labels_of(column: pd.Series) -> pd.Series:
    """Integral float labels (an int column that had gaps) back to ints, so 1.0 and 1 are one class."""
    if pd.api.types.is_float_dtype(column) and bool(np.all(np.mod(column.to_numpy(), 1) == 0)):
        return column.astype("int64")
    if pd.api.types.is_bool_dtype(column):
        return column.astype("int64")
    return column


def encode_target(
    frame: pd.DataFrame, target: str, given: list[Any] | None
) -> tuple[pd.DataFrame, np.ndarray, list[Any]]:
    frame = frame[frame[target].notna()]
    column = labels_of(frame[target])
    if given is not None:
        if not isinstance(given, list) or not given:
            raise JobError("params.classes must be a non-empty list")
        classes = [jsonable(c) for c in given]
    else:
        uniques = column.unique()
        if len(uniques) > MAX_CLASSES:
            raise JobError(
                f"target column {target!r} has {len(uniques)} distinct values; this is classification "
                f"with at most {MAX_CLASSES} classes"
            )
        try:
            classes = sorted(jsonable(v) for v in uniques)
        except TypeError:
            classes = sorted((jsonable(v) for v in uniques), key=str)
    index = {str(c): i for i, c in enumerate(classes)}
    codes = column.map(lambda v: index.get(str(jsonable(v)), -1)).to_numpy(dtype=np.int64)
    keep = codes >= 0
    if not keep.all():
        log(f"dropped {int((~keep).sum())} rows whose label is not among params.classes")
    if len(classes) < 2:
        raise JobError(f"target column {target!r} needs at least 2 classes")
    return frame[keep], codes[keep], classes


class TableDataset(torch.utils.data.Dataset):
    """Tensors already on the device; `__getitems__` hands a whole batch to the loader at once."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features = features
        self.labels = labels

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[i], self.labels[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long).to(self.labels.device, non_blocking=True)
        return self.features[index], self.labels[index]


def passthrough(batch: Any) -> Any:
    return batch


def build_model(kind: str, n_in: int, n_out: int, hidden: int, layers: int) -> nn.Sequential:
    if kind == "logreg":
        return nn.Sequential(nn.Linear(n_in, n_out))
    modules: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    modules.append(nn.Linear(width, n_out))
    return nn.Sequential(*modules)


def evaluate(net: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> tuple[int, float]:
    """(number of correct predictions, sum of per-example losses clipped to [0, LOSS_CLIP])."""
    net.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for start in range(0, int(labels.shape[0]), EVAL_CHUNK):
            x, y = features[start : start + EVAL_CHUNK], labels[start : start + EVAL_CHUNK]
            logits = net(x)
            losses = nn.functional.cross_entropy(logits, y, reduction="none").clamp(0.0, LOSS_CLIP)
            correct += int((logits.argmax(dim=1) == y).sum().item())
            loss_sum += float(losses.sum().item())
    net.train()
    return correct, loss_sum


def os_seed() -> int:
    return secrets.randbits(63)


def training_options(job: dict[str, Any], default_model: str) -> dict[str, Any]:
    params: dict[str, Any] = job.get("params") or {}
    epsilon = job.get("epsilon")
    dp = epsilon is not None
    if dp and (isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not epsilon > 0):
        raise JobError("epsilon must be a positive number")
    model = params.get("model", default_model)
    if model not in ("mlp", "logreg"):
        raise JobError("params.model must be 'mlp' or 'logreg'")
    options = {
        "dp": dp,
        "epsilon": float(epsilon) if dp else None,
        "delta": job.get("delta"),
        "seed": int(job.get("seed") or 0),
        "model": model,
        "hidden": number(params, "hidden", 64, minimum=1, integer=True),
        "layers": number(params, "layers", 1, minimum=1, integer=True),
        "epochs": number(params, "epochs", 20, minimum=1, integer=True),
        "batch_size": number(params, "batch_size", 64, minimum=1, integer=True),
        "lr": number(params, "lr", 1e-2 if dp else 1e-3, minimum=0),
        "weight_decay": number(params, "weight_decay", 0.0, minimum=0),
        "test_fraction": number(params, "test_fraction", 0.2, minimum=0),
        "max_grad_norm": number(params, "max_grad_norm", 1.0, minimum=1e-9),
        "metrics_epsilon_fraction": number(params, "metrics_epsilon_fraction", 0.1, minimum=0),
    }
    if options["test_fraction"] >= 1:
        raise JobError("params.test_fraction must be below 1")
    if options["metrics_epsilon_fraction"] >= 1:
        raise JobError("params.metrics_epsilon_fraction must be below 1")
    return options


def pick_device(job: dict[str, Any]) -> torch.device:
    want_cuda = job.get("device") == "cuda"
    if want_cuda and not torch.cuda.is_available():
        log("warning: device 'cuda' requested but no GPU is visible; running on the CPU")
    device = torch.device("cuda" if want_cuda and torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        log(f"device: cuda ({torch.cuda.get_device_name(device)})")
    else:
        log(f"device: cpu ({torch.get_num_threads()} threads)")
    return device


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): a permutation drawn from the job's seed."""
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    if n - n_test < 1:
        raise JobError(f"too few rows ({n}) to train on")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def train_and_evaluate(
    features: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    n_classes: int,
    options: dict[str, Any],
    device: torch.device,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train the classifier (DP-SGD when the job has an epsilon); the model and its metrics."""
    dp, epochs, batch_size = options["dp"], options["epochs"], options["batch_size"]
    x_all = torch.from_numpy(features).to(device)
    y_all = torch.from_numpy(labels).to(device)
    x_train, y_train = (
        x_all[torch.from_numpy(train_idx).to(device)],
        y_all[torch.from_numpy(train_idx).to(device)],
    )
    x_test, y_test = (
        x_all[torch.from_numpy(test_idx).to(device)],
        y_all[torch.from_numpy(test_idx).to(device)],
    )
    del x_all, y_all
    n_train, n_test = len(train_idx), len(test_idx)

    torch.manual_seed(options["seed"])
    net = build_model(options["model"], features.shape[1], n_classes, options["hidden"], options["layers"])
    net = net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=options["lr"], weight_decay=options["weight_decay"])
    criterion = nn.CrossEntropyLoss()

    delta = None
    dp_info: dict[str, Any] = {}
    if dp:
        from opacus import PrivacyEngine

        delta = float(options["delta"]) if options["delta"] else 1e-5
        if delta >= 1.0 / n_train:
            log(f"warning: delta {delta:g} is not small against 1/n_train; the guarantee is weak")
        epsilon_metrics = options["epsilon"] * options["metrics_epsilon_fraction"]
        # Sampling and noise from the OS, never from the job's seed (which the consumer may know).
        torch.manual_seed(os_seed())
        sampling = torch.Generator().manual_seed(os_seed())
        noise = torch.Generator(device=device).manual_seed(os_seed())
        loader = torch.utils.data.DataLoader(
            TableDataset(x_train, y_train), batch_size=batch_size, collate_fn=passthrough, generator=sampling
        )
        engine = PrivacyEngine(accountant="prv")
        model, optimizer, loader = engine.make_private_with_epsilon(
            module=net,
            optimizer=optimizer,
            data_loader=loader,
            # 1% below the share, so that the accountant's upper bound stays within it.
            target_epsilon=(options["epsilon"] - epsilon_metrics) * 0.99,
            target_delta=delta,
            epochs=epochs,
            max_grad_norm=options["max_grad_norm"],
            poisson_sampling=True,
            noise_generator=noise,
        )
        dp_info = {
            "noise_multiplier": float(optimizer.noise_multiplier),
            "sample_rate": float(loader.sample_rate),
            "max_grad_norm": options["max_grad_norm"],
            "accountant": "prv",
        }
        log(
            f"DP-SGD: noise multiplier {optimizer.noise_multiplier:.3f}, sample rate {loader.sample_rate:.5f}"
        )

        def batches() -> Any:
            return iter(loader)

    else:
        model = net
        shuffle = torch.Generator().manual_seed(options["seed"])

        def batches() -> Any:
            order = torch.randperm(n_train, generator=shuffle).to(device)
            for start in range(0, n_train, batch_size):
                index = order[start : start + batch_size]
                yield x_train[index], y_train[index]

    log(f"training {options['model']} for {epochs} epochs (batch size {batch_size}, lr {options['lr']:g})")
    progress(0.0)
    started = time.perf_counter()
    samples = steps = 0
    for epoch in range(epochs):
        running = torch.zeros((), device=device)
        for xb, yb in batches():
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(xb), yb) if len(yb) else model(xb).sum() * 0.0
            loss.backward()
            optimizer.step()
            samples += len(yb)
            steps += 1
            if not dp:
                running += loss.detach() * len(yb)
        if dp:
            # The batch losses of a DP run are not private: they stay out of the logs.
            log(f"epoch {epoch + 1}/{epochs}")
        else:
            log(f"epoch {epoch + 1}/{epochs}: training loss {float(running) / n_train:.4f}")
        progress((epoch + 1) / epochs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started

    train_correct, train_loss_sum = evaluate(net, x_train, y_train)
    test_correct, test_loss_sum = evaluate(net, x_test, y_test) if n_test else (0, 0.0)
    loss_sum, loss_n = (test_loss_sum, n_test) if n_test else (train_loss_sum, n_train)
    accuracy: float | None = test_correct / n_test if n_test else None
    train_accuracy: float | None = train_correct / n_train
    loss_value: float | None = loss_sum / loss_n

    epsilon_spent = None
    if dp:
        epsilon_train = float(engine.accountant.get_epsilon(delta=delta)) if steps else 0.0
        noise_rng = np.random.default_rng(os_seed())
        # Shares of epsilon_metrics: the test accuracy matters most.
        if n_test:
            shares = {"accuracy": 0.5, "train_accuracy": 0.25, "loss": 0.25}
        else:
            shares = {"train_accuracy": 0.5, "loss": 0.5}
        metric_noise: dict[str, float] = {}

        # Laplace mechanism on the counts of correct predictions (sensitivity 1) and on the sum of the
        # per-example losses clipped to [0, LOSS_CLIP] (sensitivity LOSS_CLIP); n_train and n_test follow
        # from the row count, which the dataset's metadata publishes.
        def noisy(key: str, value: float, sensitivity: float, count: int, top: float) -> float:
            scale = sensitivity / (epsilon_metrics * shares[key])
            metric_noise[key] = scale / count
            return min(max((value + noise_rng.laplace(0.0, scale)) / count, 0.0), top)

        if epsilon_metrics > 0:
            train_accuracy = noisy("train_accuracy", train_correct, 1.0, n_train, 1.0)
            if n_test:
                accuracy = noisy("accuracy", test_correct, 1.0, n_test, 1.0)
            loss_value = noisy("loss", loss_sum, LOSS_CLIP, loss_n, LOSS_CLIP)
        else:
            # No share of epsilon for the metrics: release none of them rather than exact values.
            accuracy = train_accuracy = loss_value = None
        epsilon_spent = epsilon_train + epsilon_metrics
        if epsilon_spent > options["epsilon"] + 1e-9:
            raise RuntimeError(
                f"epsilon spent {epsilon_spent} exceeds the job's epsilon {options['epsilon']}"
            )
        dp_info.update(
            {
                "epsilon_train": epsilon_train,
                "epsilon_metrics": epsilon_metrics,
                "metrics_noise_scale": metric_noise,
            }
        )

    metrics = {
        "accuracy": accuracy,
        "train_accuracy": train_accuracy,
        "loss": loss_value,
        "n_train": n_train,
        "n_test": n_test,
        "n_features": int(features.shape[1]),
        "n_classes": n_classes,
        "epochs": epochs,
        "steps": steps,
        "model": options["model"],
        "dp": dp,
        "epsilon_spent": epsilon_spent,
        "delta": delta,
        "device": device.type,
        "seconds": round(seconds, 4),
        "samples_per_second": samples / seconds if seconds > 0 else None,
    }
    if dp:
        metrics["dp_details"] = dp_info
    return net, metrics


def layer_sizes(options: dict[str, Any], n_in: int, n_out: int) -> list[int]:
    return [n_in] + ([options["hidden"]] * options["layers"] if options["model"] == "mlp" else []) + [n_out]


def write_outputs(
    out_dir: Path, net: nn.Module, description: dict[str, Any], metrics: dict[str, Any]
) -> None:
    """model.safetensors (the weights; metadata "datamarket": the description as JSON) and metrics.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
    save_file(weights, str(out_dir / "model.safetensors"), metadata={"datamarket": json.dumps(description)})
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", "utf-8")
    shown = "n/a" if metrics["accuracy"] is None else f"{metrics['accuracy']:.4f}"
    spent = f", epsilon spent {metrics['epsilon_spent']:.4f}" if metrics["dp"] else ""
    log(f"done: test accuracy {shown}{spent}")


def run(main: Any) -> None:
    try:
        code = main()
    except JobError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        code = 2
    sys.exit(code)


# <<< shared training core <<<


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
