"""The publisher's declarations in a compute service: what the built-in algorithms may use.

A compute section may declare (all public, in the metadata document)::

    "columns": {"<name>": {"type": "numeric", "lower": x, "upper": y}
                        | {"type": "categorical", "values": [...]}
                        | {"type": "text"}},
    "targets": ["<name>", ...],       # each a declared categorical column; its classes are its values
    "min_category_count": k,           # without DP, a category is encoded only if it occurs >= k times
    "max_categories": cap              # the most categories one column (or target) may have

A built-in never uses a column that is not declared, never learns a target, a class, a category or a
bound from the data or from the buyer: only from here. :func:`job_declarations` is the shape the worker
hands to the algorithm (params.json ``"declarations"``); :func:`declare` builds the section on the
publisher's machine from the table and the publisher's opt-in choices.

Values are JSON scalars; :func:`value_key` is how a declared value and a cell are compared (an integral
float and its int are one value, as in a CSV column with gaps).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from datamarket.canonical import MAX_SAFE_INTEGER
from datamarket.errors import DatamarketError

DEFAULT_MIN_CATEGORY_COUNT = 10
DEFAULT_MAX_CATEGORIES = 32
MAX_CATEGORIES_LIMIT = 256  # the schema's maximum for max_categories
DECLARATION_KEYS = ("columns", "targets", "min_category_count", "max_categories")


class DeclarationError(DatamarketError, ValueError):
    """The publisher's declarations cannot be made from this table; the message names the column."""

    code = "invalid_declaration"


def value_key(value: Any) -> str:
    """The text a declared value and a data cell are compared by."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


def json_value(value: Any) -> str | int | float | bool:
    """A cell as the JSON scalar a declaration lists (integral floats as ints; an integer beyond
    2^53 - 1, which no JSON number holds exactly, as its digits: :func:`value_key` matches both)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return str(value)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return str(value)


def job_declarations(compute: Mapping[str, Any]) -> dict[str, Any]:
    """The declarations of a (validated) compute section in the shape params.json carries, defaults
    filled in. A section that declares nothing gives empty columns and targets."""
    return {
        "columns": {name: dict(spec) for name, spec in (compute.get("columns") or {}).items()},
        "targets": list(compute.get("targets") or []),
        "min_category_count": int(compute.get("min_category_count", DEFAULT_MIN_CATEGORY_COUNT)),
        "max_categories": int(compute.get("max_categories", DEFAULT_MAX_CATEGORIES)),
    }


#: Job params a buyer may not give: these come only from the publisher's declarations.
PUBLISHER_ONLY_PARAMS = ("classes", "bounds", "categories", "max_categories", "min_category_count")


class UndeclaredParam(DeclarationError):
    """A built-in job's params name what the publisher did not declare, or set what only the publisher
    may. ``code`` says which: ``param_not_allowed``, ``target_not_declared``, ``no_declared_target``,
    ``column_not_declared``."""

    code = "param_not_allowed"

    def __init__(self, message: str, *, code: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.code = code


def check_params(params: Mapping[str, Any], compute: Mapping[str, Any], *, needs_target: bool) -> None:
    """Refuse a built-in job whose params choose what the publisher declares (classes, bounds,
    categories, their limits), a target that is not a declared target, or columns that are not
    declared with the type the param needs. The message names the param, never a data value."""
    declared = job_declarations(compute)
    for key in PUBLISHER_ONLY_PARAMS:
        if key in params:
            raise UndeclaredParam(
                f"params.{key} cannot be chosen by the buyer: it comes from the dataset's declarations",
                code="param_not_allowed",
                details={"param": key},
            )
    target = params.get("target")
    if target is not None and not (isinstance(target, str) and target in declared["targets"]):
        raise UndeclaredParam(
            "params.target is not one of the dataset's declared targets",
            code="target_not_declared",
            details={"param": "target", "targets": declared["targets"]},
        )
    if needs_target and not declared["targets"]:
        raise UndeclaredParam(
            "the dataset declares no target column to train on", code="no_declared_target", details={}
        )
    wanted = [("columns", "numeric", c) for c in _names(params.get("columns"))]
    wanted += [("text", "text", c) for c in _names(params.get("text"))]
    for param, kind, column in wanted:
        spec = declared["columns"].get(column) if isinstance(column, str) else None
        if spec is None or spec["type"] != kind:
            raise UndeclaredParam(
                f"params.{param} names a column that is not declared {kind}",
                code="column_not_declared",
                details={"param": param, "declared": sorted(
                    n for n, s in declared["columns"].items() if s["type"] == kind
                )},
            )  # fmt: skip


def _names(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def problems(compute: Mapping[str, Any], path: str) -> Iterable[tuple[str, str]]:
    """(JSON path, reason) for what the schema cannot check: targets are declared categorical
    columns, numeric bounds are ordered, no column lists more categories than ``max_categories``."""
    columns = compute.get("columns") or {}
    cap = compute.get("max_categories", DEFAULT_MAX_CATEGORIES)
    for name, spec in columns.items():
        if spec["type"] == "numeric" and not spec["lower"] < spec["upper"]:
            yield f"{path}.columns.{name}", f"lower {spec['lower']} is not below upper {spec['upper']}"
        if spec["type"] == "categorical":
            keys = [value_key(v) for v in spec["values"]]
            if len(set(keys)) != len(keys):
                yield f"{path}.columns.{name}.values", "a value is listed twice"
            if len(keys) > cap:
                yield f"{path}.columns.{name}.values", f"{len(keys)} values, more than max_categories {cap}"
    for i, target in enumerate(compute.get("targets") or []):
        spec = columns.get(target)
        if spec is None or spec["type"] != "categorical":
            yield f"{path}.targets[{i}]", f"{target!r} is not a declared categorical column"
        elif len(spec["values"]) < 2:
            yield f"{path}.targets[{i}]", f"{target!r} declares fewer than 2 classes"


def outward_bounds(low: float, high: float) -> tuple[float, float]:
    """[low, high] widened to round numbers: two significant digits of the span, so the published
    bounds say less than the exact minimum and maximum."""
    span = high - low
    magnitude = max(abs(low), abs(high), 1.0)
    # No span, or one far below the values' own size (it would round to a step of 0): the size.
    scale = span if span > magnitude * 1e-9 else magnitude
    step = 10.0 ** (math.floor(math.log10(scale)) - 1)
    lower, upper = math.floor(low / step) * step, math.ceil(high / step) * step
    # A value far below the step divides to a signed zero (or rounds inwards): one step further out.
    if lower > low:
        lower -= step
    if upper < high:
        upper += step
    if not lower < upper:
        upper = lower + step
    # Tidying rounds to the step's digits, which may land just inside the data: a step further out.
    tidy_lower, tidy_upper = _tidy(lower, step), _tidy(upper, step)
    while tidy_lower > low:
        lower -= step
        tidy_lower = _tidy(lower, step)
    while tidy_upper < high:
        upper += step
        tidy_upper = _tidy(upper, step)
    return tidy_lower, tidy_upper


def _tidy(x: float, step: float) -> int | float:
    digits = max(0, -math.floor(math.log10(step)))
    x = round(x, digits)
    return int(x) if x == int(x) and abs(x) < 2**53 else x


def declare(
    frame: Any,
    *,
    targets: Sequence[str] = (),
    categorical: Sequence[str] = (),
    text: Sequence[str] = (),
    bounds: Mapping[str, tuple[float, float]] | None = None,
    min_category_count: int = DEFAULT_MIN_CATEGORY_COUNT,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
) -> dict[str, Any]:
    """The declarations of a compute section, made on the publisher's machine from ``frame`` (a
    pandas DataFrame):

    - each of ``targets``: a categorical column whose values are its distinct values (refused when
      there are more than ``max_categories`` of them, or fewer than 2);
    - each of ``categorical``: the values that occur at least ``min_category_count`` times, the most
      frequent ``max_categories`` of them;
    - each of ``text``: free text (only the text classifier reads it);
    - every other numeric column: numeric, between ``bounds[column]`` when given, else its minimum and
      maximum rounded outward (:func:`outward_bounds`).

    Columns not named and not numeric are not declared: no built-in uses them."""
    import pandas as pd

    bounds = dict(bounds or {})
    if min_category_count < 1:
        raise DeclarationError("min_category_count must be at least 1")
    if not 2 <= max_categories <= MAX_CATEGORIES_LIMIT:
        raise DeclarationError(f"max_categories must be from 2 to {MAX_CATEGORIES_LIMIT}")
    named = [*targets, *categorical, *text, *bounds]
    for column in named:
        if column not in frame.columns:
            raise DeclarationError(f"column {column!r} is not in the table", details={"column": column})
    for column in set(targets) | set(categorical):
        if column in text or column in bounds:
            raise DeclarationError(
                f"column {column!r} is declared twice (categorical and text or bounds)",
                details={"column": column},
            )
    columns: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        series = frame[column]
        name = str(column)
        if column in targets:
            counts = series.dropna().map(json_value).value_counts()
            if len(counts) > max_categories:
                raise DeclarationError(
                    f"target column {name!r} has more than {max_categories} distinct values "
                    "(max_categories): it is not a classification label",
                    details={"column": name},
                )
            if len(counts) < 2:
                raise DeclarationError(
                    f"target column {name!r} has fewer than 2 classes", details={"column": name}
                )
            columns[name] = {"type": "categorical", "values": _sorted(counts.index)}
        elif column in categorical:
            counts = series.dropna().map(json_value).value_counts()
            frequent = counts[counts >= min_category_count].index[:max_categories]
            columns[name] = {"type": "categorical", "values": _sorted(frequent)}
        elif column in text:
            columns[name] = {"type": "text"}
        elif column in bounds:
            lower, upper = (float(b) for b in bounds[column])
            if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
                raise DeclarationError(
                    f"bounds of column {name!r} must be finite with lower < upper", details={"column": name}
                )
            columns[name] = {"type": "numeric", "lower": lower, "upper": upper}
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=math.nan)
            finite = values[[math.isfinite(v) for v in values]]
            if len(finite) == 0:
                continue
            lower, upper = outward_bounds(float(finite.min()), float(finite.max()))
            columns[name] = {"type": "numeric", "lower": lower, "upper": upper}
    return {
        "columns": columns,
        "targets": [str(t) for t in targets],
        "min_category_count": int(min_category_count),
        "max_categories": int(max_categories),
    }


def _sorted(values: Iterable[Any]) -> list[Any]:
    listed = [json_value(v) for v in values]
    try:
        return sorted(listed)
    except TypeError:
        return sorted(listed, key=value_key)


__all__ = [
    "DECLARATION_KEYS",
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MIN_CATEGORY_COUNT",
    "MAX_CATEGORIES_LIMIT",
    "PUBLISHER_ONLY_PARAMS",
    "DeclarationError",
    "UndeclaredParam",
    "check_params",
    "declare",
    "job_declarations",
    "json_value",
    "outward_bounds",
    "problems",
    "value_key",
]
