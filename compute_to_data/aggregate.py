"""Sample and aggregate, the pure core (docs/privacy.md): split the rows into k disjoint blocks,
read each block's output, clip it to the declared bounds, average, add Laplace noise.

Nothing here runs an algorithm or touches the job database; :mod:`compute_to_data.sample_aggregate`
runs the blocks and calls these functions, and the benchmark calls them the same way.

The guarantee: one row is in exactly one block, so changing it changes one block's clipped output,
which moves the average of k outputs by at most ``(upper_i - lower_i) / k`` in coordinate i. The L1
sensitivity of the average is the sum of those, and Laplace noise of scale ``sensitivity / epsilon``
on every coordinate makes the release epsilon-DP with respect to one row. A block whose output is
missing or malformed counts as the bounds' midpoint, a value that does not depend on its rows'
content beyond what the algorithm chose, so failing is just another output inside the bounds.
"""

from __future__ import annotations

import csv
import io
import json
import math
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datamarket.output_spec import OutputSpec

#: Largest output file a block may write that is still read (anything larger is malformed).
MAX_OUTPUT_BYTES = 1024 * 1024
OUTPUT_NAMES = {"json": "output.json", "safetensors": "output.safetensors"}
#: safetensors dtypes read as numbers (little-endian), with their numpy type.
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
}  # fmt: skip
MECHANISM = "laplace"


class UnsupportedData(ValueError):
    """The staged data is not a CSV table that can be split into rows."""

    code = "aggregate_data_unsupported"


# ------------------------------------------------------------------------------------ the split


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a CSV file (RFC 4180: quoted fields may hold newlines)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            table = list(csv.reader(f, strict=True))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UnsupportedData(f"the data is not a CSV table ({type(exc).__name__})") from None
    if not table:
        raise UnsupportedData("the data has no header row")
    return table[0], table[1:]


def split_rows(rows: Sequence[Any], blocks: int, rng: secrets.SystemRandom | None = None) -> list[list[Any]]:
    """Deal ``rows`` into ``blocks`` disjoint blocks, each row to a block drawn uniformly and
    independently (OS randomness: the assignment is never stored, logged or derived from the job).

    Independent draws, not a shuffle cut into equal parts: adding or removing one row then changes
    exactly one block and leaves every other row where it was, so the release is DP for adding or
    removing a row (the membership question) as well as for replacing one. With equal parts, one
    row more or less moves the cut points and reshuffles rows between blocks. Block sizes vary
    (binomially) and are no secret: nothing of a block but its clipped output leaves."""
    if blocks < 1:
        raise ValueError("blocks must be at least 1")
    draw = (rng or secrets.SystemRandom()).randrange
    out: list[list[Any]] = [[] for _ in range(blocks)]
    for row in rows:
        out[draw(blocks)].append(row)
    return out


def write_block(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """One block as CSV: the header, then its rows (quoted where needed, as read)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")


# ------------------------------------------------------------------------------- block outputs


def read_block_output(out_dir: Path, spec: OutputSpec) -> np.ndarray | None:
    """The block's output as a flat float64 vector, or None where it is anything but exactly one
    regular file of the declared format and shape holding finite numbers (then the block counts as
    the bounds' midpoint; why is deliberately not reported)."""
    try:
        entries = list(out_dir.iterdir())
    except OSError:
        return None
    name = OUTPUT_NAMES[spec.format]
    if len(entries) != 1 or entries[0].name != name or entries[0].is_symlink() or not entries[0].is_file():
        return None
    try:
        if entries[0].stat().st_size > MAX_OUTPUT_BYTES:
            return None
        raw = entries[0].read_bytes()
    except OSError:
        return None
    parse = parse_json_output if spec.format == "json" else parse_safetensors_output
    return parse(raw, spec.shape)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json_output(raw: bytes, shape: Sequence[int]) -> np.ndarray | None:
    """A JSON array nested to ``shape`` (a bare number for shape ``[]``) of finite numbers."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    flat: list[float] = []
    if not _collect(value, tuple(shape), flat):
        return None
    vector = np.asarray(flat, dtype=np.float64)
    return vector if np.all(np.isfinite(vector)) else None


def _collect(value: Any, shape: tuple[int, ...], flat: list[float]) -> bool:
    if not shape:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        try:
            flat.append(float(value))
        except OverflowError:  # an integer too large for a float
            return False
        return True
    if not isinstance(value, list) or len(value) != shape[0]:
        return False
    return all(_collect(item, shape[1:], flat) for item in value)


def parse_safetensors_output(raw: bytes, shape: Sequence[int]) -> np.ndarray | None:
    """A safetensors file holding exactly one numeric tensor of ``shape`` (``__metadata__`` aside),
    its data exactly filling the file after the header."""
    if len(raw) < 8:
        return None
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > len(raw) - 8:
        return None
    try:
        header = json.loads(raw[8 : 8 + header_len].decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict):
        return None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    if len(tensors) != 1:
        return None
    (info,) = tensors.values()
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        return None
    dtype = _DTYPES.get(info["dtype"]) if isinstance(info["dtype"], str) else None
    if dtype is None or info["shape"] != list(shape):
        return None
    count = math.prod(shape)
    nbytes = count * np.dtype(dtype).itemsize
    if info["data_offsets"] != [0, nbytes] or len(raw) != 8 + header_len + nbytes:
        return None
    vector = np.frombuffer(raw, dtype=dtype, count=count, offset=8 + header_len).astype(np.float64)
    return vector if np.all(np.isfinite(vector)) else None


# ---------------------------------------------------------------------------------- the release


@dataclass(frozen=True)
class Release:
    """The noisy aggregate and what it was made with; :meth:`to_json` is the released file."""

    values: np.ndarray  # flat
    shape: tuple[int, ...]
    epsilon: float
    blocks: int
    sensitivity_l1: float
    scale: float

    def to_json(self) -> dict[str, Any]:
        return {
            "values": nest(self.values, self.shape),
            "shape": list(self.shape),
            "epsilon": self.epsilon,
            "mechanism": MECHANISM,
            "noise_scale": self.scale,
            "sensitivity_l1": self.sensitivity_l1,
            "blocks": self.blocks,
            "method": "sample_and_aggregate",
        }


def nest(flat: np.ndarray, shape: Sequence[int]) -> Any:
    """A flat vector as nested lists of ``shape`` (a number for shape ``[]``)."""
    if not shape:
        return float(flat[0])
    return np.asarray(flat, dtype=np.float64).reshape(tuple(shape)).tolist()


def sensitivity(spec: OutputSpec, blocks: int) -> float:
    """L1 sensitivity of the clipped average to one row: sum over coordinates of (hi - lo) / k."""
    return float(sum((hi - lo) / blocks for lo, hi in zip(spec.lower, spec.upper, strict=True)))


def noise_generator() -> np.random.Generator:
    """A generator seeded from the OS's CSPRNG (256 bits), used for one release and dropped."""
    return np.random.Generator(np.random.PCG64(secrets.randbits(256)))


def combine(outputs: Sequence[np.ndarray | None], spec: OutputSpec) -> np.ndarray:
    """The average of the block outputs, each clipped to the bounds; None stands for the midpoint."""
    lower, upper = np.asarray(spec.lower), np.asarray(spec.upper)
    midpoint = np.asarray(spec.midpoint)
    stacked = np.stack([midpoint if out is None else np.clip(out, lower, upper) for out in outputs])
    return stacked.mean(axis=0)


def release(
    outputs: Sequence[np.ndarray | None],
    spec: OutputSpec,
    epsilon: float,
    rng: np.random.Generator | None = None,
) -> Release:
    """Clip, average and add Laplace noise of scale ``sensitivity / epsilon`` to every coordinate:
    an epsilon-DP release of the k blocks' outputs with respect to one row."""
    if not epsilon > 0 or not math.isfinite(epsilon):
        raise ValueError("epsilon must be a finite number > 0")
    blocks = len(outputs)
    if blocks < 1:
        raise ValueError("at least one block")
    l1 = sensitivity(spec, blocks)
    scale = l1 / epsilon
    mean = combine(outputs, spec)
    noisy = mean + (rng or noise_generator()).laplace(0.0, scale, size=mean.shape)
    return Release(
        values=noisy, shape=spec.shape, epsilon=epsilon, blocks=blocks, sensitivity_l1=l1, scale=scale
    )


__all__ = [
    "MAX_OUTPUT_BYTES",
    "MECHANISM",
    "OUTPUT_NAMES",
    "Release",
    "UnsupportedData",
    "combine",
    "nest",
    "noise_generator",
    "parse_json_output",
    "parse_safetensors_output",
    "read_block_output",
    "read_rows",
    "release",
    "sensitivity",
    "split_rows",
    "write_block",
]
