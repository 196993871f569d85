"""The datamarket exception tree. Every error has a stable ``code`` that APIs and CLIs report.

DatamarketError
├── ConfigError (ValueError)
└── ChainError
    ├── ChainUnavailable (ConnectionError)
    ├── ContractRevert: the contract refused; ``code`` is its custom error's name
    ├── EventDecodeError (ValueError)
    └── ReplayError (in datamarket.chain.replay): events that cannot be folded

``safe_details`` is the one filter of what an error's details may show a client, over HTTP (the
provider, the backend) or from the CLI.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any


class DatamarketError(Exception):
    """Root of every error the project raises on purpose."""

    code = "datamarket_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(DatamarketError, ValueError):
    code = "invalid_config"


class ChainError(DatamarketError):
    code = "chain_error"


class ChainUnavailable(ChainError, ConnectionError):
    code = "chain_unavailable"


class ContractRevert(ChainError):
    """A contract call or transaction reverted. ``code`` is the custom error's name, for example
    ``MarketQuoteExpired``, and ``details`` holds its decoded arguments by name."""

    def __init__(self, error_name: str, args: dict[str, Any], *, tx_hash: str | None = None) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
        super().__init__(f"{error_name}({shown})", details=args)
        self.code = error_name
        self.tx_hash = tx_hash


class EventDecodeError(ChainError, ValueError):
    code = "event_decode_error"


#: Detail fields left out whatever they hold: their names say they may be secrets.
SECRET_FIELDS = frozenset(
    {"token", "secret", "password", "passphrase", "private_key", "mnemonic", "authorization"}
)


def safe_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """The details of an error that a client may see (over HTTP or from the CLI): JSON scalars and
    lists of them, minus secret-named fields and absolute paths (an object's repr, a path or a secret
    says more than the error needs to)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        name = str(key)
        if name.lower() in SECRET_FIELDS:
            continue
        if _safe_scalar(value):
            out[name] = value
        elif isinstance(value, list | tuple) and all(_safe_scalar(v) for v in value):
            out[name] = list(value)
    return out


def _safe_scalar(value: Any) -> bool:
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return not (os.path.isabs(value) or value.startswith("~"))
    return False
