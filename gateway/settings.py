"""The gateway's settings: ``DATAMARKET_GATEWAY_*`` or the TOML file named by
``DATAMARKET_GATEWAY_CONFIG``, validated at start-up like every service's (``datamarket.config``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from datamarket import ratelimit
from datamarket.config import Settings, integer, one_of, setting, text, upper, url_schemes, within


def _store(value: object) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must name a folder or an http(s) URL"


@dataclass(frozen=True, kw_only=True, repr=False)
class GatewaySettings(Settings):
    ENV_PREFIX: ClassVar[str] = "DATAMARKET_GATEWAY_"
    CONFIG_ENV: ClassVar[str] = "DATAMARKET_GATEWAY_CONFIG"
    TITLE: ClassVar[str] = "gateway settings"

    #: The content store it serves: a folder (the embedded store) or the http(s) API URL of a
    #: kubo-compatible IPFS node. Read only: nothing is ever written to it.
    store: str = setting(parse=text, check=_store, url=True)
    #: The most blocks one CAR answer holds; a larger DAG's CAR is cut off there (the client sees
    #: an incomplete CAR). The default covers a 256 GiB file in 256 KiB chunks.
    max_dag_blocks: int = setting(1_048_576, parse=integer, check=within(1, 2**40))
    #: The most bytes of blocks one CAR answer holds.
    max_dag_bytes: int = setting(256 * 2**30 + 2**30, parse=integer, check=within(1, 2**62))
    log_level: str = setting("INFO", parse=upper, check=one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    #: Where the request counts live: ``memory://`` (each worker counts its own) or ``redis://...``.
    rate_limit_url: str = setting(
        "memory://", parse=text, check=url_schemes(*ratelimit.SCHEMES, what="a memory:// or redis:// URL"),
        url=True,
    )  # fmt: skip
    #: Reverse proxies in front that append the client to X-Forwarded-For; 0: the header is ignored.
    trusted_proxies: int = setting(0, parse=integer, check=within(0, 11))
    #: Requests per client address (``limits`` notation), by class: ``GET /healthz``; raw blocks (a
    #: client reading a file block by block asks once per 256 KiB); CARs (each may walk a whole DAG).
    rate_limit_health: str = setting("50/second", parse=text, check=ratelimit.rule_check)
    rate_limit_blocks: str = setting("500/second;20000/minute", parse=text, check=ratelimit.rule_check)
    rate_limit_cars: str = setting("10/second;300/minute", parse=text, check=ratelimit.rule_check)


__all__ = ["GatewaySettings"]
