"""``datamarket market deploy``: a new market on any EVM chain, and the settings that point at it.

The deployer signs with the configured key (``DATAMARKET_KEYSTORE`` or ``DATAMARKET_PRIVATE_KEY``;
never a flag). The node is ``--rpc-url`` or ``DATAMARKET_RPC_URL`` (the environment keeps an access
key in the URL off the command line). What is checked before sending is in
:mod:`datamarket.chain.deployment`.
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import urlsplit

import click
from eth_utils import is_checksum_address

from datamarket.cli.errors import Group
from datamarket.cli.output import emit, json_option

#: Who reads each group of variables, as the text output says it.
_READERS = {
    "provider": "the provider and its workers (datamarket provider serve, datamarket worker)",
    "backend": "the indexer and the catalog API (datamarket indexer run, backend.wsgi:app)",
    "client": "clients (the datamarket CLI and SDK)",
}


@click.group(cls=Group)
def market() -> None:
    """Deploy a market contract."""


def _address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not is_checksum_address(value):
        raise click.BadParameter(f"{value!r} is not a checksummed (EIP-55) address")
    return value


@market.command()
@click.option("--rpc-url", help="The chain node's http(s) JSON-RPC URL (default: DATAMARKET_RPC_URL).")
@click.option("--owner", callback=_address, help="The market's owner (default: the deployer).")
@click.option("--fee-collector", callback=_address, help="Who collects the market fee (default: the owner).")
@click.option("--fee-bps", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="The market fee, in basis points of each sale.")  # fmt: skip
@click.option("--chain-id", "expected_chain_id", type=click.IntRange(min=1),
              help="Refuse unless the node is on this chain.")  # fmt: skip
@click.option("--allow-dev-chain", is_flag=True,
              help="Deploy on a local development chain (chain id 31337 or 1337) too.")  # fmt: skip
@click.option("--confirmations", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="How deep the deployment must be (1: in a block) before it is printed.")  # fmt: skip
@click.option("--timeout", "timeout_s", type=click.IntRange(10, 86400), default=600, show_default=True,
              help="Seconds to wait for the deployment to be that deep.")  # fmt: skip
@json_option()
def deploy(rpc_url, owner, fee_collector, fee_bps, expected_chain_id, allow_dev_chain, confirmations,
           timeout_s, as_json) -> None:  # fmt: skip
    """Deploy a market, signed by the configured key, and print the settings that point at it."""
    from datamarket import environment
    from datamarket.chain.deployment import deploy_market
    from datamarket.settings import load_settings

    url = rpc_url or environment.get("DATAMARKET_RPC_URL")
    if not url:
        raise click.UsageError("give the chain node's URL: --rpc-url URL or DATAMARKET_RPC_URL")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise click.BadParameter("the node's URL must be http(s)://host...", param_hint=["--rpc-url"])
    settings = load_settings()
    if not settings.has_key:
        raise click.UsageError("set the deployer's key: DATAMARKET_KEYSTORE (or DATAMARKET_PRIVATE_KEY)")
    account = settings.account()
    deployed = deploy_market(
        _web3(url), account, owner=owner, fee_collector=fee_collector, fee_bps=fee_bps,
        expected_chain_id=expected_chain_id, allow_dev_chain=allow_dev_chain, confirmations=confirmations,
        timeout_s=timeout_s,
    )  # fmt: skip
    result = deployed.as_dict(url)
    emit(as_json, result, _lines(result))


def _web3(url: str) -> Any:
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))


def _lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"market         {result['market']}",
        f"deploy block   {result['deploy_block']}",
        f"chain id       {result['chain_id']}",
        f"tx             {result['tx']}",
        f"owner          {result['owner']}",
        f"fee collector  {result['fee_collector']} ({result['fee_bps']} bps)",
    ]
    for group, variables in result["environment"].items():
        lines += ["", f"# {_READERS[group]}"]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    return lines


__all__ = ["deploy", "market"]
