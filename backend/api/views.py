"""The catalog and audit API, ``/api/v1``: each view parses its parameters, calls one query and
answers with the block the catalog reflects (``answer``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from backend.api import pagination, params, queries, records
from backend.api.activity import activity
from backend.api.context import catalog, current
from backend.api.errors import NotFound
from backend.api.search import SearchQuery, search

bp = Blueprint("api", __name__, url_prefix="/api/v1")
LISTING_LIMIT = 50
LISTING_MAX = 500


def answer(body: dict[str, Any]) -> Response:
    """``body`` with the block the catalog reflects first (``"block"``; null before the first block is
    indexed), and its number in ``X-Datamarket-Block`` (``none`` before the first)."""
    block = records.block(queries.checkpoint(catalog()))
    response = jsonify({"block": block, **body})
    response.headers["X-Datamarket-Block"] = str(block["number"]) if block else "none"
    return response


def known_dataset(datatoken: str) -> str:
    address = params.address("datatoken", datatoken)
    if not queries.dataset_exists(catalog(), address):
        raise NotFound(
            "no dataset with this datatoken", code="unknown_dataset", details={"datatoken": address}
        )
    return address


def listing_args(name: str) -> tuple[tuple[int, int] | None, int]:
    params.known(request.args, ("limit", "cursor"))
    limit = params.limit(request.args, default=LISTING_LIMIT, maximum=LISTING_MAX)
    key = pagination.decode(params.single(request.args, "cursor"), name, (int, int))
    return (key[0], key[1]) if key is not None else None, limit


def listed(name: str, listing: queries.Listing, items: list[dict[str, Any]]) -> Response:
    cursor = pagination.encode(name, listing.next_key) if listing.next_key is not None else None
    return answer({"items": items, "next_cursor": cursor})


@bp.get("/datasets")
def datasets() -> ResponseReturnValue:
    page = search(catalog(), SearchQuery.from_args(request.args), current().chain_id)
    return answer({"items": page.items, "next_cursor": page.next_cursor})


@bp.get("/datasets/<datatoken>")
def dataset(datatoken: str) -> ResponseReturnValue:
    params.known(request.args, ())
    address = known_dataset(datatoken)
    conn = catalog()
    row = queries.dataset(conn, address)
    tags = queries.tags_of(conn, [row.document_id] if row.document_id is not None else [])
    tokens = queries.tokens(conn, [row.payment_token])
    detail = records.dataset_detail(row, tags.get(row.document_id, []), current().chain_id, tokens)
    return answer({"dataset": detail})


@bp.get("/datasets/<datatoken>/history")
def history(datatoken: str) -> ResponseReturnValue:
    address = known_dataset(datatoken)
    key, limit = listing_args("history")
    conn = catalog()
    listing = queries.history(conn, address, key, limit)
    marks = queries.version_marks(conn, address)
    items = [
        records.event(row, queries.version_at(marks, row.block_number, row.log_index)) for row in listing.rows
    ]
    return listed("history", listing, items)


@bp.get("/datasets/<datatoken>/orders")
def orders(datatoken: str) -> ResponseReturnValue:
    address = known_dataset(datatoken)
    key, limit = listing_args("orders")
    conn = catalog()
    listing = queries.orders(conn, address, key, limit)
    tokens = queries.tokens(conn, [row.fee_token for row in listing.rows])
    return listed("orders", listing, [records.order(row, tokens) for row in listing.rows])


@bp.get("/datasets/<datatoken>/receipts")
def receipts(datatoken: str) -> ResponseReturnValue:
    address = known_dataset(datatoken)
    key, limit = listing_args("receipts")
    listing = queries.receipts(catalog(), address, key, limit)
    return listed("receipts", listing, [records.receipt(row) for row in listing.rows])


@bp.get("/datasets/<datatoken>/metadata")
def metadata(datatoken: str) -> ResponseReturnValue:
    address = known_dataset(datatoken)
    key, limit = listing_args("metadata")
    listing = queries.metadata_versions(catalog(), address, key, limit)
    return listed("metadata", listing, [records.metadata_version(row) for row in listing.rows])


@bp.get("/accounts/<address>")
def account(address: str) -> ResponseReturnValue:
    params.known(request.args, ())
    return answer({"account": activity(catalog(), params.address("address", address), current().chain_id)})


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    params.known(request.args, ())
    conn = catalog()
    figures = queries.stats(conn)
    tokens = queries.tokens(conn, figures["volume"])
    figures["volume_tokens"] = {token: records.token_info(token, tokens) for token in figures["volume"]}
    checkpoint = queries.checkpoint(conn)
    lag = max(checkpoint.head - checkpoint.block_number, 0) if checkpoint is not None else None
    return answer({"stats": {**figures, "chain_id": current().chain_id, "lag": lag}})


@cache
def openapi_bytes() -> bytes:
    return resources.files("backend.api").joinpath("openapi.json").read_bytes()


def openapi_document(public_url: str | None = None) -> dict[str, Any]:
    document = json.loads(openapi_bytes())
    if public_url:
        document["servers"] = [{"url": public_url.rstrip("/")}]
    return document


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(current().public_url))


__all__ = ["LISTING_LIMIT", "LISTING_MAX", "bp", "openapi_document"]
