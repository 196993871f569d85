"""ProviderClient's compute endpoints, against a transport adapter that answers in place of a provider."""

from __future__ import annotations

import io
import json

import pytest
import requests
from requests.adapters import BaseAdapter

from datamarket.sdk.provider_client import ProviderClient, ProviderRefused, ProviderUnavailable

BASE = "http://provider.test"
JOB = "0123456789abcdef0123456789abcdef"


class Answering(BaseAdapter):
    """Records each request and answers with the next canned (status, body) pair."""

    def __init__(self, *answers: tuple[int, bytes | dict]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []
        self.streamed: list[bool] = []
        self.closed = 0

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.sent.append(request)
        self.streamed.append(stream)
        status, body = self.answers.pop(0)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = requests.Response()
        response.status_code = status
        response.raw = _Raw(raw, self)
        response.url = request.url
        response.request = request
        response.headers["Content-Type"] = "application/octet-stream" if isinstance(body, bytes) else "json"
        return response

    def close(self) -> None:
        pass


class _Raw(io.BytesIO):
    def __init__(self, data: bytes, adapter: Answering) -> None:
        super().__init__(data)
        self.adapter = adapter

    def close(self) -> None:
        self.adapter.closed += 1
        super().close()

    def release_conn(self) -> None:
        self.adapter.closed += 1


def client(*answers) -> tuple[ProviderClient, Answering]:
    adapter = Answering(*answers)
    session = requests.Session()
    session.mount(BASE, adapter)
    return ProviderClient(BASE, session=session), adapter


def test_compute_start_posts_the_documented_body() -> None:
    provider, adapter = client((202, {"job_id": JOB, "token": "t", "state": "queued"}))
    answer = provider.compute_start({"nonce": 1}, b"\x01\x02", {"algorithm": "a"}, ["0x" + "33" * 32])
    assert answer == {"job_id": JOB, "token": "t", "state": "queued"}
    sent = adapter.sent[0]
    assert (sent.method, sent.url) == ("POST", f"{BASE}/api/v1/compute")
    assert json.loads(sent.body) == {
        "request": {"nonce": 1},
        "signature": "0x0102",
        "allowlist_proof": ["0x" + "33" * 32],
        "job": {"algorithm": "a"},
    }
    provider, adapter = client((202, {"job_id": JOB, "token": "t", "state": "queued"}))
    provider.compute_start({}, b"", {})
    assert json.loads(adapter.sent[0].body)["allowlist_proof"] == []


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        ("compute_status", "GET", f"/api/v1/compute/{JOB}"),
        ("compute_logs", "GET", f"/api/v1/compute/{JOB}/logs"),
        ("compute_result", "GET", f"/api/v1/compute/{JOB}/result"),
        ("compute_cancel", "DELETE", f"/api/v1/compute/{JOB}"),
    ],
)
def test_job_endpoints_send_the_bearer_token(call: str, method: str, path: str) -> None:
    provider, adapter = client((200, {"job_id": JOB, "state": "running"}))
    assert getattr(provider, call)(JOB, "secret-token") == {"job_id": JOB, "state": "running"}
    sent = adapter.sent[0]
    assert (sent.method, sent.url) == (method, BASE + path)
    assert sent.headers["Authorization"] == "Bearer secret-token"


def test_a_job_id_cannot_escape_its_path() -> None:
    provider, adapter = client((404, {"error": {"code": "job_not_found", "message": "no such job"}}))
    with pytest.raises(ProviderRefused):
        provider.compute_status("../../info", "t")
    assert adapter.sent[0].url == f"{BASE}/api/v1/compute/..%2F..%2Finfo"


def test_errors_keep_the_providers_code_and_details() -> None:
    body = {"error": {"code": "job_not_finished", "message": "not yet", "details": {"state": "running"}}}
    provider, _ = client((409, body))
    with pytest.raises(ProviderRefused) as caught:
        provider.compute_result(JOB, "t")
    assert (caught.value.code, caught.value.status, caught.value.details) == (
        "job_not_finished",
        409,
        {"state": "running"},
    )


def test_the_archive_is_streamed_and_closed() -> None:
    data = bytes(range(256)) * 1000
    provider, adapter = client((200, data))
    chunks = provider.compute_archive(JOB, "tok", chunk_size=4096)
    assert adapter.streamed == [True]
    assert adapter.sent[0].url == f"{BASE}/api/v1/compute/{JOB}/result/archive"
    assert adapter.sent[0].headers["Authorization"] == "Bearer tok"
    got = list(chunks)
    assert b"".join(got) == data and max(map(len, got)) <= 4096
    assert adapter.closed >= 1


def test_an_archive_error_is_raised_before_any_byte() -> None:
    provider, adapter = client((404, {"error": {"code": "job_not_found", "message": "no such job"}}))
    with pytest.raises(ProviderRefused) as caught:
        provider.compute_archive(JOB, "wrong")
    assert caught.value.code == "job_not_found"
    assert adapter.closed >= 1


def test_privacy() -> None:
    answer = {"datatoken": "0xD", "budget": 10.0, "spent": 1.0, "reserved": 0.5, "remaining": 8.5}
    provider, adapter = client((200, answer))
    assert provider.privacy("0xD") == answer
    assert (adapter.sent[0].method, adapter.sent[0].url) == ("GET", f"{BASE}/api/v1/privacy/0xD")


def test_an_unreachable_provider() -> None:
    class Refusing(BaseAdapter):
        def send(self, request, **kwargs):
            raise requests.ConnectionError("refused")

        def close(self) -> None:
            pass

    session = requests.Session()
    session.mount(BASE, Refusing())
    with pytest.raises(ProviderUnavailable):
        ProviderClient(BASE, session=session).compute_archive(JOB, "t")
