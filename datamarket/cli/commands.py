"""The ``datamarket`` root command group, and where each of its commands lives."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

from datamarket import __version__
from datamarket.cli.errors import Group

#: The CLI's own commands, each in the module named after what it holds, imported only when used.
_COMMANDS = {
    "up": "datamarket.cli.local_market:up",
    "down": "datamarket.cli.local_market:down",
    "status": "datamarket.cli.local_market:status",
    "publish": "datamarket.cli.publish:publish",
    "buy": "datamarket.cli.consumer:buy",
    "download": "datamarket.cli.consumer:download",
    "demo": "datamarket.cli.demo:demo",
    "dataset": "datamarket.cli.datasets:dataset",
    "compute": "datamarket.cli.jobs:compute",
    "privacy": "datamarket.cli.privacy:privacy",
    "algorithm": "datamarket.cli.algorithms:algorithm",
    "store": "datamarket.storage.cli:store",
    "pin": "datamarket.cli.pins:pin",
    "audit": "datamarket.cli.audit:audit",
    "market": "datamarket.cli.market:market",
}


class _Commands(Group):
    """The CLI's own commands plus the services' groups, found through the ``datamarket.commands``
    entry points (the provider registers ``provider``, the compute service ``worker``): the kernel
    never imports a service."""

    def _entry_points(self) -> dict[str, EntryPoint]:
        plugins = {ep.name: ep for ep in entry_points(group="datamarket.commands")}
        own = {name: EntryPoint(name, value, "datamarket.commands") for name, value in _COMMANDS.items()}
        return {**plugins, **own}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in (found := self._entry_points()):
            command = found[name].load()
        return command


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="datamarket")
def main() -> None:
    """datamarket: publish, buy and compute on data, with every step on chain."""


__all__ = ["main"]
