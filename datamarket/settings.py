"""The client settings of the ``datamarket`` CLI and SDK, read in one place.

Sources, later ones winning: the local market's ``stack.json`` (when ``datamarket up`` runs one), an
optional TOML file (``DATAMARKET_CONFIG``), then environment variables ``DATAMARKET_RPC_URL``,
``DATAMARKET_MARKET``, ``DATAMARKET_MARKET_DEPLOY_BLOCK``, ``DATAMARKET_STORE``,
``DATAMARKET_PROVIDER_URL``, ``DATAMARKET_GATEWAY_URL``, ``DATAMARKET_PAYMENT_TOKEN``,
``DATAMARKET_PRIVATE_KEY``, ``DATAMARKET_KEYSTORE``, ``DATAMARKET_KEYSTORE_PASSWORD``,
``DATAMARKET_KEYSTORE_PASSWORD_FILE``, ``DATAMARKET_PIN_SERVICE_URL`` and
``DATAMARKET_PIN_SERVICE_TOKEN``. The private key, the keystore's password and the pinning service's
token are never printed: ``repr`` masks them (the password and the token are
:class:`~datamarket.config.Secret` s).

The signing key is ``DATAMARKET_PRIVATE_KEY`` or an encrypted keystore (``DATAMARKET_KEYSTORE``, mode
0600, :mod:`datamarket.keystore`) with its password in ``DATAMARKET_KEYSTORE_PASSWORD`` or in the file
``DATAMARKET_KEYSTORE_PASSWORD_FILE`` (mode 0600); never both. The keystore is decrypted when a
command first signs, once per process.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_checksum_address

from datamarket import environment
from datamarket.chain.devchain import DEV_CHAIN_ID, dev_account
from datamarket.config import Secret
from datamarket.errors import ConfigError

_ENV = {
    "rpc_url": "DATAMARKET_RPC_URL",
    "market": "DATAMARKET_MARKET",
    "market_deploy_block": "DATAMARKET_MARKET_DEPLOY_BLOCK",
    "store": "DATAMARKET_STORE",
    "provider_url": "DATAMARKET_PROVIDER_URL",
    "gateway_url": "DATAMARKET_GATEWAY_URL",
    "payment_token": "DATAMARKET_PAYMENT_TOKEN",
    "private_key": "DATAMARKET_PRIVATE_KEY",
    "keystore": "DATAMARKET_KEYSTORE",
    "keystore_password": "DATAMARKET_KEYSTORE_PASSWORD",
    "keystore_password_file": "DATAMARKET_KEYSTORE_PASSWORD_FILE",
    "pin_service_url": "DATAMARKET_PIN_SERVICE_URL",
    "pin_service_token": "DATAMARKET_PIN_SERVICE_TOKEN",
}


@dataclass(frozen=True)
class ClientSettings:
    rpc_url: str = ""
    market: str = ""
    store: str = ""
    provider_url: str = ""
    #: The content gateway (``GET /ipfs/{cid}``, the IPFS Trustless Gateway protocol) over the store.
    gateway_url: str = ""
    payment_token: str = ""
    chain_id: int = 0
    #: The block the market was deployed in: where reading its history starts (``datamarket audit``).
    market_deploy_block: int = 0
    private_key: str = field(default="", repr=False)
    #: An encrypted keystore (Web3 Secret Storage) and its password, or the file holding it.
    keystore: str = ""
    keystore_password: Secret | None = None
    keystore_password_file: str = ""
    #: A remote pinning service (the IPFS Pinning Service API) and its access token (``datamarket pin``).
    pin_service_url: str = ""
    pin_service_token: Secret | None = None

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name == 'private_key' and self.private_key else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"ClientSettings({shown})"

    def require(self, *names: str) -> ClientSettings:
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env = ", ".join(_ENV.get(n, n) for n in missing)
            raise ConfigError(f"missing settings: {', '.join(missing)}; run `datamarket up` or set {env}")
        if "market" in names and not is_checksum_address(self.market):
            raise ConfigError(f"market {self.market!r} is not a checksummed address")
        return self

    @property
    def has_key(self) -> bool:
        """Whether a signing key is configured (a private key or a keystore)."""
        return bool(self.private_key or self.keystore)

    def account(self, dev_index: int | None = None) -> LocalAccount:
        """The signing account: a public dev account by index (local chain only), else the key (the
        keystore's, decrypted once per process)."""
        if dev_index is not None:
            if self.chain_id != DEV_CHAIN_ID:
                raise ConfigError(
                    "--account picks a public dev account, which exists only on the local chain"
                )
            return dev_account(dev_index)
        if self.keystore:
            return Account.from_key(self._keystore_key().reveal())
        if not self.private_key:
            raise ConfigError(
                "no account: set DATAMARKET_KEYSTORE or DATAMARKET_PRIVATE_KEY, "
                "or pass --account N on the local chain"
            )
        try:
            return Account.from_key(self.private_key)
        except (ValueError, TypeError):
            raise ConfigError("DATAMARKET_PRIVATE_KEY is not a valid private key") from None

    def _keystore_key(self) -> Secret:
        from datamarket.keystore import decrypt_keystore, read_password_file

        password = self.keystore_password
        if password is None:
            name = _ENV["keystore_password_file"]
            password = read_password_file(Path(self.keystore_password_file).expanduser(), name)
        return decrypt_keystore(Path(self.keystore).expanduser(), password, _ENV["keystore"])

    def key_source_problem(self) -> str | None:
        """What is wrong with the key's settings, by name: two sources, or a keystore password that
        is missing, doubled or without a keystore."""
        if self.private_key and self.keystore:
            return "set one key source: DATAMARKET_PRIVATE_KEY or DATAMARKET_KEYSTORE, not both"
        passwords = [_ENV[n] for n in ("keystore_password", "keystore_password_file") if getattr(self, n)]
        if passwords and not self.keystore:
            return f"{passwords[0]} is set without DATAMARKET_KEYSTORE"
        if self.keystore and len(passwords) != 1:
            return (
                "DATAMARKET_KEYSTORE needs its password in one of DATAMARKET_KEYSTORE_PASSWORD and "
                "DATAMARKET_KEYSTORE_PASSWORD_FILE"
            )
        return None


def client_home(environ: dict[str, str] | None = None) -> Path:
    """The client's folder (``DATAMARKET_HOME``, default ``.datamarket``): the local market's stack
    file, job files, the publisher's content keys."""
    return Path(environment.get("DATAMARKET_HOME", environ) or ".datamarket").resolve()


def load_settings(home: Path | None = None, environ: dict[str, str] | None = None) -> ClientSettings:
    settings = ClientSettings()
    stack_file = (home or client_home(environ)) / "stack.json"
    if stack_file.exists():
        import json

        stack = json.loads(stack_file.read_text())
        services = stack.get("services", {})
        settings = replace(
            settings,
            rpc_url=services.get("chain", {}).get("url", ""),
            provider_url=services.get("provider", {}).get("url", ""),
            gateway_url=services.get("gateway", {}).get("url", ""),
            market=stack.get("contracts", {}).get("market", ""),
            payment_token=stack.get("contracts", {}).get("payment_token", ""),
            store=stack.get("store", ""),
            chain_id=int(stack.get("chain_id", 0)),
            market_deploy_block=int(stack.get("deploy_block", 0)),
        )
    config = environment.get("DATAMARKET_CONFIG", environ)
    if config:
        try:
            values = tomllib.loads(Path(config).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the settings file {config}: {exc}") from None
        unknown = set(values) - {f.name for f in fields(ClientSettings)}
        if unknown:
            raise ConfigError(f"unknown settings in {config}: {', '.join(sorted(unknown))}")
        if "keystore_password" in values:
            raise ConfigError("keystore_password: not allowed in the settings file; use a password file")
        for name in ("keystore", "keystore_password_file"):
            if name in values and not isinstance(values[name], str):
                raise ConfigError(f"{name} must be a string")
        settings = replace(settings, **_secret_token(values))
    overrides = {name: environment.get(var, environ) for name, var in _ENV.items()}
    overrides = {name: value for name, value in overrides.items() if value}
    if "market_deploy_block" in overrides:
        raw = overrides["market_deploy_block"]
        if not raw.isdigit():
            raise ConfigError("DATAMARKET_MARKET_DEPLOY_BLOCK must be a block number")
        overrides["market_deploy_block"] = int(raw)
    if "rpc_url" in overrides and overrides["rpc_url"] != settings.rpc_url:
        # Another node than the local market's: its chain is unknown until asked, never assumed local.
        overrides["chain_id"] = 0
    if "keystore_password" in overrides:
        overrides["keystore_password"] = Secret(overrides["keystore_password"])
    settings = replace(settings, **_secret_token(overrides))
    problem = settings.key_source_problem()
    if problem:
        raise ConfigError(problem)
    return settings


def _secret_token(values: dict) -> dict:
    """``values`` with the pinning service's token, if it holds one, as a Secret (None when empty)."""
    token = values.get("pin_service_token")
    if token is None or isinstance(token, Secret):
        return values
    if not isinstance(token, str):
        raise ConfigError("pin_service_token must be a string")
    return {**values, "pin_service_token": Secret(token.strip()) if token.strip() else None}
