"""A results file that no section reads yet: its top-level figures, as recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench_readme.markdown import NONE, cell, general, table

#: The longest text shown for one recorded string.
TEXT_LIMIT = 80
#: A list of records becomes a table of at most these many rows and columns.
MAX_ROWS, MAX_COLUMNS = 30, 10


def describe(value: Any) -> str:
    """One recorded value in a table cell."""
    if value is None:
        return NONE
    if isinstance(value, bool | int | float):
        return general(value)
    if isinstance(value, str):
        return value if len(value) <= TEXT_LIMIT else value[: TEXT_LIMIT - 3] + "..."
    if isinstance(value, Mapping):
        return f"{len(value)} entries"
    if isinstance(value, Sequence):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        if value and len(numbers) == len(value):
            return f"{len(value)} values, {general(min(numbers))} to {general(max(numbers))}"
        if value and all(isinstance(v, Mapping) for v in value):
            return f"{len(value)} records (below)"
        return f"{len(value)} items"
    return str(value)


def _scalars(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's scalar values, a nested mapping's one level down as ``outer.inner``."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            flat |= {f"{key}.{k}": v for k, v in value.items() if not isinstance(v, Mapping | list)}
        elif not isinstance(value, list):
            flat[str(key)] = value
    return flat


def _records(key: str, records: Sequence[Mapping[str, Any]]) -> str:
    rows = [_scalars(r) for r in records]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    shown = columns[:MAX_COLUMNS]
    lines = [
        f"`{cell(key)}`:",
        "",
        table(shown, ([describe(r.get(c)) for c in shown] for r in rows[:MAX_ROWS])),
    ]
    cut = []
    if len(rows) > MAX_ROWS:
        cut.append(f"{len(rows) - MAX_ROWS} more records")
    if len(columns) > MAX_COLUMNS:
        cut.append("more columns: " + ", ".join(columns[MAX_COLUMNS:]))
    if cut:
        lines += ["", f"Not shown here ({'; '.join(cut)}): see the file."]
    return "\n".join(lines)


def listing(data: Any) -> str:
    """The file's top-level figures (a nested mapping's one level down), then a table per list of
    records. The machine is left out: the machines table names it."""
    if not isinstance(data, Mapping):
        return table(["figure", "recorded"], [["(the whole file)", describe(data)]])
    rows = []
    for key, value in data.items():
        if key == "machine":
            continue
        if isinstance(value, Mapping) and value:
            rows += [[f"{key}.{k}", describe(v)] for k, v in value.items()]
        else:
            rows.append([key, describe(value)])
    parts = [table(["figure", "recorded"], rows)] if rows else []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            parts.append(_records(key, value))
    return "\n\n".join(parts) if parts else "The file records no figures."


def section(name: str, data: Any) -> str:
    """The section of a results file ``name`` that no section of the report knows."""
    stem = name.removesuffix(".json")
    return "\n\n".join(
        [
            f"## {stem} (`bench/results/{name}`)",
            "No section of this report reads this file yet; its figures as recorded:",
            listing(data),
        ]
    )
