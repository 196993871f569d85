"""What the backend serves about a dataset, against what the chain says, field by field.

The backend answers at the block its indexer reached (``block`` in every answer); the chain side is
rebuilt up to that block, so a backend that lags is not a false alarm (the report says how far
behind it is). Lists are read to their end (``next_cursor``) and their items past that block are left
out (the indexer may move on between two requests). Values compare as the API writes them: amounts
as decimal strings or numbers, epsilon in epsilon (the chain counts micro-epsilon), enum names and
addresses and hashes in any case.

The backend's API, ``/api/v1``: ``GET /datasets/{datatoken}`` -> ``{"block": {...}, "dataset": {...}}``,
and ``GET /datasets/{datatoken}/{orders,receipts,metadata}?cursor=`` -> ``{"block", "items",
"next_cursor"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from datamarket.audit.documents import DocumentStatus
from datamarket.audit.errors import BackendUnavailable
from datamarket.audit.report import AuditReport
from datamarket.chain.market import epsilon_units

#: ``fetch(path, params)``: the JSON the backend answers to ``GET /api/v1/<path>``, None for a 404.
Fetch = Callable[[str, Mapping[str, Any]], Any]

PAGE_LIMIT = 100
#: Pages of one list read at most (a cursor that never ends is the backend's fault, not a hang).
MAX_PAGES = 10_000

_DATASET_FIELDS = ("publisher", "provider", "state", "free", "payment_token", "price", "epsilon_budget",
                   "epsilon_spent", "order_count", "receipt_count", "metadata_cid", "metadata_hash",
                   "metadata_versions")  # fmt: skip
_ORDER_FIELDS = ("consumer", "payer", "provider", "service_id", "funding", "fee_token", "fee_amount",
                 "tx_hash", "block_number", "timestamp")  # fmt: skip
_RECEIPT_FIELDS = ("order_id", "poster", "algorithm_hash", "output_hash", "epsilon", "spent_after", "status",
                   "block_number")  # fmt: skip
_METADATA_FIELDS = ("cid", "sha256", "updated_by", "tx_hash", "block_number")


@dataclass(frozen=True)
class BlockAnswer:
    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class BackendAnswer:
    block: BlockAnswer
    dataset: dict[str, Any]
    orders: list[dict[str, Any]]
    receipts: list[dict[str, Any]]
    metadata: list[dict[str, Any]]


@dataclass(frozen=True)
class Disagreement:
    subject: str
    field: str
    chain: str
    backend: str

    @property
    def message(self) -> str:
        return f"{self.subject} {self.field}: the chain has {self.chain}, the backend {self.backend}"


@dataclass
class Comparison:
    url: str
    block: BlockAnswer
    #: How many blocks the backend's answer is behind the node's head.
    behind: int
    disagreements: list[Disagreement] = field(default_factory=list)


def safe_url(url: str) -> str:
    """``url`` without its user, password, query or fragment: what a report may show of it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def http_fetch(base_url: str, *, timeout: float = 30.0) -> Fetch:
    """A :data:`Fetch` that asks the backend at ``base_url`` over HTTP."""
    root = base_url.rstrip("/") + "/api/v1/"
    shown = safe_url(base_url)

    def fetch(path: str, params: Mapping[str, Any]) -> Any:
        try:
            answer = requests.get(root + path, params=dict(params), timeout=timeout)
        except requests.RequestException as exc:
            raise BackendUnavailable(f"the backend at {shown} does not answer") from exc
        if answer.status_code == 404:
            return None
        if not answer.ok:
            raise BackendUnavailable(f"the backend at {shown} answered {answer.status_code} to GET /{path}")
        try:
            return answer.json()
        except ValueError:
            raise BackendUnavailable(f"the backend at {shown} answered GET /{path} with no JSON") from None

    return fetch


def read_backend(fetch: Fetch, datatoken: str) -> BackendAnswer | None:
    """What the backend serves about ``datatoken``; None when it does not know the dataset."""
    first = fetch(f"datasets/{datatoken}", {})
    if first is None:
        return None
    block, dataset = _field(first, "block", dict), _field(first, "dataset", dict)
    try:
        at = BlockAnswer(int(block["number"]), str(block["hash"]), int(block["timestamp"]))
    except (KeyError, TypeError, ValueError):
        raise BackendUnavailable("the backend's block is not {number, hash, timestamp}") from None
    lists = {
        kind: _items(fetch, f"datasets/{datatoken}/{kind}") for kind in ("orders", "receipts", "metadata")
    }
    return BackendAnswer(at, dataset, **lists)


def _field(answer: Any, name: str, kind: type) -> Any:
    value = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(value, kind):
        raise BackendUnavailable(f"the backend's answer has no {name} {kind.__name__}")
    return value


def _items(fetch: Fetch, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    for _ in range(MAX_PAGES):
        page = fetch(path, params)
        if page is None:
            raise BackendUnavailable(f"the backend has no /{path}")
        found = _field(page, "items", list)
        if not all(isinstance(item, dict) for item in found):
            raise BackendUnavailable(f"an item of /{path} is not an object")
        items.extend(found)
        cursor = page.get("next_cursor")
        if cursor is None:
            return items
        params = {"limit": PAGE_LIMIT, "cursor": cursor}
    raise BackendUnavailable(f"/{path} has more than {MAX_PAGES} pages")


# ---------------------------------------------------------------------- the comparison


def shown(value: Any) -> str:
    """A value as the report shows it on either side."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _same(chain: Any, backend: Any) -> bool:
    return _canonical(chain) == _canonical(backend)


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("0x", "0X")):
            return text.lower()
        if text.isdigit():
            return str(int(text))
        return text
    return value


def compare(
    report: AuditReport, answer: BackendAnswer | None, *, url: str, head: int, block_hash: str = ""
) -> Comparison:
    """Every field where ``answer`` (the backend's) differs from ``report`` (the chain's, built up to
    the backend's block). ``head`` is the node's latest block, ``block_hash`` the hash the node has for
    the backend's block (a backend on another chain or branch differs there first)."""
    if answer is None:
        block = BlockAnswer(report.scope.to_block, "", 0)
        missing = Disagreement("dataset", "presence", "published", "unknown")
        return Comparison(url, block, head - report.scope.to_block, [missing])
    found = Comparison(url, answer.block, max(0, head - answer.block.number))
    if block_hash and not _same(block_hash, answer.block.hash):
        found.disagreements.append(
            Disagreement(f"block {answer.block.number}", "hash", block_hash, answer.block.hash)
        )
    found.disagreements += _fields("dataset", _chain_dataset(report), answer.dataset, _DATASET_FIELDS)
    upto = answer.block.number
    orders = {str(o.order_id): _row(o) for o in report.orders}
    found.disagreements += _rows("order", orders, _upto(answer.orders, upto), "order_id", _ORDER_FIELDS)
    receipts = {f"{r.job_id} in {r.tx_hash}": _row(r) for r in report.receipts}
    backend_receipts = {f"{r.get('job_id')} in {r.get('tx_hash')}": r for r in _upto(answer.receipts, upto)}
    found.disagreements += _keyed("receipt", receipts, backend_receipts, _RECEIPT_FIELDS)
    versions = {str(m.version): {**_row(m), "status": m.status} for m in report.metadata}
    backend_versions = {str(m.get("version")): m for m in _upto(answer.metadata, upto)}
    found.disagreements += _keyed("metadata version", versions, backend_versions, _METADATA_FIELDS)
    found.disagreements += _statuses(versions, backend_versions)
    return found


def _chain_dataset(report: AuditReport) -> dict[str, Any]:
    ds = report.dataset
    return {
        "publisher": ds.publisher, "provider": ds.provider, "state": ds.state.name, "free": ds.free,
        "payment_token": ds.payment_token, "price": ds.price, "epsilon_budget": ds.epsilon_budget,
        "epsilon_spent": ds.epsilon_spent, "order_count": len(ds.orders), "receipt_count": ds.receipt_count,
        "metadata_cid": ds.metadata_versions[-1].cid, "metadata_hash": ds.metadata_hash,
        "metadata_versions": len(ds.metadata_versions),
    }  # fmt: skip


def _row(line: Any) -> dict[str, Any]:
    return dict(vars(line))


def _upto(items: Iterable[dict[str, Any]], block: int) -> list[dict[str, Any]]:
    kept = []
    for item in items:
        try:
            number = int(item.get("block_number", 0))
        except (TypeError, ValueError):
            number = 0
        if number <= block:
            kept.append(item)
    return kept


#: Fields the API writes in epsilon (a decimal number) where the chain counts micro-epsilon.
_EPSILON_FIELDS = frozenset({"epsilon_budget", "epsilon_spent", "epsilon", "spent_after"})
#: Fields that name an enum member: the API writes them in lower case.
_ENUM_FIELDS = frozenset({"state", "funding", "status"})


def _as_chain_writes(name: str, value: Any) -> Any:
    """A backend value in the chain's units: epsilon as micro-epsilon, enum names in upper case.
    A value that does not convert is compared as it is (and so differs)."""
    if name in _EPSILON_FIELDS and isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return epsilon_units(str(value))
        except ValueError:
            return value
    if name in _ENUM_FIELDS and isinstance(value, str):
        return value.upper()
    return value


def _fields(subject: str, chain: Mapping[str, Any], backend: Mapping[str, Any], names: Iterable[str]):
    return [
        Disagreement(subject, name, shown(chain.get(name)), shown(backend.get(name)))
        for name in names
        if not _same(chain.get(name), _as_chain_writes(name, backend.get(name)))
    ]


def _rows(subject: str, chain: dict[str, dict], backend_items: list[dict], key: str, names: tuple[str, ...]):
    return _keyed(subject, chain, {str(item.get(key)): item for item in backend_items}, names)


def _keyed(subject: str, chain: dict[str, dict], backend: dict[str, dict], names: Iterable[str]):
    found = []
    for key in sorted(chain.keys() | backend.keys(), key=_natural):
        name = f"{subject} {key}"
        if key not in backend:
            found.append(Disagreement(name, "presence", "recorded", "missing"))
        elif key not in chain:
            found.append(Disagreement(name, "presence", "missing", "listed"))
        else:
            found += _fields(name, chain[key], backend[key], names)
    return found


#: A document's status as the backend's indexer records it (``valid``, ``invalid``; ``pending`` while it
#: could not fetch it), from the audit's.
_BACKEND_STATUS = {
    DocumentStatus.VERIFIED: "valid",
    DocumentStatus.HASH_MISMATCH: "invalid",
    DocumentStatus.INVALID: "invalid",
}


def _statuses(chain: dict[str, dict], backend: dict[str, dict]) -> list[Disagreement]:
    """A document's status, where both sides could check it (each reads its own content store)."""
    found = []
    for key in sorted(chain.keys() & backend.keys(), key=_natural):
        ours = _BACKEND_STATUS.get(chain[key]["status"])
        theirs = backend[key].get("status")
        if ours is not None and theirs in ("valid", "invalid") and ours != theirs:
            found.append(Disagreement(f"metadata version {key}", "status", str(chain[key]["status"]), theirs))
    return found


def _natural(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 62, key)


__all__ = ["BackendAnswer", "BlockAnswer", "Comparison", "Disagreement", "Fetch", "compare", "http_fetch",
           "read_backend", "safe_url", "shown"]  # fmt: skip
