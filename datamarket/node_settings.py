"""What a provider's processes share: the provider (HTTP) and the workers that run its compute jobs.

Both serve the same provider account on the same chain and market, with the same key store, content
store, job database and broker, so these settings are declared once, here, and read from the same
``DATAMARKET_PROVIDER_*`` variables and the top level of the provider's TOML file. The provider
(``provider.settings.ProviderSettings``) and the worker (``compute_to_data.settings.WorkerSettings``)
each add their own.

The wallet key comes from ``DATAMARKET_PROVIDER_PRIVATE_KEY`` or from a file named by
``private_key_file`` (mode 0600); a TOML file may not hold the key itself. It is kept in a
:class:`~datamarket.config.Secret`, so logging the settings shows no key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from eth_account import Account
from eth_keys.constants import SECPK1_N

from datamarket.config import (
    Secret,
    Settings,
    boolean,
    checksum_address,
    integer,
    number,
    one_of,
    path,
    positive_up_to,
    read_key_file,
    secret,
    setting,
    text,
    upper,
    url_schemes,
    within,
)
from datamarket.errors import ConfigError

_PRIVATE_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_RPC_URL = url_schemes("http", "https", "ws", "wss", what="an http(s) or ws(s) URL")


def _private_key(value: Any) -> str | None:
    if not isinstance(value, Secret) or _PRIVATE_KEY.fullmatch(value.reveal()) is None:
        return "must be 32 bytes of hex"
    if not 0 < int(value.reveal().removeprefix("0x"), 16) < SECPK1_N:  # the secp256k1 group order
        return "not a valid secp256k1 key"
    return None


def _chain_id(value: Any) -> str | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        return "must be a positive integer"
    return None


def _store(value: Any) -> str | None:
    return None if value is None or (isinstance(value, str) and value) else "a directory or an http(s) URL"


@dataclass(frozen=True, kw_only=True, repr=False)
class NodeSettings(Settings):
    ENV_PREFIX: ClassVar[str] = "DATAMARKET_PROVIDER_"
    CONFIG_ENV: ClassVar[str] = "DATAMARKET_PROVIDER_CONFIG"
    TITLE: ClassVar[str] = "provider settings"

    rpc_url: str = setting(
        parse=text, check=url_schemes("http", "https", "ws", "wss", what="an http(s) or ws(s) URL")
    )
    #: The market contract's address (checksummed).
    market: str = setting(parse=text, check=checksum_address)
    private_key: Secret = setting(parse=secret, check=_private_key, masked=True)
    #: The chain id the node must report; None: take the node's.
    chain_id: int | None = setting(None, parse=integer, check=_chain_id)
    #: Where to start looking for the market's events (its deployment block).
    market_deploy_block: int = setting(0, parse=integer, check=within(0, 2**63))
    data_dir: Path = setting(Path.home() / ".datamarket" / "provider", parse=path)
    #: Directory of the X25519 key store; default ``<data_dir>/keys``.
    keys_dir: Path | None = setting(None, parse=path)
    #: The content store: a directory for the embedded store (default ``<data_dir>/store``) or the
    #: http(s) API URL of a kubo-compatible IPFS node.
    store: str | None = setting(None, parse=text, check=_store)
    max_metadata_bytes: int = setting(1024 * 1024, parse=integer, check=within(1024, 64 * 1024 * 1024 + 1))
    rpc_timeout_s: float = setting(10.0, parse=number, check=positive_up_to(600))
    log_level: str = setting("INFO", parse=upper, check=one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    #: The job database: ``sqlite:///path`` (default ``<data_dir>/jobs.db``) or ``postgresql://...``.
    jobs_url: str | None = setting(
        None,
        parse=text,
        check=url_schemes("sqlite", "postgresql", "postgres", what="a sqlite:/// or postgresql:// URL"),
        url=True,
    )
    #: The Celery broker: ``redis://...`` (or ``amqp://``); default the embedded SQLite broker
    #: ``sqla+sqlite:///<data_dir>/broker.db``.
    broker_url: str | None = setting(
        None,
        parse=text,
        check=url_schemes(
            "redis", "rediss", "amqp", "amqps", "sqla+sqlite", "sqla+postgresql",
            what="a redis://, amqp:// or sqla+sqlite:/// URL",
        ),
        url=True,
    )  # fmt: skip
    #: A worker renews its lease on a job this often (seconds); a lease lapses after 3 periods.
    job_lease_s: float = setting(5.0, parse=number, check=positive_up_to(3600))
    #: Run published algorithms that the dataset trusts (and any, where a dataset allows any).
    #: Off: built-ins only.
    published_algorithms: bool = setting(True, parse=boolean)

    def complete(self) -> None:
        self._set("data_dir", Path(self.data_dir))
        if self.keys_dir is None:
            self._set("keys_dir", self.data_dir / "keys")
        if self.store is None:
            self._set("store", str(self.data_dir / "store"))
        if self.jobs_url is None:
            self._set("jobs_url", f"sqlite:///{self.data_dir / 'jobs.db'}")
        if self.broker_url is None:
            self._set("broker_url", f"sqla+sqlite:///{self.data_dir / 'broker.db'}")

    @property
    def provider_address(self) -> str:
        return Account.from_key(self.private_key.reveal()).address

    @classmethod
    def extra_inputs(cls) -> tuple[str, ...]:
        return ("private_key_file",)

    @classmethod
    def prepare(cls, values: dict[str, Any], problems: list[str]) -> None:
        key_file = values.pop("private_key_file", None)
        if key_file is not None and "private_key" not in values:
            try:
                values["private_key"] = read_key_file(Path(key_file))
            except ConfigError as exc:
                problems.append(exc.message)

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "private_key" in data:
            raise ConfigError("private_key: not allowed in the config file; use private_key_file")
        return dict(data)


__all__ = ["NodeSettings"]
