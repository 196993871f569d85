"""The arguments and options of ``datamarket compute ...``: a job's dataset, its id, its parameters
and the output spec of sample and aggregate. A bad one is a usage error naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from datamarket.cli.params import datatoken


def parse_params(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict; a value is JSON when it parses as JSON (not NaN or Infinity),
    otherwise the string itself."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=["--param"])
        if key in params:
            raise click.BadParameter(f"{key!r} is given twice", param_hint=["--param"])
        try:
            params[key] = json.loads(raw, parse_constant=_no_constant)
        except ValueError:
            params[key] = raw
    return params


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def params_option(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any]:
    return parse_params(value)


_BOUNDS = ("--output-bounds",)


def parse_output_option(shape: str | None, bounds: str | None, fmt: str) -> dict[str, Any] | None:
    """The job's output spec from ``--output-shape 2,3`` and ``--output-bounds LO:HI`` (one pair for
    every coordinate) or ``--output-bounds FILE`` (JSON ``{"lower": [...], "upper": [...]}``)."""
    from datamarket.output_spec import InvalidOutputSpec, parse_output_spec

    if shape is None and bounds is None:
        return None
    if shape is None or bounds is None:
        raise click.UsageError("--output-shape and --output-bounds go together")
    try:
        dims = [int(d) for d in shape.split(",")] if shape.strip() else []
    except ValueError:
        raise click.BadParameter(
            f"{shape!r} is not a list of integers such as 31 or 2,3", param_hint=["--output-shape"]
        ) from None
    path = Path(bounds)
    if path.is_file():
        try:
            data = json.loads(path.read_text(), parse_constant=_no_constant)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{bounds}: not a JSON file ({exc})", param_hint=_BOUNDS) from None
        if not isinstance(data, dict) or set(data) != {"lower", "upper"}:
            raise click.BadParameter(
                f'{bounds}: expected {{"lower": [...], "upper": [...]}}', param_hint=_BOUNDS
            )
        lower, upper = data["lower"], data["upper"]
    else:
        low, sep, high = bounds.rpartition(":")
        try:
            if not sep:
                raise ValueError
            lower, upper = float(low), float(high)
        except ValueError:
            raise click.BadParameter(
                f"{bounds!r} is neither LO:HI (such as -5:5) nor a JSON file", param_hint=_BOUNDS
            ) from None
    try:
        return parse_output_spec({"format": fmt, "shape": dims, "lower": lower, "upper": upper})
    except InvalidOutputSpec as exc:
        raise click.BadParameter(exc.message, param_hint=["--output-shape", "--output-bounds"]) from None


def dataset_argument(ctx: click.Context, param: click.Parameter, value: str) -> str:
    return datatoken(value)


def _job_argument(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from datamarket.sdk.job_files import JOB_ID

    job_id = value.strip().lower()
    if JOB_ID.fullmatch(job_id) is None:
        raise click.BadParameter(f"{value!r} is not a job id (32 hex digits)")
    return job_id


job_argument = click.argument("job", callback=_job_argument)


__all__ = ["dataset_argument", "job_argument", "params_option", "parse_output_option", "parse_params"]
