"""What an ERC-20 says about itself: ``symbol()``, ``name()`` and ``decimals()``, read once per token.

The token contract is whoever deployed it: its answers are taken as text of at most 32 (symbol) or 64
(name) printable characters, decimals up to 36, and anything else (a revert, no code, a bytes32 symbol
that is not text, an answer too long) is None, never an error that stops the indexer.
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode

from datamarket.chain import events as ev
from datamarket.chain.logs import RangeRefused, Rpc
from datamarket.chain.quotes import ZERO_ADDRESS

SYMBOL, NAME, DECIMALS = "0x95d89b41", "0x06fdde03", "0x313ce567"
MAX_DECIMALS = 36


def tokens_named(events: list[Any]) -> set[str]:
    """The ERC-20s that events price in or pay with (the native coin, address zero, is not one)."""
    found = set()
    for event in events:
        if isinstance(event, ev.PriceSet | ev.Bought):
            found.add(event.payment_token)
        elif isinstance(event, ev.OrderStarted):
            found.add(event.fee_token)
        elif isinstance(event, ev.EarningsWithdrawn):
            found.add(event.token)
    return found - {ZERO_ADDRESS}


def describe(rpc: Rpc, token: str) -> dict[str, Any]:
    """The token's row for the ``tokens`` table."""
    decimals = _call(rpc, token, DECIMALS)
    number = int.from_bytes(decimals[:32], "big") if decimals and len(decimals) >= 32 else None
    return {
        "address": token,
        "symbol": _text(_call(rpc, token, SYMBOL), 32),
        "name": _text(_call(rpc, token, NAME), 64),
        "decimals": number if number is not None and number <= MAX_DECIMALS else None,
    }


def _call(rpc: Rpc, token: str, selector: str) -> bytes | None:
    try:
        answer = rpc.call("eth_call", [{"to": token, "data": selector}, "latest"])
    except RangeRefused:  # reverted, or no such function
        return None
    return bytes.fromhex(answer.removeprefix("0x")) if isinstance(answer, str) else None


def _text(raw: bytes | None, limit: int) -> str | None:
    if not raw:
        return None
    try:
        text = decode(["string"], raw)[0]
    except Exception:  # eth_abi raises several types; some old tokens answer a bytes32
        text = raw[:32].rstrip(b"\0").decode("utf-8", "replace") if len(raw) == 32 else ""
    text = text.strip()
    if not text or len(text) > limit or not text.isprintable():
        return None
    return text


__all__ = ["describe", "tokens_named"]
