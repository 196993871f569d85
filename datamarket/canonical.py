"""Canonical JSON: RFC 8785, the JSON Canonicalization Scheme (JCS), one byte string per JSON value.

Everything the project hashes or signs as JSON goes through :func:`canonical_json`: a compute job's
``jobHash``, a result's ``output_hash``, a metadata document's pinned bytes. JCS is what a client in any
language can reproduce (``canonicalize`` in JavaScript): object keys sorted by their UTF-16 code units,
no whitespace, strings escaped minimally, numbers written as ECMAScript writes a double (``1e-7``,
``0.00001``, ``1`` for ``1.0``), UTF-8.

A value JCS cannot carry exactly is refused with :class:`NotCanonicalJSON` (an ``invalid_request``)
naming where it is: an integer beyond +/-(2^53 - 1) (a double would round it), NaN or an infinity, a key
that is not a string, or anything that is not JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

from datamarket.auth.wire import InvalidRequest

#: The largest integer a double holds exactly (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1


class NotCanonicalJSON(InvalidRequest):
    """A value that RFC 8785 cannot write exactly; ``details["field"]`` is where it is."""


def canonical_json(value: Any, *, field: str = "$") -> bytes:
    """The RFC 8785 bytes of ``value`` (dicts, lists or tuples, str, int, float, bool, None).

    ``field`` names ``value`` in errors: a refused integer at ``params.n`` of ``job`` is reported as
    ``job.params.n``.
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError):
        where, reason = _first_problem(value, field)
        raise NotCanonicalJSON(f"{where} {reason}", details={"field": where, "reason": reason}) from None


def parse_json(raw: bytes | str) -> Any:
    """JSON text read as JavaScript reads it: an integer beyond +/-(2^53 - 1) becomes a double. JCS
    writes an integral double such as ``5.8e16`` as ``58000000000000000``; read back this way it
    canonicalizes to the same bytes again."""
    return json.loads(raw, parse_int=_safe_int)


def _safe_int(text: str) -> int | float:
    value = int(text)
    return value if abs(value) <= MAX_SAFE_INTEGER else float(value)


def _first_problem(value: Any, where: str) -> tuple[str, str]:
    """Where the first value JCS refuses is, and why."""
    if value is None or isinstance(value, bool):
        return where, "is not canonical JSON"
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            return where, "is an integer beyond +/-(2^53 - 1); send it as a decimal string"
        return where, "is not canonical JSON"
    if isinstance(value, float):
        if not math.isfinite(value):
            return where, "is not a finite number"
        return where, "is not canonical JSON"
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return where, "holds a string that is not UTF-8"
        return where, "is not canonical JSON"
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _problem_or_none(item, f"{where}[{i}]")
            if found:
                return found
        return where, "is not canonical JSON"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return where, "has a key that is not a string"
            found = _problem_or_none(key, where) or _problem_or_none(item, f"{where}.{key}")
            if found:
                return found
        return where, "is not canonical JSON"
    return where, "is not a JSON value"


def _problem_or_none(value: Any, where: str) -> tuple[str, str] | None:
    try:
        rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError):
        return _first_problem(value, where)
    return None


__all__ = ["MAX_SAFE_INTEGER", "NotCanonicalJSON", "canonical_json", "parse_json"]
