"""The raw-row index, built on the host from the job's decrypted inputs before the run, and the
scan of token streams and float tensors against it (see the package's docstring)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .hashing import (
    _POWERS,
    _U64,
    _UNKNOWN,
    _anchor_hashes,
    _float_bits,
    _HashTable,
    _mix,
    _segment_hashes,
    _sliding_hashes,
)
from .limits import MAX_NUMERIC_CELLS, MAX_PATTERNS, MAX_TENSOR_PATTERNS, PolicyLimits
from .tokens import _NULL_TOKENS, _NUMERIC_START, _SEPARATOR, _normalize_lowered, canonical_number, tokenize

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
    except MemoryError:  # out of memory is no reason to take the table for text: the build fails
        raise
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
