"""``datamarket publish``: profile, encrypt and pin a file, then publish it with its own datatoken."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from eth_utils import to_checksum_address

from datamarket.cli import context
from datamarket.cli.errors import Command
from datamarket.cli.output import emit, json_option
from datamarket.cli.params import bundle_hashes, column_bounds, token_units


@click.command(cls=Command)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The dataset's name.")
@click.option("--description", default="", help="What the data is.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeat for more).")
@click.option("--license", "license_", default="CC-BY-4.0", show_default=True)
@click.option("--price", default="0", help="Price of one datatoken, in whole payment-token units.")
@click.option("--payment-token", default=None, help="ERC-20 address, or 'native' (default: the market's).")
@click.option("--free", is_flag=True, help="Free, through a dispenser (10 datatokens per account in all).")
@click.option("--download/--compute-only", default=True, help="Offer download, or only compute.")
@click.option(
    "--epsilon-budget", default=0.0, type=click.FloatRange(min=0), help="Privacy budget for compute jobs."
)
@click.option(
    "--max-epsilon-per-job", default=None, type=click.FloatRange(min=0),
    help="Most epsilon one compute job may spend (default: min(1, budget)).",
)  # fmt: skip
@click.option(
    "--trust-algorithm", "trusted", multiple=True, metavar="HASH", callback=bundle_hashes,
    help="Let jobs run the algorithm bundle with this hash (see `datamarket algorithm hash`); repeatable.",
)  # fmt: skip
@click.option("--allow-any-algorithm", is_flag=True, help="Let jobs run any published algorithm bundle.")
@click.option("--require-dp", is_flag=True, help="Run only jobs that declare an epsilon (DP jobs).")
@click.option(
    "--target", "targets", multiple=True, metavar="COL",
    help="Declare COL a label the built-ins may learn; its classes are its distinct values (published).",
)  # fmt: skip
@click.option(
    "--categorical", multiple=True, metavar="COL",
    help="Declare COL categorical; its values occurring at least --min-category-count times are published.",
)  # fmt: skip
@click.option("--text", "text_columns", multiple=True, metavar="COL", help="Declare COL free text.")
@click.option(
    "--bounds", "bounds", multiple=True, metavar="COL=LO:HI", callback=column_bounds,
    help="Public bounds of numeric column COL (default: its min and max rounded outward, published).",
)  # fmt: skip
@click.option("--min-category-count", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--max-categories", default=32, show_default=True, type=click.IntRange(2, 256))
@click.option(
    "--aggregate-blocks", default=None, type=click.IntRange(2, 1000), metavar="K",
    help="Untrusted algorithms run on K disjoint blocks of the rows (sample and aggregate; default 10).",
)  # fmt: skip
@context.account_option
@json_option()
def publish(file, name, description, tags, license_, price, payment_token, free, download, epsilon_budget,
            max_epsilon_per_job, trusted, allow_any_algorithm, require_dp, targets, categorical,
            text_columns, bounds, min_category_count, max_categories, aggregate_blocks, dev_index,
            as_json) -> None:  # fmt: skip
    """Profile, encrypt and pin FILE, then publish it with its own datatoken."""
    import math

    from tqdm import tqdm

    from datamarket.chain.quotes import ZERO_ADDRESS
    from datamarket.sdk.content_keys import keys_dir
    from datamarket.sdk.publish import PublishError, PublishRequest, publish_file
    from datamarket.settings import client_home

    compute = not download or epsilon_budget > 0 or bool(trusted) or allow_any_algorithm or require_dp
    if max_epsilon_per_job is None:
        max_epsilon_per_job = min(1.0, epsilon_budget)
    if not (math.isfinite(epsilon_budget) and math.isfinite(max_epsilon_per_job)):
        raise PublishError("--epsilon-budget and --max-epsilon-per-job are finite numbers")
    if compute and not epsilon_budget > 0:
        raise PublishError("a compute service needs a privacy budget: pass --epsilon-budget E (E > 0)")
    if compute and not 0 < max_epsilon_per_job <= epsilon_budget:
        raise PublishError("--max-epsilon-per-job is more than 0 and at most --epsilon-budget")

    settings, market, store, provider = context.connect(context.signer(dev_index, context.PUBLISHER))
    token = ZERO_ADDRESS if payment_token == "native" else to_checksum_address(
        payment_token or settings.payment_token or ZERO_ADDRESS
    )  # fmt: skip
    bars: dict[str, tqdm] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if as_json:
            return
        bar = bars.get(phase) or bars.setdefault(
            phase, tqdm(total=total, desc=phase, unit="B", unit_scale=True, file=sys.stderr, leave=False)
        )
        bar.update(done - bar.n)

    request = PublishRequest(
        path=file, name=name, description=description, tags=tuple(tags), license=license_,
        price=0 if free else token_units(market.w3, token, price), payment_token=token, free=free,
        download=download, compute=compute, epsilon_budget=epsilon_budget,
        max_epsilon_per_job=max_epsilon_per_job, trusted_algorithms=trusted,
        allow_any_algorithm=allow_any_algorithm, require_dp=require_dp, targets=tuple(targets),
        categorical=tuple(categorical), text=tuple(text_columns), bounds=bounds,
        min_category_count=min_category_count, max_categories=max_categories,
        aggregate_blocks=aggregate_blocks,
    )  # fmt: skip
    result = publish_file(
        request, market=market, store=store, provider_info=provider.info(),
        provider_url=settings.provider_url, progress=progress, keys_folder=keys_dir(client_home()),
    )  # fmt: skip
    for bar in bars.values():
        bar.close()
    payload = {
        "dataset": result.dataset, "publish_tx": result.publish_tx, "metadata_cid": result.metadata_cid,
        "data_cid": result.data_cid,
    }  # fmt: skip
    lines = [f"published {result.dataset}", f"  tx        {result.publish_tx}",
             f"  metadata  {result.metadata_cid}", f"  data      {result.data_cid}"]  # fmt: skip
    emit(as_json, payload, lines)


__all__ = ["publish"]
