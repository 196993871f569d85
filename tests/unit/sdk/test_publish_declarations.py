"""Publishing's declarations on the publisher's machine: the CLI's flags and the request's checks."""

from __future__ import annotations

import click
import pytest

from datamarket.cli import _column_bounds
from datamarket.sdk.publish import PublishError, PublishRequest, _declarations


def test_bounds_flags_parse_into_a_mapping() -> None:
    values = ("age=0:120", "a=b=-1.5:2e3")
    assert _column_bounds(None, None, values) == {"age": (0.0, 120.0), "a=b": (-1.5, 2000.0)}  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["age", "age=1", "age=5:5", "age=x:1", "=0:1", "age=0:inf"])
def test_bad_bounds_flags_are_refused_naming_the_value(value: str) -> None:
    with pytest.raises(click.BadParameter, match=value.split("=")[0] or "="):
        _column_bounds(None, None, (value,))  # type: ignore[arg-type]


def test_a_target_with_too_many_classes_stops_publishing_naming_it(tmp_path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("name,y\n" + "".join(f"p{i},{i % 2}\n" for i in range(40)))
    request = PublishRequest(path=table, name="t", compute=True, targets=("name",))
    with pytest.raises(PublishError, match="'name'") as caught:
        _declarations(request)
    assert caught.value.details == {"column": "name"}
    declared = _declarations(PublishRequest(path=table, name="t", compute=True, targets=("y",)))
    assert declared["targets"] == ["y"] and declared["columns"]["y"]["values"] == [0, 1]
    assert "name" not in declared["columns"]
