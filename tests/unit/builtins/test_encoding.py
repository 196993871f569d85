"""The encoding rules of the training built-ins, called directly: only declared columns, declared classes,
declared categories (without DP only those seen at least k times), the category cap, declared bounds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from datamarket.builtins import ALGORITHMS_DIR


@pytest.fixture(scope="module")
def tabular() -> Iterator[ModuleType]:
    """train_tabular as a module, with its siblings (_job, _training) importable the way it imports them."""
    sys.path.insert(0, str(ALGORITHMS_DIR))
    try:
        import train_tabular

        yield train_tabular
    finally:
        sys.path.remove(str(ALGORITHMS_DIR))


def declared(**columns: dict[str, Any]) -> dict[str, Any]:
    return {"columns": columns, "targets": ["y"], "min_category_count": 3, "max_categories": 4}


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [f"person {i}" for i in range(12)],
            "city": ["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"],
            "age": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 500],
            "secret": list(range(12)),
            "y": ["yes", "no"] * 5 + ["maybe", None],
        }
    )


ALL = np.arange(12)
NAMES = {"type": "categorical", "values": [f"person {i}" for i in range(12)]}
CITY = {"type": "categorical", "values": ["a", "b", "c", "d", "e", "f"]}
AGE = {"type": "numeric", "lower": 0, "upper": 100}


def test_without_dp_a_category_seen_fewer_than_k_times_is_not_encoded(tabular: ModuleType) -> None:
    _, names, inputs = tabular.build_features(frame(), "y", ALL, False, declared(name=NAMES, city=CITY))
    # Every name occurs once (< k = 3): none reaches the model or its metadata; c (2) and d (1) neither.
    assert names == ["city=a", "city=b"]
    assert inputs == [{"column": "city", "kind": "one_hot", "categories": ["a", "b"]}]


def test_with_dp_the_declared_values_are_encoded_whatever_the_data_capped(tabular: ModuleType) -> None:
    features, names, _ = tabular.build_features(frame(), "y", ALL, True, declared(city=CITY))
    assert names == ["city=a", "city=b", "city=c", "city=d"]  # the cap (4) of the 6 declared values
    assert features.shape == (12, 4) and features[:, 3].sum() == 1


def test_undeclared_columns_are_never_used(tabular: ModuleType) -> None:
    features, names, _ = tabular.build_features(frame(), "y", ALL, False, declared(age=AGE))
    assert names == ["age"] and features.shape == (12, 1)
    with pytest.raises(tabular.JobError, match="no usable declared feature column"):
        tabular.build_features(frame(), "y", ALL, False, declared())


def test_numeric_columns_are_clipped_to_their_declared_bounds(tabular: ModuleType) -> None:
    features, _, inputs = tabular.build_features(frame(), "y", ALL, True, declared(age=AGE))
    assert inputs == [{"column": "age", "kind": "bounded", "lo": 0.0, "hi": 100.0}]
    assert features[:, 0].max() == 1.0 and features[:, 0].min() == pytest.approx(-0.8)
    _, _, inputs = tabular.build_features(frame(), "y", ALL, False, declared(age=AGE))
    # Without DP the mean is that of the clipped values: 500 counts as 100.
    assert inputs[0]["mean"] == pytest.approx((sum(range(10, 101, 10)) + 110 * 0 + 100 + 100) / 12)


def test_rows_whose_label_is_not_a_declared_class_are_dropped(tabular: ModuleType) -> None:
    kept, labels = tabular.encode_target(frame(), "y", ["no", "yes"])
    assert list(labels) == [1, 0] * 5 and len(kept) == 10
    kept, labels = tabular.encode_target(pd.DataFrame({"y": [1.0, 0.0, np.nan, 2.0]}), "y", [0, 1])
    assert list(labels) == [1, 0]
