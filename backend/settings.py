"""The backend's settings (indexer and API): ``DATAMARKET_BACKEND_*`` or the TOML file named by
``DATAMARKET_BACKEND_CONFIG``, validated at start-up like every service's (``datamarket.config``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from backend.web.policy import origin
from datamarket import ratelimit
from datamarket.config import (
    Settings,
    checksum_address,
    integer,
    names,
    number,
    one_of,
    path,
    positive_up_to,
    setting,
    text,
    upper,
    url_schemes,
    within,
)


def _chain_id(value: object) -> str | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        return "must be a positive integer"
    return None


def _optional_http(value: object) -> str | None:
    return None if value is None else url_schemes("http", "https", what="an http(s) URL")(value)


def _origins(value: object) -> str | None:
    bad = [v for v in value if origin(v) is None] if isinstance(value, tuple) else [value]
    return "must be http(s) origins, separated by commas" if bad else None


_DATABASE = url_schemes("sqlite", "postgresql", "postgres", what="a sqlite:/// or postgresql:// URL")


@dataclass(frozen=True, kw_only=True, repr=False)
class BackendSettings(Settings):
    ENV_PREFIX: ClassVar[str] = "DATAMARKET_BACKEND_"
    CONFIG_ENV: ClassVar[str] = "DATAMARKET_BACKEND_CONFIG"
    TITLE: ClassVar[str] = "backend settings"

    rpc_url: str = setting(parse=text, check=url_schemes("http", "https", what="an http(s) URL"), url=True)
    #: The market contract's address (checksummed).
    market: str = setting(parse=text, check=checksum_address)
    #: The block the market was deployed in: indexing starts there.
    market_deploy_block: int = setting(0, parse=integer, check=within(0, 2**63))
    data_dir: Path = setting(Path.home() / ".datamarket" / "backend", parse=path)
    #: ``sqlite:///path`` (default ``<data_dir>/catalog.db``) or ``postgresql://...``.
    database_url: str | None = setting(None, parse=text, check=_DATABASE, url=True)
    #: The content store the metadata documents are fetched from: a directory (the embedded store) or
    #: the http(s) API URL of a kubo-compatible IPFS node.
    #: The indexer needs it; the API alone does not.
    store: str | None = setting(None, parse=text)
    #: Blocks a block must have on top before it is indexed (0: index the head at once).
    confirmations: int = setting(0, parse=integer, check=within(0, 1001))
    #: How often the indexer asks the node for new blocks (seconds).
    poll_interval_s: float = setting(0.25, parse=number, check=positive_up_to(60))
    #: The largest block range of one ``eth_getLogs`` (the indexer halves it when the node refuses).
    max_log_range: int = setting(10_000, parse=integer, check=within(1, 1_000_001))
    rpc_timeout_s: float = setting(10.0, parse=number, check=positive_up_to(600))
    max_metadata_bytes: int = setting(1024 * 1024, parse=integer, check=within(1024, 64 * 1024 * 1024 + 1))
    #: Longest wait between two tries of an unreachable metadata document (seconds).
    document_retry_max_s: float = setting(300.0, parse=number, check=positive_up_to(86400))
    #: The chain id the node must report; None: take the node's.
    chain_id: int | None = setting(None, parse=integer, check=_chain_id)
    #: Where users reach the pages (links in answers and pages); None: relative links only.
    public_url: str | None = setting(None, parse=text, check=_optional_http)
    #: The content gateway (``GET /ipfs/{cid}``, IPFS Trustless Gateway) that pages may link content
    #: to, and that the dataset page's "Buy and download" fetches ciphertext from; None: no gateway is
    #: known (and no such button).
    gateway_url: str | None = setting(None, parse=text, check=_optional_http)
    log_level: str = setting("INFO", parse=upper, check=one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    #: Where the API's and pages' request counts live: ``memory://`` (each worker counts its own) or
    #: ``redis://...`` (every worker and machine shares them).
    rate_limit_url: str = setting(
        "memory://", parse=text, check=url_schemes(*ratelimit.SCHEMES, what="a memory:// or redis:// URL"),
        url=True,
    )  # fmt: skip
    #: Reverse proxies in front that append the client to X-Forwarded-For; 0: the header is ignored.
    trusted_proxies: int = setting(0, parse=integer, check=within(0, 11))
    #: Requests per client address (``limits`` notation), by class: ``GET /healthz``; the JSON API;
    #: the pages (each runs several queries and draws charts).
    rate_limit_health: str = setting("50/second", parse=text, check=ratelimit.rule_check)
    rate_limit_api: str = setting("50/second;1500/minute", parse=text, check=ratelimit.rule_check)
    rate_limit_pages: str = setting("20/second;600/minute", parse=text, check=ratelimit.rule_check)
    #: ... and to static files (the stylesheet, the page script, the JavaScript client's modules: a
    #: dataset page with the wallet buttons loads a few dozen).
    rate_limit_static: str = setting("100/second;3000/minute", parse=text, check=ratelimit.rule_check)
    #: The JavaScript client the dataset page runs (``clients/js``, its packages installed); None: the
    #: one in the repository beside the backend's code.
    client_dir: Path | None = setting(None, parse=path)
    #: Origins, comma-separated, the dataset page's scripts may also connect to (Content-Security-
    #: Policy ``connect-src``), beyond this server, the provider and the gateway: what a wallet that
    #: works inside the page needs (a relay, or a development wallet that talks to the chain's node).
    page_connect_origins: tuple[str, ...] = setting((), parse=names, check=_origins)

    def complete(self) -> None:
        self._set("data_dir", Path(self.data_dir))
        if self.database_url is None:
            self._set("database_url", f"sqlite:///{self.data_dir / 'catalog.db'}")


__all__ = ["BackendSettings"]
