"""``datamarket algorithm ...``: an algorithm bundle's hash (for a publisher to trust) and publishing it."""

from __future__ import annotations

from pathlib import Path

import click

from datamarket.cli.errors import Group
from datamarket.cli.output import emit, json_option


@click.group(cls=Group)
def algorithm() -> None:
    """Algorithm bundles: their hash (for a publisher to trust) and publishing them."""


@algorithm.command("hash")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option()
def hash_(path, as_json) -> None:
    """Print the bundle hash of the algorithm file or folder PATH (what --trust-algorithm takes)."""
    from datamarket.sdk.jobs import pack_bundle

    data, digest = pack_bundle(path)
    emit(as_json, {"sha256": digest, "size": len(data), "path": str(path)}, [digest])


@algorithm.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option()
def publish(path, as_json) -> None:
    """Add the bundle of the algorithm file or folder PATH to the content store."""
    from datamarket.sdk.jobs import publish_bundle
    from datamarket.settings import load_settings
    from datamarket.storage import open_store

    settings = load_settings().require("store")
    cid, digest, size = publish_bundle(open_store(settings.store), path)
    emit(as_json, {"cid": cid, "sha256": digest, "size": size}, [f"cid     {cid}", f"sha256  {digest}"])


__all__ = ["algorithm"]
