"""What a command prints: its ``--json`` option and its result, as lines of text or one JSON object."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

RESULT_HELP = "End with one JSON object: the result, or the error."


def json_option(help: str = RESULT_HELP) -> Callable[[F], F]:
    """The ``--json`` flag, passed to the command as ``as_json`` (the error path reads it too)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def emit(as_json: bool, payload: dict[str, Any], lines: list[str]) -> None:
    """The result: ``payload`` as one JSON line with ``as_json``, otherwise ``lines``."""
    if as_json:
        click.echo(json.dumps(payload, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


__all__ = ["RESULT_HELP", "emit", "json_option"]
