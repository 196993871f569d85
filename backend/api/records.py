"""Rows into the API's JSON records.

Conventions, the same in every answer: uint256 amounts are decimal strings; addresses are
checksummed; epsilon is in epsilon (the contracts' micro-epsilon divided by 10^6); times are Unix
seconds; enum values are lower case (``active``, ``succeeded``, ``bought``). Beside each amount in a
token, the token as its contract describes itself (``token_info``): the amount stays in base units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eth_utils import to_checksum_address

#: ``datasets.services`` is a bit set: bit 0 download, bit 1 compute (``datamarket.chain.quotes``).
SERVICES = ("download", "compute")
MICRO = 1_000_000
#: The native coin's "token" address (a price or fee in the chain's own coin).
ZERO_ADDRESS = "0x" + "0" * 40
NATIVE_DECIMALS = 18
#: Token rows by address, as ``backend.api.queries.tokens`` reads them.
Tokens = Mapping[str, Any]


def dataset_id(chain_id: int, datatoken: str) -> str:
    return f"eip155:{chain_id}/{to_checksum_address(datatoken)}"


def services(bits: int) -> list[str]:
    return [name for i, name in enumerate(SERVICES) if bits & (1 << i)]


def service_name(service_id: int) -> str:
    return SERVICES[service_id] if 0 <= service_id < len(SERVICES) else str(service_id)


def epsilon(units: int) -> float:
    return units / MICRO


def lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def token_info(address: str | None, tokens: Tokens) -> dict[str, Any] | None:
    """What the catalog knows of the token at ``address``: its symbol, name and decimals as its contract
    answered (null where it did not, or was not asked yet); the zero address is the native coin."""
    if address is None:
        return None
    if address == ZERO_ADDRESS:
        return {"address": address, "symbol": None, "name": "native coin", "decimals": NATIVE_DECIMALS}
    row = tokens.get(address)
    return {
        "address": address, "symbol": row.symbol if row is not None else None,
        "name": row.name if row is not None else None, "decimals": row.decimals if row is not None else None,
    }  # fmt: skip


def block(checkpoint: Any) -> dict[str, Any] | None:
    """The block every answer reflects: the indexer's checkpoint, and the chain head it last saw."""
    if checkpoint is None:
        return None
    return {
        "number": checkpoint.block_number, "hash": checkpoint.block_hash,
        "timestamp": checkpoint.block_time, "head": max(checkpoint.head, checkpoint.block_number),
    }  # fmt: skip


def metadata_status(row: Any) -> dict[str, Any]:
    """The dataset's current document: its CID and hash on chain, and what the indexer made of it."""
    status = row.document_status or "pending"
    return {
        "cid": row.metadata_cid, "sha256": row.metadata_hash, "status": status,
        "reason": row.document_reason if status == "invalid" else None,
    }  # fmt: skip


def dataset_item(row: Any, tags: list[str], chain_id: int, tokens: Tokens) -> dict[str, Any]:
    """A search result: the dataset row joined with its current document (name and text only if valid)."""
    valid = row.document_status == "valid"
    return {
        "datatoken": row.datatoken, "id": dataset_id(chain_id, row.datatoken), "index": row.dataset_index,
        "name": row.document_name if valid else None,
        "description": row.document_description if valid else None,
        "tags": tags if valid else [],
        "publisher": row.publisher, "provider": row.provider, "services": services(row.services),
        "state": row.state.lower(), "free": bool(row.free), "payment_token": row.payment_token,
        "payment_token_info": token_info(row.payment_token, tokens), "price": row.price,
        "order_count": row.order_count, "receipt_count": row.receipt_count,
        "epsilon_budget": epsilon(row.epsilon_budget), "epsilon_spent": epsilon(row.epsilon_spent),
        "published_at": row.published_at, "published_block": row.published_block,
        "metadata": metadata_status(row),
    }  # fmt: skip


def dataset_detail(row: Any, tags: list[str], chain_id: int, tokens: Tokens) -> dict[str, Any]:
    item = dataset_item(row, tags, chain_id, tokens)
    document = parsed_document(row)
    profile = document.get("profile") if isinstance(document, dict) else None
    profile = profile if isinstance(profile, dict) else None
    remaining = max(row.epsilon_budget - row.epsilon_spent, 0)
    return {
        **item,
        "cap": row.cap, "dispenser_limit": row.dispenser_limit, "publish_fee_bps": row.publish_fee_bps,
        "has_allowlist": bool(row.has_allowlist), "total_supply": row.total_supply, "revenue": row.revenue,
        "metadata_versions": row.metadata_versions, "metadata_cid": row.metadata_cid,
        "metadata_hash": row.metadata_hash, "license": row.document_license if document else None,
        "document": document, "schema": schema(profile), "profile": profile,
        "privacy": {"budget": epsilon(row.epsilon_budget), "spent": epsilon(row.epsilon_spent),
                    "remaining": epsilon(remaining)},
        "published_tx": row.published_tx,
    }  # fmt: skip


def parsed_document(row: Any) -> dict[str, Any] | None:
    """The document's JSON when the indexer found it valid; None otherwise."""
    if row.document_status != "valid" or not row.document_body:
        return None
    try:
        document = json.loads(row.document_body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def schema(profile: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The columns of the profile: name, dtype, kind and missing count (statistics stay in ``profile``)."""
    if profile is None or not isinstance(profile.get("columns"), list):
        return []
    out = []
    for column in profile["columns"]:
        if isinstance(column, dict) and isinstance(column.get("name"), str):
            out.append({
                "name": column["name"], "dtype": str(column.get("dtype", "")),
                "kind": column.get("kind") if column.get("kind") in ("numeric", "categorical") else None,
                "missing": column.get("missing") if isinstance(column.get("missing"), int) else None,
            })  # fmt: skip
    return out


def event_args(raw: str) -> dict[str, Any]:
    """An event's stored arguments: integers become decimal strings (uint256 do not fit JSON numbers
    everywhere), ``from_`` is ``from``, enum names are lower case."""
    args = json.loads(raw)
    return {key.rstrip("_"): _arg(value) for key, value in args.items()}


def _arg(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.isupper() and value.isalpha():
        return value.lower()
    if isinstance(value, list):
        return [_arg(v) for v in value]
    return value


def event(row: Any, version: int | None) -> dict[str, Any]:
    return {
        "block_number": row.block_number, "log_index": row.log_index, "block_hash": row.block_hash,
        "tx_hash": row.tx_hash, "timestamp": row.timestamp, "event": row.name, "address": row.address,
        "args": event_args(row.args), "metadata_version": version,
    }  # fmt: skip


def order(row: Any, tokens: Tokens) -> dict[str, Any]:
    return {
        "order_id": str(row.order_id), "datatoken": row.datatoken, "consumer": row.consumer,
        "payer": row.payer, "provider": row.provider, "service_id": row.service_id,
        "service": service_name(row.service_id), "funding": row.funding.lower(), "fee_token": row.fee_token,
        "fee_token_info": token_info(row.fee_token, tokens), "fee_amount": row.fee_amount,
        "quote_nonce": row.quote_nonce, "environment": row.environment,
        "block_number": row.block_number, "log_index": row.log_index, "tx_hash": row.tx_hash,
        "timestamp": row.timestamp,
    }  # fmt: skip


def receipt(row: Any) -> dict[str, Any]:
    return {
        "job_id": row.job_id, "datatoken": row.datatoken, "order_id": str(row.order_id),
        "poster": row.poster, "algorithm_hash": row.algorithm_hash, "output_hash": row.output_hash,
        "epsilon": epsilon(row.epsilon), "spent_after": epsilon(row.spent_after),
        "status": row.status.lower(), "block_number": row.block_number, "log_index": row.log_index,
        "tx_hash": row.tx_hash, "timestamp": row.timestamp,
    }  # fmt: skip


def metadata_version(row: Any) -> dict[str, Any]:
    status = row.status or "pending"
    return {
        "version": row.version, "cid": row.cid, "sha256": row.sha256, "updated_by": row.updated_by,
        "tx_hash": row.tx_hash, "block_number": row.block_number, "log_index": row.log_index,
        "timestamp": row.timestamp, "status": status, "reason": row.reason if status == "invalid" else None,
    }  # fmt: skip


def purchase(row: Any, tokens: Tokens) -> dict[str, Any]:
    args = event_args(row.args)
    return {
        "datatoken": row.datatoken, "payment_token": args.get("payment_token"),
        "payment_token_info": token_info(args.get("payment_token"), tokens), "amount": args.get("amount"),
        "cost": args.get("cost"), "block_number": row.block_number, "log_index": row.log_index,
        "tx_hash": row.tx_hash, "timestamp": row.timestamp,
    }  # fmt: skip


__all__ = [
    "NATIVE_DECIMALS", "SERVICES", "ZERO_ADDRESS", "Tokens", "block", "dataset_detail", "dataset_id",
    "dataset_item", "epsilon", "event", "event_args",
    "metadata_status", "metadata_version", "order", "parsed_document", "purchase", "receipt", "schema",
    "service_name", "services", "token_info",
]  # fmt: skip
