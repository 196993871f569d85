"""A served provider (``provider serve``: gevent workers) under clients that misbehave at the socket:
many connections trickling a request body a byte a second do not keep ``/healthz`` or anyone's real
request waiting, and requests gunicorn refuses itself are answered in JSON, not HTML."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from datamarket.chain.devchain import DevChain
from datamarket.sdk.provider_client import ProviderClient
from tests.conftest import World
from tests.integration.provider.serving import serve_provider
from tests.slow_clients import REFUSED_BY_THE_SERVER, check_json_refusal, still_waiting, timed_gets, trickling

pytestmark = pytest.mark.integration

#: Ten times the workers the provider has: under sync workers two were enough to block it.
TRICKLERS = 20
LIMITS = ("HEALTH", "READ", "FEES", "HEAVY", "CONSUMER")


@pytest.fixture(scope="module")
def served(anvil: DevChain, deployment: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("served")
    # Limits no client here reaches: these tests hold connections, they do not flood.
    unlimited = {f"DATAMARKET_PROVIDER_RATE_LIMIT_{name}": "10000/second" for name in LIMITS}
    with serve_provider(anvil, deployment, folder, deployment.accounts.provider, extra_env=unlimited) as url:
        yield url


def test_trickling_clients_block_nobody(served: str, world: World) -> None:
    with trickling(served, "/api/v1/fees", TRICKLERS) as sockets:
        answers = timed_gets(served + "/healthz", 10)
        info = ProviderClient(served).info()
        assert all(still_waiting(s) for s in sockets)  # held open, still reading their bodies
    assert [status for status, _ in answers] == [200] * 10
    assert info["address"] == world.accounts.provider.address


@pytest.mark.parametrize(("request_bytes", "status", "code"), REFUSED_BY_THE_SERVER)
def test_requests_the_server_refuses_are_answered_in_json(
    served: str, request_bytes: bytes, status: int, code: str
) -> None:
    check_json_refusal(served, request_bytes, status, code)
    assert timed_gets(served + "/healthz", 1)[0][0] == 200


def test_a_trickled_request_is_served_when_it_completes(served: str) -> None:
    """Slow is not refused: a body that arrives slowly but completely gets its normal answer."""
    import socket
    import time

    body = b'{"not": "a fees request"}'
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /api/v1/fees HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))  # fmt: skip
        for i in range(0, len(body), 5):
            s.sendall(body[i : i + 5])
            time.sleep(0.2)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert json.loads(payload)["error"]["code"] == "invalid_request"
