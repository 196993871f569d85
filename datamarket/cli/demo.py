"""``datamarket demo``: the whole story on a real dataset."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from datamarket.cli.errors import Command
from datamarket.cli.output import json_option


@click.command(cls=Command)
@click.option(
    "--keep", is_flag=True, help="Leave the local market running (in DATAMARKET_HOME) to browse it."
)
@json_option()
def demo(keep: bool, as_json: bool) -> None:
    """The whole story on a real dataset: up, publish, buy, download, verify, train with DP, find it
    in the catalog, audit it, down."""
    from datamarket import demo as demo_module

    say = (lambda _msg: None) if as_json else click.echo
    report = demo_module.run(say=say, keep=keep)
    if as_json:
        click.echo(json.dumps(asdict(report), sort_keys=True))


__all__ = ["demo"]
