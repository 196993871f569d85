"""The training core that the built-ins `train_tabular` and `text_classifier` share.

Not an algorithm itself: a module staged beside the entry script, as /job/algorithm/_training.py next to
/job/algorithm/main.py (datamarket/builtins.py, `stage`), which imports it by name (`from _training
import ...`). Like the scripts it imports nothing from the repository: the standard library, numpy, pandas,
torch, safetensors, opacus for DP runs, and _job (the job interface every built-in shares, staged beside it
too). See docs/compute.md, "The algorithm interface".

It reads the job (roots, params.json, the table), checks the training options, picks the device, splits
the rows with the job's seed, trains an MLP or a logistic regression (DP-SGD with Opacus when the job has an
epsilon, the released metrics then carrying Laplace noise), and writes model.safetensors and metrics.json.
"""

from __future__ import annotations

import json
import math
import secrets
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from _job import JobError, log, number, progress, resolve_file, value_key
from safetensors.torch import save_file
from torch import nn

COUNT_EPSILON_FRACTION = 0.05  # the share of a DP job's epsilon spent on its noisy row count
LOSS_CLIP = 5.0  # per-example cross-entropy is clipped to [0, LOSS_CLIP] for the DP release of the loss
EVAL_CHUNK = 65536

# Opacus and torch warnings that say nothing about the job (the noise comes from OS-seeded generators).
warnings.filterwarnings("ignore", message="Secure RNG turned off")
warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
warnings.filterwarnings("ignore", message="Full backward hook is firing")


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


def jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def declared_classes(declared: dict[str, Any], target: str) -> list[Any]:
    """The target's classes: its declared values, never the labels found in the data."""
    return list(declared["columns"][target]["values"])


def encode_target(frame: pd.DataFrame, target: str, classes: list[Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """(the rows whose label is a declared class, their class indices). The other rows (a missing
    label, a label outside the declaration) are dropped silently: a count of them, anywhere, would
    tell who is in the data."""
    index = {value_key(c): i for i, c in enumerate(classes)}
    codes = np.fromiter(
        (index.get(value_key(v), -1) if pd.notna(v) else -1 for v in frame[target].to_numpy()),
        dtype=np.int64,
        count=len(frame),
    )
    keep = codes >= 0
    return frame[keep], codes[keep]


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
    if options["metrics_epsilon_fraction"] >= 1 - COUNT_EPSILON_FRACTION:
        raise JobError(f"params.metrics_epsilon_fraction must be below {1 - COUNT_EPSILON_FRACTION}")
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
        raise JobError("too few rows to train on")
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
    """Train the classifier (DP-SGD when the job has an epsilon); the model and its metrics.

    With an epsilon nothing exact leaves: the row count is released with Laplace noise (a share
    COUNT_EPSILON_FRACTION of epsilon), and everything that would depend on the exact count (the
    Poisson sample rate, the number of steps, the gradient's averaging, the metrics' denominators) uses
    the noisy count instead; metrics.json carries no n_train or n_test, only the noisy row count."""
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
        from opacus.accountants.utils import get_noise_multiplier
        from opacus.data_loader import DPDataLoader

        delta = float(options["delta"]) if options["delta"] else 1e-5
        epsilon_count = options["epsilon"] * COUNT_EPSILON_FRACTION
        epsilon_metrics = options["epsilon"] * options["metrics_epsilon_fraction"]
        epsilon_train_share = options["epsilon"] - epsilon_count - epsilon_metrics
        noise_rng = np.random.default_rng(os_seed())
        # The noisy row count (Laplace, sensitivity 1), and the split's sizes derived from it.
        rows = max(float(n_train + n_test) + noise_rng.laplace(0.0, 1.0 / epsilon_count), 2.0)
        rows_test = rows * options["test_fraction"] if n_test else 0.0
        rows_train = rows - rows_test
        # Sampling and noise from the OS, never from the job's seed (which the consumer may know).
        torch.manual_seed(os_seed())
        sampling = torch.Generator().manual_seed(os_seed())
        noise = torch.Generator(device=device).manual_seed(os_seed())
        # As many steps an epoch as batches of batch_size in the noisy row count (rounded up), each row
        # drawn with probability 1 / steps: Opacus' own choice for a plain loader, minus the exact count.
        steps_per_epoch = max(1, math.ceil(rows_train / batch_size))
        loader = DPDataLoader(
            TableDataset(x_train, y_train),
            sample_rate=1.0 / steps_per_epoch,
            collate_fn=passthrough,
            generator=sampling,
        )
        noise_multiplier = get_noise_multiplier(
            # 1% below the share, so that the accountant's upper bound stays within it.
            target_epsilon=epsilon_train_share * 0.99,
            target_delta=delta,
            sample_rate=1 / len(loader),
            epochs=epochs,
            accountant="prv",
        )
        engine = PrivacyEngine(accountant="prv")
        model, optimizer, loader = engine.make_private(
            module=net,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=noise_multiplier,
            max_grad_norm=options["max_grad_norm"],
            poisson_sampling=False,  # the loader above already samples (Poisson) at the public rate
            noise_generator=noise,
        )
        # Opacus would average by a batch size derived from the exact row count: use the noisy one.
        optimizer.expected_batch_size = max(1, round(rows_train / steps_per_epoch))
        dp_info = {
            "noise_multiplier": float(noise_multiplier),
            "sample_rate": 1 / len(loader),
            "max_grad_norm": options["max_grad_norm"],
            "accountant": "prv",
        }
        log(f"DP-SGD: noise multiplier {noise_multiplier:.3f}, sample rate {1 / len(loader):.5f}")

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
        # Shares of epsilon_metrics: the test accuracy matters most.
        if n_test:
            shares = {"accuracy": 0.5, "train_accuracy": 0.25, "loss": 0.25}
        else:
            shares = {"train_accuracy": 0.5, "loss": 0.5}
        metric_noise: dict[str, float] = {}

        # Laplace mechanism on the counts of correct predictions (sensitivity 1) and on the sum of the
        # per-example losses clipped to [0, LOSS_CLIP] (sensitivity LOSS_CLIP), divided by the noisy
        # number of rows they are over (post-processing: the exact count never enters).
        def noisy(key: str, value: float, sensitivity: float, count: float, top: float) -> float:
            scale = sensitivity / (epsilon_metrics * shares[key])
            metric_noise[key] = scale
            return min(max((value + noise_rng.laplace(0.0, scale)) / count, 0.0), top)

        if epsilon_metrics > 0:
            train_accuracy = noisy("train_accuracy", train_correct, 1.0, rows_train, 1.0)
            if n_test:
                accuracy = noisy("accuracy", test_correct, 1.0, rows_test, 1.0)
            loss_value = noisy("loss", loss_sum, LOSS_CLIP, rows_test if n_test else rows_train, LOSS_CLIP)
        else:
            # No share of epsilon for the metrics: release none of them rather than exact values.
            accuracy = train_accuracy = loss_value = None
        epsilon_spent = epsilon_count + epsilon_train + epsilon_metrics
        if epsilon_spent > options["epsilon"] + 1e-9:
            raise RuntimeError("the epsilon spent exceeds the job's epsilon")
        dp_info.update(
            {
                "epsilon_count": epsilon_count,
                "epsilon_train": epsilon_train,
                "epsilon_metrics": epsilon_metrics,
                "count_noise_scale": 1.0 / epsilon_count,
                "metrics_noise_scale": metric_noise,
            }
        )

    metrics: dict[str, Any] = {
        "accuracy": accuracy,
        "train_accuracy": train_accuracy,
        "loss": loss_value,
        "n_features": int(features.shape[1]),
        "n_classes": n_classes,
        "epochs": epochs,
        "steps": steps,
        "model": options["model"],
        "dp": dp,
        "epsilon_spent": epsilon_spent,
        "delta": delta,
        "device": device.type,
        # Under DP in whole seconds: the training time follows the row count (as the status's
        # timings do, which are whole seconds too).
        "seconds": float(math.ceil(seconds)) if dp else round(seconds, 4),
    }
    if dp:
        # A noisy count only (its epsilon is part of epsilon_spent); the number of samples drawn
        # would give the exact count away, so neither it nor a rate of it is released.
        metrics["rows_noisy"] = round(rows, 1)
        metrics["dp_details"] = dp_info
    else:
        rate = samples / seconds if seconds > 0 else None
        metrics.update(n_train=n_train, n_test=n_test, samples_per_second=rate)
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
