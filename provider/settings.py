"""The provider's settings: one frozen object, read from the environment and an optional TOML file.

Every setting has an environment variable ``DATAMARKET_PROVIDER_<NAME>`` (upper case) and a TOML
key ``<name>`` at the top level of the file; the environment wins. The TOML file is
``DATAMARKET_PROVIDER_CONFIG`` or the path given to :meth:`ProviderSettings.load`. What the provider
shares with its workers (chain, market, key, stores, job database, broker) is declared in
:class:`datamarket.node_settings.NodeSettings`; the workers' own settings live in the file's
``[worker]`` table, which the provider leaves to them. Everything is validated at start-up, and a
problem is a :class:`~datamarket.errors.ConfigError` listing every bad setting by name, never by value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from datamarket import ratelimit
from datamarket.chain.quotes import SERVICE_COMPUTE, SERVICE_DOWNLOAD, ZERO_ADDRESS
from datamarket.config import (
    Secret,
    checksum_address,
    integer,
    mask_url,
    names,
    names_among,
    secret,
    setting,
    text,
    url_schemes,
    within,
)
from datamarket.jobs.dataset_size import DEFAULT_MAX_DATASET_BYTES
from datamarket.node_settings import NodeSettings

ENV_PREFIX = NodeSettings.ENV_PREFIX
SERVICE_IDS = {"download": SERVICE_DOWNLOAD, "compute": SERVICE_COMPUTE}
#: The worker's table in a TOML file that the provider shares with its workers.
WORKER_TABLE = "worker"


@dataclass(frozen=True, kw_only=True)
class ServiceFee:
    """What the provider charges per order of one service."""

    token: str
    amount: int


def _metrics_token(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Secret) or len(value.reveal()) < 16 or not value.reveal().isprintable():
        return "at least 16 printable characters"
    return None


_NONCE_URL = url_schemes(
    "sqlite", "redis", "rediss", "postgresql", "postgres", what="a sqlite:///, redis:// or postgresql:// URL"
)


def _sqlite_path(url: str | None) -> str | None:
    if not isinstance(url, str) or not url.startswith("sqlite:///"):
        return None
    return os.path.normpath(url.removeprefix("sqlite://"))


@dataclass(frozen=True, kw_only=True, repr=False)
class ProviderSettings(NodeSettings):
    #: ``sqlite:///path`` (default ``<data_dir>/nonces.db``), ``redis://...`` or ``postgresql://...``.
    nonces_url: str | None = setting(None, parse=text, check=_NONCE_URL, url=True)
    public_url: str = setting("http://127.0.0.1:8030", parse=text)
    services: tuple[str, ...] = setting(("download",), parse=names, check=names_among(*sorted(SERVICE_IDS)))
    fee_token: str = setting(ZERO_ADDRESS, parse=text, check=checksum_address)
    fee_download: int = setting(0, parse=integer, check=within(0, 2**256))
    fee_compute: int = setting(0, parse=integer, check=within(0, 2**256))
    quote_validity_s: int = setting(3600, parse=integer, check=within(60, 7 * 86400 + 1))
    min_confirmations: int = setting(1, parse=integer, check=within(1, 10_001))
    nonce_window_ms: int = setting(60_000, parse=integer, check=within(0, 3_600_001))
    #: Resource classes offered: cpu and, where a GPU worker runs, gpu.
    compute_environments: tuple[str, ...] = setting(("cpu",), parse=names, check=names_among("cpu", "gpu"))
    #: Queued or running jobs at most; more are refused with 503 until some finish.
    max_pending_jobs: int = setting(100, parse=integer, check=within(1, 1_000_000))
    #: Queued or running jobs of one consumer at most (429 ``consumer_queue_full``) and of one dataset
    #: (503 ``dataset_queue_full``), so that one buyer or one dataset cannot fill the whole queue.
    max_pending_jobs_per_consumer: int = setting(10, parse=integer, check=within(1, 1_000_000))
    max_pending_jobs_per_dataset: int = setting(25, parse=integer, check=within(1, 1_000_000))
    #: The largest dataset (its document's declared ``size``) a compute job may be submitted for;
    #: larger ones get 422 ``dataset_too_large``. Default: what the workers' default raw-row index
    #: memory takes (``datamarket.jobs.dataset_size``).
    max_dataset_bytes: int = setting(DEFAULT_MAX_DATASET_BYTES, parse=integer, check=within(1, 2**63))
    #: The bearer token ``GET /metrics`` asks for (the counts say how much business the provider
    #: does); None: ``/metrics`` is off.
    metrics_token: Secret | None = setting(None, parse=secret, check=_metrics_token, masked=True)
    #: Where request counts live: ``memory://`` (each worker counts its own) or ``redis://...``
    #: (every worker and machine shares them).
    rate_limit_url: str = setting(
        "memory://", parse=text, check=url_schemes(*ratelimit.SCHEMES, what="a memory:// or redis:// URL"),
        url=True,
    )  # fmt: skip
    #: Reverse proxies in front that append the client to X-Forwarded-For; 0: the header is ignored.
    trusted_proxies: int = setting(0, parse=integer, check=within(0, 11))
    #: Requests per client address (``limits`` notation), by class: ``GET /healthz``; cheap reads;
    #: ``POST /fees``; access, compute submission, privacy and result archives (chain reads or
    #: stored content); and signed requests per consumer, counted once its signature verified.
    rate_limit_health: str = setting("50/second", parse=text, check=ratelimit.rule_check)
    rate_limit_read: str = setting("100/second;3000/minute", parse=text, check=ratelimit.rule_check)
    rate_limit_fees: str = setting("5/second;60/minute", parse=text, check=ratelimit.rule_check)
    rate_limit_heavy: str = setting("10/second;300/minute", parse=text, check=ratelimit.rule_check)
    rate_limit_consumer: str = setting("5/second;120/minute", parse=text, check=ratelimit.rule_check)

    def problems(self) -> list[str]:
        found = super().problems()
        nonces = _sqlite_path(self.nonces_url)
        if nonces is not None and nonces == _sqlite_path(self.jobs_url):
            # A job's creation consumes the request's nonce while it holds the job database's
            # write lock: one SQLite file for both would wait on itself.
            found.append("nonces_url: must not be the job database's SQLite file (jobs_url)")
        return found

    def complete(self) -> None:
        super().complete()
        if self.nonces_url is None:
            self._set("nonces_url", f"sqlite:///{self.data_dir / 'nonces.db'}")

    def fee_for(self, service_id: int) -> ServiceFee:
        amount = self.fee_download if service_id == SERVICE_DOWNLOAD else self.fee_compute
        return ServiceFee(token=self.fee_token, amount=amount)

    @property
    def service_ids(self) -> tuple[int, ...]:
        return tuple(SERVICE_IDS[s] for s in self.services)

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> dict[str, Any]:
        values = super().from_toml(data)
        values.pop(WORKER_TABLE, None)
        return values


__all__ = ["ENV_PREFIX", "SERVICE_IDS", "ProviderSettings", "Secret", "ServiceFee", "mask_url"]
