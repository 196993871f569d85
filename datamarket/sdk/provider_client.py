"""HTTP client of a provider service's JSON API (``/api/v1``), as docs/data-path.md defines it."""

from __future__ import annotations

from typing import Any

import requests

from datamarket.chain.quotes import ProviderFee
from datamarket.errors import DatamarketError


class ProviderError(DatamarketError):
    """The provider refused a request; ``code`` is the provider's stable error code."""

    code = "provider_error"

    def __init__(self, code: str, message: str, *, status: int, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.code = code
        self.status = status


class ProviderUnavailable(ProviderError, ConnectionError):
    pass


class ProviderClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.trust_env = False  # loopback and LAN providers must not go through a proxy

    def info(self) -> dict[str, Any]:
        return self._request("GET", "/api/v1/info")

    def last_nonce(self, address: str) -> int:
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

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                "provider_unavailable", f"cannot reach the provider at {self.base_url}: {exc}", status=0
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.ok and isinstance(payload, dict):
            return payload
        error = (payload or {}).get("error", {}) if isinstance(payload, dict) else {}
        raise ProviderError(
            error.get("code", "provider_error"),
            error.get("message", f"the provider answered {response.status_code}"),
            status=response.status_code,
            details=error.get("details"),
        )
