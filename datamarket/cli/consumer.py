"""``datamarket buy`` and ``datamarket download``: a consumer gets a datatoken, then the data."""

from __future__ import annotations

from pathlib import Path

import click

from datamarket.cli import context
from datamarket.cli.errors import Command
from datamarket.cli.output import emit, json_option
from datamarket.cli.params import datatoken


@click.command(cls=Command)
@click.argument("dataset")
@context.account_option
@json_option()
def buy(dataset, dev_index, as_json) -> None:
    """Buy one datatoken of DATASET (or take one from a free dataset's dispenser)."""
    from datamarket.sdk import orders

    _, market, _, _ = context.connect(context.signer(dev_index, context.CONSUMER))
    tx = orders.buy(market, datatoken(dataset))
    emit(as_json, {"tx": tx.tx_hash}, [f"bought one datatoken of {dataset}: {tx.tx_hash}"])


@click.command(cls=Command)
@click.argument("dataset")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--order-tx", default=None, help="Use this existing order instead of ordering now.")
@click.option("--order-id", type=click.IntRange(min=0), default=None,
              help="With --order-tx: which of the transaction's orders (when it holds several).")  # fmt: skip
@context.account_option
@json_option()
def download(dataset, output, order_tx, order_id, dev_index, as_json) -> None:
    """Order DATASET's download service, get its key from the provider, decrypt to OUTPUT."""
    from datamarket.sdk import download as flows

    _, market, store, provider = context.connect(context.signer(dev_index, context.CONSUMER))
    result = flows.download(
        market, store, provider, datatoken(dataset), output, order_tx=order_tx, order_id=order_id
    )
    payload = {"path": result.path, "sha256": result.sha256, "order_tx": result.order_tx,
               "order_id": result.order_id}  # fmt: skip
    emit(as_json, payload, [f"downloaded {dataset} to {result.path}", f"  sha256  {result.sha256}",
                            f"  order   {result.order_id} in {result.order_tx}"])  # fmt: skip


__all__ = ["buy", "download"]
