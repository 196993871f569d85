"""Schemathesis against the catalog API's OpenAPI document (``GET /api/v1/openapi.json``), served by
gunicorn on a local market whose indexer has caught up with two datasets, their orders and a
compute receipt: over a thousand generated requests, malformed ones among them, and not one answer
a server error or anything the document does not describe."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from tests.fuzz import campaign
from tests.fuzz.campaign import Answer, Campaign
from tests.fuzz.market import FuzzMarket
from tests.openapi import OpenApi, pointer
from tests.slow_clients import (
    REFUSED_BY_THE_SERVER,
    check_json_refusal,
    malformed_chunked,
    one_answer,
    raw_exchange,
)

pytestmark = pytest.mark.integration

#: Generated cases per operation and phase: some 1,600 to 1,800 requests in all.
EXAMPLES = 80


def explained(check: str, answer: Answer) -> bool:
    """400s to requests the document admits, for rules that JSON Schema cannot state."""
    if check != "positive_data_acceptance" or answer.status != 400:
        return False
    error = answer.error
    param = error.get("details", {}).get("param")
    return error.get("code") == "invalid_parameter" and (
        # A cursor is the API's own: the next_cursor of a page of the same listing and sort order.
        param == "cursor"
        # max_price is not below min_price (as its description says).
        or (param == "max_price" and "below min_price" in str(error.get("message")))
        # EIP-55: a mixed-case address carries its checksum (as the Address schema says).
        or "is not a valid EIP-55 checksum" in str(error.get("message"))
    )


#: Where the document is served. Schemathesis leaves this operation out; the fixture checks it.
DOCUMENT = "/api/v1/openapi.json"


@pytest.fixture(scope="module")
def document(fuzz_market: FuzzMarket) -> OpenApi:
    """The served document, which is itself as it says."""
    served = requests.get(fuzz_market.backend + DOCUMENT, timeout=10)
    document = OpenApi(served.json(), "urn:backend")
    document.check(DOCUMENT, "GET", served.status_code, served.headers["Content-Type"], served.content)
    return document


@pytest.fixture(scope="module")
def fuzzed(fuzz_market: FuzzMarket) -> Campaign:
    m = fuzz_market
    settings = campaign.settings(
        examples=EXAMPLES,
        dictionaries={"datatokens": m.datatokens, "accounts": m.accounts, "tokens": [m.payment_token]},
        bound={"path.datatoken": "datatokens", "path.address": "accounts", "query.publisher": "accounts",
               "query.provider": "accounts", "query.payment_token": "tokens"},
    )  # fmt: skip
    return campaign.run(m.backend + DOCUMENT, settings, explained)


def test_over_a_thousand_requests_of_every_kind_were_sent(fuzzed: Campaign, document: OpenApi) -> None:
    assert fuzzed.stop_reason == "completed" and fuzzed.errors == [], fuzzed.errors
    assert len(fuzzed.answers) >= 1000, len(fuzzed.answers)
    phases, modes = Counter(a.phase for a in fuzzed.answers), Counter(a.mode for a in fuzzed.answers)
    assert {"coverage", "fuzzing", "stateful"} <= set(phases), phases
    assert modes["negative"] >= 200 and modes["positive"] >= 200, modes
    assert fuzzed.uncalled(document, DOCUMENT) == set()
    assert {a.method for a in fuzzed.answers} >= {"POST", "DELETE", "TRACE", "OPTIONS"}  # undeclared methods


def test_the_markets_own_data_was_found(fuzzed: Campaign, fuzz_market: FuzzMarket) -> None:
    """The indexed datasets, their histories, orders and the compute dataset's receipt."""
    ok = Counter(a.path for a in fuzzed.answers if a.method == "GET" and a.status == 200)
    for datatoken in fuzz_market.datatokens:
        for tail in ("", "/history", "/orders", "/metadata"):
            assert ok[f"/api/v1/datasets/{datatoken}{tail}"], tail
    assert ok[f"/api/v1/datasets/{fuzz_market.datatokens[1]}/receipts"]
    listed = [a for a in fuzzed.answers if a.path == "/api/v1/datasets" and a.status == 200]
    assert any(b'"items":[{' in a.body for a in listed)
    publisher = [a for a in fuzzed.answers if a.path == f"/api/v1/accounts/{fuzz_market.accounts[0]}"]
    assert any(a.status == 200 and b'"published":[{' in a.body for a in publisher)


def test_no_answer_is_a_server_error(fuzzed: Campaign) -> None:
    assert [str(a) for a in fuzzed.answers if a.status >= 500] == []


def test_every_answer_is_as_the_document_says(fuzzed: Campaign, document: OpenApi) -> None:
    """Status, content type (JSON everywhere) and body, by tests/openapi.py, apart from Schemathesis's
    own checks."""
    wrong = fuzzed.off_document(document)
    assert wrong == [], "\n".join(wrong[:20])


def test_every_check_passes(fuzzed: Campaign) -> None:
    """not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance, response_headers_conformance, negative_data_rejection,
    positive_data_acceptance, unsupported_method and the others, on every answer."""
    assert fuzzed.failures == [], "\n".join(fuzzed.failures[:20])


@pytest.mark.parametrize(("request_bytes", "status", "code"), REFUSED_BY_THE_SERVER)
def test_requests_the_server_refuses_are_answered_in_the_documents_error_shape(
    fuzz_market: FuzzMarket, document: OpenApi, request_bytes: bytes, status: int, code: str
) -> None:
    answer = check_json_refusal(fuzz_market.backend, request_bytes, status, code)
    assert document.schema_errors(pointer("components", "schemas", "Error"), answer) == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/v1/datasets?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/v1/datasets HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    ],
)
def test_the_servers_refusals_of_an_operation_are_documented_for_it(
    fuzz_market: FuzzMarket, document: OpenApi, request_bytes: bytes, status: int
) -> None:
    got, headers, body = raw_exchange(fuzz_market.backend, request_bytes)
    document.check("/api/v1/datasets", "GET", got, headers["content-type"], body)
    assert got == status


@pytest.mark.parametrize(("method", "status"), [("GET", 200), ("POST", 405)])
def test_a_malformed_chunked_body_gets_one_answer_as_documented(
    fuzz_market: FuzzMarket, document: OpenApi, method: str, status: int
) -> None:
    """The API reads no body: the answer, and no second one from gunicorn after it."""
    got, headers, body = one_answer(fuzz_market.backend, malformed_chunked(method, "/api/v1/stats"))
    document.check("/api/v1/stats", method, got, headers["content-type"], body)
    assert got == status
