"""``GET|HEAD /ipfs/{cid}``: one block, or the CAR of a DAG, as the IPFS Trustless Gateway answers.

The root block is read (and checked against its CID) before anything is answered, so a CID the store
lacks is a plain 404 (412 to a request with ``Cache-Control: only-if-cached``). A raw answer is that
block. A CAR answer is streamed: the header, then each block as the walk reads it
(:mod:`datamarket.storage.traversal`), so memory stays flat whatever the size of the file. Once
streaming has started the status is sent; a block found missing or corrupted later, or a DAG past the
gateway's limits, ends the answer with an error (the connection is closed before the end of the chunked
body), and a client that checks its CAR sees it incomplete.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from datamarket.storage import car
from datamarket.storage.base import ContentNotFound, InvalidCID, StorageError
from datamarket.storage.cid import CID, IDENTITY
from datamarket.storage.traversal import links, walk_dfs
from gateway.context import GatewayContext, current
from gateway.errors import NotCached, PathNotServed
from gateway.formats import Wanted, negotiate

log = logging.getLogger("gateway.content")

bp = Blueprint("content", __name__)

#: Content at a CID never changes: a year (the most browsers honour), immutable.
IMMUTABLE = "public, max-age=29030400, immutable"
EXPOSED = "Content-Length, Content-Type, Content-Disposition, Etag, X-Ipfs-Path, X-Ipfs-Roots"


@bp.route("/ipfs/<cid>", methods=["GET", "HEAD"])
def ipfs(cid: str) -> Response:
    root = _parse(cid)
    wanted = negotiate(request.headers.get("Accept"), request.args)
    ctx = current()
    try:
        root_block = ctx.store.get_block(str(root))
    except ContentNotFound:
        if request.cache_control.only_if_cached:
            raise NotCached(f"{root} is not in this gateway's store", details={"cid": str(root)}) from None
        raise
    if wanted.car and wanted.scope != "block":
        links(root, root_block)  # a root that cannot be walked is refused before the answer starts
    etag = _etag(root, wanted)
    headers = _headers(cid, root, wanted, etag)
    if request.if_none_match.contains(etag.strip('"')):
        return Response(status=304, headers=headers)
    if not wanted.car:
        return Response(root_block, status=200, headers=headers)
    return Response(_car_stream(ctx, root, root_block, wanted), status=200, headers=headers)


@bp.route("/ipfs/<cid>/<path:path>", methods=["GET", "HEAD"])
def ipfs_path(cid: str, path: str) -> Response:
    _parse(cid)
    raise PathNotServed(
        "paths below a CID are not served: the store holds files, each at its own /ipfs/{cid}",
        details={"path": path},
    )


def _parse(cid: str) -> CID:
    try:
        return CID.parse(cid)
    except InvalidCID as exc:
        message = exc.message if repr(cid) in exc.message else f"{cid!r} is not a CID ({exc.message})"
        raise InvalidCID(message, details={"cid": cid[:100]}) from None


def _car_stream(ctx: GatewayContext, root: CID, root_block: bytes, wanted: Wanted) -> Iterator[bytes]:
    yield car.encode_header([root])
    if wanted.scope == "block":
        if root.hash_code != IDENTITY:
            yield car.encode_section(root, root_block)
        return
    blocks = walk_dfs(
        lambda cid: ctx.store.get_block(str(cid)),
        root,
        dups=wanted.dups,
        limits=ctx.limits,
        root_block=root_block,
    )
    try:
        for cid, block in blocks:
            yield car.encode_section(cid, block)
    except StorageError as exc:
        log.warning("the CAR of %s was cut off: %s (%s)", root, exc.code, exc.message)
        raise


def _etag(root: CID, wanted: Wanted) -> str:
    if not wanted.car:
        return f'"{root}.raw"'
    return f'"{root}.car.{wanted.scope}.dfs.dups-{"y" if wanted.dups else "n"}"'


def _headers(cid: str, root: CID, wanted: Wanted, etag: str) -> dict[str, str]:
    extension = "car" if wanted.car else "bin"
    headers = {
        "Content-Type": wanted.content_type,
        "Content-Disposition": f'attachment; filename="{root}.{extension}"',
        "Cache-Control": IMMUTABLE,
        "Etag": etag,
        "X-Ipfs-Path": f"/ipfs/{cid}",
        "X-Ipfs-Roots": str(root),
        "Vary": "Accept",
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": EXPOSED,
        "X-Content-Type-Options": "nosniff",
    }
    if not wanted.from_query:
        # The same answer at a URL that names its format, for caches that ignore Vary.
        query = {**request.args.to_dict(), "format": "car" if wanted.car else "raw"}
        if wanted.car:
            query["car-dups"] = "y" if wanted.dups else "n"
        headers["Content-Location"] = f"/ipfs/{cid}?{urlencode(query)}"
    return headers
