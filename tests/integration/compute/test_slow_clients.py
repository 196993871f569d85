"""The local market's servers as ``datamarket up`` runs them (``gunicorn -c python:provider.gunicorn_conf``
and ``python:backend.gunicorn_conf``): clients trickling requests a byte a second keep nobody waiting,
and what gunicorn refuses itself is answered in JSON."""

from __future__ import annotations

import pytest

from tests.integration.compute.market import ComputeMarket
from tests.slow_clients import REFUSED_BY_THE_SERVER, check_json_refusal, still_waiting, timed_gets, trickling

pytestmark = pytest.mark.integration

TRICKLERS = 20


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [
        ("provider", "POST", "/api/v1/fees"),
        ("provider", "GET", "/api/v1/info"),
        ("backend", "GET", "/api/v1/datasets"),
    ],
)
def test_trickling_clients_block_nobody(
    compute_market: ComputeMarket, service: str, method: str, path: str
) -> None:
    """A POST's body, or a GET's headers, a byte a second."""
    url = compute_market.local.services[service].url
    with trickling(url, path, TRICKLERS, method=method) as sockets:
        answers = timed_gets(url + "/healthz", 5)
        assert all(still_waiting(s) for s in sockets)  # held open, still reading their bodies
    assert [status for status, _ in answers] == [200] * 5


@pytest.mark.parametrize("service", ["provider", "backend"])
@pytest.mark.parametrize(("request_bytes", "status", "code"), REFUSED_BY_THE_SERVER)
def test_refusals_are_json(
    compute_market: ComputeMarket, service: str, request_bytes: bytes, status: int, code: str
) -> None:
    check_json_refusal(compute_market.local.services[service].url, request_bytes, status, code)
