"""A pinning service for tests, implementing the IPFS Pinning Service API (v1.0.0) as its spec says.

It checks the bearer token (401 otherwise), validates every request (400 with the spec's Failure
object), keeps pin requests per token, lists them with the spec's filters (cid, name and match,
status, before, after, limit, meta) newest first, and really pins: a worker moves each request from
``queued`` to ``pinning``, fetches the whole DAG from the IPFS node it reaches (``network``, the test
node) into its own store, each block checked against its CID, and marks it ``pinned``; content that
the node does not have, or no node at all, marks it ``failed`` with the reason in
``info.status_details``.

Tests drive it two ways: :meth:`PinningStandIn.serving` runs it on a loopback port with a worker
thread; in unit tests (no sockets) its :attr:`~PinningStandIn.app` answers through
:class:`tests.wsgi_adapter.WsgiAdapter` and :meth:`~PinningStandIn.step` moves pins one step at a time.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import make_server

from datamarket.storage.base import CarStore, StorageError
from datamarket.storage.cid import CID
from datamarket.storage.embedded import EmbeddedStore

STATUSES = ("queued", "pinning", "pinned", "failed")
#: The multiaddr this service asks clients to send data to (the spec requires at least one delegate).
DELEGATE = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
MATCHES = ("exact", "iexact", "partial", "ipartial")


@dataclass
class PinRecord:
    requestid: str
    owner: str
    created: datetime
    pin: dict[str, Any]
    status: str = "queued"
    info: dict[str, str] = field(default_factory=dict)
    #: Every status it has had, in order (for the tests).
    history: list[str] = field(default_factory=lambda: ["queued"])

    def to_json(self) -> dict[str, Any]:
        return {
            "requestid": self.requestid,
            "status": self.status,
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "pin": self.pin,
            "delegates": [DELEGATE],
            "info": dict(self.info),
        }


class BadRequest(Exception):
    pass


class PinningStandIn:
    """The service. ``tokens`` are the access tokens it accepts (each its own account)."""

    def __init__(self, tokens: list[str], folder: Path, network: CarStore | None = None) -> None:
        self.tokens = tokens
        self.store = EmbeddedStore(folder / "pinned", sync=False)
        self.network = network
        self.pins: dict[str, PinRecord] = {}
        self.lock = threading.Lock()
        #: Cleared, queued pins stay queued (a busy service).
        self.admit = threading.Event()
        self.admit.set()
        #: (method, path, whether the token was accepted) of every request, in order.
        self.requests: list[tuple[str, str, bool]] = []
        self.app = self._create_app()
        self._last_created = datetime.fromtimestamp(0, UTC)

    # ------------------------------------------------------------------------------ the worker

    def step(self) -> bool:
        """Move one pin one step: the oldest pinning one is fetched (pinned or failed), else the
        oldest queued one starts pinning (when admitted). Whether anything moved."""
        with self.lock:
            by_age = sorted(self.pins.values(), key=lambda r: r.created)
            pinning = next((r for r in by_age if r.status == "pinning"), None)
            queued = next((r for r in by_age if r.status == "queued"), None)
            if pinning is None and queued is not None and self.admit.is_set():
                self._move(queued, "pinning", "fetching from the IPFS network")
                return True
        if pinning is None:
            return False
        status, detail = self._fetch(pinning.pin["cid"])
        with self.lock:
            if self.pins.get(pinning.requestid) is pinning:  # not removed meanwhile
                self._move(pinning, status, detail)
        return True

    def _fetch(self, cid: str) -> tuple[str, str]:
        if self.network is None:
            return "failed", "no IPFS node to fetch the content from"
        try:
            if not self.network.has(cid):
                return "failed", "the content is not on the IPFS network"
            dag = io.BytesIO()
            self.network.export_car(cid, dag)
            dag.seek(0)
            self.store.import_car(dag)  # every block checked against its CID, the root pinned
        except StorageError as exc:
            return "failed", f"could not fetch the content: {exc.code}"
        return "pinned", "stored"

    @staticmethod
    def _move(record: PinRecord, status: str, detail: str) -> None:
        record.status = status
        record.info = {"status_details": detail}
        record.history.append(status)

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free loopback port with a worker thread; yields the API's base URL."""
        server = make_server("127.0.0.1", 0, self.app, threaded=True)
        stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                if not self.step():
                    stop.wait(0.02)

        threads = [threading.Thread(target=server.serve_forever, daemon=True),
                   threading.Thread(target=work, daemon=True)]  # fmt: skip
        for thread in threads:
            thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            stop.set()
            server.shutdown()
            server.server_close()
            for thread in threads:
                thread.join(10)

    # ------------------------------------------------------------------------------ the API

    def _create_app(self) -> Flask:
        app = Flask("pinning-stand-in")

        @app.before_request
        def authenticate() -> Response | None:
            owner = self._owner()
            self.requests.append((request.method, request.path, owner is not None))
            if owner is None:
                return failure(401, "UNAUTHORIZED", "Access token is missing or invalid")
            request.environ["pinning.owner"] = owner
            return None

        @app.errorhandler(BadRequest)
        def bad_request(exc: BadRequest) -> Response:
            return failure(400, "BAD_REQUEST", str(exc))

        @app.errorhandler(404)
        def not_found(exc: Exception) -> Response:
            return failure(404, "NOT_FOUND", "The specified resource was not found")

        @app.errorhandler(405)
        def not_allowed(exc: Exception) -> Response:
            return failure(400, "BAD_REQUEST", "method not allowed")

        @app.get("/pins")
        def list_pins() -> Response:
            query = parse_query(request.args)
            with self.lock:
                found = [r for r in self.pins.values() if r.owner == owner() and query.matches(r)]
                found.sort(key=lambda r: r.created, reverse=True)
                body = {"count": len(found), "results": [r.to_json() for r in found[: query.limit]]}
            return answer(200, body)

        @app.post("/pins")
        def add_pin() -> Response:
            record = self._new(parse_pin(request.get_data()))
            return answer(202, record.to_json())

        @app.get("/pins/<requestid>")
        def get_pin(requestid: str) -> Response:
            with self.lock:
                return answer(200, self._own(requestid).to_json())

        @app.post("/pins/<requestid>")
        def replace_pin(requestid: str) -> Response:
            pin = parse_pin(request.get_data())
            with self.lock:
                del self.pins[self._own(requestid).requestid]
            return answer(202, self._new(pin).to_json())

        @app.delete("/pins/<requestid>")
        def remove_pin(requestid: str) -> Response:
            with self.lock:
                record = self.pins.pop(self._own(requestid).requestid)
            if record.status == "pinned" and not any(
                r.pin["cid"] == record.pin["cid"] and r.status == "pinned" for r in self.pins.values()
            ):
                self.store.unpin(record.pin["cid"])
            return Response(status=202)

        def owner() -> str:
            return request.environ["pinning.owner"]

        return app

    def _owner(self) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer":
            return None
        for known in self.tokens:
            if hmac.compare_digest(token.encode(), known.encode()):
                return known
        return None

    def _own(self, requestid: str) -> PinRecord:
        record = self.pins.get(requestid)
        if record is None or record.owner != request.environ["pinning.owner"]:
            from werkzeug.exceptions import NotFound

            raise NotFound()
        return record

    def _new(self, pin: dict[str, Any]) -> PinRecord:
        with self.lock:
            # `created` orders pages: each must be unique, so a request in the same microsecond
            # as the last one is dated one microsecond later.
            created = max(datetime.now(UTC), self._last_created + timedelta(microseconds=1))
            self._last_created = created
            record = PinRecord(uuid.uuid4().hex, request.environ["pinning.owner"], created, pin)
            self.pins[record.requestid] = record
        return record


# ---------------------------------------------------------------------------------- parsing


def parse_pin(raw: bytes) -> dict[str, Any]:
    """The spec's Pin object, or BadRequest saying what is wrong."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body is not a Pin object")
    unknown = set(body) - {"cid", "name", "origins", "meta"}
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}")
    cid = body.get("cid")
    try:
        CID.parse(cid if isinstance(cid, str) else "")
    except StorageError:
        raise BadRequest("cid is not a CID") from None
    pin: dict[str, Any] = {"cid": cid}
    if "name" in body:
        if not isinstance(body["name"], str) or len(body["name"]) > 255:
            raise BadRequest("name is not a string of at most 255 characters")
        pin["name"] = body["name"]
    origins = body.get("origins", [])
    if (
        not isinstance(origins, list) or len(origins) > 20 or len(set(map(str, origins))) != len(origins)
        or not all(isinstance(o, str) and o.startswith("/") and "/p2p/" in o for o in origins)
    ):  # fmt: skip
        raise BadRequest("origins is not a list of at most 20 distinct multiaddrs ending in /p2p/<peer id>")
    pin["origins"] = origins
    pin["meta"] = string_map(body.get("meta", {}), "meta")
    return pin


def string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(f"{name} is not an object of strings")
    return value


@dataclass(frozen=True)
class Query:
    cids: frozenset[str] | None
    name: str | None
    match: str
    statuses: frozenset[str]
    before: datetime | None
    after: datetime | None
    limit: int
    meta: dict[str, str]

    def matches(self, record: PinRecord) -> bool:
        pin = record.pin
        if self.cids is not None and pin["cid"] not in self.cids:
            return False
        if self.name is not None and not name_matches(pin.get("name"), self.name, self.match):
            return False
        if record.status not in self.statuses:
            return False
        if self.before is not None and not record.created < self.before:
            return False
        if self.after is not None and not record.created > self.after:
            return False
        return all(pin["meta"].get(k) == v for k, v in self.meta.items())


def name_matches(name: str | None, wanted: str, match: str) -> bool:
    if name is None:
        return False
    if match.startswith("i"):
        name, wanted = name.lower(), wanted.lower()
    return wanted in name if match.endswith("partial") else name == wanted


def parse_query(args: Any) -> Query:
    known = {"cid", "name", "match", "status", "before", "after", "limit", "meta"}
    unknown = set(args) - known
    if unknown:
        raise BadRequest(f"unknown parameters: {', '.join(sorted(unknown))}")
    cids = None
    if "cid" in args:
        cids = frozenset(args["cid"].split(","))
        if not 1 <= len(cids) <= 10:
            raise BadRequest("cid lists 1 to 10 CIDs")
    statuses = frozenset(args.get("status", "pinned").split(","))
    if not statuses <= set(STATUSES):
        raise BadRequest("status lists queued, pinning, pinned or failed")
    match = args.get("match", "exact")
    if match not in MATCHES:
        raise BadRequest("match is exact, iexact, partial or ipartial")
    try:
        limit = int(args.get("limit", "10"))
    except ValueError:
        raise BadRequest("limit is not an integer") from None
    if not 1 <= limit <= 1000:
        raise BadRequest("limit is 1 to 1000")
    try:
        meta = json.loads(args["meta"]) if "meta" in args else {}
    except ValueError:
        raise BadRequest("meta is not JSON") from None
    return Query(
        cids=cids, name=args.get("name"), match=match, statuses=statuses,
        before=parse_time(args.get("before"), "before"), after=parse_time(args.get("after"), "after"),
        limit=limit, meta=string_map(meta, "meta"),
    )  # fmt: skip


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} has no time zone")
    return parsed


def answer(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def failure(status: int, reason: str, details: str) -> Response:
    return answer(status, {"error": {"reason": reason, "details": details}})


__all__ = ["DELEGATE", "PinRecord", "PinningStandIn"]
