"""Request rate limits, shared by the services (the provider, the backend's API and pages).

Each service sorts its endpoints into classes (cheap reads, health probes, expensive writes...) and
gives each class a rule in the notation of the ``limits`` library: ``"5/second;60/minute"`` allows
5 requests in any second and 60 in any minute. A request is counted under its class and the address
of its client (:func:`client_address`); past the rule, :meth:`RateLimiter.hit` raises
:class:`RateLimited`, which the services answer with 429 ``rate_limited`` and ``Retry-After``.

Counting uses the sliding window counter of ``limits``: two counters per (class, client), whatever
the rule's numbers, so a flood of new addresses costs little memory. The counts live in this process
(``memory://``: each gunicorn worker counts on its own, so a client gets up to the rule times the
workers) or in Redis (``redis://``, ``rediss://``), where every worker and machine adds to the same
counts. When Redis does not answer, the limiter counts in this process until it answers again
(fail-open to local counts, see docs/design-notes.md note 77): the limits stay on, only
per process, and a Redis outage does not become an outage of the service.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from datamarket.errors import DatamarketError

log = logging.getLogger("datamarket.ratelimit")

#: Storage URL schemes: counts in this process, or shared in Redis.
SCHEMES = ("memory", "redis", "rediss")
#: Seconds a Redis call may take before the limiter counts locally instead.
REDIS_TIMEOUT_S = 0.5
#: After a failed Redis call, how long the limiter counts locally before it tries Redis again.
REDIS_RETRY_S = 5.0
#: Limits of one class at most (``"5/second;60/minute;1000/day"`` is three).
MAX_RULES = 4
#: IPv6 clients are counted by their /64 network: one subscriber usually holds at least that many
#: addresses, and could otherwise take a fresh budget for every request.
IPV6_PREFIX = 64
#: The key of a client whose address is unknown (a Unix socket peer, no trusted proxy header).
UNKNOWN_CLIENT = "unknown"


class RateLimited(DatamarketError):
    """Too many requests from one client (or one signed consumer) in a class's window."""

    code = "rate_limited"

    def __init__(self, retry_after: int, *, who: str = "this address") -> None:
        super().__init__(
            f"too many requests from {who}; retry in {retry_after} s", details={"retry_after": retry_after}
        )
        #: Whole seconds, at least 1, until the next request of this class would be counted.
        self.retry_after = retry_after


def parse_rule(text: str) -> tuple[RateLimitItem, ...]:
    """The limits of a rule (``"5/second;60/minute"``), shortest window first; ValueError if it is
    not one, names no limit, more than MAX_RULES, or one allowing no request at all."""
    items = parse_many(text) if isinstance(text, str) else []
    if not items or len(items) > MAX_RULES or any(item.amount < 1 for item in items):
        raise ValueError("not a rate limit rule")
    return tuple(sorted(items, key=lambda item: item.get_expiry()))


def rule_check(value: Any) -> str | None:
    """A settings check (``datamarket.config``): ``value`` is a usable rule."""
    try:
        parse_rule(value)
    except ValueError:
        return f'a rate limit such as "5/second;60/minute" (at most {MAX_RULES} limits, each >= 1)'
    return None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: bare, ``1.2.3.4:port`` or ``[v6]:port``; None if it is none."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: Iterable[str] = (), trusted_proxies: int = 0) -> str:
    """The key a request is counted under: its client's address (an IPv6 one as its /64 network).

    With ``trusted_proxies`` = 0 that is the TCP peer, whatever ``X-Forwarded-For`` says: the client
    writes that header. With N trusted reverse proxies in front, each appending the address it saw,
    the client is the N-th entry from the right of ``forwarded_for`` (the header's lines, in order);
    everything to its left was written by the client. A header with fewer entries, or whose N-th
    entry is not an address, counts under the peer (the nearest proxy), never under the client's
    words.
    """
    address = _ip(peer or "")
    if trusted_proxies > 0:
        hops = [hop for line in forwarded_for for hop in line.split(",")]
        if len(hops) >= trusted_proxies:
            address = _ip(hops[-trusted_proxies]) or address
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def retry_after(item: RateLimitItem, window: tuple[int, float, int, float]) -> int:
    """Whole seconds (>= 1) until ``item`` takes one more request, from the sliding window's state
    ``(previous count, previous seconds left, current count, current seconds left)``.

    The counter weighs the previous window by the part of it still inside the sliding window: a
    request fits while ``previous * left / window + current < limit``. Within the current window the
    weight shrinks; once the current window is full, the wait runs past its end until its count,
    weighed as the previous one, has shrunk below the limit."""
    previous, previous_left, current, current_left = window
    span, limit = float(item.get_expiry()), item.amount
    window_end = max(current_left - span, 0.0)
    if current >= limit:
        wait = window_end + span * (1 - limit / current)
    elif previous > 0:
        wait = previous_left - span * (limit - current) / previous
    else:
        wait = window_end
    return max(1, min(math.ceil(wait), math.ceil(2 * span)))


@dataclass(frozen=True)
class RateLimitConfig:
    """What a service limits: a rule per class (see :func:`parse_rule`), where the counts live, and
    how many trusted reverse proxies stand between the clients and the service."""

    rules: Mapping[str, str]
    url: str = "memory://"
    trusted_proxies: int = 0
    #: Keeps one service's counts apart from another's in a shared Redis.
    namespace: str = "datamarket"
    #: Items per class, parsed once.
    parsed: Mapping[str, tuple[RateLimitItem, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", {name: parse_rule(rule) for name, rule in self.rules.items()})


def open_storage(url: str) -> Storage:
    """The counts' storage for ``url``: ``memory://`` or a Redis URL (short timeouts: a slow Redis
    must not hold every request up)."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryStorage()
    if scheme in ("redis", "rediss"):
        return RedisStorage(
            url,
            wrap_exceptions=True,
            key_prefix="datamarket-ratelimit",
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
    raise ValueError(f"a rate limit store is one of {', '.join(s + '://' for s in SCHEMES)}")


class RateLimiter:
    """Counts requests per (class, client) against a :class:`RateLimitConfig`; thread-safe."""

    def __init__(self, config: RateLimitConfig, *, storage: Storage | None = None) -> None:
        self.config = config
        self._primary = storage if storage is not None else open_storage(config.url)
        self._shared = not isinstance(self._primary, MemoryStorage)
        self._local = self._primary if not self._shared else MemoryStorage()
        self._errors: tuple[type[BaseException], ...] = (StorageError,)
        if self._shared:
            self._errors += tuple(_as_tuple(self._primary.base_exceptions))
        self._down_until = 0.0
        self._lock = threading.Lock()

    def hit(self, name: str, client: str, *, who: str = "this address") -> None:
        """Count one request of class ``name`` from ``client``; RateLimited past the class's rule.
        A class the config does not name is not limited."""
        items = self.config.parsed.get(name)
        if not items:
            return
        keys = (self.config.namespace, name, client)
        storage = self._storage()
        try:
            wait = _refusal(storage, items, keys)
        except self._errors as exc:
            self._failed(exc)
            wait = _refusal(self._local, items, keys)
        if wait is not None:
            raise RateLimited(wait, who=who)

    def _storage(self) -> Storage:
        if not self._shared:
            return self._primary
        with self._lock:
            if self._down_until and time.monotonic() >= self._down_until:
                self._down_until = 0.0
                log.info("rate limits: trying the shared store again")
            return self._local if self._down_until else self._primary

    def _failed(self, exc: BaseException) -> None:
        cause = exc.storage_error if isinstance(exc, StorageError) else exc
        with self._lock:
            first = not self._down_until
            self._down_until = time.monotonic() + REDIS_RETRY_S
        if first:
            # The type only: a Redis error's text may hold its URL, and so a password.
            log.warning(
                "rate limits: the shared store did not answer (%s); counting in this process for %g s",
                type(cause).__name__,
                REDIS_RETRY_S,
            )


def _refusal(storage: Storage, items: tuple[RateLimitItem, ...], keys: tuple[str, ...]) -> int | None:
    """None when every limit takes the request (each counts it), else the seconds to wait. The
    shortest window is asked first, so a burst it refuses does not use up the longer windows."""
    strategy = SlidingWindowCounterRateLimiter(storage)
    for item in items:
        if not strategy.hit(item, *keys):
            window = storage.get_sliding_window(item.key_for(*keys), item.get_expiry())  # type: ignore[attr-defined]
            return retry_after(item, window)
    return None


def _as_tuple(exceptions: Any) -> tuple[type[BaseException], ...]:
    return exceptions if isinstance(exceptions, tuple) else (exceptions,)


__all__ = [
    "SCHEMES",
    "RateLimitConfig",
    "RateLimited",
    "RateLimiter",
    "client_address",
    "open_storage",
    "parse_rule",
    "retry_after",
    "rule_check",
]
