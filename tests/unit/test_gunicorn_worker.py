"""The answers gunicorn writes itself in the services' workers: the JSON error object, never HTML."""

from __future__ import annotations

import json

import pytest
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize, InvalidRequestLine

from datamarket.gunicorn_worker import MAX_MESSAGE, answered_already, error_response


def parse(raw: bytes) -> tuple[str, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body)
    return lines[0], headers, json.loads(body)


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [(400, "Bad Request", "bad_request"), (414, "URI Too Long", "uri_too_long"),
     (431, "Request Header Fields Too Large", "headers_too_large"), (403, "Forbidden", "forbidden"),
     (501, "Not Implemented", "not_implemented")],
)  # fmt: skip
def test_a_refusal_is_the_json_error_object(status: int, reason: str, code: str) -> None:
    line, headers, body = parse(error_response(status, reason, "what was wrong"))
    assert line == f"HTTP/1.1 {status} {reason}"
    assert headers["Content-Type"] == "application/json" and headers["Connection"] == "close"
    assert body == {"error": {"code": code, "message": "what was wrong", "details": {}}}


def test_a_server_error_says_nothing_of_its_cause() -> None:
    _, _, body = parse(error_response(500, "Internal Server Error", "Traceback: /srv/provider/app.py"))
    assert body["error"] == {"code": "internal_error", "message": "internal error", "details": {}}


def test_what_the_client_sent_is_quoted_as_json_text_and_cut() -> None:
    sent = '</script><script>alert(1)</script>\r\nSet-Cookie: x=1"' + "a" * 500
    raw = error_response(400, "Bad Request", f"Invalid Request Line '{sent}'")
    head, _, _ = raw.partition(b"\r\n\r\n")
    assert b"Set-Cookie" not in head  # nothing the client sent reaches the headers
    message = parse(raw)[2]["error"]["message"]
    assert len(message) == MAX_MESSAGE and message.startswith("Invalid Request Line '</script>")


def test_an_empty_message_falls_back_to_the_reason() -> None:
    assert parse(error_response(400, "Bad Request", ""))[2]["error"]["message"] == "Bad Request"


def test_a_malformed_body_left_unread_by_an_answered_request_gets_no_second_answer() -> None:
    """Raised while gunicorn skips the body the application did not read, before the next request."""
    assert answered_already(None, InvalidChunkSize(b"zz"))
    assert answered_already(None, ChunkMissingTerminator(b"xx"))
    # A request being read, or a request line that is not one: these are answered (in JSON).
    assert not answered_already(object(), InvalidChunkSize(b"zz"))
    assert not answered_already(None, InvalidRequestLine("PRI * HTTP/2.0"))
