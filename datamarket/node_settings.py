"""What a provider's processes share: the provider (HTTP) and the workers that run its compute jobs.

Both serve the same provider account on the same chain and market, with the same key store, content
store, job database and broker, so these settings are declared once, here, and read from the same
``DATAMARKET_PROVIDER_*`` variables and the top level of the provider's TOML file. The provider
(``provider.settings.ProviderSettings``) and the worker (``compute_to_data.settings.WorkerSettings``)
each add their own.

The wallet key comes from exactly one of ``DATAMARKET_PROVIDER_PRIVATE_KEY``, a file named by
``private_key_file`` (mode 0600) or an encrypted keystore named by ``private_key_keystore`` (mode 0600,
see :mod:`datamarket.keystore`), whose password is ``DATAMARKET_PROVIDER_PRIVATE_KEY_KEYSTORE_PASSWORD``
or the content of ``private_key_keystore_password_file`` (mode 0600). A TOML file may hold neither the
key nor the password. The key is kept in a :class:`~datamarket.config.Secret`, so logging the settings
shows no key; the password is not kept at all.
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
from datamarket.keystore import decrypt_keystore, read_password_file

#: Inputs that are no fields: where the key comes from (all but ``private_key`` itself), read by every
#: class deriving from NodeSettings under ``DATAMARKET_PROVIDER_*`` and the file's top level.
KEY_INPUTS = (
    "private_key_file",
    "private_key_keystore",
    "private_key_keystore_password",
    "private_key_keystore_password_file",
)
#: The key's sources: exactly one is set.
KEY_SOURCES = ("private_key", "private_key_file", "private_key_keystore")
_PASSWORD_INPUTS = ("private_key_keystore_password", "private_key_keystore_password_file")
#: Never in a TOML file: the key and the keystore's password.
_NOT_IN_FILES = {"private_key": "private_key_file", "private_key_keystore_password": "..._password_file"}

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
        return KEY_INPUTS

    @classmethod
    def input_env_name(cls, name: str) -> str:
        if name in KEY_INPUTS:
            return NodeSettings.ENV_PREFIX + name.upper()
        return super().input_env_name(name)

    @classmethod
    def prepare(cls, values: dict[str, Any], problems: list[str]) -> None:
        inputs = {name: values.pop(name) for name in KEY_INPUTS if name in values}
        try:
            key = _key_from(inputs, has_key="private_key" in values)
        except ConfigError as exc:
            problems.append(exc.message)
            # Stands in for the key that could not be read, so that it is not also called missing;
            # the problem above stops the load before any check sees it.
            values["private_key"] = Secret("")
            return
        if key is not None:
            values["private_key"] = key

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> dict[str, Any]:
        for name, instead in _NOT_IN_FILES.items():
            if name in data:
                raise ConfigError(f"{name}: not allowed in the config file; use {instead}")
        return dict(data)


def _key_from(inputs: dict[str, Any], *, has_key: bool) -> Secret | None:
    """The key that a key file or a keystore holds (None: neither is set)."""
    sources = [name for name in KEY_SOURCES if name in inputs or (name == "private_key" and has_key)]
    if len(sources) > 1:
        raise ConfigError(f"{', '.join(sources)}: set one key source, not {len(sources)}")
    passwords = [n for n in _PASSWORD_INPUTS if n in inputs]
    if sources != ["private_key_keystore"]:
        if passwords:
            raise ConfigError(f"{passwords[0]}: set without private_key_keystore")
        if sources == ["private_key_file"]:
            return read_key_file(_path(inputs, "private_key_file"))
        return None
    if len(passwords) != 1:
        raise ConfigError(
            "private_key_keystore: needs one of private_key_keystore_password and "
            "private_key_keystore_password_file"
        )
    if passwords == ["private_key_keystore_password"]:
        password = inputs["private_key_keystore_password"]
        if not isinstance(password, str):
            raise ConfigError("private_key_keystore_password: not a valid value")
        secret_password = Secret(password)
    else:
        name = "private_key_keystore_password_file"
        secret_password = read_password_file(_path(inputs, name), name)
    return decrypt_keystore(_path(inputs, "private_key_keystore"), secret_password, "private_key_keystore")


def _path(inputs: dict[str, Any], name: str) -> Path:
    try:
        return path(inputs[name])
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: not a valid value") from None


__all__ = ["KEY_INPUTS", "KEY_SOURCES", "NodeSettings"]
