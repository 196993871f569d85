"""A built :class:`RawIndex` as one file, so that the child process that builds it can hand it to
the worker (:mod:`.index_process`).

The file is an uncompressed NumPy ``.npz`` read with ``allow_pickle=False``: the pattern arrays, the
numeric tables, the anchor tables already sorted (the worker only rebuilds their bitmaps) and a
``meta`` member holding JSON (names, counts, the vocabulary in id order). Loading it gives an index
equal to the one saved, array for array.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .hashing import _HashTable
from .raw_index import RawIndex, _NumericTable

FORMAT = 1
_META = "meta"


def save(index: RawIndex, path: Path) -> None:
    """Write ``index`` to ``path`` (a new file)."""
    arrays: dict[str, np.ndarray] = {}
    for key, values in index._patterns.items():
        arrays[f"pattern.{key}"] = values
    for i, table in enumerate(index._numeric):
        arrays[f"numeric.{i}.high"] = table.high
        arrays[f"numeric.{i}.values"] = table.values
    for k, anchors in index._anchors.items():
        arrays[f"anchor.{k}.hashes"] = anchors.hashes
        arrays[f"anchor.{k}.refs"] = anchors.refs
    meta = {
        "format": FORMAT,
        "run_length": index.run_length,
        "min_column_cardinality": index.min_column_cardinality,
        "sources": index.sources,
        "skipped": index.skipped,
        "rows_indexed": index.rows_indexed,
        "truncated": index.truncated,
        "vocab": list(index._vocab),  # ids are given in insertion order: 0, 1, 2...
        "header_tokens": sorted(index._header_tokens),
        "columns": index._columns,
        "numeric_cells": index._numeric_cells,
        "numeric": [{"source": t.source, "columns": t.columns} for t in index._numeric],
        "anchors": sorted(index._anchors),
        "patterns": list(index._patterns),
    }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "xb") as f:
        np.savez(f, **arrays)


def load(path: Path) -> RawIndex:
    """The index saved in ``path``; ValueError when the file is not one :func:`save` wrote."""
    with np.load(path, allow_pickle=False) as data:
        meta: dict[str, Any] = json.loads(data[_META].tobytes())
        if meta.get("format") != FORMAT:
            raise ValueError("not a raw-row index file of this version")
        index = RawIndex(run_length=meta["run_length"], min_column_cardinality=meta["min_column_cardinality"])
        index.sources = meta["sources"]
        index.skipped = meta["skipped"]
        index.rows_indexed = meta["rows_indexed"]
        index.truncated = meta["truncated"]
        index._vocab = {token: i for i, token in enumerate(meta["vocab"])}
        index._header_tokens = set(meta["header_tokens"])
        index._drop = frozenset(index._header_tokens - index._vocab.keys())
        index._columns = meta["columns"]
        index._numeric_cells = meta["numeric_cells"]
        index._numeric = [
            _NumericTable(
                source=t["source"],
                columns=t["columns"],
                high=data[f"numeric.{i}.high"],
                values=data[f"numeric.{i}.values"],
            )
            for i, t in enumerate(meta["numeric"])
        ]
        patterns = {key: data[f"pattern.{key}"] for key in meta["patterns"]}
        index._patterns = patterns
        index._parts = [patterns] if len(patterns["hash"]) else []
        index._npatterns = len(patterns["hash"])
        index._anchors = {
            k: _HashTable(data[f"anchor.{k}.hashes"], data[f"anchor.{k}.refs"], presorted=True)
            for k in meta["anchors"]
        }
    return index


__all__ = ["FORMAT", "load", "save"]
