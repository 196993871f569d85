"""The ``datamarket`` command line. Commands are thin: parse, call one core function, print.

With ``--json`` a command's last line of output is one JSON object with what it produced. Errors
print ``error (<code>): <message>`` (or a JSON error object) and exit 1, never a stack trace.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from eth_utils import is_address, to_checksum_address

from datamarket import __version__, environment
from datamarket.errors import DatamarketError

json_option = click.option("--json", "as_json", is_flag=True, help="End with one JSON line of the result.")
account_option = click.option(
    "--account", "dev_index", type=int, default=None,
    help="Sign with public dev account N of the local chain (default: DATAMARKET_PRIVATE_KEY).",
)  # fmt: skip


def _handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        as_json = kwargs.get("as_json", False)
        try:
            return fn(*args, **kwargs)
        except DatamarketError as exc:
            _report(as_json, exc.code, exc.message)
            sys.exit(1)
        except Exception as exc:  # the last line of defence: no stack trace unless asked for
            if environment.get("DATAMARKET_DEBUG"):
                raise
            _report(
                as_json,
                "internal_error",
                f"unexpected {type(exc).__name__} (set DATAMARKET_DEBUG=1 for details)",
            )
            sys.exit(2)

    return wrapper


def _report(as_json: bool, code: str, message: str) -> None:
    if as_json:
        click.echo(json.dumps({"error": {"code": code, "message": message}}))
    else:
        click.echo(f"error ({code}): {message}", err=True)


def _emit(as_json: bool, payload: dict, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(payload, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


def _datatoken(dataset: str) -> str:
    """Accept ``eip155:<chain>/<address>`` or a bare address."""
    address = dataset.rsplit("/", 1)[-1]
    if not is_address(address):
        raise click.BadParameter(f"{dataset!r} is neither eip155:<chain>/<address> nor an address")
    return to_checksum_address(address)


def _bundle_hashes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """``--trust-algorithm`` values: bundle hashes, 64 hex digits (``0x`` allowed), in lower case."""
    hashes = []
    for value in values:
        digest = value.lower().removeprefix("0x")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise click.BadParameter(f"{value!r} is not a bundle hash (64 hex digits)")
        if digest not in hashes:
            hashes.append(digest)
    return tuple(hashes)


def _column_bounds(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, tuple[float, float]]:
    """``--bounds COL=LO:HI`` values: {column: (lo, hi)}, finite with lo < hi."""
    import math

    bounds: dict[str, tuple[float, float]] = {}
    for value in values:
        column, _, pair = value.rpartition("=")
        lo_text, _, hi_text = pair.partition(":")
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not COL=LO:HI") from None
        if not column or not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise click.BadParameter(f"{value!r}: bounds of column {column!r} must be finite with LO < HI")
        bounds[column] = (lo, hi)
    return bounds


def _context(dev_index: int | None):
    from web3 import HTTPProvider, Web3

    from datamarket.chain.market import Market
    from datamarket.sdk.provider_client import ProviderClient
    from datamarket.settings import load_settings
    from datamarket.storage import open_store

    settings = load_settings().require("rpc_url", "market", "store", "provider_url")
    w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 60}))
    market = Market(w3, settings.market, settings.account(dev_index))
    return settings, market, open_store(settings.store), ProviderClient(settings.provider_url)


def _token_units(w3, token: str, amount: str) -> int:
    from datamarket.chain import artifacts
    from datamarket.chain.quotes import ZERO_ADDRESS

    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise click.BadParameter(f"price {amount!r} is not a number") from None
    if not value.is_finite():
        raise click.BadParameter(f"price {amount!r} is not a finite number")
    decimals = 18
    if token != ZERO_ADDRESS:
        contract = w3.eth.contract(address=token, abi=artifacts.load("MockERC20").abi)
        decimals = contract.functions.decimals().call()
    units = value * 10**decimals
    if units < 0 or units != units.to_integral_value():
        raise click.BadParameter(f"price {amount} has more than {decimals} decimals or is negative")
    return int(units)


#: The CLI's commands that live in their own modules, imported only when used.
_LAZY_COMMANDS = {
    "compute": "datamarket.compute_cli:compute",
    "privacy": "datamarket.compute_cli:privacy",
    "algorithm": "datamarket.compute_cli:algorithm",
    "dataset": "datamarket.dataset_cli:dataset",
}


class _Commands(click.Group):
    """The CLI's own commands plus the services' groups, found through the ``datamarket.commands``
    entry points (the provider registers ``provider``): the kernel never imports a service."""

    def _plugins(self) -> dict[str, str]:
        from importlib.metadata import EntryPoint, entry_points

        plugins = {ep.name: ep for ep in entry_points(group="datamarket.commands")}
        lazy = {
            name: EntryPoint(name, value, "datamarket.commands") for name, value in _LAZY_COMMANDS.items()
        }
        return {**plugins, **lazy}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in self._plugins():
            command = self._plugins()[name].load()
        return command


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="datamarket")
def main() -> None:
    """datamarket: publish, buy and compute on data, with every step on chain."""


def _register_store() -> None:
    from datamarket.storage.cli import store

    main.add_command(store)


# ---------------------------------------------------------------------- local market


@main.command()
@json_option
@_handle_errors
def up(as_json: bool) -> None:
    """Start a local market: anvil (state on disk), contracts, content store, provider."""
    from datamarket import stack

    status = stack.up().status()
    _emit(as_json, status, _status_lines(status))


@main.command()
@json_option
@_handle_errors
def down(as_json: bool) -> None:
    """Stop the local market; its state stays on disk for the next `up`."""
    from datamarket import stack

    status = stack.down().status()
    _emit(as_json, status, ["local market stopped"])


@main.command()
@json_option
@_handle_errors
def status(as_json: bool) -> None:
    """Show the local market's services, chain id and contract addresses."""
    from datamarket import stack

    status = stack.status().status()
    _emit(as_json, status, _status_lines(status))


def _status_lines(status: dict) -> list[str]:
    lines = [f"home      {status['home']}", f"chain id  {status['chain_id']}"]
    lines += [f"{name:<9} {addr}" for name, addr in status["contracts"].items()]
    lines.append(f"store     {status['store']}")
    for name, s in status["services"].items():
        lines.append(f"{name:<9} {s['url']}  {'running' if s['running'] else 'stopped'}")
    return lines


# ---------------------------------------------------------------------- publisher and consumer


@main.command()
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
    "--trust-algorithm", "trusted", multiple=True, metavar="HASH", callback=_bundle_hashes,
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
    "--bounds", "bounds", multiple=True, metavar="COL=LO:HI", callback=_column_bounds,
    help="Public bounds of numeric column COL (default: its min and max rounded outward, published).",
)  # fmt: skip
@click.option("--min-category-count", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--max-categories", default=32, show_default=True, type=click.IntRange(2, 256))
@click.option(
    "--aggregate-blocks", default=None, type=click.IntRange(2, 1000), metavar="K",
    help="Untrusted algorithms run on K disjoint blocks of the rows (sample and aggregate; default 10).",
)  # fmt: skip
@account_option
@json_option
@_handle_errors
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

    settings, market, store, provider = _context(2 if dev_index is None and _local() else dev_index)
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
        price=0 if free else _token_units(market.w3, token, price), payment_token=token, free=free,
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
    _emit(as_json, payload, lines)


@main.command()
@click.argument("dataset")
@account_option
@json_option
@_handle_errors
def buy(dataset, dev_index, as_json) -> None:
    """Buy one datatoken of DATASET (or take one from a free dataset's dispenser)."""
    from datamarket.sdk import orders

    _, market, _, _ = _context(4 if dev_index is None and _local() else dev_index)
    tx = orders.buy(market, _datatoken(dataset))
    _emit(as_json, {"tx": tx.tx_hash}, [f"bought one datatoken of {dataset}: {tx.tx_hash}"])


@main.command()
@click.argument("dataset")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--order-tx", default=None, help="Use this existing order instead of ordering now.")
@click.option("--order-id", type=click.IntRange(min=0), default=None,
              help="With --order-tx: which of the transaction's orders (when it holds several).")  # fmt: skip
@account_option
@json_option
@_handle_errors
def download(dataset, output, order_tx, order_id, dev_index, as_json) -> None:
    """Order DATASET's download service, get its key from the provider, decrypt to OUTPUT."""
    from datamarket.sdk import download as flows

    _, market, store, provider = _context(4 if dev_index is None and _local() else dev_index)
    result = flows.download(
        market, store, provider, _datatoken(dataset), output, order_tx=order_tx, order_id=order_id
    )
    payload = {"path": result.path, "sha256": result.sha256, "order_tx": result.order_tx,
               "order_id": result.order_id}  # fmt: skip
    _emit(as_json, payload, [f"downloaded {dataset} to {result.path}", f"  sha256  {result.sha256}",
                             f"  order   {result.order_id} in {result.order_tx}"])  # fmt: skip


def _local() -> bool:
    """Whether the CLI talks to the local market and no private key was given (dev accounts then)."""
    from datamarket.chain.devchain import DEV_CHAIN_ID
    from datamarket.settings import load_settings

    settings = load_settings()
    return not settings.private_key and settings.chain_id == DEV_CHAIN_ID


# ---------------------------------------------------------------------- demo


@main.command()
@json_option
@_handle_errors
def demo(as_json: bool) -> None:
    """The whole story on a real dataset: up, publish, buy, download, verify, train with DP, down."""
    from datamarket import demo as demo_module

    say = (lambda _msg: None) if as_json else click.echo
    report = demo_module.run(say=say)
    if as_json:
        click.echo(json.dumps(asdict(report), sort_keys=True))


_register_store()
