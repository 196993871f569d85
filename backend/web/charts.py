"""Chart geometry for the pages' inline SVG, computed here so that templates only draw rectangles.

Every chart is a list of bars in a fixed viewBox, with a title and a text alternative: the numbers it
shows, written out, so that a screen reader (or a reader without images) gets the same information.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

WIDTH = 320
HEIGHT = 120
#: Room under the bars for their labels.
LABEL_ROOM = 18
MAX_BARS = 12
#: A span of days longer than this shows only the days that had orders.
MAX_DAY_SPAN = 60
DAY = 86400


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class Chart:
    title: str
    #: The chart's content in words (the SVG's ``<desc>`` and the alternative shown beside it).
    description: str
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT
    #: The y of the zero line (the bottom of the plot when every value is >= 0).
    baseline: float = HEIGHT - LABEL_ROOM


def number(value: float) -> str:
    """A number in a few significant digits, as the charts and tables show it."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def bar_chart(title: str, points: list[tuple[str, float]]) -> Chart | None:
    """Bars for (label, value) points; negative values hang below a zero line. None without points."""
    points = [(label, float(v)) for label, v in points if isinstance(v, int | float) and math.isfinite(v)]
    points = points[:MAX_BARS]
    if not points:
        return None
    plot = HEIGHT - LABEL_ROOM
    top = max(0.0, *(v for _, v in points))
    bottom = min(0.0, *(v for _, v in points))
    span = (top - bottom) or 1.0
    baseline = plot * top / span
    slot = WIDTH / len(points)
    bars = []
    for i, (label, value) in enumerate(points):
        height = plot * abs(value) / span
        y = baseline - height if value >= 0 else baseline
        bars.append(Bar(round(i * slot + slot * 0.1, 2), round(y, 2), round(slot * 0.8, 2),
                        round(max(height, 0.5), 2), label, number(value)))  # fmt: skip
    description = "; ".join(f"{bar.label}: {bar.value}" for bar in bars)
    return Chart(title, description, bars, baseline=round(baseline, 2))


def column_chart(column: dict[str, Any]) -> Chart | None:
    """A profile column's statistics: the most frequent values of a categorical column, the quantiles
    of a numeric one (min, quartiles, max when the profile has no quantiles)."""
    name = str(column.get("name", ""))
    stats = column.get("stats") if isinstance(column.get("stats"), dict) else {}
    top = stats.get("top")
    if isinstance(top, list) and top:
        points = [(str(entry.get("value")), entry.get("count")) for entry in top if isinstance(entry, dict)]
        return bar_chart(f"{name}: most frequent values", points)
    quantiles = stats.get("quantiles")
    if isinstance(quantiles, dict) and quantiles:
        ordered = sorted(quantiles.items(), key=lambda item: _quantile_key(item[0]))
        points = [(_quantile_label(q), v) for q, v in ordered if v is not None]
        return bar_chart(f"{name}: quantiles", points)
    points = [(key, stats.get(key)) for key in ("min", "mean", "max") if stats.get(key) is not None]
    return bar_chart(f"{name}: range", points)


def _quantile_key(q: str) -> float:
    try:
        return float(q)
    except ValueError:
        return math.inf


def _quantile_label(q: str) -> str:
    value = _quantile_key(q)
    if value == 0:
        return "min"
    if value == 1:
        return "max"
    return f"p{value * 100:g}" if math.isfinite(value) else q


def orders_chart(days: list[tuple[int, int]]) -> Chart | None:
    """Orders per day (UTC): every day from the first order's to the last's, or only the days that
    had orders when that span is long."""
    if not days:
        return None
    counts = dict(days)
    first, last = days[0][0], days[-1][0]
    span = (last - first) // DAY + 1
    shown = range(first, last + DAY, DAY) if span <= MAX_DAY_SPAN else [day for day, _ in days]
    points = [(_day(day), counts.get(day, 0)) for day in shown]
    return _counts_chart(f"Orders per day, {sum(counts.values())} in all", points)


def _counts_chart(title: str, points: list[tuple[str, int]]) -> Chart:
    """Bars of counts from zero (a day without orders still has its slot)."""
    plot = HEIGHT - LABEL_ROOM
    top = max(1, *(v for _, v in points))
    slot = WIDTH / len(points)
    bars = [
        Bar(round(i * slot + slot * 0.1, 2), round(plot - plot * v / top, 2), round(slot * 0.8, 2),
            round(plot * v / top, 2), label, str(v))
        for i, (label, v) in enumerate(points)
    ]  # fmt: skip
    description = "; ".join(f"{label}: {v}" for label, v in points if v)
    return Chart(title, description, bars, baseline=plot)


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Gauge:
    title: str
    description: str
    #: Width of the spent part, of ``width``.
    filled: float
    width: int = WIDTH
    height: int = 24


def budget_gauge(budget: float, spent: float) -> Gauge | None:
    """The privacy budget: how much of epsilon is spent. None when the dataset has no budget."""
    if budget <= 0:
        return None
    share = min(max(spent / budget, 0.0), 1.0)
    remaining = max(budget - spent, 0.0)
    description = (
        f"{number(spent)} of {number(budget)} epsilon spent ({share:.0%}); {number(remaining)} remaining"
    )
    return Gauge("Privacy budget", description, round(WIDTH * share, 2))


__all__ = ["Bar", "Chart", "Gauge", "bar_chart", "budget_gauge", "column_chart", "number", "orders_chart"]
