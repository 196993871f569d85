"""The provider's command line: ``provider serve``, ``provider keys`` and ``provider accept``.

The ``provider`` click group is meant to be mounted in the ``datamarket`` CLI. ``serve`` validates
the settings first (a bad setting stops it with the setting's name, never its value), makes sure an
encryption key exists, then runs the app under gunicorn in this process.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from datamarket.errors import DatamarketError


@click.group()
def provider() -> None:
    """Run and manage a provider service."""


def _settings(config: str | None) -> Any:
    from provider.settings import ENV_PREFIX, ProviderSettings

    if config:
        # The workers build the app from the environment, so the file is named there too.
        os.environ[ENV_PREFIX + "CONFIG"] = config
    return ProviderSettings.load()


def _fail(exc: DatamarketError) -> None:
    click.echo(f"error ({exc.code}): {exc.message}", err=True)
    sys.exit(1)


@provider.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8030, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@click.option(
    "--timeout",
    default=60,
    show_default=True,
    type=click.IntRange(5, 3600),
    help="Seconds before a silent worker is restarted.",
)
def serve(host: str, port: int, workers: int, config: str | None, timeout: int) -> None:
    """Serve the provider API under gunicorn (settings: DATAMARKET_PROVIDER_* and --config)."""
    from gunicorn.app.base import BaseApplication

    from datamarket.crypto.keys import KeyStore
    from provider import gunicorn_conf

    try:
        settings = _settings(config)
        key = KeyStore(settings.keys_dir).ensure_key()
    except DatamarketError as exc:
        _fail(exc)
    click.echo(f"provider {settings.provider_address}, key {key.key_id}, on {host}:{port}", err=True)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in {
                "bind": f"{host}:{port}",
                "workers": workers,
                "timeout": timeout,
                "accesslog": "-",
                "proc_name": "datamarket-provider",
                "on_starting": gunicorn_conf.on_starting,
            }.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            from provider.wsgi import build

            return build()

    Server().run()


@provider.command()
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@click.option("--generate", is_flag=True, help="Add a new encryption key first.")
def keys(config: str | None, generate: bool) -> None:
    """List the provider's public encryption keys (JSON), generating one if there is none."""
    from datamarket.crypto.keys import KeyStore

    try:
        store = KeyStore(_settings(config).keys_dir)
        if generate:
            store.generate()
        store.ensure_key()
        click.echo(json.dumps([k.to_json() for k in store.public_keys()]))
    except DatamarketError as exc:
        _fail(exc)


@provider.command()
@click.argument("datatoken")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
def accept(datatoken: str, config: str | None) -> None:
    """Take over DATATOKEN's dataset, which its publisher moved to this provider (acceptProvider,
    signed with the provider's key)."""
    from eth_account import Account
    from web3 import HTTPProvider, Web3

    from datamarket.auth import parse_address
    from datamarket.chain.market import Market

    try:
        datatoken = parse_address(datatoken, "datatoken")
        settings = _settings(config)
        w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}))
        market = Market(w3, settings.market, Account.from_key(settings.private_key.reveal()))
        pending = market.pending_provider(datatoken)
        if pending != market.account.address:
            raise DatamarketError(
                "the dataset's publisher has not named this provider",
                details={"pending_provider": pending},
            )
        tx = market.accept_provider(datatoken)
    except DatamarketError as exc:
        _fail(exc)
    click.echo(json.dumps({"datatoken": datatoken, "provider": market.account.address, "tx": tx.tx_hash}))


__all__ = ["provider"]
