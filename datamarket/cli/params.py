"""Options and arguments of the publisher's and consumer's commands, parsed at the edge: a bad one is a
usage error (click's ``BadParameter``) that names it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import click
from eth_utils import is_address, to_checksum_address


def datatoken(dataset: str, param_hint: Sequence[str] = ("DATASET",)) -> str:
    """A dataset's datatoken from ``eip155:<chain>/<address>`` or a bare address."""
    address = dataset.rsplit("/", 1)[-1]
    if not is_address(address):
        raise click.BadParameter(
            f"{dataset!r} is neither eip155:<chain>/<address> nor an address", param_hint=list(param_hint)
        )
    return to_checksum_address(address)


def bundle_hashes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """``--trust-algorithm`` values: bundle hashes, 64 hex digits (``0x`` allowed), in lower case."""
    hashes = []
    for value in values:
        digest = value.lower().removeprefix("0x")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise click.BadParameter(f"{value!r} is not a bundle hash (64 hex digits)")
        if digest not in hashes:
            hashes.append(digest)
    return tuple(hashes)


def column_bounds(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, tuple[float, float]]:
    """``--bounds COL=LO:HI`` values: {column: (lo, hi)}, finite with lo < hi."""
    bounds: dict[str, tuple[float, float]] = {}
    for value in values:
        column, _, pair = value.rpartition("=")
        lo_text, _, hi_text = pair.partition(":")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not COL=LO:HI") from None
        if not column or not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise click.BadParameter(f"{value!r}: bounds of column {column!r} must be finite with LO < HI")
        bounds[column] = (lo, hi)
    return bounds


def token_units(w3: Any, token: str, amount: str, param_hint: Sequence[str] = ("--price",)) -> int:
    """``amount`` whole units of ``token`` (the native coin: 18 decimals) in its smallest unit."""
    from datamarket.chain import artifacts
    from datamarket.chain.quotes import ZERO_ADDRESS

    hint = list(param_hint)
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise click.BadParameter(f"price {amount!r} is not a number", param_hint=hint) from None
    if not value.is_finite():
        raise click.BadParameter(f"price {amount!r} is not a finite number", param_hint=hint)
    decimals = 18
    if token != ZERO_ADDRESS:
        contract = w3.eth.contract(address=token, abi=artifacts.load("MockERC20").abi)
        decimals = contract.functions.decimals().call()
    units = value * 10**decimals
    if units < 0 or units != units.to_integral_value():
        raise click.BadParameter(
            f"price {amount} has more than {decimals} decimals or is negative", param_hint=hint
        )
    return int(units)


__all__ = ["bundle_hashes", "column_bounds", "datatoken", "token_units"]
