"""The backend's answers against the chain's report, with a fake backend (a fetch function)."""

from __future__ import annotations

from typing import Any

import pytest

from datamarket.audit.comparison import compare, read_backend, safe_url
from datamarket.audit.errors import BackendUnavailable
from tests.unit.audit.market_history import DT, PRICE, History


def backend_of(report, *, block: int | None = None, page: int = 1) -> dict[str, Any]:
    """What a correct backend serves at ``block`` (the report's last), as routes -> pages."""
    ds = report.dataset
    number = report.scope.to_block if block is None else block
    at = {"number": number, "hash": f"0x{number:064x}", "timestamp": 1}
    dataset = {
        "datatoken": ds.datatoken, "publisher": ds.publisher.lower(), "provider": ds.provider,
        "state": ds.state.name.lower(), "free": ds.free, "payment_token": ds.payment_token,
        "price": str(ds.price), "epsilon_budget": ds.epsilon_budget / 1e6,
        "epsilon_spent": ds.epsilon_spent / 1e6,
        "order_count": len(ds.orders), "receipt_count": ds.receipt_count,
        "metadata_cid": ds.metadata_versions[-1].cid, "metadata_hash": "0x" + ds.metadata_hash[2:].upper(),
        "metadata_versions": len(ds.metadata_versions),
    }  # fmt: skip
    orders = [{**{k: v for k, v in vars(o).items() if k != "payment"}, "fee_amount": str(o.fee_amount),
               "funding": o.funding.lower()} for o in report.orders]  # fmt: skip
    # As the API writes them: epsilon in epsilon, enum names in lower case, other integers as strings.
    receipts = [{k: str(v) if isinstance(v, int) else v for k, v in vars(r).items()} | {
        "epsilon": r.epsilon / 1e6, "spent_after": r.spent_after / 1e6, "status": r.status.lower()}
        for r in report.receipts]  # fmt: skip
    metadata = [{**vars(m), "sha256": m.sha256, "status": "valid"} for m in report.metadata]
    return {
        f"datasets/{DT}": {"block": at, "dataset": dataset},
        **pages(f"datasets/{DT}/orders", at, orders, page),
        **pages(f"datasets/{DT}/receipts", at, receipts, page),
        **pages(f"datasets/{DT}/metadata", at, metadata, page),
    }


def pages(path: str, block: dict, items: list, size: int) -> dict[str, Any]:
    """``path`` served ``size`` items a page; a page's key is ``path?cursor``."""
    chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
    return {
        f"{path}?{i or ''}": {
            "block": block,
            "items": chunk,
            "next_cursor": i + 1 if i + 1 < len(chunks) else None,
        }
        for i, chunk in enumerate(chunks)
    }


class FakeBackend:
    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.asked: list[tuple[str, dict]] = []

    def __call__(self, path: str, params) -> Any:
        self.asked.append((path, dict(params)))
        key = path if path == f"datasets/{DT}" else f"{path}?{params.get('cursor') or ''}"
        return self.routes.get(key)


@pytest.fixture
def report():
    history = History()
    history.publish()
    history.update_metadata(b"v2")
    history.buy_and_order()
    history.burn_and_order()
    history.receipt("job", 500_000, spent_after=500_000, order_id=1)
    return history.report()


def test_a_backend_that_agrees_at_the_chains_block_has_no_disagreement(report) -> None:
    fake = FakeBackend(backend_of(report, page=1))
    answer = read_backend(fake, DT)
    found = compare(report, answer, url="http://backend", head=report.scope.to_block + 3,
                    block_hash=answer.block.hash)  # fmt: skip
    assert found.disagreements == []
    assert found.behind == 3
    # Lists are read page by page, following next_cursor, with a limit.
    cursors = [params.get("cursor") for path, params in fake.asked if path.endswith("/orders")]
    assert cursors == [None, 1] and all(params["limit"] == 100 for _, params in fake.asked[1:])


def test_every_field_that_differs_is_listed(report) -> None:
    routes = backend_of(report, page=10)
    routes[f"datasets/{DT}"]["dataset"]["price"] = str(PRICE + 1)
    orders = routes[f"datasets/{DT}/orders?"]["items"]
    orders[0]["fee_amount"] = "8"
    del orders[1]
    receipts = routes[f"datasets/{DT}/receipts?"]["items"]
    receipts.append({**receipts[0], "job_id": "0x" + "ab" * 32})
    routes[f"datasets/{DT}/metadata?"]["items"][1]["status"] = "invalid"
    answer = read_backend(FakeBackend(routes), DT)

    found = compare(
        report, answer, url="http://backend", head=report.scope.to_block, block_hash="0x" + "11" * 32
    )

    messages = [d.message for d in found.disagreements]
    other_job, first_tx = "0x" + "ab" * 32, report.receipts[0].tx_hash
    assert messages == [
        f"block {report.scope.to_block} hash: the chain has 0x{'11' * 32}, the backend {answer.block.hash}",
        f"dataset price: the chain has {PRICE}, the backend {PRICE + 1}",
        "order 0 fee_amount: the chain has 7, the backend 8",
        "order 1 presence: the chain has recorded, the backend missing",
        f"receipt {other_job} in {first_tx} presence: the chain has missing, the backend listed",
        "metadata version 2 status: the chain has verified, the backend invalid",
    ]


def test_items_past_the_backends_block_are_left_out(report) -> None:
    routes = backend_of(report, page=10)
    later = {**routes[f"datasets/{DT}/orders?"]["items"][0], "order_id": 9, "block_number": 10_000}
    routes[f"datasets/{DT}/orders?"]["items"].append(later)
    found = compare(report, read_backend(FakeBackend(routes), DT), url="u", head=report.scope.to_block)
    assert found.disagreements == []


def test_a_backend_that_does_not_know_the_dataset(report) -> None:
    assert read_backend(FakeBackend({}), DT) is None
    found = compare(report, None, url="u", head=report.scope.to_block)
    assert [d.message for d in found.disagreements] == [
        "dataset presence: the chain has published, the backend unknown"
    ]
    report.comparison = found
    assert not report.ok and report.summary()["disagreements"] == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"dataset": {}},
        {"block": {"number": "x", "hash": "0x", "timestamp": 0}, "dataset": {}},
        ["not", "a", "map"],
    ],
)
def test_a_malformed_answer_is_reported_not_compared(answer) -> None:
    with pytest.raises(BackendUnavailable):
        read_backend(FakeBackend({f"datasets/{DT}": answer}), DT)


def test_a_list_without_items_is_reported(report) -> None:
    routes = backend_of(report)
    routes[f"datasets/{DT}/orders?"] = {"block": {}, "next_cursor": None}
    with pytest.raises(BackendUnavailable, match="no items"):
        read_backend(FakeBackend(routes), DT)


def test_a_url_is_shown_without_credentials_query_or_fragment() -> None:
    assert (
        safe_url("https://user:secret@backend.example:8443/base/?key=abc#x")
        == "https://backend.example:8443/base"
    )
