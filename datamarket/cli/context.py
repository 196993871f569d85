"""What the publisher's and consumer's commands talk to: the market (signed by whom), the content store
and the provider, from the client's settings."""

from __future__ import annotations

from typing import Any

import click

#: The local chain's public dev accounts the CLI signs with when no private key is given.
PUBLISHER = 2
CONSUMER = 4

account_option = click.option(
    "--account", "dev_index", type=int, default=None,
    help="Sign with public dev account N of the local chain (default: the configured key).",
)  # fmt: skip


def connect(dev_index: int | None) -> tuple[Any, Any, Any, Any]:
    """``(settings, market, store, provider client)``; the market signs with dev account ``dev_index``,
    or with the settings' private key when it is None."""
    from web3 import HTTPProvider, Web3

    from datamarket.chain.market import Market
    from datamarket.sdk.provider_client import ProviderClient
    from datamarket.settings import load_settings
    from datamarket.storage import open_store

    settings = load_settings().require("rpc_url", "market", "store", "provider_url")
    w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 60}))
    market = Market(w3, settings.market, settings.account(dev_index))
    return settings, market, open_store(settings.store), ProviderClient(settings.provider_url)


def signer(dev_index: int | None, default: int) -> int | None:
    """The dev account to sign with: ``--account N``, else ``default`` on the local market when no
    private key was given, else None (the private key)."""
    return default if dev_index is None and on_local_market() else dev_index


def on_local_market() -> bool:
    """Whether the CLI talks to the local market and no private key was given (dev accounts then)."""
    from datamarket.chain.devchain import DEV_CHAIN_ID
    from datamarket.settings import load_settings

    settings = load_settings()
    return not settings.has_key and settings.chain_id == DEV_CHAIN_ID


__all__ = ["CONSUMER", "PUBLISHER", "account_option", "connect", "on_local_market", "signer"]
