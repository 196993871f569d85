"""Amounts as a buyer reads them: ``5 lUSD`` rather than ``5000000000000000000``.

An amount on chain is an integer of base units; its token's ``decimals`` say how many base units make
one whole token. The conversion here is exact (integer division, never floating point): the whole
part with thousands separators, then the fraction with its trailing zeros trimmed, so
``1500000000000000000`` at 18 decimals is ``1.5`` and ``2**256 - 1`` keeps every digit.

The symbol is whatever the token's contract answered: anyone can deploy a token called ``USDC``.
The pages therefore always show the token's address beside an amount (see ``token_link`` in
``templates/macros.html``); here the symbol is only text, escaped by the templates like any other.
Where the decimals or the symbol are unknown (the contract did not answer), or the symbol has
whitespace in it (a token named ``(native coin)`` must not read like the chain's own coin), the
amount stays in base units. The native coin (the zero address) reads ``1.5 (native coin)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.api.records import ZERO_ADDRESS


@dataclass(frozen=True)
class Amount:
    #: The amount as a buyer reads it: ``5 lUSD``, ``1.5 (native coin)`` or ``7 base units``.
    text: str
    #: The token's address; None for the native coin (it has no contract to tell apart).
    token: str | None
    #: Whether ``text`` is in base units (the token's decimals or symbol unknown).
    raw: bool


def units(value: int, decimals: int) -> str:
    """``value`` base units in whole tokens, exactly: ``1,234.5`` (no trailing zeros, no exponent)."""
    whole, fraction = divmod(value, 10**decimals)
    text = f"{whole:,}"
    if fraction:
        text += "." + str(fraction).rjust(decimals, "0").rstrip("0")
    return text


def readable_symbol(symbol: Any) -> str | None:
    """The symbol if it can stand beside an amount: text without whitespace (``5 US Dollar`` could
    pass for a sentence, ``5 (native coin)`` for the chain's coin)."""
    if not isinstance(symbol, str) or not symbol or not symbol.isprintable():
        return None
    return None if any(c.isspace() for c in symbol) else symbol


def amount(value: Any, info: dict[str, Any] | None) -> Amount:
    """``value`` (a decimal string of base units, as the API answers amounts) of the token that
    ``info`` (the API's token description: address, symbol, name, decimals) describes."""
    address = info.get("address") if info else None
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        return Amount(text, address, True)
    base = int(text)
    if address == ZERO_ADDRESS:
        return Amount(f"{units(base, 18)} (native coin)", None, False)
    decimals = info.get("decimals") if info else None
    symbol = readable_symbol(info.get("symbol")) if info else None
    if isinstance(decimals, int) and not isinstance(decimals, bool) and 0 <= decimals <= 77 and symbol:
        return Amount(f"{units(base, decimals)} {symbol}", address, False)
    return Amount(f"{base:,} base units", address, True)


__all__ = ["Amount", "amount", "readable_symbol", "units"]
