"""The objects of the IPFS Pinning Service API (v1.0.0): what a pin request holds (:class:`Pin`), what
a service says about it (:class:`PinStatus`) and a page of them (:class:`PinResults`).

A pinning service is remote and untrusted, so its answers are parsed here field by field against the
spec's shapes, with the spec's bounds (a name of at most 255 characters, at most 20 origins and
delegates, at most 1000 results and 1000 metadata entries); anything else is a :class:`ShapeError`
naming the field. ``created`` is kept as the service wrote it (pagination sends it back unchanged:
a service may keep more than microseconds) beside its parsed time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The statuses a pin goes through, in order; the last two are final.
STATUSES = ("queued", "pinning", "pinned", "failed")
FINAL_STATUSES = frozenset({"pinned", "failed"})

MAX_NAME = 255
MAX_ADDRESSES = 20
MAX_RESULTS = 1000
MAX_ENTRIES = 1000
#: Not bounded by the spec ("an opaque identifier"); generous for a UUID or a hash.
MAX_REQUEST_ID = 512
MAX_CID = 512
MAX_ADDRESS = 1024

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
#: A request id goes into a URL path and a terminal: printable ASCII, no spaces.
_REQUEST_ID = re.compile(r"[\x21-\x7e]+")


class ShapeError(ValueError):
    """An answer that is not what the spec describes; the message names the field."""


@dataclass(frozen=True)
class Pin:
    """A pin request: the CID to pin recursively, with an optional name, the multiaddrs that provide
    it (``origins``) and string metadata (``meta``)."""

    cid: str
    name: str | None = None
    origins: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"cid": self.cid}
        if self.name is not None:
            body["name"] = self.name
        if self.origins:
            body["origins"] = list(self.origins)
        if self.meta:
            body["meta"] = dict(self.meta)
        return body


@dataclass(frozen=True)
class PinStatus:
    requestid: str
    status: str
    #: As the service wrote it (RFC 3339); :attr:`created_at` is its parsed time.
    created: str
    created_at: datetime
    pin: Pin
    delegates: tuple[str, ...]
    info: dict[str, str]

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "requestid": self.requestid,
            "status": self.status,
            "created": self.created,
            "pin": {"origins": [], "meta": {}, **self.pin.to_json()},
            "delegates": list(self.delegates),
            "info": dict(self.info),
        }


@dataclass(frozen=True)
class PinResults:
    #: How many pins match the query in all; more than ``len(results)`` means more pages.
    count: int
    results: tuple[PinStatus, ...]


def parse_status(value: Any, where: str = "answer") -> PinStatus:
    obj = _object(value, where)
    status = obj.get("status")
    if status not in STATUSES:
        raise ShapeError(f"{where}.status is not one of {', '.join(STATUSES)}")
    created = _string(obj.get("created"), f"{where}.created", 64)
    return PinStatus(
        requestid=parse_request_id(obj.get("requestid"), f"{where}.requestid"),
        status=status,
        created=created,
        created_at=parse_time(created, f"{where}.created"),
        pin=parse_pin(obj.get("pin"), f"{where}.pin"),
        delegates=_addresses(obj.get("delegates"), f"{where}.delegates"),
        info=_string_map(obj.get("info", {}), f"{where}.info"),
    )


def parse_results(value: Any) -> PinResults:
    obj = _object(value, "answer")
    count = obj.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 2**31:
        raise ShapeError("answer.count is not a count")
    results = obj.get("results")
    if not isinstance(results, list) or len(results) > MAX_RESULTS:
        raise ShapeError(f"answer.results is not a list of at most {MAX_RESULTS} pin statuses")
    parsed = tuple(parse_status(item, f"answer.results[{i}]") for i, item in enumerate(results))
    if len({p.requestid for p in parsed}) != len(parsed):
        raise ShapeError("answer.results holds a request id twice")
    if count < len(parsed):
        raise ShapeError("answer.count is less than the results it holds")
    return PinResults(count=count, results=parsed)


def parse_pin(value: Any, where: str) -> Pin:
    obj = _object(value, where)
    name = obj.get("name")
    if name is not None:
        name = _string(name, f"{where}.name", MAX_NAME, empty=True)
    return Pin(
        cid=_string(obj.get("cid"), f"{where}.cid", MAX_CID),
        name=name,
        origins=_addresses(obj.get("origins", []), f"{where}.origins"),
        meta=_string_map(obj.get("meta", {}), f"{where}.meta"),
    )


def parse_request_id(value: Any, where: str = "request id") -> str:
    if not isinstance(value, str) or len(value) > MAX_REQUEST_ID or not _REQUEST_ID.fullmatch(value):
        raise ShapeError(f"{where} is not a request id (1 to {MAX_REQUEST_ID} printable ASCII characters)")
    return value


def parse_time(value: str, where: str) -> datetime:
    if not _RFC3339.fullmatch(value):
        raise ShapeError(f"{where} is not an RFC 3339 date-time")
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ShapeError(f"{where} is not an RFC 3339 date-time") from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"{where} is not an object")
    return value


def _string(value: Any, where: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or not (value or empty):
        raise ShapeError(f"{where} is not a string of {0 if empty else 1} to {limit} characters")
    return value


def _addresses(value: Any, where: str) -> tuple[str, ...]:
    """A list of multiaddrs. The spec asks a service for at least one delegate; some answer none,
    which costs the client nothing (it never dials them), so an empty list passes."""
    if not isinstance(value, list) or len(value) > MAX_ADDRESSES:
        raise ShapeError(f"{where} is not a list of at most {MAX_ADDRESSES} multiaddrs")
    items = tuple(_string(v, f"{where}[{i}]", MAX_ADDRESS) for i, v in enumerate(value))
    if len(set(items)) != len(items):
        raise ShapeError(f"{where} holds a multiaddr twice")
    return items


def _string_map(value: Any, where: str) -> dict[str, str]:
    obj = _object(value, where)
    if len(obj) > MAX_ENTRIES or not all(isinstance(v, str) for v in obj.values()):
        raise ShapeError(f"{where} is not an object of at most {MAX_ENTRIES} string values")
    return dict(obj)


__all__ = [
    "FINAL_STATUSES",
    "MAX_ADDRESSES",
    "MAX_NAME",
    "STATUSES",
    "Pin",
    "PinResults",
    "PinStatus",
    "ShapeError",
    "parse_pin",
    "parse_request_id",
    "parse_results",
    "parse_status",
    "parse_time",
]
