"""How cells and outputs become tokens for the raw-row scan (see the package's docstring)."""

from __future__ import annotations

import functools
import math
import re
from typing import Any

_SPLIT = re.compile(r"[\s,;|\"'\[\]{}():=]+")
_SEPARATOR = re.compile(r"[\s,;|\"'\[\]{}():=]")
_NULL_TOKENS = frozenset({"", "nan", "-nan", "+nan", "none", "null", "na", "n/a", "<na>", "nat"})
_NUMERIC_START = frozenset("0123456789+-.")
_WRAPPERS = ("np.", "numpy.")


def canonical_number(value: float) -> str | None:
    """The canonical token of a number (None when it is not finite)."""
    try:
        value = float(value)
    except OverflowError:  # an int too large for a float
        return str(value)
    if not math.isfinite(value):
        return None
    value = round(value, 6)
    if value.is_integer():
        return str(int(value))
    return repr(value)


@functools.lru_cache(maxsize=1 << 18)
def _normalize_lowered(token: str) -> str:
    if token.startswith(_WRAPPERS):  # np.int64(5) as NumPy 2 prints scalars: only the 5 counts
        return ""
    if token and token[0] in _NUMERIC_START:
        try:
            value = float(token)
        except ValueError:
            return token
        canonical = canonical_number(value)
        if canonical is not None:
            return canonical
    return token


def normalize_token(token: str) -> str:
    """One token (no separators inside) normalized: stripped, lower-cased, numbers canonical."""
    return _normalize_lowered(token.strip().lower())


def tokenize(text: str) -> list[str]:
    """The normalized tokens of a text, null spellings dropped."""
    out = []
    for raw in _SPLIT.split(text.lower()):
        if raw:
            token = _normalize_lowered(raw)
            if token not in _NULL_TOKENS:
                out.append(token)
    return out


def _json_tokens(value: Any, *, keys: bool) -> list[str]:
    """Depth-first tokens of a parsed JSON value: arrays in order, objects key then value."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.extend(tokenize(item))
        elif isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float):
            canonical = canonical_number(item)
            if canonical is not None:
                out.append(canonical)
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            for key, sub in reversed(list(item.items())):
                stack.append(sub)
                if keys:
                    stack.append(key)
    return out
