"""``datamarket indexer``: follow the market's events into the catalog database.

Mounted in the ``datamarket`` CLI through the ``datamarket.commands`` entry point, so its failures take
the CLI's one error path (:mod:`datamarket.cli.errors`). Settings: ``DATAMARKET_BACKEND_*`` and
``--config`` (``backend.settings``).
"""

from __future__ import annotations

import logging
import signal
import threading

import click

from datamarket.cli.errors import Group
from datamarket.cli.output import emit, json_option

config_option = click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")


def _settings(config: str | None):
    from backend.settings import BackendSettings

    return BackendSettings.load(config_file=config)


@click.group(cls=Group)
def indexer() -> None:
    """Index the market's events into the catalog database."""


@indexer.command()
@config_option
@json_option("Print the start line, or the error that stops the start, as one JSON object.")
def run(config: str | None, as_json: bool) -> None:
    """Follow the chain until stopped (SIGTERM or Ctrl-C); a second indexer waits and takes over."""
    from backend.indexer import service
    from datamarket.config import mask_url

    settings = _settings(config)
    started = {"market": settings.market, "database": mask_url(settings.database_url or ""),
               "confirmations": settings.confirmations}  # fmt: skip
    emit(as_json, started, [f"indexing market {settings.market} into {started['database']}"])
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    service.run(settings, stop)


@indexer.command()
@config_option
@json_option("Print the catalog's revision as JSON.")
def migrate(config: str | None, as_json: bool) -> None:
    """Create or upgrade the catalog's tables to the current revision."""
    from backend.db.engine import open_engine
    from backend.db.migrate import upgrade

    settings = _settings(config)
    upgrade(open_engine(settings.database_url or ""))
    emit(as_json, {"migrated": True}, ["the catalog is at the current revision"])
