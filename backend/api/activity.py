"""An account's activity, as the API answers it and the account page shows it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from backend.api import queries, records


def activity(conn: Connection, address: str, chain_id: int) -> dict[str, Any]:
    """What ``address`` published, ordered (as consumer or payer) and bought, and the compute receipts
    of the datasets it publishes: the latest :data:`~backend.api.queries.ACCOUNT_LIMIT` of each,
    latest first, with the total of each in ``counts``."""
    rows = queries.account(conn, address)
    tags = queries.tags_of(conn, [row.document_id for row in rows.published if row.document_id is not None])
    tokens = queries.tokens(conn, [
        *(row.payment_token for row in rows.published), *(row.fee_token for row in rows.orders),
        *(records.event_args(row.args).get("payment_token") for row in rows.purchases),
    ])  # fmt: skip
    return {
        "address": address,
        "counts": rows.counts,
        "published": [
            records.dataset_item(row, tags.get(row.document_id, []), chain_id, tokens)
            for row in rows.published
        ],
        "orders": [
            {
                **records.order(row, tokens),
                "roles": [r for r in ("consumer", "payer") if getattr(row, r) == address],
            }
            for row in rows.orders
        ],
        "purchases": [records.purchase(row, tokens) for row in rows.purchases],
        "receipts": [records.receipt(row) for row in rows.receipts],
    }


__all__ = ["activity"]
