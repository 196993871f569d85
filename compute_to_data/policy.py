"""The output policy: whether a finished job's outputs (and logs) may be released (docs/compute.md).

:func:`check_outputs` walks the job's ``/out`` and returns a :class:`Verdict`. The first violation
found wins (files in sorted path order, then the epsilon declaration, then the logs); a rejected
verdict names the file, the kind of match, the input row and column, and never the data itself.

File rules
----------
- Only regular files and directories. Symlinks, hard links (``st_nlink > 1``), fifos, sockets and
  devices are ``special_file``. Directories count towards ``max_files`` like files do.
- Output paths are scanned for raw rows too (a match is reported without the path).
- Allowed, checked by extension *and* content: ``.safetensors`` (header length, strict JSON header,
  every tensor's dtype, shape and offsets consistent, the tensors tiling the data area with no gap or
  trailing bytes), ``.onnx`` (a ModelProto whose first byte is the ``ir_version`` tag 0x08, and
  ``onnx.checker`` when the ``onnx`` package is importable), ``.json`` (strict: no NaN or Infinity,
  no duplicate keys, UTF-8), ``.csv`` (UTF-8, at most ``csv_rows`` records after the header),
  ``.txt``/``.md`` (UTF-8). Anything else is ``file_type_not_allowed``.
- Pickles are ``pickle_not_allowed`` whatever their name: the pickle magic (0x80 then protocol 2..5),
  a zip holding a ``*.pkl`` member (``torch.save``), a ``.npy`` with object dtype, and every
  ``.pkl``/``.pickle``/``.pt``/``.pth``/``.joblib`` by name.
- With ``dp_required``, ``metrics.json`` at the top of ``/out`` must hold a finite number
  ``epsilon_spent`` (>= 0) at most the job's epsilon (+1e-9).

The raw-row scan
----------------
:class:`RawIndex` is built on the host from the job's decrypted input files before the run. CSV/TSV
(and Parquet, JSON Lines) files are tables whose cells are all read as strings; any other text file
is one column whose rows are its non-empty lines; binary files are skipped.

A cell is normalized by lower-casing and splitting it into tokens on whitespace and
``, ; | " ' [ ] { } ( ) : =`` (so a cell may be several tokens, and an empty one none). A token that
parses as a finite float is written canonically: rounded to 6 decimals (what pandas prints), integers
without ``.0`` and other values as ``repr(float)``, so ``"5.10" == "5.1"`` and ``"7" == "7.0"``. Null
spellings (``nan``, ``none``, ``null``, ``na``, ``n/a``, ``<na>``, ``nat``) are no tokens. Outputs are
turned into the same token stream: text files and logs whole; JSON by a depth-first walk (array items
in order, each key then its value; strings are tokenized, numbers canonical), scanned twice, with
and without the keys, so that ``to_json(orient="records"/"columns")`` dumps are caught too;
safetensors by their tensor names and ``__metadata__``; ONNX by its printable strings. Tokens that
are only ever column names (never a cell value) are dropped from the stream, so a row printed as
``{"age": 34, "city": "paris"}`` or as a pandas ``Series`` is contiguous again. Then:

- a *row match* is every token of one input row, in order, contiguous in the stream: a row printed as
  a Python list, a CSV line, a JSON array or a ``DataFrame.to_string()`` line (the index in front is
  just one more token before the row). Rows need two non-empty cells, one of them in a
  high-cardinality column, and either three tokens or two high-cardinality cells: a row made only
  of low-cardinality values (``male, yes, 2``) is a category combination, not a record, and matching
  it would refuse ordinary group-by tables. One-column rows match only for text datasets (lines of
  at least 20 characters), and for cells of at least 20 characters that occur once in a
  high-cardinality column (free text such as reviews, e-mail addresses);
- a *run* is ``run_length`` consecutive non-empty values of one high-cardinality column, in input
  order, contiguous in the stream. Runs with fewer than ``run_length / 2`` distinct values and
  arithmetic progressions (row numbers, ids 1, 2, 3...) are not records and do not count.

A column is high-cardinality with at least ``min_column_cardinality`` distinct normalized values,
or, for tables of fewer than ``2 * min_column_cardinality`` rows, at least half as many as rows (and
at least 3), so that tiny datasets are protected too.

Float tensors (safetensors F32/F64, and the bytes of an ONNX file read as little-endian float32 at
each of the four alignments) are searched, best effort, for a window of up to 4 consecutive numeric
cells of an input row and for ``run_length`` consecutive values of a high-cardinality numeric column,
compared bit for bit after conversion to the tensor's dtype (windows of only 0/1/-1, fewer than two
distinct values, arithmetic progressions, or with no high-cardinality cell are ignored). ``U8``/``I8``
tensors are also read as Latin-1 text and scanned as tokens (raw CSV bytes smuggled as a tensor).

Matching uses hashing throughout: every pattern (row, run, line) has a 64-bit polynomial hash of its
token ids and an anchor (a hash of up to four of its tokens); a stream's window hashes are computed
with numpy prefix sums, anchors are looked up (a bitmap, then ``searchsorted``) and candidate windows
compared by their full hash. Building the index is linear in the cells; a scan is linear in the tokens.

What the scan cannot see (this is why DP exists): anything not verbatim. Paraphrased or reordered
cells, a subset of a row's cells, rows split across lines (wide ``DataFrame`` printouts wrapped or
elided with ``...``), floats printed with fewer digits than 6 decimals or in scientific notation by
a formatter, scaled/standardized/encoded values (one-hot, label encoding, embeddings), any encoding
or compression (base64, hex, zlib, bits hidden in weights), Python literals where keys interleave
values of several rows (``print(df.to_dict())``), float16/bfloat16 and integer tensors, ONNX data
stored outside float32 raw data, and anything beyond the caps below (indexed rows, numeric cells,
tensor elements scanned). Hash collisions can only cause false positives, never misses. The scan is a
safety net against accidental leaks (``print(df.head())``, ``to_csv`` of the training set, saving
``X_train``), not a guarantee against a malicious algorithm.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import math
import os
import re
import stat
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamarket.auth import canonical_json

KiB = 1024
MiB = 1024 * KiB

#: Patterns of one index at most (row, run, line and cell patterns together); beyond, the rest of
#: the input is not indexed and :attr:`RawIndex.truncated` is set.
MAX_PATTERNS = 8_000_000
#: Numeric cells kept for the tensor search (8 bytes each).
MAX_NUMERIC_CELLS = 16_000_000
#: Tensor patterns (row windows and column runs) per dtype.
MAX_TENSOR_PATTERNS = 8_000_000
#: Float elements searched per :func:`check_outputs` call, all tensors together, in file order.
TENSOR_SCAN_BUDGET = 32_000_000
#: ``U8``/``I8`` tensor bytes read as text, per tensor.
BYTE_TENSOR_TEXT_MAX = 16 * MiB
#: The safetensors header may not exceed this (the safetensors library's own limit).
SAFETENSORS_HEADER_MAX = 100_000_000
#: Byte size of each safetensors dtype.
SAFETENSORS_DTYPES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".pt", ".pth", ".joblib"})
TEXT_SUFFIXES = frozenset({".txt", ".md"})
ALLOWED_SUFFIXES = frozenset({".safetensors", ".onnx", ".json", ".csv"}) | TEXT_SUFFIXES
METRICS_FILE = "metrics.json"
#: JSON nested deeper than this (arrays and objects) is refused as invalid.
MAX_JSON_DEPTH = 128
EPSILON_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PolicyLimits:
    """Caps of the output policy. ``run_length`` and ``min_column_cardinality`` are used when a
    :class:`RawIndex` is built (pass the same limits to :meth:`RawIndex.from_files`)."""

    total_bytes: int = 256 * MiB
    json_bytes: int = 1 * MiB
    csv_bytes: int = 1 * MiB
    csv_rows: int = 1000
    text_bytes: int = 256 * KiB
    max_files: int = 64
    run_length: int = 8
    min_column_cardinality: int = 20


@dataclass(frozen=True)
class Verdict:
    """The policy's answer. ``code`` is one of ``file_type_not_allowed``, ``pickle_not_allowed``,
    ``output_too_large``, ``too_many_files``, ``special_file``, ``invalid_json``,
    ``invalid_safetensors``, ``csv_too_large``, ``raw_rows_in_output``, ``raw_rows_in_logs``,
    ``epsilon_not_declared``, ``epsilon_exceeded``; ``file`` is the offending output's path relative
    to ``/out`` (None for the logs and the job as a whole). ``details`` holds what a job record may
    show (for raw-row matches: the kind of match, input file, row index and column), never data."""

    ok: bool
    code: str | None = None
    message: str | None = None
    file: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def accept(cls) -> Verdict:
        return cls(ok=True)

    @classmethod
    def reject(
        cls, code: str, message: str, file: str | None = None, details: Mapping[str, Any] | None = None
    ) -> Verdict:
        return cls(ok=False, code=code, message=message, file=file, details=dict(details or {}))


# --------------------------------------------------------------------------------------------------
# Tokens

_SPLIT = re.compile(r"[\s,;|\"'\[\]{}():=]+")
_SEPARATOR = re.compile(r"[\s,;|\"'\[\]{}():=]")
_NULL_TOKENS = frozenset({"", "nan", "-nan", "+nan", "none", "null", "na", "n/a", "<na>", "nat"})
_NUMERIC_START = frozenset("0123456789+-.")
_WRAPPERS = ("np.", "numpy.")


def canonical_number(value: float) -> str | None:
    """The canonical token of a number (None when it is not finite)."""
    try:
        value = float(value)
    except OverflowError:  # an int too large for a float
        return str(value)
    if not math.isfinite(value):
        return None
    value = round(value, 6)
    if value.is_integer():
        return str(int(value))
    return repr(value)


@functools.lru_cache(maxsize=1 << 18)
def _normalize_lowered(token: str) -> str:
    if token.startswith(_WRAPPERS):  # np.int64(5) as NumPy 2 prints scalars: only the 5 counts
        return ""
    if token and token[0] in _NUMERIC_START:
        try:
            value = float(token)
        except ValueError:
            return token
        canonical = canonical_number(value)
        if canonical is not None:
            return canonical
    return token


def normalize_token(token: str) -> str:
    """One token (no separators inside) normalized: stripped, lower-cased, numbers canonical."""
    return _normalize_lowered(token.strip().lower())


def tokenize(text: str) -> list[str]:
    """The normalized tokens of a text, null spellings dropped."""
    out = []
    for raw in _SPLIT.split(text.lower()):
        if raw:
            token = _normalize_lowered(raw)
            if token not in _NULL_TOKENS:
                out.append(token)
    return out


def _json_tokens(value: Any, *, keys: bool) -> list[str]:
    """Depth-first tokens of a parsed JSON value: arrays in order, objects key then value."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.extend(tokenize(item))
        elif isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float):
            canonical = canonical_number(item)
            if canonical is not None:
                out.append(canonical)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            for key, sub in reversed(list(item.items())):
                stack.append(sub)
                if keys:
                    stack.append(key)
    return out


# --------------------------------------------------------------------------------------------------
# Hashing: token ids are mixed (splitmix64, a bijection) and combined as sum(m[i] * B**i) mod 2**64.

_U64 = np.uint64
_BASE = 0x9E3779B97F4A7C15 | 1
_BASE_INV = pow(_BASE, -1, 1 << 64)
_UNKNOWN = 1 << 62  # the id of a stream token that is no input token
_MIX_ADD = _U64(0x632BE59BD9B4E019)
_MIX_C1 = _U64(0xBF58476D1CE4E5B9)
_MIX_C2 = _U64(0x94D049BB133111EB)
_S30, _S27, _S31 = _U64(30), _U64(27), _U64(31)


def _mix(ids: np.ndarray) -> np.ndarray:
    z = ids.astype(_U64) + _MIX_ADD
    z = (z ^ (z >> _S30)) * _MIX_C1
    z = (z ^ (z >> _S27)) * _MIX_C2
    return z ^ (z >> _S31)


class _Powers:
    """B**i and B**-i mod 2**64, grown on demand."""

    def __init__(self) -> None:
        self.pw = np.ones(1, dtype=_U64)
        self.ipw = np.ones(1, dtype=_U64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pw) < n:
            size = max(n, 2 * len(self.pw), 1024)
            pw = np.empty(size, dtype=_U64)
            ipw = np.empty(size, dtype=_U64)
            pw[0] = ipw[0] = 1
            pw[1:] = _U64(_BASE)
            ipw[1:] = _U64(_BASE_INV)
            np.cumprod(pw, out=pw)
            np.cumprod(ipw, out=ipw)
            self.pw, self.ipw = pw, ipw
        return self.pw, self.ipw


_POWERS = _Powers()


def _segment_hashes(mixed: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Hashes of disjoint, consecutive, non-empty segments that tile ``mixed``."""
    pw, _ = _POWERS.get(int(lengths.max()) + 1)
    local = np.arange(len(mixed), dtype=np.int64) - np.repeat(starts, lengths)
    return np.add.reduceat(mixed * pw[local], starts)


def _anchor_hashes(mixed: np.ndarray, starts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Hashes of ``mixed[starts[i] : starts[i] + k[i]]`` for k <= 4."""
    pw, _ = _POWERS.get(5)
    out = np.zeros(len(starts), dtype=_U64)
    for t in range(4):
        valid = t < k
        idx = np.where(valid, starts + t, 0)
        out += np.where(valid, mixed[idx] * pw[t], _U64(0))
    return out


def _sliding_hashes(mixed: np.ndarray, width: int) -> np.ndarray:
    """Hash of every window of ``width`` items (len(mixed) - width + 1 of them)."""
    pw, _ = _POWERS.get(width)
    n = len(mixed) - width + 1
    out = mixed[:n].copy()
    for t in range(1, width):
        out += mixed[t : t + n] * pw[t]
    return out


class _HashTable:
    """Sorted 64-bit hashes (each with a reference) behind a bitmap of their top bits, so that most
    needles are dismissed by one gather before the binary search."""

    def __init__(self, hashes: np.ndarray, refs: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.refs = refs[order]
        bits = min(26, max(16, math.ceil(math.log2(max(len(hashes), 1) * 16))))
        self.shift = _U64(64 - bits)
        self.bitmap = np.zeros(1 << bits, dtype=bool)
        self.bitmap[self.hashes >> self.shift] = True

    def lookup(self, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices of the needles found, lo, hi): ``hashes[lo:hi]`` equal each found needle."""
        candidates = np.nonzero(self.bitmap[needles >> self.shift])[0]
        values = needles[candidates]
        lo = np.searchsorted(self.hashes, values, "left")
        hi = np.searchsorted(self.hashes, values, "right")
        hit = hi > lo
        return candidates[hit], lo[hit], hi[hit]


def _float_bits(values: np.ndarray) -> np.ndarray:
    """Bit patterns (as uint64) of float32/float64 values, -0.0 counted as 0.0."""
    if values.dtype == np.float32:
        return (values + np.float32(0.0)).view(np.uint32).astype(_U64)
    return (values.astype(np.float64) + 0.0).view(_U64)


# --------------------------------------------------------------------------------------------------
# The index

_ROW, _RUN, _LINE, _CELL = 0, 1, 2, 3
_KIND_NAMES = {_ROW: "row", _RUN: "run", _LINE: "line", _CELL: "cell"}
_TENSOR_ROW, _TENSOR_RUN = 0, 1
_CHUNK_ROWS = 200_000
_PAIR_CHUNK = 1 << 21


@dataclass(frozen=True)
class RawMatch:
    """Where input data was found: ``kind`` is ``row``, ``run``, ``line``, ``cell``, ``tensor_row``
    or ``tensor_run``; ``source`` the input file's name, ``row`` the input row (the first one of a
    run; for text files the index of the non-empty line), ``column`` the column (None for a row),
    ``position`` the token (or tensor element) where the match starts."""

    kind: str
    source: str
    row: int
    column: str | None
    position: int

    def describe(self) -> str:
        where = f"{self.source} row {self.row}"
        if self.kind in ("row", "tensor_row"):
            what = "the cells of an input row"
            if self.kind == "tensor_row":
                what = f"numeric cells of an input row (from column {self.column!r})"
            return f"{what} ({where})"
        if self.kind == "line":
            return f"an input line ({where})"
        if self.kind == "cell":
            return f"a unique input cell of column {self.column!r} ({where})"
        return f"a run of consecutive values of column {self.column!r} ({self.source} from row {self.row})"

    def details(self) -> dict[str, Any]:
        return {"match": self.kind, "source": self.source, "row": self.row, "column": self.column}


@dataclass
class _Column:
    """One column's distinct cell values, already tokenized."""

    codes: np.ndarray  # cell -> unique index
    ntok: np.ndarray  # unique -> number of tokens
    single: np.ndarray  # unique -> its token id when it has exactly one token, else -1
    multi: dict[int, tuple[int, ...]]  # unique -> token ids, when it has two or more
    group: np.ndarray  # unique -> id of its normalized value (-1 when null)
    number: np.ndarray  # unique -> float value (NaN when null or not a number)
    numeric: bool  # every non-null value is a number
    cardinality: int
    long_all: np.ndarray  # unique indices of values of >= 20 characters
    long_unique: np.ndarray  # those that occur once


@dataclass
class _NumericTable:
    source: int
    columns: list[int]  # global column indices
    high: np.ndarray  # bool per column
    values: np.ndarray  # rows x columns, NaN where null


class RawIndex:
    """The input rows, runs and lines of a job's dataset, hashed for :func:`check_outputs`."""

    def __init__(self, *, run_length: int = 8, min_column_cardinality: int = 20) -> None:
        if run_length < 2:
            raise ValueError("run_length must be at least 2")
        self.run_length = run_length
        self.min_column_cardinality = min_column_cardinality
        #: Input file names, indexed by ``source``.
        self.sources: list[str] = []
        #: Files that were not indexed (binary) and why.
        self.skipped: list[str] = []
        #: Rows (CSV rows, text lines) read.
        self.rows_indexed = 0
        #: Whether a cap (``max_rows``, patterns, numeric cells) cut the index short.
        self.truncated = False
        self._vocab: dict[str, int] = {}
        self._header_tokens: set[str] = set()
        self._drop: frozenset[str] = frozenset()
        self._columns: list[str] = []
        self._parts: list[dict[str, np.ndarray]] = []
        self._npatterns = 0
        self._numeric: list[_NumericTable] = []
        self._numeric_cells = 0
        self._tensor_tables: dict[str, dict[int, _HashTable]] = {}
        self._tensor_refs: dict[str, dict[str, np.ndarray]] = {}
        self._finish()

    # -- building ----------------------------------------------------------------------------------

    @classmethod
    def from_files(
        cls, paths: Iterable[Path], *, max_rows: int = 2_000_000, limits: PolicyLimits | None = None
    ) -> RawIndex:
        """Index the job's input files (in the given order, up to ``max_rows`` rows in all)."""
        limits = limits or PolicyLimits()
        index = cls(run_length=limits.run_length, min_column_cardinality=limits.min_column_cardinality)
        for path in paths:
            path = Path(path)
            remaining = max_rows - index.rows_indexed
            if remaining <= 0:
                index.truncated = True
                break
            if not path.is_file():
                index.skipped.append(f"{path.name}: not a regular file")
                continue
            table = _read_table(path, remaining)
            if table is None:
                lines = _read_lines(path, remaining)
                if lines is None:
                    index.skipped.append(f"{path.name}: binary")
                    continue
                table = pd.DataFrame({"line": lines}, dtype=object)
                index._add_table(path.name, table, text=True)
            else:
                index._add_table(path.name, table)
            if index.rows_indexed >= max_rows:
                index.truncated = True
        index._finish()
        return index

    def _add_table(self, name: str, table: pd.DataFrame, *, text: bool = False) -> None:
        """Index one table whose cells are strings (``text``: a text file, one column of lines);
        ``_finish`` must follow."""
        source = len(self.sources)
        self.sources.append(name)
        nrows, ncols = table.shape
        self.rows_indexed += nrows
        if nrows == 0 or ncols == 0:
            return
        names = ["line"] if text else [str(c) for c in table.columns]
        if not text:
            for column_name in names:
                self._header_tokens.update(tokenize(column_name))
        first_column = len(self._columns)
        self._columns.extend(names)
        threshold = self._cardinality_threshold(nrows)
        columns = [self._column(table.iloc[:, j]) for j in range(ncols)]
        lengths = np.stack([c.ntok[c.codes] for c in columns], axis=1)  # rows x cols
        high = np.array([c.cardinality >= threshold for c in columns])
        if ncols >= 2:
            self._add_rows(source, columns, lengths, high)
        for j, column in enumerate(columns):
            if high[j]:
                self._add_runs(source, first_column + j, column, lengths[:, j])
            if text:
                self._add_cells(source, -1, column, _LINE, column.long_all)
            elif high[j] and len(column.long_unique):
                self._add_cells(source, first_column + j, column, _CELL, column.long_unique)
        self._add_numeric(source, first_column, columns, high, nrows)

    def _cardinality_threshold(self, nrows: int) -> int:
        return max(3, min(self.min_column_cardinality, math.ceil(nrows / 2)))

    def _column(self, series: pd.Series) -> _Column:
        codes, uniques = pd.factorize(series, sort=False)
        values = [u if isinstance(u, str) else str(u) for u in uniques.tolist()]
        if (codes < 0).any():  # missing values (Parquet, JSON Lines): one more unique, null
            codes = np.where(codes < 0, len(values), codes)
            values.append("")
        n = len(values)
        ntok = np.zeros(n, dtype=np.int64)
        single = np.full(n, -1, dtype=np.int64)
        group = np.full(n, -1, dtype=np.int64)
        number = np.full(n, np.nan)
        multi: dict[int, tuple[int, ...]] = {}
        groups: dict[Any, int] = {}
        vocab = self._vocab
        numeric = True
        long_candidates = []
        for u, value in enumerate(values):
            low = value.strip().lower()
            if not low:
                continue
            parsed = math.nan
            if _SEPARATOR.search(low) is None:  # the usual case: one token
                token = low
                if low[0] in _NUMERIC_START:
                    with contextlib.suppress(ValueError):
                        parsed = float(low)
                    token = canonical_number(parsed) or low
                token = _normalize_lowered(token) if math.isnan(parsed) else token
                if token in _NULL_TOKENS:
                    continue
                token_id = vocab.setdefault(token, len(vocab))
                ntok[u] = 1
                single[u] = token_id
                group[u] = groups.setdefault(token_id, len(groups))
            else:
                ids = tuple(vocab.setdefault(t, len(vocab)) for t in tokenize(low))
                if not ids:
                    continue
                ntok[u] = len(ids)
                if len(ids) == 1:
                    single[u] = ids[0]
                    group[u] = groups.setdefault(ids[0], len(groups))
                else:
                    multi[u] = ids
                    group[u] = groups.setdefault(ids, len(groups))
            if math.isfinite(parsed):
                number[u] = parsed
            else:
                numeric = False
                if len(low) >= 20 and any(ch.isalpha() for ch in low):
                    long_candidates.append(u)
        codes = np.asarray(codes, dtype=np.int64)
        long_all = np.asarray(long_candidates, dtype=np.int64)
        long_unique = long_all
        if len(long_all):
            long_unique = long_all[np.bincount(codes, minlength=n)[long_all] == 1]
        return _Column(
            codes=codes,
            ntok=ntok,
            single=single,
            multi=multi,
            group=group,
            number=number,
            numeric=numeric and bool(groups),
            cardinality=len(groups),
            long_all=long_all,
            long_unique=long_unique,
        )

    def _fill(self, flat: np.ndarray, positions: np.ndarray, column: _Column, uniques: np.ndarray) -> None:
        """Write the tokens of cells ``uniques`` (unique indices) at ``positions`` of ``flat``."""
        single = column.single[uniques]
        ones = single >= 0
        flat[positions[ones]] = single[ones]
        if column.multi:
            for i in np.nonzero(column.ntok[uniques] >= 2)[0]:
                ids = column.multi[int(uniques[i])]
                flat[positions[i] : positions[i] + len(ids)] = ids

    def _add_patterns(self, **arrays: np.ndarray) -> None:
        count = len(arrays["hash"])
        if count == 0:
            return
        room = MAX_PATTERNS - self._npatterns
        if count > room:
            self.truncated = True
            arrays = {k: v[:room] for k, v in arrays.items()}
            count = room
        if count:
            self._parts.append(arrays)
            self._npatterns += count

    def _add_rows(self, source: int, columns: list[_Column], lengths: np.ndarray, high: np.ndarray) -> None:
        nonnull = lengths > 0
        high_cells = nonnull & high[None, :]
        n_high = high_cells.sum(axis=1)
        ok = (nonnull.sum(axis=1) >= 2) & (n_high >= 1) & ((lengths.sum(axis=1) >= 3) | (n_high >= 2))
        rows = np.nonzero(ok)[0]
        anchor_column = int(np.argmax([c.cardinality for c in columns]))
        for begin in range(0, len(rows), _CHUNK_ROWS):
            chunk = rows[begin : begin + _CHUNK_ROWS]
            cell_lengths = lengths[chunk]
            row_lengths = cell_lengths.sum(axis=1)
            row_starts = np.cumsum(row_lengths) - row_lengths
            cell_pos = row_starts[:, None] + np.cumsum(cell_lengths, axis=1) - cell_lengths
            flat = np.zeros(int(row_lengths.sum()), dtype=np.int64)
            for j, column in enumerate(columns):
                present = cell_lengths[:, j] > 0
                self._fill(flat, cell_pos[present, j], column, column.codes[chunk][present])
            mixed = _mix(flat)
            k = np.minimum(row_lengths, 4)
            offset = np.where(cell_lengths[:, anchor_column] > 0, cell_pos[:, anchor_column] - row_starts, 0)
            offset = np.minimum(offset, row_lengths - k)
            self._add_patterns(
                hash=_segment_hashes(mixed, row_starts, row_lengths),
                length=row_lengths,
                anchor=_anchor_hashes(mixed, row_starts + offset, k),
                anchor_offset=offset,
                anchor_k=k,
                kind=np.full(len(chunk), _ROW, dtype=np.int8),
                source=np.full(len(chunk), source, dtype=np.int32),
                row=chunk.astype(np.int64),
                column=np.full(len(chunk), -1, dtype=np.int32),
            )

    def _add_runs(self, source: int, column_index: int, column: _Column, cell_lengths: np.ndarray) -> None:
        width = self.run_length
        rows = np.nonzero(cell_lengths > 0)[0]
        if len(rows) < width:
            return
        uniques = column.codes[rows]
        lengths = cell_lengths[rows]
        starts = np.cumsum(lengths) - lengths
        total = int(lengths.sum())
        flat = np.zeros(total, dtype=np.int64)
        self._fill(flat, starts, column, uniques)
        mixed = _mix(flat)
        pw, ipw = _POWERS.get(total + 1)
        prefix = np.zeros(total + 1, dtype=_U64)
        np.cumsum(mixed * pw[:total], out=prefix[1:])
        nruns = len(rows) - width + 1
        run_starts = starts[:nruns]
        run_ends = starts[width - 1 :] + lengths[width - 1 :]
        hashes = (prefix[run_ends] - prefix[run_starts]) * ipw[run_starts]
        keep = _informative_runs(column.group[uniques], column.number[uniques], width, column.numeric)
        k = np.minimum(run_ends - run_starts, 4)
        sel = np.nonzero(keep)[0]
        self._add_patterns(
            hash=hashes[sel],
            length=(run_ends - run_starts)[sel],
            anchor=_anchor_hashes(mixed, run_starts[sel], k[sel]),
            anchor_offset=np.zeros(len(sel), dtype=np.int64),
            anchor_k=k[sel],
            kind=np.full(len(sel), _RUN, dtype=np.int8),
            source=np.full(len(sel), source, dtype=np.int32),
            row=rows[sel].astype(np.int64),
            column=np.full(len(sel), column_index, dtype=np.int32),
        )

    def _add_cells(
        self,
        source: int,
        column_index: int,
        column: _Column,
        kind: int,
        uniques: np.ndarray,
    ) -> None:
        """One-column patterns: each of ``uniques`` (at its first row) is matched alone."""
        if len(uniques) == 0:
            return
        first_row = np.full(len(column.ntok), -1, dtype=np.int64)
        first_row[column.codes[::-1]] = np.arange(len(column.codes) - 1, -1, -1)
        lengths = column.ntok[uniques]
        starts = np.cumsum(lengths) - lengths
        flat = np.zeros(int(lengths.sum()), dtype=np.int64)
        self._fill(flat, starts, column, uniques)
        mixed = _mix(flat)
        k = np.minimum(lengths, 4)
        self._add_patterns(
            hash=_segment_hashes(mixed, starts, lengths),
            length=lengths,
            anchor=_anchor_hashes(mixed, starts, k),
            anchor_offset=np.zeros(len(uniques), dtype=np.int64),
            anchor_k=k,
            kind=np.full(len(uniques), kind, dtype=np.int8),
            source=np.full(len(uniques), source, dtype=np.int32),
            row=first_row[uniques],
            column=np.full(len(uniques), column_index, dtype=np.int32),
        )

    def _add_numeric(
        self, source: int, first_column: int, columns: list[_Column], high: np.ndarray, nrows: int
    ) -> None:
        picked = [j for j, c in enumerate(columns) if c.numeric]
        if not picked:
            return
        room = (MAX_NUMERIC_CELLS - self._numeric_cells) // len(picked)
        if room <= 0:
            self.truncated = True
            return
        if nrows > room:
            self.truncated = True
            nrows = room
        values = np.stack([columns[j].number[columns[j].codes[:nrows]] for j in picked], axis=1)
        self._numeric_cells += values.size
        self._numeric.append(
            _NumericTable(
                source=source,
                columns=[first_column + j for j in picked],
                high=high[picked],
                values=values,
            )
        )
        self._tensor_tables.clear()

    def _finish(self) -> None:
        keys = ("hash", "length", "anchor", "anchor_offset", "anchor_k", "kind", "source", "row", "column")
        if self._parts:
            merged = {key: np.concatenate([p[key] for p in self._parts]) for key in keys}
            # Identical patterns (same tokens) once: the first one wins.
            key = merged["hash"] + _mix(merged["length"])
            _, first = np.unique(key, return_index=True)
            first.sort()
            merged = {k: v[first] for k, v in merged.items()}
            self._parts = [merged]
        else:
            merged = {key: np.zeros(0, dtype=_U64 if key in ("hash", "anchor") else np.int64) for key in keys}
        self._patterns = merged
        self._npatterns = len(merged["hash"])
        self._anchors: dict[int, _HashTable] = {}
        for k in (1, 2, 3, 4):
            sel = np.nonzero(merged["anchor_k"] == k)[0]
            if len(sel):
                self._anchors[k] = _HashTable(merged["anchor"][sel], sel)
        self._drop = frozenset(self._header_tokens - self._vocab.keys())

    # -- scanning ----------------------------------------------------------------------------------

    def _stream(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of normalized tokens (header-only tokens dropped) and their positions."""
        vocab, drop = self._vocab, self._drop
        ids: list[int] = []
        positions: list[int] = []
        for position, token in enumerate(tokens):
            if token in drop:
                continue
            ids.append(vocab.get(token, _UNKNOWN))
            positions.append(position)
        return np.asarray(ids, dtype=np.int64), np.asarray(positions, dtype=np.int64)

    def _scan(self, ids: np.ndarray, kinds: frozenset[int] | None = None) -> tuple[int, int] | None:
        """The earliest (start, pattern) whose tokens occur contiguously in ``ids``."""
        n = len(ids)
        if n == 0 or not self._anchors:
            return None
        p = self._patterns
        mixed = _mix(ids)
        pw, ipw = _POWERS.get(n + 1)
        prefix = np.zeros(n + 1, dtype=_U64)
        np.cumsum(mixed * pw[:n], out=prefix[1:])
        best: tuple[int, int] | None = None
        for k, table in self._anchors.items():
            if n < k:
                continue
            windows = (prefix[k:] - prefix[: n - k + 1]) * ipw[: n - k + 1]
            hits, lo, hi = table.lookup(windows)
            if len(hits) == 0:
                continue
            counts = hi - lo
            cumulative = np.cumsum(counts)
            total = int(cumulative[-1])
            for begin in range(0, total, _PAIR_CHUNK):
                pair = np.arange(begin, min(begin + _PAIR_CHUNK, total), dtype=np.int64)
                which = np.searchsorted(cumulative, pair, "right")
                position = hits[which]
                pattern = table.refs[lo[which] + pair - (cumulative[which] - counts[which])]
                start = position - p["anchor_offset"][pattern]
                end = start + p["length"][pattern]
                valid = (start >= 0) & (end <= n)
                if kinds is not None:
                    valid &= np.isin(p["kind"][pattern], list(kinds))
                start, end, pattern = start[valid], end[valid], pattern[valid]
                if len(start) == 0:
                    continue
                good = ((prefix[end] - prefix[start]) * ipw[start]) == p["hash"][pattern]
                if good.any():
                    start, pattern = start[good], pattern[good]
                    i = np.lexsort((pattern, start))[0]
                    candidate = (int(start[i]), int(pattern[i]))
                    if best is None or candidate < best:
                        best = candidate
        return best

    def _match(self, found: tuple[int, int] | None, positions: np.ndarray) -> RawMatch | None:
        if found is None:
            return None
        start, pattern = found
        p = self._patterns
        column = int(p["column"][pattern])
        return RawMatch(
            kind=_KIND_NAMES[int(p["kind"][pattern])],
            source=self.sources[int(p["source"][pattern])],
            row=int(p["row"][pattern]),
            column=self._columns[column] if column >= 0 else None,
            position=int(positions[start]) if len(positions) else start,
        )

    def match_normalized(self, tokens: Sequence[str]) -> RawMatch | None:
        """The first match in a stream of already normalized tokens (see :func:`tokenize`)."""
        ids, positions = self._stream(tokens)
        return self._match(self._scan(ids), positions)

    def match_text(self, text: str) -> RawMatch | None:
        """The first match in a text (logs, CSV, TXT, Markdown)."""
        return self.match_normalized(tokenize(text))

    def match_tokens(self, tokens: Sequence[str]) -> RawMatch | None:
        """The first match in raw tokens (each is normalized and split on separators first);
        ``position`` indexes ``tokens``."""
        normalized, owners = self._normalize_tokens(tokens)
        ids, positions = self._stream(normalized)
        found = self._scan(ids)
        match = self._match(found, positions)
        if match is None:
            return None
        return RawMatch(match.kind, match.source, match.row, match.column, owners[match.position])

    @staticmethod
    def _normalize_tokens(tokens: Sequence[str]) -> tuple[list[str], list[int]]:
        normalized: list[str] = []
        owners: list[int] = []
        for i, token in enumerate(tokens):
            for sub in tokenize(str(token)):
                normalized.append(sub)
                owners.append(i)
        return normalized, owners

    def find_row(self, tokens: Sequence[str]) -> int | None:
        """Index in ``tokens`` where a full normalized input row (or a long line or unique cell)
        starts, or None."""
        normalized, owners = self._normalize_tokens(tokens)
        ids, positions = self._stream(normalized)
        found = self._scan(ids, frozenset({_ROW, _LINE, _CELL}))
        return None if found is None else owners[int(positions[found[0]])]

    def find_run(self, tokens: Sequence[str]) -> tuple[str, int] | None:
        """(column, first input row) of a run of ``run_length`` consecutive values of one
        high-cardinality column found in ``tokens``, or None."""
        normalized, _ = self._normalize_tokens(tokens)
        ids, positions = self._stream(normalized)
        match = self._match(self._scan(ids, frozenset({_RUN})), positions)
        return None if match is None else (match.column or "", match.row)

    # -- tensors -----------------------------------------------------------------------------------

    def _tensor_table(self, dtype: np.dtype) -> dict[int, _HashTable]:
        key = np.dtype(dtype).str
        if key in self._tensor_tables:
            return self._tensor_tables[key]
        parts: list[dict[str, np.ndarray]] = []
        budget = [MAX_TENSOR_PATTERNS]

        def add(width: int, hashes: np.ndarray, kind: int, table: int, rows: np.ndarray, col: int) -> None:
            if budget[0] <= 0 or len(hashes) == 0:
                return
            take = min(len(hashes), budget[0])
            budget[0] -= take
            parts.append(
                {
                    "width": np.full(take, width, dtype=np.int64),
                    "hash": hashes[:take],
                    "kind": np.full(take, kind, dtype=np.int8),
                    "table": np.full(take, table, dtype=np.int32),
                    "row": rows[:take].astype(np.int64),
                    "column": np.full(take, col, dtype=np.int32),
                }
            )

        for t, table in enumerate(self._numeric):
            with np.errstate(over="ignore"):  # beyond float32's range: inf, never informative
                converted = table.values.astype(dtype)
            values = converted.astype(np.float64)
            bits = _mix(_float_bits(converted))
            ncols = values.shape[1]
            if ncols >= 2:
                # Windows of 2 high-cardinality cells, and of min(ncols, 4) cells; beyond 16 columns
                # only every width-th offset (a tensor holding 2 * width - 1 consecutive cells of a
                # row still contains one of them).
                for width in sorted({2, min(ncols, 4)}):
                    last = ncols - width
                    step = 1 if ncols <= 16 else width
                    pw, _ = _POWERS.get(width)
                    for o in sorted({*range(0, last + 1, step), last}):
                        high = table.high[o : o + width]
                        if not (high.all() if width == 2 else high.any()):
                            continue
                        rows = np.nonzero(_informative_windows(values[:, o : o + width]))[0]
                        hashes = np.zeros(len(rows), dtype=_U64)
                        for i in range(width):
                            hashes += bits[rows, o + i] * pw[i]
                        add(width, hashes, _TENSOR_ROW, t, rows, table.columns[o])
            width = self.run_length
            for c in np.nonzero(table.high)[0]:
                rows = np.nonzero(np.isfinite(values[:, c]))[0]
                if len(rows) < width:
                    continue
                column_values = values[rows, c]
                windows = np.lib.stride_tricks.sliding_window_view(column_values, width)
                keep = _informative_windows(windows, min_distinct=max(2, math.ceil(width / 2)))
                hashes = _sliding_hashes(bits[rows, c], width)
                sel = np.nonzero(keep)[0]
                add(width, hashes[sel], _TENSOR_RUN, t, rows[sel], table.columns[c])
            if budget[0] <= 0:
                self.truncated = True
        tables: dict[int, _HashTable] = {}
        if parts:
            merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            self._tensor_refs[key] = merged
            for width in np.unique(merged["width"]):
                sel = np.nonzero(merged["width"] == width)[0]
                tables[int(width)] = _HashTable(merged["hash"][sel], sel)
        self._tensor_tables[key] = tables
        return tables

    def match_tensor(self, values: np.ndarray) -> RawMatch | None:
        """Best effort: whether a float32/float64 array holds numeric cells of an input row (up to 4
        consecutive ones) or a run of a high-cardinality numeric column, bit for bit."""
        values = np.asarray(values).ravel()
        if values.dtype not in (np.float32, np.float64) or not self._numeric:
            return None
        tables = self._tensor_table(values.dtype)
        if not tables:
            return None
        refs = self._tensor_refs[np.dtype(values.dtype).str]
        mixed = _mix(_float_bits(values))
        best: tuple[int, int] | None = None
        for width, table in tables.items():
            if len(mixed) < width:
                continue
            found, lo, _ = table.lookup(_sliding_hashes(mixed, width))
            if len(found):
                candidate = (int(found[0]), int(table.refs[lo[0]]))
                if best is None or candidate < best:
                    best = candidate
        if best is None:
            return None
        position, r = best
        table = self._numeric[int(refs["table"][r])]
        return RawMatch(
            kind="tensor_row" if refs["kind"][r] == _TENSOR_ROW else "tensor_run",
            source=self.sources[table.source],
            row=int(refs["row"][r]),
            column=self._columns[int(refs["column"][r])],
            position=position,
        )


def _informative_runs(groups: np.ndarray, numbers: np.ndarray, width: int, numeric: bool) -> np.ndarray:
    """Runs (windows of ``width`` cells) with at least width/2 distinct values that are not an
    arithmetic progression."""
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(groups, width), axis=1)
    distinct = 1 + (np.diff(windows, axis=1) != 0).sum(axis=1)
    keep = distinct >= max(2, math.ceil(width / 2))
    if numeric:
        keep &= ~_arithmetic(np.lib.stride_tricks.sliding_window_view(numbers, width))
    return keep


def _arithmetic(windows: np.ndarray) -> np.ndarray:
    if windows.shape[1] < 3:
        return np.zeros(len(windows), dtype=bool)
    steps = np.diff(windows, axis=1)
    with np.errstate(invalid="ignore"):
        close = np.isclose(steps, steps[:, :1], rtol=1e-9, atol=1e-12)
    return close.all(axis=1) & np.isfinite(windows).all(axis=1)


def _informative_windows(windows: np.ndarray, *, min_distinct: int = 2) -> np.ndarray:
    """Numeric windows worth searching for in a tensor: finite, not only 0/1/-1, at least
    ``min_distinct`` distinct values, not an arithmetic progression."""
    finite = np.isfinite(windows).all(axis=1)
    trivial = np.isin(windows, (0.0, 1.0, -1.0)).all(axis=1)
    ordered = np.sort(windows, axis=1)
    with np.errstate(invalid="ignore"):
        distinct = 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1)
    return finite & ~trivial & (distinct >= min_distinct) & ~_arithmetic(windows)


# --------------------------------------------------------------------------------------------------
# Reading the inputs


def _read_table(path: Path, max_rows: int) -> pd.DataFrame | None:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                nrows=max_rows,
                encoding_errors="replace",
                on_bad_lines="skip",
            )
        if suffix == ".parquet":
            return pd.read_parquet(path).head(max_rows).astype(str)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False, nrows=max_rows).astype(str)
    except Exception:  # unreadable as a table: indexed as text lines instead
        return None
    return None


def _read_lines(path: Path, max_rows: int) -> list[str] | None:
    with path.open("rb") as f:
        head = f.read(8192)
        if b"\x00" in head:
            return None
        data = head + f.read()
    lines = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line:
            lines.append(line)
            if len(lines) >= max_rows:
                break
    return lines


# --------------------------------------------------------------------------------------------------
# The policy


class _Reject(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def _reject(code: str, message: str, file: str | None = None, **details: Any) -> _Reject:
    return _Reject(Verdict.reject(code, message, file, details))


@dataclass
class _Entry:
    path: str  # relative, POSIX
    full: Path
    size: int


def _walk(out_dir: Path, limits: PolicyLimits | None) -> list[_Entry]:
    """Regular files under ``out_dir`` sorted by path; raises _Reject for anything else."""
    try:
        top = out_dir.lstat()
    except FileNotFoundError:
        return []
    if not stat.S_ISDIR(top.st_mode):
        raise _reject("special_file", "the output folder is not a directory", ".")
    entries: list[_Entry] = []
    count = 0
    stack = [(out_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{prefix}{child.name}"
            count += 1
            if limits is not None and count > limits.max_files:
                raise _reject(
                    "too_many_files", f"more than {limits.max_files} files and folders in the outputs"
                )
            st = child.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                stack.append((Path(child.path), rel + "/"))
            elif stat.S_ISLNK(st.st_mode):
                raise _reject("special_file", f"{rel}: symbolic links are not allowed", rel)
            elif not stat.S_ISREG(st.st_mode):
                raise _reject("special_file", f"{rel}: only regular files are allowed", rel)
            elif st.st_nlink > 1:
                raise _reject("special_file", f"{rel}: hard links are not allowed", rel)
            else:
                entries.append(_Entry(rel, Path(child.path), st.st_size))
    entries.sort(key=lambda e: e.path)
    return entries


def _read(entry: _Entry) -> bytes:
    fd = os.open(entry.full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _is_pickle(data: bytes, suffix: str) -> str | None:
    """Why the content is a pickle (or None)."""
    if suffix in PICKLE_SUFFIXES:
        return f"{suffix} files are pickles"
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return "the content is a pickle"
    if data.startswith(b"\x93NUMPY"):
        try:
            stream = io.BytesIO(data)
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                _, _, dtype = np.lib.format.read_array_header_2_0(stream)
        except Exception:  # not a readable .npy: refused by type anyway
            return None
        return "a NumPy array of Python objects is a pickle" if dtype.hasobject else None
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if any(name.endswith(".pkl") for name in archive.namelist()):
                    return "a zip holding a pickle (torch.save)"
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
    return None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects (strings ignored), computed without parsing."""
    bare = np.frombuffer(_JSON_STRING.sub(b"", data), dtype=np.uint8)
    if len(bare) == 0:
        return 0
    opened = (bare == ord("[")) | (bare == ord("{"))
    closed = (bare == ord("]")) | (bare == ord("}"))
    return int(np.cumsum(opened.astype(np.int64) - closed).max())


def _strict_json(data: bytes) -> Any:
    """Parse strict JSON (UTF-8, no NaN/Infinity, no duplicate keys); raises ValueError."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    def finite_float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("a number out of range")
        return value

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise ValueError("duplicate key")
            obj[key] = value
        return obj

    text = data.decode("utf-8")
    if _json_depth(data) > MAX_JSON_DEPTH:  # the C parser's recursion can crash a thread's stack
        raise ValueError("nested too deeply")
    try:
        return json.loads(
            text, parse_constant=no_constants, parse_float=finite_float, object_pairs_hook=no_duplicates
        )
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


class _Checker:
    def __init__(self, index: RawIndex, limits: PolicyLimits) -> None:
        self.index = index
        self.limits = limits
        self.tensor_budget = TENSOR_SCAN_BUDGET
        self.metrics: Any = None

    def scan_tokens(self, rel: str, tokens: Sequence[str], where: str = "") -> None:
        match = self.index.match_normalized(tokens)
        if match is not None:
            raise _reject(
                "raw_rows_in_output",
                f"{rel}: {where}contains {match.describe()}",
                rel,
                **match.details(),
            )

    def scan_tensor(self, rel: str, name: str, values: np.ndarray) -> None:
        if self.tensor_budget <= 0:
            return
        values = values[: self.tensor_budget]
        self.tensor_budget -= len(values)
        match = self.index.match_tensor(values)
        if match is not None:
            raise _reject(
                "raw_rows_in_output",
                f"{rel}: tensor {name!r} holds {match.describe()}",
                rel,
                tensor=name,
                **match.details(),
            )

    def check(self, entry: _Entry) -> None:
        rel = entry.path
        suffix = Path(rel).suffix.lower()
        data = _read(entry)
        why = _is_pickle(data, suffix)
        if why:
            raise _reject("pickle_not_allowed", f"{rel}: pickles are not allowed ({why})", rel)
        if suffix not in ALLOWED_SUFFIXES:
            shown = suffix or "(no extension)"
            raise _reject("file_type_not_allowed", f"{rel}: {shown} outputs are not allowed", rel)
        if suffix == ".json":
            self.check_json(rel, data)
        elif suffix == ".csv":
            self.check_csv(rel, data)
        elif suffix in TEXT_SUFFIXES:
            self.check_text(rel, data)
        elif suffix == ".safetensors":
            self.check_safetensors(rel, data)
        else:
            self.check_onnx(rel, data)

    def check_json(self, rel: str, data: bytes) -> None:
        if len(data) > self.limits.json_bytes:
            raise _reject(
                "output_too_large", f"{rel}: JSON outputs are limited to {self.limits.json_bytes} bytes", rel
            )
        try:
            value = _strict_json(data)
        except ValueError as exc:  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
            raise _reject("invalid_json", f"{rel}: not strict JSON ({type(exc).__name__})", rel) from None
        if rel == METRICS_FILE:
            self.metrics = value
        self.scan_tokens(rel, _json_tokens(value, keys=True))
        self.scan_tokens(rel, _json_tokens(value, keys=False), "its values ")

    def _text(self, rel: str, data: bytes, kind: str) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _reject("file_type_not_allowed", f"{rel}: {kind} outputs must be UTF-8 text", rel) from None

    def check_csv(self, rel: str, data: bytes) -> None:
        if len(data) > self.limits.csv_bytes:
            raise _reject(
                "csv_too_large", f"{rel}: CSV outputs are limited to {self.limits.csv_bytes} bytes", rel
            )
        text = self._text(rel, data, "CSV")
        try:
            records = sum(1 for record in csv.reader(io.StringIO(text, newline="")) if record)
        except csv.Error:
            raise _reject("file_type_not_allowed", f"{rel}: not a readable CSV file", rel) from None
        if records - 1 > self.limits.csv_rows:
            raise _reject(
                "csv_too_large", f"{rel}: CSV outputs are limited to {self.limits.csv_rows} rows", rel
            )
        self.scan_tokens(rel, tokenize(text))

    def check_text(self, rel: str, data: bytes) -> None:
        if len(data) > self.limits.text_bytes:
            raise _reject(
                "output_too_large", f"{rel}: text outputs are limited to {self.limits.text_bytes} bytes", rel
            )
        self.scan_tokens(rel, tokenize(self._text(rel, data, "text")))

    def check_safetensors(self, rel: str, data: bytes) -> None:
        def invalid(why: str) -> _Reject:
            return _reject("invalid_safetensors", f"{rel}: not a valid safetensors file ({why})", rel)

        if len(data) < 8:
            raise invalid("shorter than its header length")
        (header_len,) = struct.unpack("<Q", data[:8])
        if header_len > len(data) - 8 or header_len > SAFETENSORS_HEADER_MAX:
            raise invalid("header length beyond the file")
        if header_len < 2 or data[8:9] != b"{":
            raise invalid("the header is not a JSON object")
        try:
            header = _strict_json(data[8 : 8 + header_len])
        except ValueError:
            raise invalid("the header is not strict JSON") from None
        if not isinstance(header, dict):
            raise invalid("the header is not a JSON object")
        data_start = 8 + header_len
        data_len = len(data) - data_start
        metadata = header.pop("__metadata__", None)
        tokens: list[str] = []
        if metadata is not None:
            if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
                raise invalid("__metadata__ must map strings to strings")
            for key, value in metadata.items():
                tokens.extend(tokenize(key))
                tokens.extend(tokenize(value))
        spans = []
        for name, info in header.items():
            if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
                raise invalid(f"tensor {len(spans)} has no dtype, shape and data_offsets")
            dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
            if dtype not in SAFETENSORS_DTYPES:
                raise invalid(f"unknown dtype in tensor {len(spans)}")
            if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
                raise invalid(f"bad shape in tensor {len(spans)}")
            if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
                raise invalid(f"bad data_offsets in tensor {len(spans)}")
            begin, end = offsets
            if not begin <= end <= data_len:
                raise invalid(f"data_offsets of tensor {len(spans)} beyond the file")
            if end - begin != math.prod(shape) * SAFETENSORS_DTYPES[dtype]:
                raise invalid(f"tensor {len(spans)}: shape and dtype do not match its size")
            spans.append((begin, end, name, dtype))
            tokens.extend(tokenize(name))
        spans.sort()
        cursor = 0
        for begin, end, _, _ in spans:
            if begin != cursor:
                raise invalid("tensors overlap or leave gaps")
            cursor = end
        if cursor != data_len:
            raise invalid("bytes after the last tensor")
        self.scan_tokens(rel, tokens, "its header ")
        for begin, end, name, dtype in spans:
            if dtype in ("F32", "F64"):
                values = np.frombuffer(
                    data,
                    dtype="<f4" if dtype == "F32" else "<f8",
                    count=(end - begin) // SAFETENSORS_DTYPES[dtype],
                    offset=data_start + begin,
                )
                self.scan_tensor(rel, name, values)
            elif dtype in ("U8", "I8") and end - begin <= BYTE_TENSOR_TEXT_MAX:
                text = data[data_start + begin : data_start + end].decode("latin-1")
                self.scan_tokens(rel, tokenize(text), f"tensor {name!r} ")

    def check_onnx(self, rel: str, data: bytes) -> None:
        if not data or data[0] != 0x08:
            raise _reject("file_type_not_allowed", f"{rel}: not an ONNX model", rel)
        try:
            import onnx
        except ImportError:
            onnx = None
        if onnx is not None:
            try:
                onnx.checker.check_model(onnx.load_model_from_string(data))
            except Exception:  # any failure of the checker refuses the file
                raise _reject("file_type_not_allowed", f"{rel}: not a valid ONNX model", rel) from None
        # Printable runs, each also without its first byte: a protobuf string's length prefix is
        # often printable and would be glued to the string's first token.
        runs = re.findall(rb"[\x20-\x7e]{4,}", data)
        strings = b"\n".join(b"%s\n%s" % (run, run[1:]) for run in runs).decode("ascii")
        self.scan_tokens(rel, tokenize(strings), "its strings ")
        for offset in range(4):
            count = (len(data) - offset) // 4
            if count > 0:
                self.scan_tensor(
                    rel, f"bytes+{offset}", np.frombuffer(data, dtype="<f4", count=count, offset=offset)
                )

    def check_epsilon(self, epsilon: float | None, files: set[str]) -> None:
        if epsilon is None or not math.isfinite(epsilon) or epsilon <= 0:
            raise ValueError("dp_required needs the job's epsilon (a positive number)")
        if METRICS_FILE not in files:
            raise _reject("epsilon_not_declared", f"a DP job must write {METRICS_FILE} with epsilon_spent")
        spent = self.metrics.get("epsilon_spent") if isinstance(self.metrics, dict) else None
        if (
            isinstance(spent, bool)
            or not isinstance(spent, int | float)
            or not math.isfinite(spent)
            or spent < 0
        ):
            raise _reject(
                "epsilon_not_declared",
                f"{METRICS_FILE} must hold a finite number epsilon_spent",
                METRICS_FILE,
            )
        if spent > epsilon + EPSILON_TOLERANCE:
            raise _reject(
                "epsilon_exceeded",
                f"the algorithm spent epsilon {spent} but the job allows {epsilon}",
                METRICS_FILE,
                epsilon_spent=spent,
                epsilon=epsilon,
            )


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_outputs(
    out_dir: Path,
    log_text: str,
    index: RawIndex,
    *,
    epsilon: float | None,
    dp_required: bool,
    limits: PolicyLimits = PolicyLimits(),  # frozen, so a shared default is safe
) -> Verdict:
    """Decide whether the outputs in ``out_dir`` (and the logs) may be released."""
    checker = _Checker(index, limits)
    try:
        entries = _walk(Path(out_dir), limits)
        total = sum(e.size for e in entries)
        if total > limits.total_bytes:
            raise _reject("output_too_large", f"the outputs total {total} bytes, over {limits.total_bytes}")
        paths = "\n".join(e.path[: len(e.path) - len(Path(e.path).suffix)].replace("/", " ") for e in entries)
        names = index.match_text(paths)
        if names is not None:  # the verdict cannot name the file: its name is the data
            raise _reject(
                "raw_rows_in_output", f"an output path contains {names.describe()}", None, **names.details()
            )
        for entry in entries:
            checker.check(entry)
        if dp_required:
            checker.check_epsilon(epsilon, {e.path for e in entries})
        match = index.match_text(log_text or "")
        if match is not None:
            raise _reject("raw_rows_in_logs", f"the logs contain {match.describe()}", None, **match.details())
    except _Reject as rejected:
        return rejected.verdict
    return Verdict.accept()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(out_dir: Path) -> list[dict[str, Any]]:
    """``[{"path", "size", "sha256"}]`` of every output file, sorted by path. Raises ValueError
    when the folder holds anything but regular files and directories."""
    try:
        entries = _walk(Path(out_dir), None)
    except _Reject as rejected:
        raise ValueError(rejected.verdict.message) from None
    return [{"path": e.path, "size": e.size, "sha256": _sha256(e.full)} for e in entries]


def output_hash(manifest: Sequence[Mapping[str, Any]]) -> str:
    """sha256 (hex) of the manifest's canonical JSON (sorted keys, no spaces, UTF-8)."""
    return hashlib.sha256(canonical_json(list(manifest))).hexdigest()
