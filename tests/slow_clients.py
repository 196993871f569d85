"""Clients that misbehave at the socket: requests trickled a byte at a time, and requests gunicorn
refuses before any application sees them. For the tests of served providers and backends."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

import requests

#: Bodies announced by the trickling clients; they never finish sending one.
ANNOUNCED = 10_000


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@contextmanager
def trickling(
    url: str, path: str, clients: int, *, every_s: float = 1.0, method: str = "POST"
) -> Iterator[list[socket.socket]]:
    """``clients`` connections to ``url`` that each send the start of a request, then one byte every
    ``every_s`` seconds, until the block ends: a POST sends its headers and trickles its body; a GET
    trickles a header that never ends. Yields their sockets once the starts are sent."""
    stop = threading.Event()
    sockets = [socket.create_connection(_address(url), timeout=10) for _ in range(clients)]
    host = f"Host: {urlsplit(url).netloc}\r\n"
    if method == "POST":
        body = f"Content-Type: application/json\r\nContent-Length: {ANNOUNCED}\r\n\r\n"
        head = f"POST {path} HTTP/1.1\r\n{host}{body}"
    else:
        head = f"{method} {path} HTTP/1.1\r\n{host}X-Slow: "
    for s in sockets:
        s.sendall(head.encode())

    def drip() -> None:
        while not stop.wait(every_s):
            for s in sockets:
                with suppress(OSError):
                    s.sendall(b"a")

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield sockets
    finally:
        stop.set()
        thread.join(timeout=5)
        for s in sockets:
            s.close()


def still_waiting(sock: socket.socket) -> bool:
    """Whether the server still holds ``sock``'s connection open, answering nothing yet (it has
    neither answered, say with a refusal, nor closed)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # an answer, or the end of the connection
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def timed_gets(url: str, count: int, *, timeout: float = 10.0) -> list[tuple[int, float]]:
    """``count`` GETs of ``url`` one after another: (status, seconds) of each. A request that gets
    no answer within ``timeout`` raises, which is what a blocked server looks like."""
    session = requests.Session()
    session.trust_env = False
    answers = []
    for _ in range(count):
        started = time.perf_counter()
        status = session.get(url, timeout=timeout).status_code
        answers.append((status, time.perf_counter() - started))
    return answers


def raw_exchange(url: str, request: bytes, *, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is and read the whole answer: (status, headers, body)."""
    with socket.create_connection(_address(url), timeout=timeout) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            # The server closed with some of the request unread; the answer came before that.
            if not data:
                raise
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def malformed_chunked(method: str, path: str) -> bytes:
    """A request whose chunked body has a chunk size that is not hexadecimal."""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    ).encode()


def one_answer(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """:func:`raw_exchange`, and AssertionError unless the server wrote one answer and nothing else."""
    status, headers, body = raw_exchange(url, request)
    assert len(body) == int(headers["content-length"]), body[:400]
    return status, headers, body


#: Requests gunicorn refuses itself, and the status and JSON error code it must answer with. Each is
#: under 8 KiB, which gunicorn reads whole, so it closes with nothing unread (no reset).
REFUSED_BY_THE_SERVER = [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431,
     "headers_too_large"),
    (b"\x16\x03\x01 not http <script>\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad <Header>: 1\r\n\r\n", 400, "bad_request"),
]  # fmt: skip


def check_json_refusal(url: str, request: bytes, status: int, code: str) -> dict:
    """Send ``request``; AssertionError unless it is refused ``status`` in the JSON error shape with
    ``code``. Returns the answer's JSON."""
    got, headers, body = raw_exchange(url, request)
    assert got == status, (got, body[:200])
    assert headers["content-type"] == "application/json", headers
    answer = json.loads(body)
    error = answer["error"]
    assert error["code"] == code and isinstance(error["message"], str) and error["details"] == {}
    assert b"<html" not in body.lower() and b"<script>" not in body
    return answer
