"""``datamarket privacy``: a dataset's privacy budget, as its provider counts it."""

from __future__ import annotations

import click

from datamarket.cli.errors import Command
from datamarket.cli.job_params import dataset_argument
from datamarket.cli.output import emit, json_option


@click.command(cls=Command)
@click.argument("dataset", callback=dataset_argument)
@json_option()
def privacy(dataset, as_json) -> None:
    """Show DATASET's privacy budget: spent, reserved by running jobs, remaining."""
    from datamarket.sdk.provider_client import ProviderClient
    from datamarket.settings import load_settings

    settings = load_settings().require("provider_url")
    answer = ProviderClient(settings.provider_url).privacy(dataset)
    lines = [f"{name:<10}{answer.get(name)}" for name in ("budget", "spent", "reserved", "remaining")]
    emit(as_json, answer, [f"dataset   {answer.get('datatoken', dataset)}", *lines])


__all__ = ["privacy"]
