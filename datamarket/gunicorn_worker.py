"""The gunicorn worker of the provider and the backend: gevent, and JSON for gunicorn's own errors.

**Slow clients.** Gunicorn's default (sync) worker serves one connection at a time from its first
byte to its last, so two clients trickling a request at one byte a second held both workers of a
provider and ``/healthz`` went unanswered. Under gevent every connection is a greenlet: a client that
trickles holds its own greenlet and nothing else, and a process serves up to
:data:`WORKER_CONNECTIONS` connections at once. The services' I/O (sockets for JSON-RPC, Redis and
the broker; psycopg, which waits through gevent once ``gevent.monkey`` has patched the process)
yields while it waits; SQLite and the CPU-bound work are short and run to completion.

**JSON everywhere.** Gunicorn answers some requests itself, before the application sees them: a
request line or headers over its limits, a malformed request, a bad chunk. Its answer is an HTML page;
clients of the APIs parse JSON, so this worker writes the services' error object instead, ``{"error":
{"code", "message", "details"}}``. The message is gunicorn's (it may quote what the client sent: it is
JSON-encoded and cut to :data:`MAX_MESSAGE` characters), except for 500, which says nothing more.

**One answer per request.** A request whose chunked body is malformed, sent to an endpoint that
does not read bodies, has its answer before gunicorn reads the rest of the body; gunicorn would then
write a second answer, a 400, which a client keeping the connection takes for the answer to its next
request. This worker closes the connection instead.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkExtension, InvalidChunkSize
from gunicorn.workers.ggevent import GeventWorker

#: Connections one worker process serves at once (gunicorn's ``worker_connections``).
WORKER_CONNECTIONS = 1000
#: The worker class, as gunicorn's ``worker_class`` setting names it.
WORKER_CLASS = f"{__name__}.JsonGeventWorker"
MAX_MESSAGE = 200

#: Error codes of the statuses gunicorn answers itself.
CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def error_response(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response carrying the services' JSON error object; the connection closes."""
    if status >= 500 and status != 501:
        message = "internal error"
    text = message[:MAX_MESSAGE] or reason
    body = json.dumps(
        {"error": {"code": CODES.get(status, "bad_request"), "message": text, "details": {}}},
        sort_keys=True,
    ).encode()
    reason = reason.encode("ascii", "replace").decode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, error_response(status_int, reason, mesg))


#: What gunicorn raises for a malformed chunked body.
BODY_ERRORS = (InvalidChunkSize, ChunkMissingTerminator, InvalidChunkExtension)


def answered_already(req: Any, exc: BaseException) -> bool:
    """Whether ``exc`` comes from the body of a request that has its answer: before it parses the
    next request on a connection, gunicorn reads what the application left unread of the last one's
    body (a 405, a GET), and ``req``, the next request, is None then."""
    return req is None and isinstance(exc, BODY_ERRORS)


class JsonGeventWorker(GeventWorker):  # type: ignore[misc]
    """Gunicorn's gevent worker, whose own error answers are the services' JSON error object."""

    def init_process(self) -> None:
        # The worker's base class writes its errors through gunicorn.util.write_error; in this
        # process (a forked worker: the master and other programs are untouched) that is ours.
        util.write_error = write_json_error
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if answered_already(req, exc):
            # A second answer would be read as the answer to the client's next request: close.
            self.log.debug("closing the connection after a malformed request body: %s", exc)
            return
        super().handle_error(req, client, addr, exc)


__all__ = ["WORKER_CLASS", "WORKER_CONNECTIONS", "JsonGeventWorker", "answered_already", "error_response"]
