"""HTTP client of a provider service's JSON API (``/api/v1``), as docs/data-path.md defines it.

Errors::

    DatamarketError
    └── ProviderRefused: the provider answered with its JSON error (``code``, ``status``, ``details``)
        └── ProviderUnavailable (ConnectionError): no answer at all
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from datamarket.chain.quotes import ProviderFee
from datamarket.errors import DatamarketError


class ProviderRefused(DatamarketError):
    """The provider refused a request; ``code`` is the provider's stable error code, ``status`` the
    HTTP status it answered with and ``details`` its error's details."""

    code = "provider_error"

    def __init__(self, code: str, message: str, *, status: int, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.code = code
        self.status = status


class ProviderUnavailable(ProviderRefused, ConnectionError):
    """No answer: the provider cannot be reached, or broke off (``code`` ``provider_unavailable``,
    ``status`` 0). A ProviderRefused too, so that one ``except`` covers every failed request."""


class ProviderClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.trust_env = False  # loopback and LAN providers must not go through a proxy

    def info(self) -> dict[str, Any]:
        return self._request("GET", "/api/v1/info")

    def last_nonce(self, address: str) -> int:
        """The highest request nonce the provider accepted from ``address`` that is still inside its
        nonce window (0 if none). Not needed to sign: any unused time in milliseconds near the
        provider's clock is accepted, once."""
        return int(self._request("GET", "/api/v1/nonce", params={"address": address})["nonce"])

    def fee_quote(
        self, datatoken: str, consumer: str, service_id: int, environment: str | None = None
    ) -> tuple[ProviderFee, bytes]:
        body: dict[str, Any] = {"datatoken": datatoken, "consumer": consumer, "service_id": service_id}
        if environment is not None:
            body["environment"] = environment
        answer = self._request("POST", "/api/v1/fees", json=body)
        quote = ProviderFee.from_json(answer["quote"])
        return quote, bytes.fromhex(answer["signature"].removeprefix("0x"))

    def access(self, request: dict[str, Any], signature: bytes, proof: list[str] | None = None) -> dict:
        body = {"request": request, "signature": "0x" + signature.hex(), "allowlist_proof": proof or []}
        return self._request("POST", "/api/v1/access", json=body)

    # ------------------------------------------------------------------------------ compute

    def compute_start(
        self, request: dict[str, Any], signature: bytes, job: dict[str, Any], proof: list[str] | None = None
    ) -> dict[str, Any]:
        """``POST /compute``: ``{"job_id", "token", "state"}`` once the provider accepted the job."""
        body = {
            "request": request,
            "signature": "0x" + signature.hex(),
            "allowlist_proof": proof or [],
            "job": job,
        }
        return self._request("POST", "/api/v1/compute", json=body)

    def compute_status(self, job_id: str, token: str) -> dict[str, Any]:
        return self._request("GET", _job_path(job_id), headers=_bearer(token))

    def compute_logs(self, job_id: str, token: str) -> dict[str, Any]:
        return self._request("GET", _job_path(job_id, "/logs"), headers=_bearer(token))

    def compute_result(self, job_id: str, token: str) -> dict[str, Any]:
        return self._request("GET", _job_path(job_id, "/result"), headers=_bearer(token))

    def compute_archive(self, job_id: str, token: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The encrypted result archive, streamed. The request is made (and an error answer raised)
        before this returns; the connection is closed when the iterator is exhausted or closed."""
        response = self._send(
            "GET", _job_path(job_id, "/result/archive"), headers=_bearer(token), stream=True
        )
        if not response.ok:
            try:
                self._answer(response)
            finally:
                response.close()
        return self._iter_body(response, chunk_size)

    def compute_cancel(self, job_id: str, token: str) -> dict[str, Any]:
        return self._request("DELETE", _job_path(job_id), headers=_bearer(token))

    def privacy(self, datatoken: str) -> dict[str, Any]:
        """``{"datatoken", "budget", "spent", "reserved", "remaining"}`` (epsilon, as floats)."""
        return self._request("GET", f"/api/v1/privacy/{quote(datatoken, safe='')}")

    # ------------------------------------------------------------------------------ transport

    def _iter_body(self, response: requests.Response, chunk_size: int) -> Iterator[bytes]:
        try:
            for chunk in response.iter_content(chunk_size):
                if chunk:
                    yield chunk
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                "provider_unavailable", f"the provider at {self.base_url} broke off: {exc}", status=0
            ) from None
        finally:
            response.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                "provider_unavailable", f"cannot reach the provider at {self.base_url}: {exc}", status=0
            ) from None

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._answer(self._send(method, path, **kwargs))

    @staticmethod
    def _answer(response: requests.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.ok and isinstance(payload, dict):
            return payload
        error = (payload or {}).get("error", {}) if isinstance(payload, dict) else {}
        if not isinstance(error, dict):
            error = {}
        raise ProviderRefused(
            error.get("code", "provider_error"),
            error.get("message", f"the provider answered {response.status_code}"),
            status=response.status_code,
            details=error.get("details"),
        )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _job_path(job_id: str, tail: str = "") -> str:
    return f"/api/v1/compute/{quote(job_id, safe='')}{tail}"
