"""``datamarket dataset``: what a publisher does to a dataset after publishing it."""

from __future__ import annotations

import click

from datamarket.cli import context
from datamarket.cli.errors import Group
from datamarket.cli.output import emit, json_option
from datamarket.cli.params import datatoken


@click.group(cls=Group)
def dataset() -> None:
    """Manage a dataset you published."""


@dataset.command("set-provider")
@click.argument("dataset_id", metavar="DATASET")
@click.option("--provider-url", required=True, help="The new provider's base URL (its /info names its key).")
@context.account_option
@json_option()
def set_provider(dataset_id, provider_url, dev_index, as_json) -> None:
    """Move DATASET to another provider: name it on chain, wrap the content key to its key, publish
    the metadata that points to it. The new provider then runs `datamarket provider accept`."""
    from datamarket.sdk.content_keys import keys_dir
    from datamarket.sdk.provider_change import set_provider as change
    from datamarket.sdk.provider_client import ProviderClient
    from datamarket.settings import client_home

    _, market, store, _ = context.connect(context.signer(dev_index, context.PUBLISHER))
    result = change(
        market, store, datatoken(dataset_id), provider_info=ProviderClient(provider_url).info(),
        provider_url=provider_url, keys_folder=keys_dir(client_home()),
    )  # fmt: skip
    payload = {"dataset": dataset_id, "new_provider": result.new_provider, "propose_tx": result.propose_tx,
               "metadata_tx": result.metadata_tx, "metadata_cid": result.metadata_cid}  # fmt: skip
    emit(as_json, payload, [
        f"proposed {result.new_provider} as the provider of {dataset_id}",
        f"  propose   {result.propose_tx}", f"  metadata  {result.metadata_cid} ({result.metadata_tx})",
        f"the new provider takes over once it runs: datamarket provider accept {result.datatoken}",
    ])  # fmt: skip


__all__ = ["dataset"]
