"""``datamarket up``, ``down`` and ``status``: the local market on this machine."""

from __future__ import annotations

import click

from datamarket.cli.errors import Command
from datamarket.cli.output import emit, json_option


@click.command(cls=Command)
@json_option()
def up(as_json: bool) -> None:
    """Start a local market: anvil (state on disk), contracts, content store and its gateway, provider,
    worker, indexer, backend."""
    from datamarket import stack

    status = _with_health(stack.up())
    emit(as_json, status, _status_lines(status))


@click.command(cls=Command)
@json_option()
def down(as_json: bool) -> None:
    """Stop the local market; its state stays on disk for the next `up`."""
    from datamarket import stack

    status = stack.down().status()
    emit(as_json, status, ["local market stopped"])


@click.command(cls=Command)
@json_option()
def status(as_json: bool) -> None:
    """Show the local market's services and their health, chain id and contract addresses."""
    from datamarket import stack

    status = _with_health(stack.status())
    emit(as_json, status, _status_lines(status))


def _with_health(local) -> dict:
    """The stack's status, each service with its health (``datamarket.stack_health``)."""
    from datamarket.stack_health import health

    status = local.status()
    for name, checked in health(local).items():
        status["services"][name].update(checked)
    return status


def _status_lines(status: dict) -> list[str]:
    lines = [f"home      {status['home']}", f"chain id  {status['chain_id']}"]
    lines += [f"{name:<9} {addr}" for name, addr in status["contracts"].items()]
    lines.append(f"store     {status['store']}")
    for name, s in status["services"].items():
        lines.append(f"{name:<9} {s['url']}  {s['health']}: {s['detail']}")
    return lines


__all__ = ["down", "status", "up"]
