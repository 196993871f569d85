"""``datamarket demo``: the whole story on a real dataset."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from datamarket.cli.errors import Command
from datamarket.cli.output import json_option


@click.command(cls=Command)
@json_option()
def demo(as_json: bool) -> None:
    """The whole story on a real dataset: up, publish, buy, download, verify, train with DP, down."""
    from datamarket import demo as demo_module

    say = (lambda _msg: None) if as_json else click.echo
    report = demo_module.run(say=say)
    if as_json:
        click.echo(json.dumps(asdict(report), sort_keys=True))


__all__ = ["demo"]
