"""Query parameters and path segments, parsed at the edge: each parser returns a clean value or
raises :class:`~backend.api.errors.BadParameter` naming the parameter. Input is attacker-controlled:
nothing here echoes the value back, only what was wrong with it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from eth_utils import to_checksum_address

from backend.api.errors import BadParameter

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_UINT = re.compile(r"^[0-9]{1,78}$")
MAX_UINT256 = 2**256 - 1
#: Longest search text accepted (characters) and most words used from it.
MAX_QUERY_CHARS = 500
MAX_TAG_CHARS = 64
MAX_TAGS = 16


def address(name: str, value: str) -> str:
    """``value`` as a checksummed address. All lower-case or all upper-case hex is accepted and
    checksummed; mixed case is an EIP-55 checksum and must be a valid one (a typo could name another
    account), as the provider rules too."""
    if not _ADDRESS.fullmatch(value):
        raise BadParameter(name, "must be a 0x-prefixed 20-byte hex address")
    checksummed = to_checksum_address(value.lower())
    digits = value[2:]
    if digits not in (digits.lower(), digits.upper()) and value != checksummed:
        raise BadParameter(name, "is not a valid EIP-55 checksum (send it checksummed, or all in one case)")
    return checksummed


def optional_address(args: Mapping[str, str], name: str) -> str | None:
    value = single(args, name)
    return None if value is None else address(name, value)


def single(args: Any, name: str) -> str | None:
    """The parameter's one value (an empty value counts as absent, as an empty form field sends it);
    400 when it is given more than once."""
    values = [v for v in args.getlist(name) if v != ""]
    if not values:
        return None
    if len(values) > 1:
        raise BadParameter(name, "must be given at most once")
    return values[0]


def uint256(args: Any, name: str) -> int | None:
    """A decimal string of a uint256 (raw units)."""
    value = single(args, name)
    if value is None:
        return None
    if not _UINT.fullmatch(value) or int(value) > MAX_UINT256:
        raise BadParameter(name, "must be a decimal integer between 0 and 2^256-1")
    return int(value)


def limit(args: Any, *, default: int, maximum: int) -> int:
    value = single(args, "limit")
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= maximum:
        raise BadParameter("limit", f"must be an integer from 1 to {maximum}")
    return int(value)


def choice(args: Any, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
    value = single(args, name)
    if value is None:
        return default
    if value not in choices:
        raise BadParameter(name, "must be one of " + ", ".join(choices))
    return value


def boolean(args: Any, name: str) -> bool | None:
    value = single(args, name)
    if value is None:
        return None
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise BadParameter(name, "must be true or false")


def text(args: Any, name: str, *, max_chars: int = MAX_QUERY_CHARS) -> str | None:
    """Free text; empty counts as absent."""
    value = single(args, name)
    if value is None or not value.strip():
        return None
    if len(value) > max_chars:
        raise BadParameter(name, f"must be at most {max_chars} characters")
    if "\x00" in value:
        raise BadParameter(name, "must not contain NUL characters")
    return value


def tags(args: Any, name: str = "tag") -> list[str]:
    """The repeated ``tag`` parameter: each a non-empty tag of at most 64 characters."""
    values = [v for v in args.getlist(name) if v != ""]
    if len(values) > MAX_TAGS:
        raise BadParameter(name, f"must be given at most {MAX_TAGS} times")
    for value in values:
        if len(value) > MAX_TAG_CHARS:
            raise BadParameter(name, f"each tag must be 1 to {MAX_TAG_CHARS} characters")
        if "\x00" in value:
            raise BadParameter(name, "must not contain NUL characters")
    return values


def known(args: Any, allowed: Sequence[str]) -> None:
    """400 for a parameter this endpoint does not take (a typo would otherwise be ignored)."""
    for name in args:
        if name not in allowed:
            raise BadParameter(name[:64], "unknown parameter")


__all__ = [
    "MAX_QUERY_CHARS", "MAX_UINT256", "address", "boolean", "choice", "known", "limit", "optional_address",
    "single", "tags", "text", "uint256",
]  # fmt: skip
