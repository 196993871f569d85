"""The provider's command line: ``provider serve``, ``provider keys`` and ``provider accept``.

The ``provider`` click group is meant to be mounted in the ``datamarket`` CLI, whose error path its
commands take (:mod:`datamarket.cli.errors`). ``serve`` validates the settings first (a bad setting
stops it with the setting's name, never its value), makes sure an encryption key exists, then runs the
app under gunicorn in this process.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from datamarket.cli.errors import Group
from datamarket.cli.output import json_option
from datamarket.errors import DatamarketError
from datamarket.gunicorn_app import serve as serve_under_gunicorn

config_option = click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")


@click.group(cls=Group)
def provider() -> None:
    """Run and manage a provider service."""


def _settings(config: str | None) -> Any:
    from provider.settings import ENV_PREFIX, ProviderSettings

    if config:
        # The workers build the app from the environment, so the file is named there too.
        os.environ[ENV_PREFIX + "CONFIG"] = config
    return ProviderSettings.load()


@provider.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8030, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@config_option
@click.option(
    "--timeout",
    default=60,
    show_default=True,
    type=click.IntRange(5, 3600),
    help="Seconds before a silent worker is restarted.",
)
@json_option("Print the start line, or the error that stops the start, as one JSON object.")
def serve(host: str, port: int, workers: int, config: str | None, timeout: int, as_json: bool) -> None:
    """Serve the provider API under gunicorn (settings: DATAMARKET_PROVIDER_* and --config)."""
    from datamarket.crypto.keys import KeyStore
    from provider import gunicorn_conf

    settings = _settings(config)
    key = KeyStore(settings.keys_dir).ensure_key()
    if as_json:
        started = {"provider": settings.provider_address, "key_id": key.key_id, "host": host, "port": port}
        click.echo(json.dumps(started, sort_keys=True))
    else:
        click.echo(f"provider {settings.provider_address}, key {key.key_id}, on {host}:{port}", err=True)

    def app() -> Any:
        from provider.wsgi import build

        return build()

    serve_under_gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "timeout": timeout,
            "accesslog": "-",
            "proc_name": "datamarket-provider",
            "on_starting": gunicorn_conf.on_starting,
            "control_socket_disable": gunicorn_conf.control_socket_disable,
            "worker_class": gunicorn_conf.worker_class,
            "worker_connections": gunicorn_conf.worker_connections,
        },
    )


@provider.command()
@config_option
@click.option("--generate", is_flag=True, help="Add a new encryption key first.")
@json_option('Print one JSON object, {"keys": [...]}, or the error.')
def keys(config: str | None, generate: bool, as_json: bool) -> None:
    """List the provider's public encryption keys (a JSON list), generating one if there is none."""
    from datamarket.crypto.keys import KeyStore

    store = KeyStore(_settings(config).keys_dir)
    if generate:
        store.generate()
    store.ensure_key()
    listed = [k.to_json() for k in store.public_keys()]
    click.echo(json.dumps({"keys": listed} if as_json else listed))


@provider.command()
@click.argument("datatoken")
@config_option
@json_option("Print the error, too, as one JSON object (the result is one either way).")
def accept(datatoken: str, config: str | None, as_json: bool) -> None:
    """Take over DATATOKEN's dataset, which its publisher moved to this provider (acceptProvider,
    signed with the provider's key). Prints one JSON object: datatoken, provider, tx."""
    from eth_account import Account
    from web3 import HTTPProvider, Web3

    from datamarket.auth import parse_address
    from datamarket.chain.market import Market

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
    click.echo(json.dumps({"datatoken": datatoken, "provider": market.account.address, "tx": tx.tx_hash}))


__all__ = ["provider"]
