"""The command line's one error path, for every command group: the ``datamarket`` commands, the store's,
and the services' groups mounted in it (``datamarket provider ...``, ``datamarket worker``).

How a command fails:

- a :class:`~datamarket.errors.DatamarketError`: ``error (<code>): <message>`` on stderr, exit status 1;
- a usage error (a bad option or argument, whether click or the command found it): click's usage
  message, ``Usage: ...`` then ``Error: Invalid value for '--price': ...``, on stderr, exit status 2;
- anything else: ``internal_error``, exit status 2, and no traceback unless ``DATAMARKET_DEBUG`` is set
  (the traceback then goes to stderr first).

With ``--json`` each of them is instead one JSON object on stdout, shaped like the provider's HTTP
errors, with the code ``usage_error`` for a usage error::

    {"error": {"code": "...", "message": "...", "details": {...}}}

Its details hold only JSON scalars and lists of them: no object's repr, no field named like a secret,
no absolute path.

A command takes this path by being a :class:`Command`; every command declared on a :class:`Group`
(``@group.command()``, ``@group.group()``) is one.
"""

from __future__ import annotations

import contextlib
import json
import traceback
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import click

from datamarket import environment
from datamarket.errors import DatamarketError, safe_details

USAGE_ERROR = "usage_error"
INTERNAL_ERROR = "internal_error"


class CommandError(DatamarketError):
    """A failure that a command reports with a code of its own (for an error from outside the
    :class:`~datamarket.errors.DatamarketError` tree, which it reports as this)."""

    code = "command_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        if code is not None:
            self.code = code


class Command(click.Command):
    """A click command whose failures, while parsing its arguments or running, take the error path."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with failures_reported(ctx, as_json=_asks_for_json(self, args)):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with failures_reported(ctx, as_json=bool(ctx.params.get("as_json"))):
            return super().invoke(ctx)


class Group(click.Group):
    """A click group whose commands are :class:`Command` s and whose subgroups are groups like it."""

    command_class = Command
    group_class = type


@contextlib.contextmanager
def failures_reported(ctx: click.Context, *, as_json: bool) -> Iterator[None]:
    """Report what the block raises as the module's docstring says, then exit with its status."""
    try:
        yield
    except (click.exceptions.Exit, click.Abort, BrokenPipeError):
        raise  # click's own endings, and a reader that went away: click handles them
    except click.UsageError as exc:
        if not as_json:
            raise
        report_error(True, USAGE_ERROR, exc.format_message(), _usage_details(exc))
        ctx.exit(2)
    except click.ClickException:
        raise
    except DatamarketError as exc:
        report_error(as_json, exc.code, exc.message, safe_details(exc.details))
        ctx.exit(1)
    except Exception as exc:  # the last line of defence
        debug = bool(environment.get("DATAMARKET_DEBUG"))
        if debug:
            click.echo(traceback.format_exc(), err=True, nl=False)
        hint = "" if debug else " (set DATAMARKET_DEBUG=1 for details)"
        report_error(as_json, INTERNAL_ERROR, f"unexpected {type(exc).__name__}{hint}")
        ctx.exit(2)


def report_error(as_json: bool, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
    """``error (<code>): <message>`` on stderr, or with ``as_json`` the JSON error object on stdout."""
    if as_json:
        body = {"code": code, "message": message, "details": dict(details or {})}
        click.echo(json.dumps({"error": body}))
    else:
        click.echo(f"error ({code}): {message}", err=True)


def _usage_details(exc: click.UsageError) -> dict[str, Any]:
    """``{"param": "--price"}``: the option or argument a usage error is about, when click knows it."""
    if not isinstance(exc, click.BadParameter):
        return {}
    hint: str | Sequence[str] | None = exc.param_hint
    if hint is None and exc.param is not None:
        param = exc.param
        hint = max(param.opts, key=len) if isinstance(param, click.Option) else param.human_readable_name
    if hint is None:
        return {}
    return {"param": hint if isinstance(hint, str) else " / ".join(hint)}


def _asks_for_json(command: click.Command, args: Sequence[str]) -> bool:
    """Whether ``--json`` is among the options of a command that takes it (read before parsing, so
    that a usage error can be reported as JSON too)."""
    if not any(param.name == "as_json" for param in command.params):
        return False
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


__all__ = [
    "INTERNAL_ERROR",
    "USAGE_ERROR",
    "Command",
    "CommandError",
    "Group",
    "failures_reported",
    "report_error",
    "safe_details",
]
