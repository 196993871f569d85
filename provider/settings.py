"""The provider's settings: one frozen object, read from the environment and an optional TOML file.

Every setting has an environment variable ``DATAMARKET_PROVIDER_<NAME>`` (upper case) and a TOML
key ``<name>``; the environment wins. The TOML file is ``DATAMARKET_PROVIDER_CONFIG`` or the path
given to :meth:`ProviderSettings.load`. Everything is validated here, at start-up, and a problem is
a :class:`~datamarket.errors.ConfigError` listing every bad setting by name, never by value.

The provider's wallet key comes from ``DATAMARKET_PROVIDER_PRIVATE_KEY`` or from a file named by
``private_key_file`` (mode 0600); a TOML file may not hold the key itself. It is kept in a
:class:`Secret`, whose ``repr`` and ``str`` are masked, so logging the settings shows no key.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from eth_account import Account
from eth_keys.constants import SECPK1_N
from eth_utils import is_checksum_address

from datamarket.chain.quotes import SERVICE_COMPUTE, SERVICE_DOWNLOAD, ZERO_ADDRESS
from datamarket.errors import ConfigError

ENV_PREFIX = "DATAMARKET_PROVIDER_"
SERVICE_IDS = {"download": SERVICE_DOWNLOAD, "compute": SERVICE_COMPUTE}
_PRIVATE_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` are ``'***'``; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@dataclass(frozen=True, kw_only=True)
class ServiceFee:
    """What the provider charges per order of one service."""

    token: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class ProviderSettings:
    rpc_url: str
    #: The market contract's address (checksummed).
    market: str
    private_key: Secret = field(repr=False)
    #: The chain id the node must report; None: take the node's.
    chain_id: int | None = None
    #: Where to start looking for the market's events (its deployment block).
    market_deploy_block: int = 0
    data_dir: Path = field(default_factory=lambda: Path.home() / ".datamarket" / "provider")
    #: Directory of the X25519 key store; default ``<data_dir>/keys``.
    keys_dir: Path | None = None
    #: ``sqlite:///path`` (default ``<data_dir>/nonces.db``), ``redis://...`` or ``postgresql://...``.
    nonces_url: str | None = field(default=None, repr=False)
    #: The content store: a directory for the embedded store (default ``<data_dir>/store``) or the
    #: http(s) API URL of a kubo-compatible IPFS node.
    store: str | None = None
    public_url: str = "http://127.0.0.1:8030"
    services: tuple[str, ...] = ("download",)
    fee_token: str = ZERO_ADDRESS
    fee_download: int = 0
    fee_compute: int = 0
    quote_validity_s: int = 3600
    min_confirmations: int = 1
    nonce_window_ms: int = 60_000
    max_metadata_bytes: int = 1024 * 1024
    rpc_timeout_s: float = 10.0
    log_level: str = "INFO"
    # ---- compute-to-data (docs/compute.md)
    #: The job database: ``sqlite:///path`` (default ``<data_dir>/jobs.db``) or ``postgresql://...``.
    jobs_url: str | None = field(default=None, repr=False)
    #: The Celery broker: ``redis://...`` (or ``amqp://``); default the embedded SQLite broker
    #: ``sqla+sqlite:///<data_dir>/broker.db``.
    broker_url: str | None = field(default=None, repr=False)
    #: Where workers stage jobs (each job in its own 0700 directory, data and outputs on tmpfs).
    jobs_dir: Path | None = None
    #: Resource classes offered: cpu and, where a GPU worker runs, gpu.
    compute_environments: tuple[str, ...] = ("cpu",)
    job_wall_time_s: int = 3600
    #: Sample and aggregate: each block's fixed time slot (seconds); the running phase of such a job
    #: always lasts k slots, however long the blocks take (docs/privacy.md).
    job_aggregate_slot_s: int = 60
    job_memory_mb: int = 8192
    job_output_mb: int = 256
    job_processes: int = 128
    #: Queued or running jobs at most; more are refused with 503 until some finish.
    max_pending_jobs: int = 100
    #: A worker renews its lease on a job this often (seconds); a lease lapses after 3 periods.
    job_lease_s: float = 5.0
    job_max_attempts: int = 2
    #: Receipts wait this long (seconds) for others to share their transaction.
    receipt_batch_delay_s: float = 2.0
    #: Run published algorithms that the dataset trusts (and any, where a dataset allows any).
    #: Off: built-ins only.
    published_algorithms: bool = True

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError(
                "invalid provider settings: " + "; ".join(problems), details={"problems": problems}
            )
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.keys_dir is None:
            object.__setattr__(self, "keys_dir", self.data_dir / "keys")
        if self.store is None:
            object.__setattr__(self, "store", str(self.data_dir / "store"))
        if self.nonces_url is None:
            object.__setattr__(self, "nonces_url", f"sqlite:///{self.data_dir / 'nonces.db'}")
        if self.jobs_url is None:
            object.__setattr__(self, "jobs_url", f"sqlite:///{self.data_dir / 'jobs.db'}")
        if self.broker_url is None:
            object.__setattr__(self, "broker_url", f"sqla+sqlite:///{self.data_dir / 'broker.db'}")
        if self.jobs_dir is None:
            object.__setattr__(self, "jobs_dir", self.data_dir / "jobs")

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "private_key":
                value = "***"
            elif f.name in ("nonces_url", "jobs_url", "broker_url") and value is not None:
                value = mask_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"ProviderSettings({', '.join(shown)})"

    @property
    def provider_address(self) -> str:
        return Account.from_key(self.private_key.reveal()).address

    def fee_for(self, service_id: int) -> ServiceFee:
        amount = self.fee_download if service_id == SERVICE_DOWNLOAD else self.fee_compute
        return ServiceFee(token=self.fee_token, amount=amount)

    @property
    def service_ids(self) -> tuple[int, ...]:
        return tuple(SERVICE_IDS[s] for s in self.services)

    @classmethod
    def load(
        cls, *, env: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None
    ) -> ProviderSettings:
        """Settings from ``env`` (default ``os.environ``) over the TOML file, validated."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        config_file = config_file or env.get(ENV_PREFIX + "CONFIG")
        if config_file:
            values.update(_read_toml(Path(config_file)))
        for name in (*_PARSERS, "private_key", "private_key_file"):
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ProviderSettings:
        """Settings from plain values (strings are converted), validated."""
        values = dict(values)
        problems: list[str] = []
        key_file = values.pop("private_key_file", None)
        if key_file is not None and "private_key" not in values:
            try:
                values["private_key"] = _read_key_file(Path(key_file))
            except ConfigError as exc:
                problems.append(exc.message)
        unknown = sorted(set(values) - set(_PARSERS) - {"private_key"})
        problems += [f"{name}: unknown setting" for name in unknown]
        kwargs: dict[str, Any] = {}
        for name, parse in _PARSERS.items():
            if name in values:
                try:
                    kwargs[name] = parse(values[name])
                except (TypeError, ValueError):
                    problems.append(f"{name}: not a valid value")
        if "private_key" in values:
            raw = values["private_key"]
            kwargs["private_key"] = raw if isinstance(raw, Secret) else Secret(str(raw).strip())
        for name in ("rpc_url", "market", "private_key"):
            if name not in kwargs and not any(p.startswith(name + ":") for p in problems):
                problems.append(f"{name}: required")
        if problems:
            raise ConfigError(
                "invalid provider settings: " + "; ".join(problems), details={"problems": problems}
            )
        return cls(**kwargs)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError:
        raise ConfigError("the provider config file cannot be read") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the provider config file is not valid TOML: {exc}") from None
    if "private_key" in data:
        raise ConfigError("private_key: not allowed in the config file; use private_key_file")
    return data


def _read_key_file(path: Path) -> Secret:
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError("private_key_file: readable by group or others; set its mode to 0600")
        return Secret(path.read_text().strip())
    except OSError:
        raise ConfigError("private_key_file: cannot be read") from None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("bool")
    if isinstance(value, str):
        return int(value.strip(), 0)
    if isinstance(value, int):
        return value
    raise TypeError(type(value).__name__)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("bool")
    return float(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    ):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise TypeError(type(value).__name__)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    return value.strip()


def _services(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TypeError(type(value).__name__)
    return tuple(_str(v) for v in items if _str(v))


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "rpc_url": _str,
    "chain_id": _int,
    "market": _str,
    "market_deploy_block": _int,
    "data_dir": lambda v: Path(_str(v)).expanduser(),
    "keys_dir": lambda v: Path(_str(v)).expanduser(),
    "nonces_url": _str,
    "store": _str,
    "public_url": _str,
    "services": _services,
    "fee_token": _str,
    "fee_download": _int,
    "fee_compute": _int,
    "quote_validity_s": _int,
    "min_confirmations": _int,
    "nonce_window_ms": _int,
    "max_metadata_bytes": _int,
    "rpc_timeout_s": _float,
    "log_level": lambda v: _str(v).upper(),
    "jobs_url": _str,
    "broker_url": _str,
    "jobs_dir": lambda v: Path(_str(v)).expanduser(),
    "compute_environments": _services,
    "job_wall_time_s": _int,
    "job_aggregate_slot_s": _int,
    "job_memory_mb": _int,
    "job_output_mb": _int,
    "job_processes": _int,
    "max_pending_jobs": _int,
    "job_lease_s": _float,
    "job_max_attempts": _int,
    "receipt_batch_delay_s": _float,
    "published_algorithms": _bool,
}


_NONCE_SCHEMES = ("sqlite", "redis", "rediss", "postgresql", "postgres")


def _problems(s: ProviderSettings) -> list[str]:
    """Every invalid setting, named; values are never echoed (one of them is a key)."""
    p = []
    if not isinstance(s.rpc_url, str) or urlsplit(s.rpc_url).scheme not in ("http", "https", "ws", "wss"):
        p.append("rpc_url: must be an http(s) or ws(s) URL")
    if s.chain_id is not None and (
        isinstance(s.chain_id, bool) or not isinstance(s.chain_id, int) or s.chain_id <= 0
    ):
        p.append("chain_id: must be a positive integer")
    for name in ("market", "fee_token"):
        if not isinstance(getattr(s, name), str) or not is_checksum_address(getattr(s, name)):
            p.append(f"{name}: must be a checksummed address")
    if not isinstance(s.private_key, Secret) or _PRIVATE_KEY.fullmatch(s.private_key.reveal()) is None:
        p.append("private_key: must be 32 bytes of hex")
    else:
        raw = int(s.private_key.reveal().removeprefix("0x"), 16)
        if not 0 < raw < SECPK1_N:  # the secp256k1 group order
            p.append("private_key: not a valid secp256k1 key")
    url = s.nonces_url
    if url is not None and urlsplit(url).scheme not in _NONCE_SCHEMES:
        p.append("nonces_url: must be a sqlite:///, redis:// or postgresql:// URL")
    if s.store is not None and (not isinstance(s.store, str) or not s.store):
        p.append("store: a directory or an http(s) URL")
    bad_services = [x for x in s.services if x not in SERVICE_IDS]
    if bad_services or not s.services or len(set(s.services)) != len(s.services):
        p.append(f"services: a non-empty list of distinct names among {sorted(SERVICE_IDS)}")
    for name, low, high in (
        ("market_deploy_block", 0, 2**63),
        ("fee_download", 0, 2**256),
        ("fee_compute", 0, 2**256),
        ("quote_validity_s", 60, 7 * 86400 + 1),
        ("min_confirmations", 1, 10_001),
        ("nonce_window_ms", 0, 3_600_001),
        ("max_metadata_bytes", 1024, 64 * 1024 * 1024 + 1),
    ):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            p.append(f"{name}: must be an integer in [{low}, {high})")
    if not isinstance(s.rpc_timeout_s, float | int) or not 0 < s.rpc_timeout_s <= 600:
        p.append("rpc_timeout_s: must be in (0, 600]")
    if s.jobs_url is not None and urlsplit(s.jobs_url).scheme not in ("sqlite", "postgresql", "postgres"):
        p.append("jobs_url: must be a sqlite:/// or postgresql:// URL")
    if s.broker_url is not None and urlsplit(s.broker_url).scheme not in (
        "redis",
        "rediss",
        "amqp",
        "amqps",
        "sqla+sqlite",
        "sqla+postgresql",
    ):
        p.append("broker_url: must be a redis://, amqp:// or sqla+sqlite:/// URL")
    if not s.compute_environments or any(e not in ("cpu", "gpu") for e in s.compute_environments):
        p.append("compute_environments: a non-empty list among cpu, gpu")
    for name, low, high in (
        ("job_wall_time_s", 1, 7 * 86400 + 1),
        ("job_aggregate_slot_s", 1, 86400 + 1),
        ("job_memory_mb", 64, 4 * 1024 * 1024),
        ("job_output_mb", 1, 1024 * 1024),
        ("job_processes", 8, 100_000),
        ("max_pending_jobs", 1, 1_000_000),
        ("job_max_attempts", 1, 101),
    ):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
            p.append(f"{name}: must be an integer in [{low}, {high})")
    for name in ("job_lease_s", "receipt_batch_delay_s"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, float | int) or not 0 < value <= 3600:
            p.append(f"{name}: must be in (0, 3600]")
    if s.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        p.append("log_level: one of DEBUG, INFO, WARNING, ERROR")
    return p


__all__ = ["ENV_PREFIX", "ProviderSettings", "Secret", "ServiceFee", "mask_url"]
