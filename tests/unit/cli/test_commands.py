"""The `datamarket` root group: every command it finds, its own and the services' (through entry points),
takes the CLI's error path, and every one but `store cat` takes --json."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from datamarket.cli import main
from datamarket.cli.errors import Command, Group

#: Commands without --json, and why: `store cat` writes the content's bytes to stdout.
WITHOUT_JSON = {"store cat"}


def every_command() -> Iterator[tuple[str, click.Command]]:
    def walk(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, name
            path = f"{prefix} {name}".strip()
            yield path, command
            if isinstance(command, click.Group):
                yield from walk(command, path)

    yield from walk(main, "")


def test_the_services_groups_are_found_through_entry_points() -> None:
    names = set(main.list_commands(click.Context(main)))
    assert {"provider", "worker", "store", "compute", "dataset", "publish", "buy", "download"} <= names


def test_every_group_and_command_takes_the_error_path() -> None:
    found = dict(every_command())
    assert {"provider serve", "provider keys", "provider accept", "worker", "store add"} <= set(found)
    for path, command in found.items():
        kind = Group if isinstance(command, click.Group) else Command
        assert isinstance(command, kind), f"{path} is a plain {type(command).__name__}"


def test_every_command_takes_json_but_the_ones_that_write_raw_output() -> None:
    leaves = {path: c for path, c in every_command() if not isinstance(c, click.Group)}
    without = {path for path, c in leaves.items() if not any(p.name == "as_json" for p in c.params)}
    assert without == WITHOUT_JSON


def test_the_version_and_help() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.startswith("datamarket, version ")
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0 and "publish" in result.output and "provider" in result.output
