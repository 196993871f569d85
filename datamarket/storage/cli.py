"""``datamarket store``: the content store from the command line, with ``ipfs``'s conventions.

The store is ``--store``, else ``$DATAMARKET_STORE``, else ``.datamarket/store`` in the current
directory: a directory (the embedded store) or an IPFS node's API URL (``http://127.0.0.1:5001``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

from datamarket.atomic_files import PUBLIC, atomic_writer
from datamarket.cli.errors import Group
from datamarket.cli.output import json_option
from datamarket.errors import DatamarketError
from datamarket.storage import open_store
from datamarket.storage.base import CarStore

DEFAULT_STORE = Path(".datamarket") / "store"

_json_option = json_option("Print one JSON object: the result, or the error.")


class LocalFileError(DatamarketError, OSError):
    """A local file (the one to add, the CAR to write or read) could not be read or written."""

    code = "io_error"


@click.group(cls=Group)
@click.option(
    "--store",
    "location",
    envvar="DATAMARKET_STORE",
    default=str(DEFAULT_STORE),
    show_default=True,
    help="Store directory, or an IPFS node's API URL. Env: DATAMARKET_STORE.",
)
@click.pass_context
def store(ctx: click.Context, location: str) -> None:
    """Add, read and move content-addressed files (the same CIDs as `ipfs add`)."""
    ctx.obj = location


@store.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option("--cid-version", type=click.Choice(["0", "1"]), default="1", show_default=True)
@click.option("--only-hash", is_flag=True, help="Compute the CID without storing anything.")
@_json_option
@click.pass_obj
def add(location: str, file: str, cid_version: str, only_hash: bool, as_json: bool) -> None:
    """Add FILE (- for stdin) and print its CID."""
    with _local_files(), _open_input(file) as stream:
        cid = _open(location).add(stream, cid_version=int(cid_version), only_hash=only_hash)
        click.echo(json.dumps({"cid": cid}) if as_json else cid)


@store.command()
@click.argument("cid")
@click.pass_obj
def cat(location: str, cid: str) -> None:
    """Write the content of CID to stdout, verified block by block."""
    out = sys.stdout.buffer
    with _local_files():
        for piece in _open(location).cat(cid):
            out.write(piece)
        out.flush()


@store.command(name="export")
@click.argument("cid")
@click.argument("car_file", metavar="FILE.car", type=click.Path(dir_okay=False, path_type=Path))
@_json_option
@click.pass_obj
def export_car(location: str, cid: str, car_file: Path, as_json: bool) -> None:
    """Write the DAG of CID to FILE.car (CAR v1)."""
    with _local_files():
        store = _open(location)
        car_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(car_file, mode=PUBLIC) as out:
            store.export_car(cid, out)
        if as_json:
            click.echo(json.dumps({"cid": cid, "car": str(car_file), "size": car_file.stat().st_size}))


@store.command(name="import")
@click.argument("car_file", metavar="FILE.car", type=click.Path(dir_okay=False, allow_dash=True))
@_json_option
@click.pass_obj
def import_car(location: str, car_file: str, as_json: bool) -> None:
    """Import FILE.car (CAR v1; - for stdin), pin its roots and print them."""
    with _local_files(), _open_input(car_file) as stream:
        roots = _open(location).import_car(stream)
        click.echo(json.dumps({"roots": list(roots)}) if as_json else "\n".join(roots))


def _open(location: str) -> CarStore:
    return open_store(location)


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as stream:
        yield stream


@contextlib.contextmanager
def _local_files() -> Iterator[None]:
    """A local file's failure as :class:`LocalFileError` (the CLI's error path reports it: exit
    status 1); a reader that went away (``... | head``) ends the command with exit status 1, quietly."""
    try:
        yield
    except BrokenPipeError:
        # Not an error, but stdout can no longer be flushed.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except DatamarketError:
        raise
    except OSError as exc:
        message = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
        raise LocalFileError(message) from None
