"""``datamarket pin ...``: keep content on IPFS through a remote pinning service (the IPFS Pinning Service
API), so that a publisher need not run an IPFS node for ever. The service and its token come from the
client's settings (``DATAMARKET_PIN_SERVICE_URL``, ``DATAMARKET_PIN_SERVICE_TOKEN``), never a flag."""

from __future__ import annotations

from typing import Any

import click

from datamarket.cli.errors import Group
from datamarket.cli.output import emit, json_option
from datamarket.storage.pin_status import MAX_NAME, STATUSES, PinStatus, ShapeError, parse_request_id


def _request_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return parse_request_id(value)
    except ShapeError:
        raise click.BadParameter(f"{value[:80]!r} is not a pin request id") from None


def _name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and len(value) > MAX_NAME:
        raise click.BadParameter(f"a pin's name is at most {MAX_NAME} characters")
    return value


request_id_argument = click.argument("requestid", metavar="REQUESTID", callback=_request_id)


@click.group(cls=Group)
def pin() -> None:
    """Keep content on IPFS with a remote pinning service (DATAMARKET_PIN_SERVICE_URL and _TOKEN)."""


@pin.command()
@click.argument("target", metavar="CID_OR_DATASET")
@click.option("--name", default=None, callback=_name, help="Name the pin(s) (default: the dataset's name).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow until pinned.")
@click.option("--timeout", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="With --wait: give up after S seconds (the service may still finish).")  # fmt: skip
@json_option()
def add(target, name, wait, timeout, as_json) -> None:
    """Ask the pinning service to keep CID_OR_DATASET: a CID, or a dataset (eip155:<chain>/<address>
    or its datatoken's address), whose encrypted file(s) and metadata document are pinned. The
    addresses of your IPFS node (DATAMARKET_STORE, when it is a node's API URL) go with the request."""
    from datamarket.sdk.pins import node_origins, pin_all
    from datamarket.settings import load_settings
    from datamarket.storage.pinning import PinningService

    settings = load_settings()
    service = PinningService.from_settings(settings)
    pins = _targets(target, name, settings)
    origins = node_origins(settings.store, service.url) if settings.store else ()

    def progress(status: PinStatus) -> None:
        if not as_json:
            click.echo(f"{status.requestid}  {_status_text(status)}", err=True)

    statuses = pin_all(service, pins, origins=origins, wait=wait, timeout=timeout, on_progress=progress)
    payload = {"pins": [s.to_json() for s in statuses], "origins": list(origins)}
    emit(as_json, payload, [_line(s) for s in statuses])


@pin.command(name="ls")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
              help="Only pins with this status (repeatable; default: all four).")  # fmt: skip
@click.option("--cid", "cids", multiple=True, help="Only pins of this CID (repeatable, at most 10).")
@click.option("--name", default=None, callback=_name, help="Only pins with this exact name.")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--before", default=None, metavar="TIME",
    help="Only pins created before TIME (RFC 3339): a page's oldest `created` gives the next page.",
)  # fmt: skip
@json_option()
def list_pins(statuses, cids, name, limit, before, as_json) -> None:
    """List your pin requests at the pinning service, newest first."""
    from datamarket.storage.pin_status import parse_time

    if before is not None:
        try:
            parse_time(before, "--before")
        except ShapeError:
            raise click.BadParameter(f"{before!r} is not an RFC 3339 time", param_hint=["--before"]) from None
    service = _service()
    results = service.list(
        cids=cids, name=name, statuses=statuses or STATUSES, before=before, limit=limit
    )  # fmt: skip
    payload = {"count": results.count, "results": [s.to_json() for s in results.results]}
    lines = [f"{len(results.results)} of {results.count} pin request(s)"] + [
        _line(s) for s in results.results
    ]
    emit(as_json, payload, lines)


@pin.command()
@request_id_argument
@json_option()
def status(requestid, as_json) -> None:
    """Show pin request REQUESTID: its status, CID, name, when it was made."""
    found = _service().get(requestid)
    emit(as_json, found.to_json(), [_line(found), f"  created  {found.created}"])


@pin.command(name="rm")
@request_id_argument
@json_option()
def remove(requestid, as_json) -> None:
    """Remove pin request REQUESTID: the service stops keeping its content for you."""
    _service().remove(requestid)
    emit(as_json, {"requestid": requestid, "removed": True}, [f"removed pin request {requestid}"])


def _service() -> Any:
    from datamarket.settings import load_settings
    from datamarket.storage.pinning import PinningService

    return PinningService.from_settings(load_settings())


def _targets(target: str, name: str | None, settings: Any) -> list[Any]:
    """The pins for CID_OR_DATASET: the CID itself, or what keeps the dataset usable."""
    from datamarket.storage.base import StorageError
    from datamarket.storage.cid import CID
    from datamarket.storage.pin_status import Pin

    try:
        CID.parse(target)
    except StorageError:
        pass
    else:
        return [Pin(cid=target, name=name)]
    from eth_utils import is_address

    if not is_address(target.rsplit("/", 1)[-1]):
        raise click.BadParameter(
            f"{target[:120]!r} is neither a CID nor a dataset (eip155:<chain>/<address> or an address)",
            param_hint=["CID_OR_DATASET"],
        )
    from web3 import HTTPProvider, Web3

    from datamarket.chain.market import Market
    from datamarket.cli.params import datatoken
    from datamarket.sdk.pins import dataset_pins
    from datamarket.storage import open_store

    settings.require("rpc_url", "market", "store")
    market = Market(Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 60})), settings.market)
    return dataset_pins(market, open_store(settings.store), datatoken(target, ["CID_OR_DATASET"]), name=name)


def _status_text(status: PinStatus) -> str:
    from datamarket.storage.pinning import shown

    detail = shown(status.info.get("status_details", ""), limit=80)
    return f"{status.status}{'  ' + detail if detail else ''}"


def _line(status: PinStatus) -> str:
    from datamarket.storage.pinning import shown

    name = shown(status.pin.name or "", limit=60)
    return (
        f"{status.requestid}  {_status_text(status):<8}  {shown(status.pin.cid, limit=120)}  {name}".rstrip()
    )


__all__ = ["pin"]
