"""The publisher's and consumer's options, parsed at the edge into values or usage errors."""

from __future__ import annotations

import click
import pytest

from datamarket.chain.quotes import ZERO_ADDRESS
from datamarket.cli.params import bundle_hashes, column_bounds, datatoken, token_units

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_bounds_flags_parse_into_a_mapping() -> None:
    values = ("age=0:120", "a=b=-1.5:2e3")
    assert column_bounds(None, None, values) == {"age": (0.0, 120.0), "a=b": (-1.5, 2000.0)}  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["age", "age=1", "age=5:5", "age=x:1", "=0:1", "age=0:inf"])
def test_bad_bounds_flags_are_refused_naming_the_value(value: str) -> None:
    with pytest.raises(click.BadParameter, match=value.split("=")[0] or "="):
        column_bounds(None, None, (value,))  # type: ignore[arg-type]


def test_bundle_hashes_are_lower_case_without_repeats() -> None:
    got = bundle_hashes(None, None, ("AB" * 32, "0x" + "ab" * 32, "cd" * 32))  # type: ignore[arg-type]
    assert got == ("ab" * 32, "cd" * 32)
    with pytest.raises(click.BadParameter, match="'abc'"):
        bundle_hashes(None, None, ("abc",))  # type: ignore[arg-type]


def test_a_dataset_is_an_eip155_id_or_an_address() -> None:
    assert datatoken(f"eip155:31337/{ADDRESS.lower()}") == ADDRESS
    assert datatoken(ADDRESS.lower()) == ADDRESS
    with pytest.raises(click.BadParameter) as caught:
        datatoken("eip155:31337/0x12")
    assert caught.value.format_message().startswith("Invalid value for 'DATASET': ")


@pytest.mark.parametrize(
    ("amount", "units"), [("0", 0), ("5", 5 * 10**18), ("2.5", 25 * 10**17), ("1e-18", 1)]
)
def test_a_native_price_is_in_wei(amount: str, units: int) -> None:
    assert token_units(None, ZERO_ADDRESS, amount) == units


@pytest.mark.parametrize("amount", ["abc", "nan", "inf", "-1", "1e-19"])
def test_a_bad_price_names_the_price_option(amount: str) -> None:
    with pytest.raises(click.BadParameter) as caught:
        token_units(None, ZERO_ADDRESS, amount)
    assert caught.value.format_message().startswith("Invalid value for '--price': price ")
