"""Markdown tables, and numbers written the same way in every section."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

#: What a table shows where the results have no figure.
NONE = "-"


def cell(value: object) -> str:
    """``value`` as one table cell: on one line, its pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def table(header: Sequence[str], rows: Iterable[Sequence[object]], left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns are aligned left, the others right (figures)."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fixed(value: float, digits: int = 0) -> str:
    """``value`` with ``digits`` decimals, rounded half up as it was recorded (0.0895 is 0.090, where
    binary floating point would give 0.089). NaN and infinities as Python writes them."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    if not math.isfinite(value):
        return str(value)
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def number(value: float | None, digits: int = 0) -> str:
    """``value`` with thousands separators and ``digits`` decimals; ``-`` for no value."""
    if value is None:
        return NONE
    return f"{Decimal(fixed(value, digits)):,}"


def percent(ratio: float | None, digits: int = 0) -> str:
    """A ratio as a percentage: 1.213 is ``121%``."""
    return NONE if ratio is None else f"{fixed(ratio * 100, digits)}%"


def mean_std(mean: float | None, std: float | None, digits: int = 3) -> str:
    """``0.970 ± 0.002``; the mean alone when there is no spread recorded."""
    if mean is None:
        return NONE
    return fixed(mean, digits) if std is None else f"{fixed(mean, digits)} ± {fixed(std, digits)}"


def millions(value: float | None, digits: int = 2) -> str:
    """``2.56M``."""
    return NONE if value is None else f"{fixed(value / 1e6, digits)}M"


def pair(a: str, b: str, sep: str = " / ") -> str:
    return f"{a}{sep}{b}"


def series(values: Iterable[object], last: str = " and ") -> str:
    """``1, 3 and 8``."""
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]


def general(value: float) -> str:
    """A figure of unknown meaning, as it was recorded but readable: integers grouped, floats to 4
    significant digits (``1e-05`` stays exact)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}" if abs(value) >= 1000 else f"{value:.4g}"


#: The README's prose is wrapped at this width (tables, code and headings are left as they are).
WIDTH = 100
_KEPT = ("|", "#", "```", "<!--", "![")


def _wrap_block(block: str) -> str:
    if block.startswith(_KEPT):
        return block
    if block.startswith("- "):
        items = ("- " + item for item in block[2:].split("\n- "))
        return "\n".join(_fill(" ".join(item.split()), "  ") for item in items)
    return _fill(" ".join(block.split()), "")


def _fill(text: str, indent: str) -> str:
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > WIDTH:
            lines.append(line)
            line = indent + word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def wrap(text: str) -> str:
    """``text`` with each paragraph of prose (and each list item) refilled to :data:`WIDTH` columns."""
    blocks, current, fenced = [], [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    return "\n\n".join(_wrap_block(b) for b in blocks) + "\n"
