"""The policy itself: walk ``/out``, check every file's type and content, scan for raw rows and
check the epsilon declaration; the manifest and output hash of released outputs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import stat
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import onnx_model
from .limits import (
    ALLOWED_SUFFIXES,
    BYTE_TENSOR_TEXT_MAX,
    EPSILON_TOLERANCE,
    MAX_JSON_DEPTH,
    METRICS_FILE,
    PICKLE_SUFFIXES,
    SAFETENSORS_DTYPES,
    SAFETENSORS_HEADER_MAX,
    TENSOR_SCAN_BUDGET,
    TEXT_SUFFIXES,
    PolicyLimits,
    Verdict,
)
from .raw_index import RawIndex
from .tokens import _json_tokens, tokenize


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
        if len(data) > self.limits.onnx_bytes:
            raise _reject(
                "output_too_large", f"{rel}: ONNX outputs are limited to {self.limits.onnx_bytes} bytes", rel
            )
        if not data or data[0] != 0x08:
            raise _reject("file_type_not_allowed", f"{rel}: not an ONNX model", rel)
        try:
            contents = onnx_model.parse(data)
        except onnx_model.OnnxInvalid as exc:
            raise _reject("file_type_not_allowed", f"{rel}: {exc}", rel) from None
        # The parse refused every byte it could not account for, so its strings and tensors are
        # the whole file: each is read by its type, as a safetensors file's are.
        self.scan_tokens(rel, tokenize("\n".join(contents.strings)), "its strings ")
        for name, values in contents.tensors:
            if values.dtype.kind == "f" and values.dtype.itemsize >= 4:
                self.scan_tensor(rel, name, np.ascontiguousarray(values).ravel())
            elif values.dtype.itemsize == 1 and values.size <= BYTE_TENSOR_TEXT_MAX:
                self.scan_tokens(rel, tokenize(values.tobytes().decode("latin-1")), f"tensor {name!r} ")

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
