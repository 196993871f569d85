"""The ``output`` field of a compute job: the shape and per-coordinate bounds of what an untrusted
algorithm releases under sample and aggregate (docs/privacy.md).

JSON form, public and signed with the job (it is part of ``jobHash``)::

    {"format": "json" | "safetensors", "shape": [d1, ...], "lower": x | [x, ...], "upper": y | [y, ...]}

``shape`` is a list of 0 to 4 positive integers whose product (the number of coordinates) is at most
:data:`MAX_COORDINATES`; ``lower`` and ``upper`` are finite numbers, each either one number for
every coordinate or a flat list with one number per coordinate (row-major order), and
``lower[i] < upper[i]``. :func:`parse_output_spec` returns the value unchanged (same types), so the
job's hash is the one the consumer signed; :meth:`OutputSpec.from_json` gives the flattened form the
worker computes with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from datamarket.errors import DatamarketError

#: Most coordinates one release may have: the noise grows with their number, and the spec is signed.
MAX_COORDINATES = 4096
MAX_DIMENSIONS = 4
FORMATS = ("json", "safetensors")
#: k, the disjoint blocks of sample and aggregate, where the dataset's policy does not say.
DEFAULT_BLOCKS = 10
MIN_BLOCKS = 2
_FIELDS = frozenset({"format", "shape", "lower", "upper"})


class InvalidOutputSpec(DatamarketError, ValueError):
    """An ``output`` field that is not well formed; ``details["field"]`` names the part at fault."""

    code = "invalid_output_spec"


@dataclass(frozen=True)
class OutputSpec:
    """A parsed output spec: ``lower`` and ``upper`` flattened to one bound per coordinate."""

    format: str
    shape: tuple[int, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.lower)

    @property
    def midpoint(self) -> tuple[float, ...]:
        return tuple(lo + (hi - lo) / 2 for lo, hi in zip(self.lower, self.upper, strict=True))

    @classmethod
    def from_json(cls, value: Any) -> OutputSpec:
        parsed = parse_output_spec(value)
        shape = tuple(parsed["shape"])
        size = math.prod(shape)
        lower, upper = _flat(parsed["lower"], size), _flat(parsed["upper"], size)
        return cls(format=parsed["format"], shape=shape, lower=lower, upper=upper)


def blocks_of(compute: dict[str, Any]) -> int:
    """k from a compute service's section of the metadata (``aggregate.blocks``, default 10)."""
    blocks = (compute.get("aggregate") or {}).get("blocks", DEFAULT_BLOCKS)
    return max(int(blocks), MIN_BLOCKS)


def _flat(bound: float | list[float], size: int) -> tuple[float, ...]:
    if isinstance(bound, list):
        return tuple(float(x) for x in bound)
    return (float(bound),) * size


def _fail(message: str, field: str) -> InvalidOutputSpec:
    return InvalidOutputSpec(message, details={"field": f"job.output.{field}" if field else "job.output"})


def _number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and abs(value) <= 1e15
    )


def parse_output_spec(value: Any) -> dict[str, Any]:
    """``value`` checked strictly and returned as an equal new dict; InvalidOutputSpec otherwise."""
    if not isinstance(value, dict):
        raise _fail("job.output is not a JSON object", "")
    if set(value) != _FIELDS:
        names = sorted(map(str, set(value) ^ _FIELDS))
        raise _fail(f"job.output has exactly the fields format, shape, lower, upper (not {names})", "")
    if value["format"] not in FORMATS:
        raise _fail('job.output.format is neither "json" nor "safetensors"', "format")
    shape = value["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMENSIONS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise _fail(f"job.output.shape is not a list of at most {MAX_DIMENSIONS} positive integers", "shape")
    # Each dimension is capped first so the product of a hostile shape stays a small integer.
    if any(d > MAX_COORDINATES for d in shape) or math.prod(shape) > MAX_COORDINATES:
        raise _fail(f"job.output.shape has more than {MAX_COORDINATES} coordinates", "shape")
    size = math.prod(shape)
    bounds = {}
    for name in ("lower", "upper"):
        bound = value[name]
        if isinstance(bound, list):
            if len(bound) != size or not all(_number(x) for x in bound):
                raise _fail(f"job.output.{name} is not one finite number per coordinate ({size})", name)
            bounds[name] = list(bound)
        elif _number(bound):
            bounds[name] = bound
        else:
            raise _fail(f"job.output.{name} is neither a finite number nor a list of them", name)
    for i, (lo, hi) in enumerate(
        zip(_flat(bounds["lower"], size), _flat(bounds["upper"], size), strict=True)
    ):
        if not lo < hi:
            raise InvalidOutputSpec(
                "job.output.lower is not below job.output.upper at every coordinate",
                details={"field": "job.output.lower", "index": i},
            )
    return {
        "format": value["format"],
        "shape": list(shape),
        "lower": bounds["lower"],
        "upper": bounds["upper"],
    }


__all__ = [
    "DEFAULT_BLOCKS",
    "FORMATS",
    "MAX_COORDINATES",
    "MIN_BLOCKS",
    "InvalidOutputSpec",
    "OutputSpec",
    "blocks_of",
    "parse_output_spec",
]
