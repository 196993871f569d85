"""Which answer a request asks for: a raw block or a CAR, and the CAR's parameters.

The ``format`` query parameter wins over ``Accept`` (as the Trustless Gateway specification says).
``Accept`` is read as RFC 9110 content negotiation: media ranges by descending ``q``, the first one
served wins; wildcards (``*/*``, ``application/*``) choose nothing, since there is no deserialized
answer to fall back to. Served: ``application/vnd.ipld.raw`` and ``application/vnd.ipld.car`` with
``version`` 1 (or none), ``order`` ``dfs`` or ``unk`` (or none: the answer is dfs either way) and
``dups`` ``y`` or ``n`` (none: ``n``). The query parameters ``car-version``, ``car-order`` and
``car-dups`` override the Accept header's. ``dag-scope`` is ``all`` (default), ``entity`` (for the
UnixFS files stored here, the same blocks as ``all``) or ``block``.

No Accept and no format is 400 ``format_required``; an Accept or format naming nothing served is 406.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import BadRequest, FormatRequired, NotAcceptable

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"
SCOPES = ("all", "entity", "block")
_ORDERS = ("", "dfs", "unk")
_SERVED = f"{RAW_TYPE} or {CAR_TYPE} (version=1, order=dfs, dups=y|n), or ?format=raw|car"


@dataclass(frozen=True, slots=True)
class Wanted:
    """What to answer: ``car`` False for the raw block; for a CAR, duplicates or not, and the scope."""

    car: bool
    dups: bool = False
    scope: str = "all"
    #: Whether the format came from the query (otherwise the answer names it in Content-Location).
    from_query: bool = False

    @property
    def content_type(self) -> str:
        if not self.car:
            return RAW_TYPE
        return f"{CAR_TYPE}; version=1; order=dfs; dups={'y' if self.dups else 'n'}"


def negotiate(accept: str | None, args: Mapping[str, str]) -> Wanted:
    """The answer for a request's Accept header and query parameters (see the module's docstring)."""
    if "entity-bytes" in args:
        raise BadRequest(
            "entity-bytes is not supported: ask for the whole CAR (dag-scope=all)",
            details={"parameter": "entity-bytes"},
        )
    fmt = args.get("format")
    if fmt is not None:
        if fmt == "raw":
            return Wanted(car=False, from_query=True)
        if fmt == "car":
            params = _car_params_in(accept) or {}
            return _car(params, args, from_query=True)
        raise NotAcceptable(
            f"format={fmt!r} is not served: this gateway answers {_SERVED}", details={"format": fmt}
        )
    if not (accept or "").strip():
        raise FormatRequired(f"say which answer to send: Accept {_SERVED}", details={"accept": ""})
    for media_type, params in _ranges(accept or ""):
        if media_type == RAW_TYPE:
            return Wanted(car=False)
        if media_type == CAR_TYPE and _car_params_ok(params):
            return _car(params, args, from_query=False)
    raise NotAcceptable(
        f"nothing in Accept is served: this gateway answers {_SERVED}", details={"accept": accept}
    )


def _car(params: Mapping[str, str], args: Mapping[str, str], *, from_query: bool) -> Wanted:
    merged = dict(params)
    for name in ("version", "order", "dups"):
        value = args.get(f"car-{name}")
        if value is not None:
            merged[name] = value
    if not _car_params_ok(merged):
        raise NotAcceptable(
            f"this gateway answers CARs with version=1, order=dfs and dups=y or n, not {merged}",
            details={k: v for k, v in merged.items() if k in ("version", "order", "dups")},
        )
    scope = args.get("dag-scope", "all")
    if scope not in SCOPES:
        raise BadRequest(f"dag-scope must be one of {', '.join(SCOPES)}", details={"dag-scope": scope})
    return Wanted(car=True, dups=merged.get("dups") == "y", scope=scope, from_query=from_query)


def _car_params_ok(params: Mapping[str, str]) -> bool:
    return (
        params.get("version", "1") == "1"
        and params.get("order", "") in _ORDERS
        and params.get("dups", "n") in ("y", "n")
    )


def _car_params_in(accept: str | None) -> dict[str, str] | None:
    for media_type, params in _ranges(accept or ""):
        if media_type == CAR_TYPE and _car_params_ok(params):
            return params
    return None


def _ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The media ranges of an Accept header with their parameters (less ``q``), by descending ``q``;
    those with ``q=0`` left out. A range that cannot be parsed is skipped."""
    ranges: list[tuple[float, int, str, dict[str, str]]] = []
    for index, item in enumerate(accept.split(",")):
        parts = [part.strip() for part in item.split(";")]
        media_type = parts[0].lower()
        if not media_type:
            continue
        params: dict[str, str] = {}
        for part in parts[1:]:
            name, _, value = part.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            continue
        if q > 0:
            ranges.append((-q, index, media_type, params))
    return [(media_type, params) for _, _, media_type, params in sorted(ranges)]


__all__ = ["CAR_TYPE", "RAW_TYPE", "SCOPES", "Wanted", "negotiate"]
