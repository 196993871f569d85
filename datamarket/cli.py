"""The ``datamarket`` command line. Commands are thin: parse, call one core function, print.

With ``--json`` a command's last line of output is one JSON object with what it produced.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from datamarket import __version__
from datamarket.errors import DatamarketError


@click.group()
@click.version_option(__version__, prog_name="datamarket")
def main() -> None:
    """datamarket: publish, buy and compute on data, with every step on chain."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line of what happened.")
def demo(as_json: bool) -> None:
    """Run the contracts demo on a local anvil that it starts and stops."""
    from datamarket import demo as demo_module

    say = (lambda _msg: None) if as_json else click.echo
    try:
        report = demo_module.run(say=say)
    except DatamarketError as exc:
        _fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(asdict(report), sort_keys=True))
        return
    click.echo("\ntransactions:")
    for step, tx in report.transactions.items():
        click.echo(f"  {step:<22} gas {tx['gas']:>9,}  block {tx['block']:>3}  {tx['tx']}")


def _fail(exc: DatamarketError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": {"code": exc.code, "message": exc.message}}))
    else:
        click.echo(f"error ({exc.code}): {exc.message}", err=True)
    sys.exit(1)
