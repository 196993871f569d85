"""The output policy's caps, file-type constants and its verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
    #: Each ONNX model (parsed in the worker's memory, with every tensor decoded).
    onnx_bytes: int = 64 * MiB
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
