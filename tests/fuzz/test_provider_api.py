"""Schemathesis against the provider's OpenAPI document (``GET /openapi.json``), served by gunicorn on a
local market with a finished job: over a thousand generated requests, malformed ones among them, and
not one answer a server error or anything the document does not describe. Signed requests carry
generated signatures, which fail verification: those must be refused as documented too."""

from __future__ import annotations

import json
import types
from collections import Counter

import pytest
import requests

from tests.fuzz import campaign
from tests.fuzz.campaign import Answer, Campaign
from tests.fuzz.market import METRICS_TOKEN, FuzzMarket
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

#: 400 answers to requests the document admits, for rules that JSON Schema cannot state: the words of
#: the error message, and the rule.
BEYOND_THE_SCHEMA = {
    "is not a valid EIP-55 checksum": "EIP-55: a mixed-case address carries its checksum",
    "is not the hash of the job": "jobHash is the hash of the job sent with it",
    "is not a CID": "a CID's multibase and multihash decode",
    "a download has no compute environment": "environment goes with the compute service only",
    "is an integer beyond": "RFC 8785: a job's integers are those a double carries exactly (JobSpec.params)",
}


def explainer(provider: str) -> campaign.Explained:
    """The failed checks that are the provider's design, not a departure from its document."""

    def explained(check: str, answer: Answer) -> bool:
        if check == "ignored_auth":
            return _hidden_without_its_token(provider, answer)
        return check == "positive_data_acceptance" and answer.status == 400 and _beyond_the_schema(answer)

    return explained


def _hidden_without_its_token(provider: str, answer: Answer) -> bool:
    """A job answers a missing or wrong token as it answers an unknown job id, 404 job_not_found, so
    that nobody learns which job ids exist; Schemathesis expects 401 or 403 there. Sent again here,
    without the token and with another one, to see that it is so."""
    if not answer.path.startswith("/api/v1/compute/"):
        return False
    codes = [
        (r.status_code, r.json().get("error", {}).get("code"))
        for r in (requests.request(answer.method, provider + answer.path, headers=headers, timeout=10)
                  for headers in ({}, {"Authorization": "Bearer not-this-jobs-token"}))
    ]  # fmt: skip
    return codes == [(404, "job_not_found")] * 2


def _beyond_the_schema(answer: Answer) -> bool:
    error = answer.error
    message = str(error.get("message", ""))
    return (
        any(words in message for words in BEYOND_THE_SCHEMA)
        # An output spec's bounds hold one number per coordinate of its shape, each lower below upper.
        or error.get("code") == "invalid_output_spec"
        # A signed request's integers are JSON integers or decimal strings: 255.0 is an integer to JSON
        # Schema, not to the wire format; a decimal string's range is its field's uintN, which a string
        # pattern cannot state.
        or (
            "is not an integer in" in message
            and _sent_as(answer, dict(error.get("details") or {}).get("field"), float | str)
        )
    )


def _sent_as(answer: Answer, field: object, kind: type | types.UnionType) -> bool:
    def found(node: object) -> bool:
        if isinstance(node, dict):
            return any((k == field and isinstance(v, kind)) or found(v) for k, v in node.items())
        return isinstance(node, list) and any(found(v) for v in node)

    try:
        return found(json.loads(answer.sent))
    except ValueError:
        return False


#: Where the document is served. Schemathesis leaves this operation out; the fixture checks it.
DOCUMENT = "/openapi.json"


@pytest.fixture(scope="module")
def document(fuzz_market: FuzzMarket) -> OpenApi:
    """The served document, which is itself as it says."""
    served = requests.get(fuzz_market.provider + DOCUMENT, timeout=10)
    document = OpenApi(served.json(), "urn:provider")
    document.check(DOCUMENT, "GET", served.status_code, served.headers["Content-Type"], served.content)
    return document


@pytest.fixture(scope="module")
def fuzzed(fuzz_market: FuzzMarket) -> Campaign:
    m = fuzz_market
    settings = campaign.settings(
        examples=EXAMPLES,
        dictionaries={"jobs": [m.job_id], "datatokens": m.datatokens, "accounts": m.accounts},
        bound={"path.job_id": "jobs", "path.datatoken": "datatokens", "body.datatoken": "datatokens",
               "body.request.datatoken": "datatokens", "query.address": "accounts"},
        auth={"openapi": {"jobToken": {"bearer": m.job_token}, "metricsToken": {"bearer": METRICS_TOKEN}}},
    )  # fmt: skip
    return campaign.run(m.provider + DOCUMENT, settings, explainer(m.provider))


def test_over_a_thousand_requests_of_every_kind_were_sent(fuzzed: Campaign, document: OpenApi) -> None:
    assert fuzzed.stop_reason == "completed" and fuzzed.errors == [], fuzzed.errors
    assert len(fuzzed.answers) >= 1000, len(fuzzed.answers)
    phases, modes = Counter(a.phase for a in fuzzed.answers), Counter(a.mode for a in fuzzed.answers)
    assert {"coverage", "fuzzing", "stateful"} <= set(phases), phases
    assert modes["negative"] >= 200 and modes["positive"] >= 200, modes
    assert fuzzed.uncalled(document, DOCUMENT) == set()
    assert {a.method for a in fuzzed.answers} >= {"PUT", "PATCH", "TRACE", "OPTIONS"}  # undeclared methods


def test_the_markets_own_data_was_found(fuzzed: Campaign, fuzz_market: FuzzMarket) -> None:
    ok = {(a.method, a.path) for a in fuzzed.answers if a.status == 200}
    job, compute = fuzz_market.job_id, fuzz_market.datatokens[1]
    for found in [("GET", f"/api/v1/compute/{job}"), ("GET", f"/api/v1/compute/{job}/result"),
                  ("GET", f"/api/v1/privacy/{compute}"), ("GET", "/metrics")]:  # fmt: skip
        assert found in ok, found


def test_no_answer_is_a_server_error(fuzzed: Campaign) -> None:
    assert [str(a) for a in fuzzed.answers if a.status >= 500] == []


def test_every_answer_is_as_the_document_says(fuzzed: Campaign, document: OpenApi) -> None:
    """Status, content type (JSON everywhere but the metrics and a result's archive) and body, by
    tests/openapi.py, apart from Schemathesis's own checks."""
    wrong = fuzzed.off_document(document)
    assert wrong == [], "\n".join(wrong[:20])


def test_every_check_passes(fuzzed: Campaign) -> None:
    """not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance, response_headers_conformance, negative_data_rejection,
    positive_data_acceptance, unsupported_method, ignored_auth and the others, on every answer."""
    assert fuzzed.failures == [], "\n".join(fuzzed.failures[:20])


@pytest.mark.parametrize(("request_bytes", "status", "code"), REFUSED_BY_THE_SERVER)
def test_requests_the_server_refuses_are_answered_in_the_documents_error_shape(
    fuzz_market: FuzzMarket, document: OpenApi, request_bytes: bytes, status: int, code: str
) -> None:
    answer = check_json_refusal(fuzz_market.provider, request_bytes, status, code)
    assert document.schema_errors(pointer("components", "schemas", "Error"), answer) == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/v1/nonce?address=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/v1/nonce?address=0x0 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    ],
)
def test_the_servers_refusals_of_an_operation_are_documented_for_it(
    fuzz_market: FuzzMarket, document: OpenApi, request_bytes: bytes, status: int
) -> None:
    got, headers, body = raw_exchange(fuzz_market.provider, request_bytes)
    document.check("/api/v1/nonce", "GET", got, headers["content-type"], body)
    assert got == status


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/api/v1/access", 400), ("POST", "/api/v1/fees", 400), ("POST", "/api/v1/compute", 400),
     ("GET", "/api/v1/info", 200), ("PUT", "/api/v1/fees", 405)],
)  # fmt: skip
def test_a_malformed_chunked_body_gets_one_answer_as_documented(
    fuzz_market: FuzzMarket, document: OpenApi, method: str, path: str, status: int
) -> None:
    """Read by the endpoint: 400 bad_request (it was a 500). Left unread (a GET, a 405): the answer,
    and no second one from gunicorn after it."""
    got, headers, body = one_answer(fuzz_market.provider, malformed_chunked(method, path))
    document.check(path, method, got, headers["content-type"], body)
    assert got == status and (status != 400 or json.loads(body)["error"]["code"] == "bad_request")
