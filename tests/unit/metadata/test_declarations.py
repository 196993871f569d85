"""The publisher's declarations: made from a table, validated in the document, checked against a job's
params."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamarket.metadata.declarations import (
    DeclarationError,
    UndeclaredParam,
    check_params,
    declare,
    job_declarations,
    outward_bounds,
    value_key,
)
from datamarket.metadata.document import InvalidMetadata, validate
from tests.fakes import full_document


def ward(rows: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [f"patient {i}" for i in range(rows)],
            "age": [18.25 + (i * 7) % 70 for i in range(rows)],
            "city": ["north"] * (rows // 2) + ["south"] * (rows // 2 - 3) + ["east"] * 3,
            "flag": [i % 2 == 0 for i in range(rows)],
            "diagnosis": ["flu", "cold", "none"] * (rows // 3),
        }
    )


def with_declarations(declared: dict[str, Any]) -> dict[str, Any]:
    document = full_document()
    compute = next(s for s in document["services"] if s["type"] == "compute")["compute"]
    compute.update(copy.deepcopy(declared))
    return document


# --- declare: on the publisher's machine ------------------------------------------------------------


def test_declare_takes_targets_categories_and_bounds_from_the_table() -> None:
    declared = declare(ward(), targets=["diagnosis"], categorical=["city", "name"], bounds={"age": (0, 120)})
    columns = declared["columns"]
    assert declared["targets"] == ["diagnosis"]
    assert columns["diagnosis"] == {"type": "categorical", "values": ["cold", "flu", "none"]}
    # Values seen fewer than min_category_count (10) times are not declared: east (3), every name (1).
    assert columns["city"] == {"type": "categorical", "values": ["north", "south"]}
    assert columns["name"] == {"type": "categorical", "values": []}
    assert columns["age"] == {"type": "numeric", "lower": 0.0, "upper": 120.0}
    # Booleans and undeclared text are not declared: no built-in may use them.
    assert "flag" not in columns
    assert (declared["min_category_count"], declared["max_categories"]) == (10, 32)
    validate(with_declarations(declared))


def test_declare_rounds_numeric_bounds_outward_when_none_are_given() -> None:
    columns = declare(ward())["columns"]
    # Two significant digits of the span: the data's 18.25 .. 81.25 (span 63) becomes 18 .. 82.
    assert columns["age"] == {"type": "numeric", "lower": 18, "upper": 82}
    assert outward_bounds(0.1234, 0.9876) == (0.12, 0.99)
    assert outward_bounds(5, 5) == (5, 5.1)
    # A minimum far below the step (here the smallest subnormal) must not round to 0, above it.
    assert outward_bounds(-5e-324, 1e9) == (-100000000, 1000000000)
    # A maximum a hair above a round number (1.1 + 0.8 is 1.9000000000000001) is not rounded inside.
    lower, upper = outward_bounds(1.1, 1.1 + 0.8)
    assert lower <= 1.1 and upper >= 1.1 + 0.8


@given(st.floats(-1e9, 1e9), st.floats(0, 1e9))
def test_outward_bounds_contain_the_data(low: float, span: float) -> None:
    lower, upper = outward_bounds(low, low + span)
    assert lower <= low and low + span <= upper and lower < upper


def test_declare_caps_categories_at_the_most_frequent() -> None:
    frame = pd.DataFrame({"code": [f"c{i % 40}" for i in range(800)], "y": [i % 2 for i in range(800)]})
    declared = declare(frame, categorical=["code"], max_categories=8, min_category_count=5)
    assert len(declared["columns"]["code"]["values"]) == 8


def test_declare_refuses_what_cannot_be_a_label_naming_the_column() -> None:
    with pytest.raises(DeclarationError, match="'name'") as caught:
        declare(ward(), targets=["name"])
    assert caught.value.details == {"column": "name"} and caught.value.code == "invalid_declaration"
    with pytest.raises(DeclarationError, match="'nope' is not in the table"):
        declare(ward(), categorical=["nope"])
    with pytest.raises(DeclarationError, match="'age'"):
        declare(ward(), bounds={"age": (5, 5)})
    with pytest.raises(DeclarationError, match="fewer than 2 classes"):
        declare(ward().assign(one="x"), targets=["one"])


def test_value_key_matches_a_cell_with_its_declared_value() -> None:
    assert value_key(1.0) == value_key(1) == "1"
    assert value_key("a") == "a" and value_key(True) == "True" and value_key(0.5) == "0.5"


# --- the document: what the schema and the semantic checks refuse ------------------------------------


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"targets": ["age"]}, "$.services[1].compute.targets[0]"),
        ({"targets": ["missing"]}, "$.services[1].compute.targets[0]"),
        (
            {"columns": {"age": {"type": "numeric", "lower": 9, "upper": 1}}},
            "$.services[1].compute.columns.age",
        ),
        ({"max_categories": 2}, "$.services[1].compute.columns.diagnosis.values"),
        ({"max_categories": 300}, "$.services[1].compute.max_categories"),
        ({"min_category_count": 0}, "$.services[1].compute.min_category_count"),
        ({"columns": {"age": {"type": "numeric", "lower": 0}}}, "$.services[1].compute.columns.age"),
        (
            {"columns": {"x": {"type": "categorical", "values": ["a", "a"]}}},
            "$.services[1].compute.columns.x",
        ),
    ],
)
def test_bad_declarations_make_the_document_invalid(change: dict[str, Any], path: str) -> None:
    declared = declare(ward(), targets=["diagnosis"])
    columns = {**declared["columns"], **change.pop("columns", {})}
    with pytest.raises(InvalidMetadata) as caught:
        validate(with_declarations({**declared, **change, "columns": columns}))
    assert any(error["path"].startswith(path) for error in caught.value.details["errors"]), caught.value


def test_job_declarations_fill_in_the_defaults() -> None:
    assert job_declarations({}) == {
        "columns": {},
        "targets": [],
        "min_category_count": 10,
        "max_categories": 32,
    }
    declared = declare(ward(), targets=["diagnosis"], max_categories=5)
    assert job_declarations(declared)["max_categories"] == 5


# --- check_params: what the provider refuses before accepting a built-in job -------------------------


@pytest.fixture
def compute() -> dict[str, Any]:
    return declare(ward(), targets=["diagnosis"], text=["name"])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"target": "name"}, "target_not_declared"),
        ({"target": "diagnosis", "classes": ["flu", "none"]}, "param_not_allowed"),
        ({"bounds": {"age": [0, 1]}}, "param_not_allowed"),
        ({"categories": {"city": ["north"]}}, "param_not_allowed"),
        ({"max_categories": 1000}, "param_not_allowed"),
        ({"min_category_count": 1}, "param_not_allowed"),
        ({"columns": ["age", "city"]}, "column_not_declared"),
        ({"text": "diagnosis"}, "column_not_declared"),
        ({"columns": {"age": 1}}, "column_not_declared"),
        ({"text": ["name", ["name"]]}, "column_not_declared"),
        ({"target": ["diagnosis"]}, "target_not_declared"),
    ],
)
def test_check_params_refuses_what_the_publisher_did_not_declare(
    compute: dict[str, Any], params: dict[str, Any], code: str
) -> None:
    with pytest.raises(UndeclaredParam) as caught:
        check_params(params, compute, needs_target=True)
    assert caught.value.code == code
    # The message names the param, never a value of the data.
    assert "patient" not in caught.value.message and "flu" not in caught.value.message


def test_check_params_lets_declared_choices_through(compute: dict[str, Any]) -> None:
    check_params({"target": "diagnosis", "epochs": 3}, compute, needs_target=True)
    check_params({"columns": ["age"], "text": "name"}, compute, needs_target=False)
    check_params({}, compute, needs_target=True)
    with pytest.raises(UndeclaredParam) as caught:
        check_params({}, {}, needs_target=True)
    assert caught.value.code == "no_declared_target"
    check_params({}, {}, needs_target=False)


def test_integers_beyond_2_53_are_declared_as_digits_and_still_match() -> None:
    """No JSON number holds 2^53 + 1 exactly (canonical JSON refuses it): it is declared as its digits,
    which value_key compares equal to the cell."""
    big = 2**53 + 1
    table = pd.DataFrame({"account": [big] * 12 + [7] * 12, "label": ["a", "b"] * 12})
    declared = declare(table, targets=["label"], categorical=["account"])
    assert declared["columns"]["account"] == {"type": "categorical", "values": [7, str(big)]}
    assert value_key(declared["columns"]["account"]["values"][1]) == value_key(table["account"][0])
    validate(with_declarations(declared))
