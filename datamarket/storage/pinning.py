"""A client of a remote pinning service through the IPFS Pinning Service API (v1.0.0,
github.com/ipfs/pinning-services-api-spec): ask it to keep a CID, follow the request until the content
is pinned or the service gives up, list, read, replace and remove pin requests.

The service is remote and untrusted. Every answer is read up to :data:`MAX_ANSWER_BYTES` and within
the request's timeout, parsed against the spec's shapes (:mod:`datamarket.storage.pin_status`), and
checked against the request (the CID a service says it pins is the one asked for; the request id it
answers about is the one asked about). Redirects are refused: the token goes to the configured URL
only. What a service writes in its errors is shown trimmed to printable text, with the token, should
a service echo it, replaced by ``***``. The token itself is a :class:`~datamarket.config.Secret`:
it never appears in a message, a detail or a ``repr``, and it travels in clear only to a loopback
host (``http://`` elsewhere is refused).

PinningError (StorageError)
├── PinServiceUnauthorized: 401 or 403, the token is missing, wrong or not allowed
├── PinNotFound (KeyError): 404, no such pin request
├── PinServiceRefused: 400, 409 or another 4xx; ``details`` has the status and the service's reason
│   └── PinServiceNoFunds: 409, the account has no funds left
├── PinServiceUnavailable (ConnectionError): a 5xx, no answer, a timeout, a redirect
├── PinServiceInvalidAnswer (ValueError): an answer that is not the spec's shape, or too large
├── PinFailed: the service gave up pinning the content (status ``failed``)
└── PinWaitTimeout (TimeoutError): still queued or pinning when the wait ran out
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from datamarket.config import Secret, mask_url
from datamarket.errors import ConfigError
from datamarket.storage.base import StorageError
from datamarket.storage.cid import CID
from datamarket.storage.pin_status import (
    MAX_ADDRESSES,
    MAX_NAME,
    STATUSES,
    Pin,
    PinResults,
    PinStatus,
    ShapeError,
    parse_request_id,
    parse_results,
    parse_status,
)

#: The most a service's answer may hold (a full page of 1000 results fits many times over).
MAX_ANSWER_BYTES = 4 << 20
#: The most of a service's own words (an error's reason and details, a status detail) shown.
MAX_SHOWN = 300
#: Seconds between two looks at a pin while waiting: the first, then doubling up to the last.
POLL_FIRST, POLL_MAX = 0.5, 5.0

URL_ENV, TOKEN_ENV = "DATAMARKET_PIN_SERVICE_URL", "DATAMARKET_PIN_SERVICE_TOKEN"


class PinningError(StorageError):
    code = "pinning_error"


class PinServiceUnauthorized(PinningError):
    code = "pin_service_unauthorized"


class PinNotFound(PinningError, KeyError):
    code = "pin_not_found"

    def __str__(self) -> str:
        return self.message


class PinServiceRefused(PinningError):
    code = "pin_service_refused"


class PinServiceNoFunds(PinServiceRefused):
    code = "pin_service_no_funds"


class PinServiceUnavailable(PinningError, ConnectionError):
    code = "pin_service_unavailable"


class PinServiceInvalidAnswer(PinningError, ValueError):
    code = "pin_service_invalid_answer"


class PinFailed(PinningError):
    code = "pin_failed"


class PinWaitTimeout(PinningError, TimeoutError):
    code = "pin_wait_timeout"


class _Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` (an explicit auth also keeps requests from using ~/.netrc)."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return request


class PinningService:
    """The pinning service at ``url`` (the API's base, e.g. ``https://api.pinata.cloud/psa``), used
    with ``token``. ``timeout`` bounds each request, its answer included."""

    def __init__(
        self, url: str, token: Secret, *, timeout: float = 30.0, session: requests.Session | None = None
    ) -> None:
        self.url = service_url(url)
        self._token = _checked_token(token)
        self._timeout = timeout
        self._session = session or requests.Session()
        self._shown_url = mask_url(self.url)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> PinningService:
        """The service named by the client settings (``pin_service_url``, ``pin_service_token``)."""
        missing = [
            env
            for env, value in ((URL_ENV, settings.pin_service_url), (TOKEN_ENV, settings.pin_service_token))
            if not value
        ]
        if missing:
            raise ConfigError(
                f"no pinning service: set {' and '.join(missing)} (or pin_service_url and "
                "pin_service_token in the client's settings file)"
            )
        return cls(settings.pin_service_url, settings.pin_service_token, **kwargs)

    def __repr__(self) -> str:
        return f"PinningService({self._shown_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PinningService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ the API

    def add(self, pin: Pin) -> PinStatus:
        """``POST /pins``: ask the service to pin ``pin.cid``; its answer is usually ``queued``."""
        answer = self._request("POST", "/pins", json_body=_checked_pin(pin).to_json(), expect=(200, 201, 202))
        return _about(_parsed(parse_status, answer), cid=pin.cid)

    def get(self, requestid: str) -> PinStatus:
        """``GET /pins/{requestid}``: the request's status now."""
        answer = self._request("GET", _pin_path(requestid), expect=(200,))
        return _about(_parsed(parse_status, answer), requestid=requestid)

    def replace(self, requestid: str, pin: Pin) -> PinStatus:
        """``POST /pins/{requestid}``: remove that request and add ``pin`` in one step (the answer
        has a new request id)."""
        body = _checked_pin(pin).to_json()
        answer = self._request("POST", _pin_path(requestid), json_body=body, expect=(200, 201, 202))
        return _about(_parsed(parse_status, answer), cid=pin.cid)

    def remove(self, requestid: str) -> None:
        """``DELETE /pins/{requestid}``: the service stops keeping the content for this request."""
        self._request("DELETE", _pin_path(requestid), expect=(200, 202, 204), body=False)

    def list(
        self,
        *,
        cids: Iterable[str] = (),
        name: str | None = None,
        statuses: Iterable[str] = (),
        before: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> PinResults:
        """``GET /pins``: one page, newest first. Without ``statuses`` a service lists only pinned
        requests; for the next page pass the oldest result's ``created`` as ``before``."""
        params = _list_params(list(cids), name, list(statuses), before, after, limit, meta)
        return _parsed(parse_results, self._request("GET", "/pins", params=params, expect=(200,)))

    def wait(
        self,
        requestid: str,
        *,
        timeout: float = 600.0,
        on_progress: Callable[[PinStatus], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> PinStatus:
        """Look at the request until it is ``pinned`` (returned) or ``failed`` (:class:`PinFailed`),
        for at most ``timeout`` seconds (:class:`PinWaitTimeout`). ``on_progress`` sees each new
        status (and each new detail the service gives). A service that cannot be reached for a while
        is asked again until the time is up."""
        deadline = clock() + timeout
        delay, last, shown = POLL_FIRST, None, None
        while True:
            try:
                last = self.get(requestid)
            except PinServiceUnavailable:
                if clock() >= deadline:
                    raise
            if last is not None:
                seen = (last.status, last.info.get("status_details"))
                if on_progress is not None and seen != shown:
                    on_progress(last)
                shown = seen
                if last.status == "pinned":
                    return last
                if last.status == "failed":
                    raise PinFailed(
                        f"the pinning service could not pin {last.pin.cid}{_detail(last, self._token)}",
                        details={"requestid": requestid, "cid": last.pin.cid},
                    )
            remaining = deadline - clock()
            if remaining <= 0:
                state = last.status if last is not None else "unknown"
                raise PinWaitTimeout(
                    f"pin request {requestid} is still {state} after {timeout:g} s; "
                    "the service may finish it later (see `datamarket pin status`)",
                    details={"requestid": requestid, "status": state},
                )
            sleep(min(delay, remaining))
            delay = min(delay * 2, POLL_MAX)

    # ------------------------------------------------------------------------------ transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...],
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        body: bool = True,
    ) -> Any:
        """Send one request; the JSON it answered (None when ``body`` is False), or a PinningError."""
        started = time.monotonic()
        try:
            response = self._session.request(
                method, self.url + path, params=params, json=json_body, auth=_Bearer(self._token),
                headers={"Accept": "application/json"}, timeout=self._timeout, allow_redirects=False,
                stream=True,
            )  # fmt: skip
        except requests.Timeout:
            raise self._unavailable(f"did not answer within {self._timeout:g} s") from None
        except requests.RequestException as exc:
            raise self._unavailable(f"cannot be reached ({type(exc).__name__})") from None
        try:
            raw = self._read(response, started)
        finally:
            response.close()
        status = response.status_code
        if status in expect:
            return _json(raw) if body else None
        if 300 <= status < 400:
            raise self._unavailable(f"answered a redirect ({status}); set its final URL instead")
        raise self._error(status, raw, method, path)

    def _read(self, response: requests.Response, started: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise _too_large()
        out = bytearray()
        try:
            for chunk in response.iter_content(64 * 1024):
                out += chunk
                if len(out) > MAX_ANSWER_BYTES:
                    raise _too_large()
                if time.monotonic() - started > self._timeout:
                    raise self._unavailable(f"did not finish its answer within {self._timeout:g} s")
        except requests.RequestException as exc:
            raise self._unavailable(f"broke off its answer ({type(exc).__name__})") from None
        return bytes(out)

    def _unavailable(self, what: str) -> PinServiceUnavailable:
        return PinServiceUnavailable(
            f"the pinning service at {self._shown_url} {what}", details={"service": self._shown_url}
        )

    def _error(self, status: int, raw: bytes, method: str, path: str) -> PinningError:
        reason, text = _failure(raw)
        reason, text = shown(reason, self._token, 64), shown(text, self._token)
        said = " ".join(part for part in (reason, text and f"({text})") if part)
        details: dict[str, Any] = {"status": status, "service": self._shown_url}
        if reason:
            details["reason"] = reason
        request = f"{method} {path}"
        if status in (401, 403):
            return PinServiceUnauthorized(
                f"the pinning service refused the token ({status}{': ' + said if said else ''}); "
                f"check {TOKEN_ENV}",
                details=details,
            )
        if status == 404 and path != "/pins":
            return PinNotFound(
                f"the pinning service has no such pin request (404, {request})", details=details
            )
        if status == 404:
            return PinServiceRefused(
                f"the pinning service has no {path} (404): is {URL_ENV} the base of its API?", details=details
            )
        if status == 409:
            return PinServiceNoFunds(
                f"the pinning service refused {request}: no funds left (409{': ' + said if said else ''})",
                details=details,
            )
        if 400 <= status < 500:
            return PinServiceRefused(
                f"the pinning service refused {request} ({status}{': ' + said if said else ''})",
                details=details,
            )
        return PinServiceUnavailable(
            f"the pinning service failed {request} ({status}{': ' + said if said else ''})", details=details
        )


# ---------------------------------------------------------------------------------- checks


def service_url(url: str) -> str:
    """``url`` without a trailing slash, if it can carry a token: https, or http to a loopback host;
    no credentials, query or fragment in it."""
    if not isinstance(url, str):
        raise ConfigError(f"{URL_ENV} is not an http(s) URL like https://pinning.example/psa")
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        host, parts = "", None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"{URL_ENV} is not an http(s) URL like https://pinning.example/psa")
    if parts.username is not None or parts.query or parts.fragment:
        raise ConfigError(f"{URL_ENV} must not hold credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(f"{URL_ENV} must be https: the token would cross the network in clear")
    return url


def origins(peer_id: str, addresses: Iterable[str], *, local: bool) -> tuple[str, ...]:
    """What to send as a pin's origins for an IPFS node with ``peer_id`` that listens on
    ``addresses``: each as the spec wants it, ending in ``/p2p/<peer id>`` (added where the node left it
    out), at most 20. Addresses in loopback, private or link-local networks go only to a service that
    runs on this machine (``local``): others cannot dial them, and they would tell it about the
    publisher's network."""
    if not _PEER_ID.fullmatch(peer_id):
        return ()
    found: list[str] = []
    for address in addresses:
        address = address.strip().rstrip("/")
        for suffix in (f"/p2p/{peer_id}", f"/ipfs/{peer_id}"):
            address = address.removesuffix(suffix)
        parts = address.split("/")
        if len(parts) < 3 or parts[0] or "/p2p/" in address or "/ipfs/" in address:
            continue  # not a multiaddr, or one through another peer (a relay): not ours to vouch for
        if not (local or _dialable(parts[1], parts[2])):
            continue
        found.append(f"{address}/p2p/{peer_id}")
    return tuple(dict.fromkeys(found))[:MAX_ADDRESSES]


_PEER_ID = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,128}|b[a-z2-7]{32,128}")


def _dialable(protocol: str, host: str) -> bool:
    """Whether the first part of a multiaddr (``/ip4/<host>``, ``/dns4/<host>``) is on the internet."""
    if protocol in ("ip4", "ip6"):
        try:
            return ipaddress.ip_address(host).is_global
        except ValueError:
            return False
    return protocol in ("dns", "dns4", "dns6", "dnsaddr") and host != "localhost" and "." in host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_token(token: Secret) -> Secret:
    """A token that fits in a header: printable ASCII, no spaces, at most 8 KiB (requests would put
    a bad one in its exception's message)."""
    if not isinstance(token, Secret):
        raise ConfigError(f"{TOKEN_ENV} must be given as a secret")
    value = token.reveal()
    if not value or len(value) > 8192 or not all("\x21" <= c <= "\x7e" for c in value):
        raise ConfigError(f"{TOKEN_ENV} must be printable ASCII without spaces (at most 8192 characters)")
    return token


def _checked_pin(pin: Pin) -> Pin:
    CID.parse(pin.cid)  # InvalidCID, before anything is sent
    if pin.name is not None and len(pin.name) > MAX_NAME:
        raise ConfigError(f"a pin's name is at most {MAX_NAME} characters")
    if len(pin.origins) > MAX_ADDRESSES or len(set(pin.origins)) != len(pin.origins):
        raise ConfigError(f"a pin has at most {MAX_ADDRESSES} distinct origins")
    return pin


def _pin_path(requestid: str) -> str:
    try:
        return "/pins/" + quote(parse_request_id(requestid), safe="")
    except ShapeError:
        raise ConfigError(
            "a pin request id is 1 to 512 printable ASCII characters", details={"param": "REQUESTID"}
        ) from None


def _list_params(
    cids: list[str],
    name: str | None,
    statuses: list[str],
    before: str | None,
    after: str | None,
    limit: int | None,
    meta: Mapping[str, str] | None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if cids:
        if len(cids) > 10:
            raise ConfigError("a listing filters on at most 10 CIDs")
        for cid in cids:
            CID.parse(cid)  # InvalidCID, before anything is sent
        params["cid"] = ",".join(dict.fromkeys(cids))
    if name is not None:
        if len(name) > MAX_NAME:
            raise ConfigError(f"a pin's name is at most {MAX_NAME} characters")
        params["name"] = name
    if statuses:
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise ConfigError(f"pin statuses are {', '.join(STATUSES)}, not {', '.join(unknown)}")
        params["status"] = ",".join(dict.fromkeys(statuses))
    for key, value in (("before", before), ("after", after)):
        if value is not None:
            params[key] = value
    if limit is not None:
        if not 1 <= limit <= 1000:
            raise ConfigError("a listing's limit is 1 to 1000")
        params["limit"] = str(limit)
    if meta:
        params["meta"] = json.dumps(dict(meta), separators=(",", ":"))
    return params


def _about(status: PinStatus, *, cid: str | None = None, requestid: str | None = None) -> PinStatus:
    """``status``, if it is about what was asked: the same content (CIDv0 and v1 of it are the same),
    the same request."""
    if cid is not None and not _same_content(status.pin.cid, cid):
        raise PinServiceInvalidAnswer(
            f"the pinning service answered about {shown(status.pin.cid)}, not {cid}", details={"cid": cid}
        )
    if requestid is not None and status.requestid != requestid:
        raise PinServiceInvalidAnswer(
            "the pinning service answered about another pin request", details={"requestid": requestid}
        )
    return status


def _same_content(a: str, b: str) -> bool:
    try:
        first, second = CID.parse(a), CID.parse(b)
    except StorageError:
        return False
    return (first.codec, first.multihash) == (second.codec, second.multihash)


# ---------------------------------------------------------------------------------- answers


def _json(raw: bytes) -> Any:
    try:
        return _loads(raw)
    except ValueError:
        raise PinServiceInvalidAnswer("the pinning service's answer is not JSON") from None


def _loads(raw: bytes) -> Any:
    """JSON nested at most :data:`MAX_NESTING` deep: the C parser recurses once per level, and
    thousands of them can overflow the stack before Python's recursion limit is reached."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for char in brackets:
        depth += 1 if char in b"[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            raise ValueError("nested too deep")
    return json.loads(raw, parse_constant=_no_constant)


MAX_NESTING = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _parsed(parse: Callable[[Any], Any], answer: Any) -> Any:
    try:
        return parse(answer)
    except ShapeError as exc:
        raise PinServiceInvalidAnswer(
            f"the pinning service's answer is not the API's shape: {exc}", details={"problem": str(exc)}
        ) from None


def _failure(raw: bytes) -> tuple[str, str]:
    """The reason and details of the spec's ``{"error": {"reason", "details"}}``, if that is what
    ``raw`` holds; a service or a proxy in front of it may answer anything."""
    try:
        error = _loads(raw).get("error")
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    reason, details = error.get("reason"), error.get("details")
    return (reason if isinstance(reason, str) else ""), (details if isinstance(details, str) else "")


def _too_large() -> PinServiceInvalidAnswer:
    return PinServiceInvalidAnswer(f"the pinning service's answer is larger than {MAX_ANSWER_BYTES} bytes")


def _detail(status: PinStatus, token: Secret | None) -> str:
    detail = shown(status.info.get("status_details", ""), token)
    return f": {detail}" if detail else ""


def shown(text: str, token: Secret | None = None, limit: int = MAX_SHOWN) -> str:
    """A service's words made fit to show: the token (if it echoed it) masked, control characters
    (terminal escapes, new lines) replaced by spaces, at most ``limit`` characters."""
    if token is not None and token.reveal():
        text = text.replace(token.reveal(), "***")
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text[: limit * 4])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "MAX_ANSWER_BYTES",
    "PinFailed",
    "PinNotFound",
    "PinServiceInvalidAnswer",
    "PinServiceNoFunds",
    "PinServiceRefused",
    "PinServiceUnauthorized",
    "PinServiceUnavailable",
    "PinWaitTimeout",
    "PinningError",
    "PinningService",
    "is_loopback",
    "origins",
    "service_url",
    "shown",
]
