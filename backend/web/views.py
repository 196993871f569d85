"""The web pages: search, one dataset, its audit trail, one account. Server-rendered (Jinja2,
autoescaped: every document text is attacker-controlled), readable without JavaScript, charts as
inline SVG drawn from :mod:`backend.web.charts`. Pages read the same queries as the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from backend.api import params, queries, records
from backend.api.activity import activity
from backend.api.context import catalog, current
from backend.api.errors import BadParameter, NotFound
from backend.api.search import SORTS, STATES, Page, SearchQuery, search
from backend.web import amounts, charts, client, wallet
from backend.web.policy import wallet_policy

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)
#: Rows of each kind an audit page lists (the API pages through all of them).
AUDIT_LIMIT = 500
#: Profile columns that get a chart (the schema table lists them all).
CHARTED_COLUMNS = 50


def render(template: str, status: int = 200, **context: Any) -> Response:
    block = records.block(queries.checkpoint(catalog()))
    body = render_template(template, block=block, chain_id=current().chain_id, **context)
    return Response(body, status=status, mimetype="text/html")


def render_error(status: int, code: str, message: str) -> Response:
    """An error as a page (the API answers the same errors as JSON)."""
    titles = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 429: "Too many requests",
              503: "Catalog unavailable"}  # fmt: skip
    body = render_template(
        "error.html", block=None, chain_id=None, status=status, code=code, message=message,
        title=titles.get(status, "Something went wrong"),
    )  # fmt: skip
    return Response(body, status=status, mimetype="text/html")


@bp.get("/")
def home() -> ResponseReturnValue:
    try:
        query = SearchQuery.from_args(request.args)
        page = search(catalog(), query, current().chain_id)
        error, status = None, 200
    except BadParameter as exc:
        query, page, error, status = SearchQuery(), Page([], None), exc, 400
    next_url = None
    if page.next_cursor is not None:
        args = {k: v for k, v in request.args.lists() if k != "cursor"}
        next_url = url_for("web.home", **args, cursor=page.next_cursor)
    return render(
        "home.html", status, query=query, items=page.items, next_url=next_url, error=error, sorts=SORTS,
        states=STATES, searched=bool(request.args),
    )  # fmt: skip


def _dataset(datatoken: str) -> dict[str, Any]:
    address = params.address("datatoken", datatoken)
    conn = catalog()
    row = queries.dataset(conn, address)
    if row is None:
        raise NotFound("no dataset with this datatoken", code="unknown_dataset")
    tags = queries.tags_of(conn, [row.document_id] if row.document_id is not None else [])
    tokens = queries.tokens(conn, [row.payment_token])
    return records.dataset_detail(row, tags.get(row.document_id, []), current().chain_id, tokens)


@bp.get("/datasets/<datatoken>")
def dataset(datatoken: str) -> ResponseReturnValue:
    detail = _dataset(datatoken)
    profile = detail["profile"] or {}
    columns = [c for c in profile.get("columns", []) if isinstance(c, dict)]
    column_charts = [(column, charts.column_chart(column)) for column in columns[:CHARTED_COLUMNS]]
    orders_chart = charts.orders_chart(queries.order_days(catalog(), detail["datatoken"]))
    privacy = detail["privacy"]
    settings = wallet.settings()
    import_map = client.import_map()
    offer, no_offer = wallet.offer(detail, current().chain_id, settings)
    if import_map is None:
        offer, no_offer = None, "The wallet client is not installed on this server: use the command line."
    response = render(
        "dataset.html", ds=detail, columns=columns, column_charts=column_charts, orders_chart=orders_chart,
        gauge=charts.budget_gauge(privacy["budget"], privacy["spent"]), commands=commands(detail),
        offer=offer, no_offer=no_offer, import_map=import_map,
    )  # fmt: skip
    if offer is not None and import_map is not None:
        origins = wallet.origins(offer, settings)
        response.headers["Content-Security-Policy"] = wallet_policy(import_map.hash_source, origins)
    return response


@bp.get("/static/client/<path:subpath>")
def client_file(subpath: str) -> ResponseReturnValue:
    """A file of the JavaScript client, for the dataset page's wallet buttons (:mod:`backend.web.client`)."""
    return client.serve(subpath)


@bp.get("/datasets/<datatoken>/audit")
def audit(datatoken: str) -> ResponseReturnValue:
    detail = _dataset(datatoken)
    conn = catalog()
    address = detail["datatoken"]
    history = queries.history(conn, address, None, AUDIT_LIMIT)
    marks = queries.version_marks(conn, address)
    events = [
        records.event(row, queries.version_at(marks, row.block_number, row.log_index)) for row in history.rows
    ]
    versions = queries.metadata_versions(conn, address, None, AUDIT_LIMIT)
    orders = queries.orders(conn, address, None, AUDIT_LIMIT)
    tokens = queries.tokens(conn, [row.fee_token for row in orders.rows])
    receipts = queries.receipts(conn, address, None, AUDIT_LIMIT)
    return render(
        "audit.html", ds=detail, events=events, versions=[records.metadata_version(r) for r in versions.rows],
        orders=[records.order(r, tokens) for r in orders.rows],
        receipts=[records.receipt(r) for r in receipts.rows],
        truncated=any(x.next_key is not None for x in (history, versions, orders, receipts)),
        audit_command=f"datamarket audit {detail['id']}", audit_limit=AUDIT_LIMIT,
    )  # fmt: skip


@bp.get("/accounts/<address>")
def account(address: str) -> ResponseReturnValue:
    record = activity(catalog(), params.address("address", address), current().chain_id)
    return render("account.html", account=record)


def commands(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """(what it does, the command) for each way to use the dataset from the CLI."""
    dataset_id = detail["id"]
    out = [("Buy one datatoken", f"datamarket buy {dataset_id}")]
    if "download" in detail["services"]:
        out.append(("Download and decrypt the data", f"datamarket download {dataset_id} -o data.csv"))
    if "compute" in detail["services"]:
        target = next((c["name"] for c in detail["schema"] if c.get("kind") == "categorical"), None)
        command = f"datamarket compute start {dataset_id} --algorithm train_tabular"
        if target is not None and target.isidentifier():
            command += f" --param target={target}"
        out.append(("Train a model on it without seeing the rows", command + " --epsilon 1"))
    out.append(("Rebuild its history from the chain", f"datamarket audit {dataset_id}"))
    return out


@bp.app_template_filter("utc")
def utc(timestamp: int | None) -> str:
    if not timestamp:
        return "unknown"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("short")
def short(value: str | None) -> str:
    """``0x1234…abcd`` for hashes and addresses (the full value stays in the element's title)."""
    if not value:
        return ""
    return value if len(value) <= 14 else f"{value[:6]}…{value[-4:]}"


@bp.app_template_filter("number")
def number(value: Any) -> str:
    return charts.number(value) if isinstance(value, int | float) else str(value)


@bp.app_template_test("native_coin")
def native_coin(address: str | None) -> bool:
    return address == records.ZERO_ADDRESS


@bp.app_template_filter("amount")
def amount(value: Any, info: dict[str, Any] | None) -> amounts.Amount:
    """A raw amount of the token ``info`` describes, as a buyer reads it (``macros.token_amount``
    shows it with the token's address)."""
    return amounts.amount(value, info)


__all__ = ["bp", "commands", "render_error"]
