"""Opaque cursors for keyset pagination.

A cursor is the base64url (unpadded) of a small JSON array: the listing it belongs to, then the last
row's sort key. The next page starts strictly after that key, so pages never repeat or skip a row
while the catalog stays the same, and rows the indexer adds later appear in order. A cursor is
checked as strictly as any other parameter: the wrong listing, the wrong types or anything that is
not one of ours is a 400 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from typing import Any

from backend.api.errors import BadParameter

MAX_CURSOR_CHARS = 512

#: The type of each sort-key component, by listing name.
Key = Sequence[type]


def encode(listing: str, key: Sequence[Any]) -> str:
    raw = json.dumps([listing, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str | None, listing: str, types: Key) -> tuple[Any, ...] | None:
    """The sort key in ``cursor`` (None when there is none); 400 unless it is one of ours for ``listing``."""
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadParameter("cursor", "is not a cursor this API gave")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadParameter("cursor", "is not a cursor this API gave") from None
    if not isinstance(value, list) or len(value) != len(types) + 1 or value[0] != listing:
        raise BadParameter("cursor", "belongs to another listing or sort order")
    key = tuple(value[1:])
    for item, kind in zip(key, types, strict=True):
        if not _is(item, kind):
            raise BadParameter("cursor", "is not a cursor this API gave")
    return key


def _is(item: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(item, int) and not isinstance(item, bool) and -(2**63) <= item < 2**63
    if kind is float:
        return isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item)
    if kind is str:
        return isinstance(item, str) and len(item) <= 128
    return False


__all__ = ["decode", "encode"]
