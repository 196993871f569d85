"""Chart geometry: bars inside the picture, in proportion to their values, with a text alternative."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.web import charts

DAY = 86400


def inside(chart: charts.Chart) -> bool:
    return all(
        bar.x >= 0 and bar.x + bar.width <= chart.width + 0.01 and bar.y >= 0
        and bar.y + bar.height <= chart.height - charts.LABEL_ROOM + 0.51
        for bar in chart.bars
    )  # fmt: skip


@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=30))
def test_bars_stay_inside_the_picture(values: list[float]) -> None:
    chart = charts.bar_chart("t", [(str(i), v) for i, v in enumerate(values)])
    assert chart is not None and inside(chart)
    assert len(chart.bars) == min(len(values), charts.MAX_BARS)


def test_bars_are_proportional_and_negative_values_hang_below_zero() -> None:
    chart = charts.bar_chart("t", [("a", 10), ("b", 5), ("c", -5)])
    assert chart is not None
    a, b, c = chart.bars
    assert abs(a.height - 2 * b.height) < 0.01 and abs(b.height - c.height) < 0.01
    assert abs(a.y + a.height - chart.baseline) < 0.01 and abs(c.y - chart.baseline) < 0.01
    assert chart.description == "a: 10; b: 5; c: -5"


def test_no_points_no_chart() -> None:
    assert charts.bar_chart("t", []) is None
    assert charts.bar_chart("t", [("a", "not a number")]) is None  # type: ignore[list-item]
    assert charts.orders_chart([]) is None
    assert charts.budget_gauge(0, 0) is None


def test_columns_chart_their_most_telling_statistics() -> None:
    categorical = charts.column_chart({"name": "c", "stats": {"top": [{"value": "x", "count": 3}]}})
    assert categorical is not None and categorical.description == "x: 3"
    numeric = charts.column_chart({"name": "n", "stats": {"quantiles": {"1": 9, "0": 1, "0.5": 4}}})
    assert numeric is not None and [bar.label for bar in numeric.bars] == ["min", "p50", "max"]
    plain = charts.column_chart({"name": "n", "stats": {"min": 1, "max": 3, "mean": 2}})
    assert plain is not None and plain.description == "min: 1; mean: 2; max: 3"
    assert charts.column_chart({"name": "n", "stats": {}}) is None


def test_orders_per_day_fill_the_days_between() -> None:
    start = 1_717_200_000 - 1_717_200_000 % DAY
    chart = charts.orders_chart([(start, 2), (start + 3 * DAY, 1)])
    assert chart is not None and [bar.value for bar in chart.bars] == ["2", "0", "0", "1"]
    assert chart.title == "Orders per day, 3 in all"
    far = charts.orders_chart([(start, 1), (start + 365 * DAY, 1)])
    assert far is not None and len(far.bars) == 2  # a long span shows only the days with orders


def test_the_gauge_says_what_it_shows() -> None:
    gauge = charts.budget_gauge(10.0, 12.0)  # overspent cannot draw past the end
    assert gauge is not None and gauge.filled == gauge.width
    half = charts.budget_gauge(4.0, 1.0)
    assert half is not None and half.filled == gauge.width / 4
    assert half.description == "1 of 4 epsilon spent (25%); 3 remaining"
