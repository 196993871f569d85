"""Amounts as a buyer reads them: exact for any number of decimals and any size, base units where
the token did not describe itself, the native coin named as such."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

import pytest

from backend.web.amounts import amount, readable_symbol, units

TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
NATIVE = {"address": "0x" + "0" * 40, "symbol": None, "name": "native coin", "decimals": 18}
MAX = 2**256 - 1


def token(symbol: Any = "lUSD", decimals: Any = 18) -> dict[str, Any]:
    return {"address": TOKEN, "symbol": symbol, "name": "Local USD", "decimals": decimals}


def exact(value: int, decimals: int) -> str:
    """The same conversion through ``decimal.Decimal`` with enough precision for any uint256."""
    with localcontext() as context:
        context.prec = 200
        text = format(Decimal(value).scaleb(-decimals), "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


@pytest.mark.parametrize(
    ("raw", "decimals", "text"),
    [
        (5 * 10**18, 18, "5"),
        (10**18 + 10**17 * 5, 18, "1.5"),
        (1, 18, "0.000000000000000001"),
        (10**18 - 1, 18, "0.999999999999999999"),
        (0, 18, "0"),
        (1_234_567 * 10**18 + 1, 18, "1,234,567.000000000000000001"),
        (1_234_567, 0, "1,234,567"),
        (1_234_567, 6, "1.234567"),
        (120, 2, "1.2"),
    ],
)
def test_units_are_exact(raw: int, decimals: int, text: str) -> None:
    assert units(raw, decimals) == text == exact(raw, decimals)


@pytest.mark.parametrize("decimals", [0, 1, 6, 18, 36])
def test_huge_values_keep_every_digit(decimals: int) -> None:
    for value in (MAX, MAX - 1, 10**77 - 1, 2**255 + 12345):
        text = units(value, decimals)
        assert text == exact(value, decimals)
        whole, _, fraction = text.replace(",", "").partition(".")
        assert int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0") == value


def test_a_described_token_reads_in_whole_tokens_beside_its_address() -> None:
    shown = amount(str(5 * 10**18), token())
    assert (shown.text, shown.token, shown.raw) == ("5 lUSD", TOKEN, False)
    assert amount("1500000", token("USDC", 6)).text == "1.5 USDC"
    assert amount("7", token("WHOLE", 0)).text == "7 WHOLE"
    assert amount(str(MAX), token()).text == exact(MAX, 18) + " lUSD"


def test_the_native_coin() -> None:
    shown = amount(str(10**18 + 5 * 10**17), NATIVE)
    assert (shown.text, shown.token, shown.raw) == ("1.5 (native coin)", None, False)
    assert amount("0", NATIVE).text == "0 (native coin)"


@pytest.mark.parametrize(
    "info",
    [
        token(decimals=None),  # decimals() did not answer
        token(symbol=None),  # symbol() did not answer
        {"address": TOKEN, "symbol": None, "name": None, "decimals": None},  # nothing answered
        token(symbol="US Dollar"),  # whitespace: could read as a sentence
        token(symbol="(native coin)"),  # imitating the chain's own coin
        token(symbol=""),
        token(decimals=True),
        token(decimals=-1),
    ],
)
def test_unknown_decimals_or_symbol_fall_back_to_base_units(info: dict[str, Any]) -> None:
    shown = amount(str(5 * 10**18), info)
    assert (shown.text, shown.token, shown.raw) == ("5,000,000,000,000,000,000 base units", TOKEN, True)


def test_a_hostile_symbol_is_only_text() -> None:
    # Escaping is the templates' job (autoescape); the amount keeps the symbol as the contract said it.
    shown = amount("2", token("<b>x</b>", 0))
    assert shown.text == "2 <b>x</b>" and shown.token == TOKEN
    assert readable_symbol("<b>x</b>") == "<b>x</b>"
    assert readable_symbol("a\u202eb") is None  # a right-to-left override is not printable
    assert readable_symbol("USD\n") is None and readable_symbol(5) is None


@pytest.mark.parametrize("raw", ["", "1.5", "-1", "1_000", "٣", " 5", "0x10"])
def test_what_is_not_a_decimal_string_is_shown_as_it_is(raw: str) -> None:
    shown = amount(raw, token())
    assert (shown.text, shown.raw) == (raw, True)
