"""The parameters and output spec of `datamarket compute start`."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from datamarket.cli.job_params import parse_output_option, parse_params


def test_params_are_json_when_they_parse() -> None:
    got = parse_params(["a=1", "b=0.5", "c=true", "d=[1,2]", 'e={"k":null}', "f=text", "g=", "h=x=y"])
    assert got == {
        "a": 1,
        "b": 0.5,
        "c": True,
        "d": [1, 2],
        "e": {"k": None},
        "f": "text",
        "g": "",
        "h": "x=y",
    }
    assert parse_params(["n=NaN", "i=Infinity", 's="quoted"']) == {"n": "NaN", "i": "Infinity", "s": "quoted"}


@pytest.mark.parametrize("bad", [["novalue"], ["=1"], ["a=1", "a=2"]])
def test_bad_params_name_the_option(bad: list[str]) -> None:
    with pytest.raises(click.BadParameter) as caught:
        parse_params(bad)
    assert caught.value.format_message().startswith("Invalid value for '--param': ")


def test_the_cli_builds_the_output_spec(tmp_path: Path) -> None:
    assert parse_output_option(None, None, "json") is None
    assert parse_output_option("31", "-5:5", "json") == {
        "format": "json",
        "shape": [31],
        "lower": -5.0,
        "upper": 5.0,
    }
    bounds = tmp_path / "bounds.json"
    bounds.write_text(json.dumps({"lower": [0, -1], "upper": [1, 1]}))
    spec = parse_output_option("2", str(bounds), "safetensors")
    assert spec == {"format": "safetensors", "shape": [2], "lower": [0, -1], "upper": [1, 1]}
    for shape, given in (("2", "5:-5"), ("x", "0:1"), ("2", "0-1"), ("2", None), ("0", "0:1")):
        with pytest.raises(click.ClickException):
            parse_output_option(shape, given, "json")
