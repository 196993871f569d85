"""Dataset search: full text, filters, four sort orders and keyset pagination.

Full text covers a document's ``search_text`` (name, description, tags and column names). The
user's words never reach a query language as written: they are cut into words (letters and digits
only) and each word is quoted, so FTS5 syntax (``"``, ``NEAR(``, ``*``, ``-``, ``:``) or tsquery
syntax in the input is text to match, never an operator. Every word must match; the last one also
matches as a prefix, so results come as the user types. SQLite matches through the ``document_search``
FTS5 table; PostgreSQL through the GIN index over ``to_tsvector('simple', coalesce(search_text, ''))``
(the query repeats that expression exactly so that the planner uses the index).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, exists, false, func, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from backend.api import pagination, params
from backend.api.queries import DATASETS, DOCUMENTS, TAGS, dataset_columns, dataset_join, tags_of, tokens
from backend.api.records import dataset_item

WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16
SORTS = ("newest", "price", "-price", "orders")
STATES = ("active", "paused", "retired")
SERVICE_BITS = {"download": 1, "compute": 2}
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PARAMETERS = (
    "q", "tag", "publisher", "provider", "service", "min_price", "max_price", "payment_token", "state",
    "budget_left", "sort", "limit", "cursor",
)  # fmt: skip


@dataclass(frozen=True)
class SearchQuery:
    q: str | None = None
    tags: tuple[str, ...] = ()
    publisher: str | None = None
    provider: str | None = None
    service: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    payment_token: str | None = None
    state: str | None = None
    budget_left: bool | None = None
    sort: str = "newest"
    limit: int = DEFAULT_LIMIT
    cursor: str | None = field(default=None, compare=False)

    @classmethod
    def from_args(cls, args: Any) -> SearchQuery:
        """The search a query string asks for; BadParameter naming the first bad parameter."""
        params.known(args, PARAMETERS)
        query = cls(
            q=params.text(args, "q"), tags=tuple(params.tags(args)),
            publisher=params.optional_address(args, "publisher"),
            provider=params.optional_address(args, "provider"),
            service=params.choice(args, "service", tuple(SERVICE_BITS)),
            min_price=params.uint256(args, "min_price"), max_price=params.uint256(args, "max_price"),
            payment_token=params.optional_address(args, "payment_token"),
            state=params.choice(args, "state", STATES), budget_left=params.boolean(args, "budget_left"),
            sort=params.choice(args, "sort", SORTS, "newest") or "newest",
            limit=params.limit(args, default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
            cursor=params.single(args, "cursor"),
        )  # fmt: skip
        if query.min_price is not None and query.max_price is not None and query.min_price > query.max_price:
            raise params.BadParameter("max_price", "must not be below min_price")
        return query


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def words(q: str) -> list[str]:
    """The words of a search text that are matched (letters and digits; at most 16)."""
    return WORD.findall(q)[:MAX_WORDS]


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every word a quoted string, the last one a prefix too."""
    quoted = ['"' + term.replace('"', '""') + '"' for term in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def tsquery(terms: list[str]) -> str:
    """A ``to_tsquery`` expression: every word a quoted lexeme, AND-ed, the last one a prefix."""
    quoted = ["'" + term.replace("'", "''").replace("\\", "\\\\") + "'" for term in terms]
    quoted[-1] += ":*"
    return " & ".join(quoted)


def text_match(conn: Connection, q: str) -> ColumnElement[bool]:
    terms = words(q)
    if not terms:
        return false()
    if conn.dialect.name == "sqlite":
        return text(
            "documents.id IN (SELECT rowid FROM document_search WHERE document_search MATCH :fts)"
        ).bindparams(fts=fts5_query(terms))
    return text(
        "to_tsvector('simple', coalesce(documents.search_text, '')) @@ to_tsquery('simple', :tsq)"
    ).bindparams(tsq=tsquery(terms))


#: Each sort: its columns with their direction (True: descending); the datatoken breaks ties.
ORDERS: dict[str, list[tuple[Any, bool]]] = {
    "newest": [(DATASETS.c.published_block, True), (DATASETS.c.index, True), (DATASETS.c.datatoken, True)],
    "price": [(DATASETS.c.price_sort, False), (DATASETS.c.datatoken, False)],
    "-price": [(DATASETS.c.price_sort, True), (DATASETS.c.datatoken, True)],
    "orders": [(DATASETS.c.order_count, True), (DATASETS.c.datatoken, False)],
}
KEY_TYPES = {"newest": (int, int, str), "price": (float, str), "-price": (float, str), "orders": (int, str)}
#: The row fields each sort's cursor holds, in the order of its columns.
KEY_FIELDS = {
    "newest": ("published_block", "dataset_index", "datatoken"),
    "price": ("price_sort", "datatoken"),
    "-price": ("price_sort", "datatoken"),
    "orders": ("order_count", "datatoken"),
}


def after(order: list[tuple[Any, bool]], key: tuple[Any, ...]) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in ``order`` (a keyset condition, directions mixed as needed)."""
    clauses = []
    for i, (column, descending) in enumerate(order):
        equal = [col == value for (col, _), value in zip(order[:i], key[:i], strict=True)]
        step = column < key[i] if descending else column > key[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def filters(conn: Connection, query: SearchQuery) -> list[ColumnElement[bool]]:
    d, doc = DATASETS.c, DOCUMENTS.c
    where: list[ColumnElement[bool]] = []
    if query.q is not None:
        where += [doc.status == "valid", text_match(conn, query.q)]
    for tag in query.tags:
        where.append(doc.status == "valid")
        where.append(exists().where(TAGS.c.document_id == doc.id, func.lower(TAGS.c.tag) == tag.lower()))
    if query.publisher is not None:
        where.append(d.publisher == query.publisher)
    if query.provider is not None:
        where.append(d.provider == query.provider)
    if query.service is not None:
        where.append(d.services.op("&")(SERVICE_BITS[query.service]) != 0)
    if query.min_price is not None:
        where.append(d.price_sort >= float(query.min_price))
    if query.max_price is not None:
        where.append(d.price_sort <= float(query.max_price))
    if query.payment_token is not None:
        where.append(d.payment_token == query.payment_token)
    if query.state is not None:
        where.append(func.upper(d.state) == query.state.upper())
    if query.budget_left is not None:
        left = d.epsilon_budget > d.epsilon_spent
        where.append(left if query.budget_left else ~left)
    return where


def search(conn: Connection, query: SearchQuery, chain_id: int) -> Page:
    order = ORDERS[query.sort]
    listing = f"datasets:{query.sort}"
    key = pagination.decode(query.cursor, listing, KEY_TYPES[query.sort])
    where = filters(conn, query)
    if key is not None:
        where.append(after(order, key))
    statement = (
        select(*dataset_columns())
        .select_from(dataset_join())
        .where(*where)
        .order_by(*[column.desc() if descending else column.asc() for column, descending in order])
        .limit(query.limit + 1)
    )
    rows = conn.execute(statement).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    tags = tags_of(conn, [row.document_id for row in rows if row.document_id is not None])
    known = tokens(conn, [row.payment_token for row in rows])
    items = [dataset_item(row, tags.get(row.document_id, []), chain_id, known) for row in rows]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = pagination.encode(listing, [getattr(last, name) for name in KEY_FIELDS[query.sort]])
    return Page(items, next_cursor)


__all__ = ["SORTS", "Page", "SearchQuery", "fts5_query", "search", "tsquery", "words"]
