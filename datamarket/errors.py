"""The datamarket exception tree. Every error has a stable ``code`` that APIs and CLIs report.

DatamarketError
├── ConfigError (ValueError)
└── ChainError
    ├── ChainUnavailable (ConnectionError)
    ├── ContractRevert: the contract refused; ``code`` is its custom error's name
    ├── EventDecodeError (ValueError)
    └── ReplayError (in datamarket.chain.replay): events that cannot be folded
"""

from __future__ import annotations

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
