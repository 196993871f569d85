"""Profiles: exact statistics on hand-made files, rare values withheld, synthetic rows never real."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer

from datamarket.metadata.document import canonical_bytes, validate
from datamarket.metadata.profile import (
    MIN_VALUE_COUNT,
    UnsupportedFormat,
    profile_file,
    profile_frame,
    synthetic_rows,
)

CSV = """\
name,age,score,color,member
alice,23,1.5,red,True
bob,35,2.25,blue,False
carol,31,,red,True
dave,44,3.0,blue,True
erin,52,2.75,red,False
frank,23,1.25,green,True
grace,38,,red,True
heidi,41,4.5,blue,False
ivan,29,3.25,red,True
judy,35,2.0,blue,False
mallory,60,1.75,,True
niaj,47,3.5,red,False
"""
AGES = [23, 35, 31, 44, 52, 23, 38, 41, 29, 35, 60, 47]
SCORES = [1.5, 2.25, 3.0, 2.75, 1.25, 4.5, 3.25, 2.0, 1.75, 3.5]


def quantiles(values: list[float]) -> dict[str, float]:
    """The 5/25/50/75/95 % quantiles, linear interpolation, computed without numpy."""
    twentieths = statistics.quantiles(values, n=20, method="inclusive")
    return {
        "0.05": twentieths[0],
        "0.25": twentieths[4],
        "0.5": twentieths[9],
        "0.75": twentieths[14],
        "0.95": twentieths[18],
    }


def approx_stats(values: list[float]) -> dict[str, Any]:
    return {
        "mean": pytest.approx(statistics.fmean(values), rel=1e-12),
        "std": pytest.approx(statistics.stdev(values), rel=1e-12),
        "quantiles": pytest.approx(quantiles(values), rel=1e-12),
    }


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    return path


# --- statistics -----------------------------------------------------------------------------------


def test_profile_of_a_hand_made_csv(csv_file: Path):
    profile = profile_file(csv_file, seed=1)
    assert profile["rows"] == 12
    columns = {c["name"]: c for c in profile["columns"]}
    assert list(columns) == ["name", "age", "score", "color", "member"]

    age = columns["age"]
    assert (age["dtype"], age["kind"], age["missing"]) == ("int64", "numeric", 0)
    assert age["stats"]["min"] == 23 and isinstance(age["stats"]["min"], int)
    assert age["stats"]["max"] == 60 and isinstance(age["stats"]["max"], int)
    assert age["stats"] == {"min": 23, "max": 60, **approx_stats(AGES)}

    score = columns["score"]
    assert (score["dtype"], score["kind"], score["missing"]) == ("float64", "numeric", 2)
    assert score["stats"] == {"min": 1.25, "max": 4.5, **approx_stats(SCORES)}

    # red occurs 6 times, blue 4, green once: only red reaches k = 5
    color = columns["color"]
    assert (color["kind"], color["missing"]) == ("categorical", 1)
    assert color["stats"] == {"distinct": 3, "top": [{"value": "red", "count": 6}]}

    member = columns["member"]
    assert (member["dtype"], member["kind"], member["missing"]) == ("bool", "categorical", 0)
    assert member["stats"] == {
        "distinct": 2,
        "top": [{"value": True, "count": 7}, {"value": False, "count": 5}],
    }

    # every name is unique: none may appear anywhere in the profile
    name = columns["name"]
    assert name["dtype"] in ("str", "object")
    assert name["stats"] == {"distinct": 12, "top": []}
    text = canonical_bytes(profile).decode()
    for rare in ("alice", "mallory", "niaj", "green", "blue"):
        assert rare not in text


def test_synthetic_rows_of_the_csv_follow_the_columns(csv_file: Path):
    rows = profile_file(csv_file, synthetic=20, seed=7)["synthetic_rows"]
    assert len(rows) == 20
    for row in rows:
        assert list(row) == ["name", "age", "score", "color", "member"]
        assert row["name"] is None  # no name is frequent enough to show
        assert isinstance(row["age"], int) and 23 <= row["age"] <= 60
        assert row["score"] is None or (
            1.25 <= row["score"] <= 4.5 and round(row["score"], 2) == row["score"]
        )
        assert row["color"] in ("red", None)
        assert row["member"] in (True, False)


def test_profile_of_a_parquet_file(tmp_path: Path):
    df = pd.DataFrame(
        {
            "count": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
            "grade": pd.Categorical(["a", "a", "b", "a", "a", "a"]),
            "when": pd.to_datetime([f"2026-01-0{i}" for i in range(1, 7)]),
            "ratio": np.array([0.5, 0.25, np.inf, 0.75, np.nan, 1.0], dtype="float32"),
        }
    )
    path = tmp_path / "table.parquet"
    df.to_parquet(path)
    profile = profile_file(path, seed=3)
    assert profile["rows"] == 6
    count, grade, when, ratio = profile["columns"]
    assert (count["name"], count["dtype"], count["kind"], count["missing"]) == (
        "count",
        "Int64",
        "numeric",
        1,
    )
    assert count["stats"] == {"min": 1, "max": 6, **approx_stats([1, 2, 4, 5, 6])}
    assert (grade["dtype"], grade["kind"], grade["missing"]) == ("category", "categorical", 0)
    assert grade["stats"] == {"distinct": 2, "top": [{"value": "a", "count": 5}]}
    assert when["dtype"].startswith("datetime64") and when["kind"] == "categorical"
    assert when["stats"] == {"distinct": 6, "top": []}
    # infinities are left out of the statistics (JSON cannot hold them); NaN is missing
    assert (ratio["dtype"], ratio["missing"]) == ("float32", 1)
    assert ratio["stats"] == {"min": 0.25, "max": 1.0, **approx_stats([0.5, 0.25, 0.75, 1.0])}
    for row in profile["synthetic_rows"]:
        assert row["grade"] in ("a", None)
        assert row["when"] is None


def test_a_column_of_only_missing_values():
    df = pd.DataFrame({"x": [np.nan] * 6, "y": ["k"] * 6})
    profile = profile_frame(df, seed=0)
    assert profile["columns"][0]["stats"] == {
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "quantiles": {},
    }
    assert profile["columns"][0]["missing"] == 6
    # every synthetic row would be (missing, "k"), which is a real row
    assert profile["synthetic_rows"] == []


def test_an_empty_table():
    profile = profile_frame(pd.DataFrame({"a": pd.Series([], dtype="int64")}))
    assert profile == {
        "rows": 0,
        "columns": [
            {
                "name": "a",
                "dtype": "int64",
                "kind": "numeric",
                "missing": 0,
                "stats": {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}},
            }
        ],
        "synthetic_rows": [],
    }


def test_unsupported_formats_are_refused(tmp_path: Path):
    path = tmp_path / "table.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(UnsupportedFormat, match=r"expected \.csv, \.tsv, \.parquet or \.pq") as caught:
        profile_file(path)
    assert caught.value.code == "unsupported_format"


def test_k_is_the_threshold_for_showing_a_value():
    df = pd.DataFrame({"v": ["five"] * 5 + ["four"] * 4})
    assert profile_frame(df)["columns"][0]["stats"]["top"] == [{"value": "five", "count": 5}]
    assert profile_frame(df, k=4)["columns"][0]["stats"]["top"] == [
        {"value": "five", "count": 5},
        {"value": "four", "count": 4},
    ]


# --- synthetic rows are never real rows -------------------------------------------------------------


def normalized(value: Any) -> Any:
    """Nulls alike, bools as bools, numbers as floats, the rest as strings."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return None if not math.isfinite(value) else float(value)
    return str(value)


def same(a: Any, b: Any) -> bool:
    a, b = normalized(a), normalized(b)
    if isinstance(a, float) and isinstance(b, float) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return type(a) is type(b) and a == b


def equals_a_real_row(row: dict[str, Any], df: pd.DataFrame) -> bool:
    names = [str(c) for c in df.columns]
    return any(
        all(same(row[n], real) for n, real in zip(names, values, strict=True))
        for values in df.itertuples(index=False, name=None)
    )


@pytest.fixture(scope="module")
def breast_cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def test_the_real_row_check_recognizes_real_rows(breast_cancer: pd.DataFrame):
    """The property below would be vacuous if equals_a_real_row could not see a real row."""
    first = {str(c): v for c, v in breast_cancer.iloc[0].items()}
    assert equals_a_real_row(first, breast_cancer)
    first["mean radius"] += 0.001
    assert not equals_a_real_row(first, breast_cancer)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_synthetic_row_of_breast_cancer_is_real(breast_cancer: pd.DataFrame, seed: int):
    rows = synthetic_rows(breast_cancer, 5, seed=seed)
    assert len(rows) == 5
    for row in rows:
        assert list(row) == [str(c) for c in breast_cancer.columns]
        assert not equals_a_real_row(row, breast_cancer)
        assert row["target"] in (0, 1)
        for name, value in row.items():
            assert breast_cancer[name].min() <= value <= breast_cancer[name].max()


def test_breast_cancer_profile_fits_in_a_valid_document(breast_cancer: pd.DataFrame):
    from tests.fakes import full_document

    document = full_document()
    document["profile"] = profile_frame(breast_cancer, seed=5)
    validate(document)
    assert len(canonical_bytes(document)) < 64 * 1024
    assert document["profile"]["rows"] == 569
    assert len(document["profile"]["columns"]) == 31


def test_low_cardinality_table_gets_only_the_one_unseen_combination():
    """(0, x), (1, y) and (0, y) are real rows, each frequent; the only other draw is (1, x)."""
    df = pd.DataFrame({"a": [0] * 10 + [1] * 10 + [0] * 10, "b": ["x"] * 10 + ["y"] * 10 + ["y"] * 10})
    for seed in range(5):
        rows = synthetic_rows(df, 5, seed=seed)
        assert rows == [{"a": 1, "b": "x"}] * 5


def test_a_table_whose_every_combination_is_real_gets_no_synthetic_rows():
    df = pd.DataFrame({"flag": [True] * 6 + [False] * 6, "n": [1, 2] * 6})
    assert set(map(tuple, df.drop_duplicates().to_numpy().tolist())) == {
        (True, 1),
        (True, 2),
        (False, 1),
        (False, 2),
    }
    assert synthetic_rows(df, 5, seed=0) == []


def test_synthetic_rows_are_reproducible_with_a_seed(breast_cancer: pd.DataFrame):
    assert synthetic_rows(breast_cancer, 3, seed=42) == synthetic_rows(breast_cancer, 3, seed=42)
    assert synthetic_rows(breast_cancer, 3, seed=42) != synthetic_rows(breast_cancer, 3, seed=43)


@st.composite
def small_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Small low-cardinality frames with missing values: synthetic draws often hit real rows."""
    rows = draw(st.integers(min_value=0, max_value=30))
    columns: dict[str, pd.Series] = {}
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["int", "float", "str", "bool"]))

        def values(elements: st.SearchStrategy[Any]) -> list[Any]:
            return draw(st.lists(elements, min_size=rows, max_size=rows))

        if kind == "int":
            series = pd.Series(values(st.integers(-1, 2)), dtype="int64")
        elif kind == "float":
            series = pd.Series(values(st.sampled_from([0.5, 1.25, 2.0, np.nan])), dtype="float64")
        elif kind == "str":
            series = pd.Series(values(st.sampled_from(["a", "b", "c", None])), dtype=object)
        else:
            series = pd.Series(values(st.booleans()), dtype="bool")
        columns[f"{kind}{i}"] = series
    return pd.DataFrame(columns)


@given(small_frames(), st.integers(min_value=0, max_value=2**32 - 1))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_synthetic_row_is_ever_a_real_row(df: pd.DataFrame, seed: int):
    rows = synthetic_rows(df, 5, seed=seed)
    assert len(rows) <= 5
    for row in rows:
        assert not equals_a_real_row(row, df)
        for name, value in row.items():
            column = df[name]
            if value is None:
                continue
            if name.startswith(("str", "bool")):
                # only values frequent enough to be shown
                assert (column == value).sum() >= MIN_VALUE_COUNT
            else:
                assert column.min() <= value <= column.max()


def test_a_column_of_integers_beyond_2_53_profiles_into_canonical_json() -> None:
    """IDs such as 2^60 + i: a float64 statistic of them is written as a float (an int would claim
    digits the float64 does not hold, and canonical JSON refuses integers beyond 2^53 - 1), a frequent
    value as its digits."""
    ids = [2**60 + i for i in range(10)] * 3
    frame = pd.DataFrame({"id": ids, "x": list(range(30))})
    profile = profile_frame(frame, k=3, synthetic=5, seed=1)
    stats = next(c for c in profile["columns"] if c["name"] == "id")["stats"]
    assert isinstance(stats["min"], float) and stats["min"] == float(2**60)
    canonical_bytes(profile)
    assert all(isinstance(row["id"], float) for row in profile["synthetic_rows"])
