"""``datamarket gateway serve``: the content store, read only, over the IPFS Trustless Gateway protocol.

Mounted in the ``datamarket`` CLI through the ``datamarket.commands`` entry point, so its failures take
the CLI's one error path (:mod:`datamarket.cli.errors`). Settings: ``DATAMARKET_GATEWAY_*`` and
``--config`` (``gateway.settings``); a bad setting stops it with the setting's name, never its value.
"""

from __future__ import annotations

import os
from typing import Any

import click

from datamarket.cli.errors import Group
from datamarket.cli.output import emit, json_option
from datamarket.gunicorn_app import serve as serve_under_gunicorn


@click.group(cls=Group)
def gateway() -> None:
    """Serve the content store over HTTP, the IPFS way (GET /ipfs/{cid})."""


@gateway.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8040, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@json_option("Print the start line, or the error that stops the start, as one JSON object.")
def serve(host: str, port: int, workers: int, config: str | None, as_json: bool) -> None:
    """Serve the gateway under gunicorn until stopped."""
    from datamarket.config import mask_url
    from gateway import gunicorn_conf
    from gateway.settings import GatewaySettings

    if config:
        # The workers build the app from the environment, so the file is named there too.
        os.environ[GatewaySettings.CONFIG_ENV] = config
    settings = GatewaySettings.load()
    started = {"store": mask_url(settings.store), "host": host, "port": port}
    emit(as_json, started, [f"gateway over {started['store']} on {host}:{port}"])

    def app() -> Any:
        from gateway.wsgi import build

        return build()

    serve_under_gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "accesslog": "-",
            "proc_name": "datamarket-gateway",
            "control_socket_disable": gunicorn_conf.control_socket_disable,
            "worker_class": gunicorn_conf.worker_class,
            "worker_connections": gunicorn_conf.worker_connections,
        },
    )


__all__ = ["gateway"]
