"""Every endpoint but search: one dataset, its history, orders, receipts and metadata versions, an
account, the market's figures, health, and the block every answer reflects. Every answer is
checked against the OpenAPI document by the test client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, text

from backend.api import snapshot
from backend.api.app import create_app
from tests.unit.backend.api.catalog_rows import (
    CHAIN_ID,
    MARKET,
    ONE,
    USD,
    Catalog,
    account,
    address_of,
    consumer,
    profile_columns,
    provider,
    publisher,
)
from tests.unit.backend.api.openapi_check import validating

DAY = 86400
T0 = 1_717_286_400  # 2024-06-02 00:00 UTC


@pytest.fixture
def story(catalog: Catalog) -> dict[str, Any]:
    """One dataset's life: published, bought and ordered twice on two days, a compute receipt,
    metadata updated twice (an invalid document, then a valid one), then paused."""
    published = catalog.publish()
    dt = published.datatoken
    first = catalog.buy_and_order(dt, timestamp=T0 + 3600)
    second = catalog.buy_and_order(dt, buyer=account(7), timestamp=T0 + DAY + 60, service_id=1)
    job = catalog.receipt(dt, second, epsilon=1.5)
    catalog.update_metadata(dt, status="invalid", reason="sha256 does not match the chain")
    catalog.update_metadata(dt, name="Heart disease, revised")
    catalog.set_state(dt, "PAUSED")
    return {"dt": dt, "orders": [first, second], "job": job, "catalog": catalog}


def get(app: Flask, path: str, **query: Any) -> Any:
    return app.test_client().get(path, query_string=query)


def test_nothing_indexed_yet_the_block_is_null(app: Flask) -> None:
    response = get(app, "/api/v1/datasets")
    assert response.status_code == 200
    assert response.json == {"block": None, "items": [], "next_cursor": None}
    assert response.headers["X-Datamarket-Block"] == "none"
    assert get(app, "/api/v1/stats").json["stats"]["datasets"] == {"total": 0, "active": 0}


def test_every_answer_carries_the_indexed_block(app: Flask, story: dict[str, Any]) -> None:
    dt = story["dt"]
    catalog = story["catalog"]
    paths = [
        "/api/v1/datasets",
        f"/api/v1/datasets/{dt}",
        f"/api/v1/datasets/{dt}/history",
        f"/api/v1/datasets/{dt}/orders",
        f"/api/v1/datasets/{dt}/receipts",
        f"/api/v1/datasets/{dt}/metadata",
        f"/api/v1/accounts/{consumer()}",
        "/api/v1/stats",
    ]
    for path in paths:
        response = get(app, path)
        assert response.status_code == 200, path
        block = response.json["block"]
        assert block["number"] == catalog.block_number
        assert block["timestamp"] == catalog.times[catalog.block_number]
        assert block["head"] == catalog.block_number + 2
        assert response.headers["X-Datamarket-Block"] == str(catalog.block_number)


def test_one_dataset(app: Flask, story: dict[str, Any]) -> None:
    dt = story["dt"]
    answer = get(app, f"/api/v1/datasets/{dt.lower()}").json["dataset"]
    assert answer["datatoken"] == dt and answer["id"] == f"eip155:{CHAIN_ID}/{dt}"
    assert get(app, f"/api/v1/datasets/0x{dt[2:].upper()}").json["dataset"] == answer
    mistyped = get(app, f"/api/v1/datasets/0x{dt[2:].swapcase()}")
    assert mistyped.status_code == 400 and mistyped.json["error"]["details"] == {"param": "datatoken"}
    assert "EIP-55" in mistyped.json["error"]["message"]
    assert answer["name"] == "Heart disease, revised" and answer["tags"] == ["health"]
    assert answer["state"] == "paused" and answer["services"] == ["download", "compute"]
    assert answer["price"] == str(5 * ONE) and answer["payment_token"] == USD and answer["free"] is False
    assert answer["payment_token_info"] == {
        "address": USD,
        "symbol": "lUSD",
        "name": "Local USD",
        "decimals": 18,
    }
    assert answer["revenue"] == str(10 * ONE) and answer["order_count"] == 2 and answer["receipt_count"] == 1
    assert answer["metadata_versions"] == 3 and answer["metadata"]["status"] == "valid"
    assert answer["privacy"] == {"budget": 10.0, "spent": 1.5, "remaining": 8.5}
    assert answer["epsilon_budget"] == 10.0 and answer["epsilon_spent"] == 1.5
    assert answer["publisher"] == publisher() and answer["provider"] == provider()
    assert [c["name"] for c in answer["schema"]] == [c["name"] for c in profile_columns()]
    assert answer["schema"][2] == {
        "name": "diagnosis",
        "dtype": "object",
        "kind": "categorical",
        "missing": 0,
    }
    assert answer["profile"]["columns"][0]["stats"]["quantiles"]["0.5"] == 55
    assert answer["document"]["schema"] == "datamarket/dataset@1" and answer["license"] == "CC-BY-4.0"


def test_a_dataset_whose_document_is_not_fetched_yet(app: Flask, catalog: Catalog) -> None:
    dt = catalog.publish(document_status="absent").datatoken
    answer = get(app, f"/api/v1/datasets/{dt}").json["dataset"]
    assert answer["metadata"]["status"] == "pending" and answer["metadata"]["reason"] is None
    assert answer["name"] is None and answer["document"] is None and answer["schema"] == []
    assert answer["profile"] is None


NATIVE = {"address": "0x" + "0" * 40, "symbol": None, "name": "native coin", "decimals": 18}


def test_each_amount_comes_with_its_token(app: Flask, engine: Engine, catalog: Catalog) -> None:
    free = catalog.publish("Free", price=0).datatoken
    native = catalog.publish("Native", price=ONE, payment_token=NATIVE["address"]).datatoken
    odd = address_of("odd token")
    catalog.describe_token(odd, "<b>x</b>", None, 0)
    priced = catalog.publish("Odd", price=7, payment_token=odd).datatoken
    fee_token = address_of("fee token")
    order = catalog.buy_and_order(priced, fee_token=fee_token, fee_amount=3)
    described = {"address": odd, "symbol": "<b>x</b>", "name": None, "decimals": 0}
    for dt, info in ((free, NATIVE), (native, NATIVE), (priced, described)):
        assert get(app, f"/api/v1/datasets/{dt}").json["dataset"]["payment_token_info"] == info
    unknown = {"address": fee_token, "symbol": None, "name": None, "decimals": None}
    listed = get(app, f"/api/v1/datasets/{priced}/orders").json["items"]
    assert [(o["order_id"], o["fee_amount"], o["fee_token_info"]) for o in listed] == [
        (str(order), "3", unknown)
    ]
    buyer = get(app, f"/api/v1/accounts/{consumer()}").json["account"]
    assert buyer["orders"][0]["fee_token_info"] == unknown
    assert (
        buyer["purchases"][0]["cost"] == "7"
        and buyer["purchases"][0]["payment_token_info"]["symbol"] == "<b>x</b>"
    )
    stats = get(app, "/api/v1/stats").json["stats"]
    assert stats["volume"] == {odd: "7"} and stats["volume_tokens"] == {odd: described}
    # a token the indexer has not described yet (no row): every field but the address is null
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM tokens"))
    undescribed = {"address": odd, "symbol": None, "name": None, "decimals": None}
    assert get(app, f"/api/v1/datasets/{priced}").json["dataset"]["payment_token_info"] == undescribed
    assert get(app, "/api/v1/stats").json["stats"]["volume_tokens"] == {odd: undescribed}


def test_unknown_and_malformed_datasets(app: Flask) -> None:
    unknown = get(app, "/api/v1/datasets/0x" + "ab" * 20)
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_dataset"
    for path in (
        "/api/v1/datasets/0x123",
        "/api/v1/datasets/0x" + "zz" * 20 + "/history",
        "/api/v1/accounts/not-an-address",
    ):
        response = get(app, path)
        assert response.status_code == 400, path
        assert response.json["error"]["code"] == "invalid_parameter"
        assert response.json["error"]["details"]["param"] in ("datatoken", "address")


def test_history_in_chain_order(app: Flask, story: dict[str, Any]) -> None:
    items = get(app, f"/api/v1/datasets/{story['dt']}/history").json["items"]
    names = [item["event"] for item in items]
    assert names == [
        "DatasetPublished",
        "PriceSet",
        *(["Bought", "Transfer", "OrderStarted", "Transfer"] * 2),
        "ComputeReceiptPosted",
        "MetadataUpdated",
        "MetadataUpdated",
        "DatasetStateChanged",
    ]
    positions = [(item["block_number"], item["log_index"]) for item in items]
    assert positions == sorted(positions)
    assert [item["metadata_version"] for item in items] == [1] * 11 + [2, 3, 3]
    bought = items[2]
    assert bought["args"]["cost"] == str(5 * ONE) and bought["args"]["minted"] is True
    assert bought["args"]["buyer"] == consumer() and bought["timestamp"] == T0 + 3600
    state = items[-1]["args"]
    assert state == {"datatoken": story["dt"], "from": "active", "to": "paused"}
    assert items[0]["args"]["epsilon_budget"] == "10000000"  # the contracts' micro-epsilon, as a string


@pytest.mark.parametrize("listing", ["history", "orders", "receipts", "metadata"])
def test_listings_page_without_repeating_or_skipping(app: Flask, story: dict[str, Any], listing: str) -> None:
    path = f"/api/v1/datasets/{story['dt']}/{listing}"
    everything = get(app, path, limit=500).json["items"]
    pages, cursor = [], None
    while True:
        answer = get(app, path, limit=1, **({"cursor": cursor} if cursor else {})).json
        pages += answer["items"]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert pages == everything and len(everything) >= 1


def test_orders_and_receipts(app: Flask, story: dict[str, Any]) -> None:
    orders = get(app, f"/api/v1/datasets/{story['dt']}/orders").json["items"]
    assert [o["order_id"] for o in orders] == [str(i) for i in story["orders"]]
    assert [o["service"] for o in orders] == ["download", "compute"]
    assert orders[1]["consumer"] == account(7) and orders[1]["funding"] == "bought"
    assert [o["timestamp"] for o in orders] == [T0 + 3600, T0 + DAY + 60]
    receipts = get(app, f"/api/v1/datasets/{story['dt']}/receipts").json["items"]
    assert len(receipts) == 1
    assert receipts[0]["job_id"] == story["job"] and receipts[0]["order_id"] == str(story["orders"][1])
    assert receipts[0]["epsilon"] == 1.5 and receipts[0]["status"] == "succeeded"


def test_metadata_versions_with_their_checks(app: Flask, story: dict[str, Any]) -> None:
    items = get(app, f"/api/v1/datasets/{story['dt']}/metadata").json["items"]
    assert [(v["version"], v["status"], v["reason"]) for v in items] == [
        (1, "valid", None),
        (2, "invalid", "sha256 does not match the chain"),
        (3, "valid", None),
    ]
    assert all(v["updated_by"] == publisher() for v in items)
    current = get(app, f"/api/v1/datasets/{story['dt']}").json["dataset"]
    assert (items[-1]["cid"], items[-1]["sha256"]) == (current["metadata_cid"], current["metadata_hash"])


def test_accounts(app: Flask, story: dict[str, Any]) -> None:
    buyer = get(app, f"/api/v1/accounts/{consumer().lower()}").json["account"]
    assert buyer["address"] == consumer()
    assert buyer["counts"] == {"published": 0, "orders": 1, "purchases": 1, "receipts": 0}
    assert buyer["orders"][0]["roles"] == ["consumer", "payer"]
    assert buyer["orders"][0]["fee_amount"] == "0" and buyer["orders"][0]["fee_token_info"] == NATIVE
    assert buyer["purchases"][0]["payment_token_info"]["symbol"] == "lUSD"
    assert buyer["purchases"][0]["cost"] == str(5 * ONE) and buyer["purchases"][0]["payment_token"] == USD
    owner = get(app, f"/api/v1/accounts/{publisher()}").json["account"]
    assert owner["counts"] == {"published": 1, "orders": 0, "purchases": 0, "receipts": 1}
    assert (
        owner["published"][0]["datatoken"] == story["dt"] and owner["receipts"][0]["job_id"] == story["job"]
    )
    stranger = get(app, f"/api/v1/accounts/{account(9)}").json["account"]
    assert stranger["counts"] == {"published": 0, "orders": 0, "purchases": 0, "receipts": 0}


def test_stats(app: Flask, story: dict[str, Any]) -> None:
    catalog = story["catalog"]
    catalog.publish("Second", publisher_address=account(6), price=ONE)
    stats = get(app, "/api/v1/stats").json["stats"]
    assert stats["datasets"] == {"total": 2, "active": 1} and stats["publishers"] == 2
    assert stats["orders"] == 2 and stats["receipts"] == 1
    assert stats["volume"] == {USD: str(10 * ONE)}
    assert stats["volume_tokens"] == {
        USD: {"address": USD, "symbol": "lUSD", "name": "Local USD", "decimals": 18}
    }
    assert (
        stats["fee_bps"] == 100 and stats["orders_paused"] is False and stats["fee_collector"] == account(5)
    )
    assert stats["chain_id"] == CHAIN_ID and stats["lag"] == 2


def test_health(engine: Engine, story: dict[str, Any]) -> None:
    ok = validating(create_app(engine, chain_id=CHAIN_ID)).test_client().get("/healthz")
    assert ok.status_code == 200 and ok.json["status"] == "ok"
    assert ok.json["block"]["number"] == story["catalog"].block_number
    wrong = validating(create_app(engine, chain_id=1)).test_client().get("/healthz")
    assert wrong.status_code == 503 and wrong.json["checks"]["chain"] == "wrong_chain"


BAD = [
    ("/api/v1/datasets", {"limit": "0"}, "limit"),
    ("/api/v1/datasets", {"limit": "101"}, "limit"),
    ("/api/v1/datasets", {"limit": "ten"}, "limit"),
    ("/api/v1/datasets", {"limit": "-1"}, "limit"),
    ("/api/v1/datasets", {"limit": "²"}, "limit"),
    ("/api/v1/datasets", {"sort": "name"}, "sort"),
    ("/api/v1/datasets", {"service": "stream"}, "service"),
    ("/api/v1/datasets", {"state": "ACTIVE"}, "state"),
    ("/api/v1/datasets", {"budget_left": "yes"}, "budget_left"),
    ("/api/v1/datasets", {"publisher": "0x1234"}, "publisher"),
    ("/api/v1/datasets", {"provider": "bob"}, "provider"),
    ("/api/v1/datasets", {"payment_token": "0x" + "g" * 40}, "payment_token"),
    ("/api/v1/datasets", {"min_price": "1.5"}, "min_price"),
    ("/api/v1/datasets", {"min_price": "-1"}, "min_price"),
    ("/api/v1/datasets", {"max_price": str(2**256)}, "max_price"),
    ("/api/v1/datasets", {"min_price": "10", "max_price": "9"}, "max_price"),
    ("/api/v1/datasets", {"q": "x" * 501}, "q"),
    ("/api/v1/datasets", {"q": "a\x00b"}, "q"),
    ("/api/v1/datasets", {"tag": "t" * 65}, "tag"),
    ("/api/v1/datasets", {"tag": ["a", "b\x00"]}, "tag"),
    ("/api/v1/datasets", {"tag": [f"t{i}" for i in range(17)]}, "tag"),
    ("/api/v1/datasets", {"sort": ["price", "newest"]}, "sort"),
    ("/api/v1/datasets", {"cursor": "not base64 !"}, "cursor"),
    ("/api/v1/datasets", {"cursor": "bm90IGpzb24"}, "cursor"),  # "not json"
    ("/api/v1/datasets", {"cursor": "WyJkYXRhc2V0czpuZXdlc3QiLCJ4IiwxLCJ5Il0"}, "cursor"),  # wrong types
    ("/api/v1/datasets", {"cursor": "x" * 600}, "cursor"),
    ("/api/v1/datasets", {"colour": "red"}, "colour"),
    ("/api/v1/datasets/{dt}/history", {"limit": "501"}, "limit"),
    ("/api/v1/datasets/{dt}/orders", {"cursor": "WyJoaXN0b3J5IiwxLDJd"}, "cursor"),  # a history cursor
    ("/api/v1/datasets/{dt}/receipts", {"sort": "newest"}, "sort"),
    ("/api/v1/datasets/{dt}", {"verbose": "1"}, "verbose"),
    ("/api/v1/stats", {"x": "1"}, "x"),
]


def test_an_empty_parameter_counts_as_absent(app: Flask, story: dict[str, Any]) -> None:
    """As the document says (allowEmptyValue): an empty form field sends ``name=``."""
    names = ("q", "tag", "publisher", "provider", "service", "min_price", "max_price", "payment_token",
             "state", "budget_left", "sort", "limit", "cursor")  # fmt: skip
    plain = get(app, "/api/v1/datasets")
    empty = get(app, "/api/v1/datasets", **dict.fromkeys(names, ""))
    assert plain.status_code == empty.status_code == 200 and empty.json == plain.json
    assert plain.json["items"]
    path = f"/api/v1/datasets/{story['dt']}/history"
    history = get(app, path, limit="", cursor="")
    assert history.status_code == 200 and history.json == get(app, path).json


@pytest.mark.parametrize(("path", "query", "param"), BAD)
def test_bad_parameters_are_named(
    app: Flask, story: dict[str, Any], path: str, query: dict, param: str
) -> None:
    response = get(app, path.format(dt=story["dt"]), **query)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_parameter" and error["details"] == {"param": param}
    assert error["message"].startswith(f"{param}: ")


def test_routing_errors_are_json(app: Flask) -> None:
    client = app.test_client()
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    for method in ("POST", "TRACE", "OPTIONS"):
        refused = client.open("/api/v1/datasets", method=method)
        assert refused.status_code == 405 and refused.json["error"]["code"] == "method_not_allowed"
        assert set(refused.headers["Allow"].split(", ")) == {"GET", "HEAD"}
        assert refused.mimetype == "application/json"


def test_unexpected_errors_say_nothing_of_the_inside(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.api import queries

    def broken(_conn: Any) -> Any:
        raise RuntimeError("secret at /srv/catalog.db line 3")

    monkeypatch.setattr(queries, "stats", broken)
    response = app.test_client().get("/api/v1/stats")
    assert response.status_code == 500
    assert response.json == {"error": {"code": "internal_error", "message": "internal error", "details": {}}}
    assert b"secret" not in response.data and b"Traceback" not in response.data


def test_a_database_that_does_not_answer_is_503(tmp_path: Any) -> None:
    from backend.db.engine import open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no tables: every query fails
    client = validating(create_app(engine, chain_id=CHAIN_ID)).test_client()
    response = client.get("/api/v1/datasets")
    assert response.status_code == 503 and response.json["error"]["code"] == "catalog_unavailable"
    assert b"no such table" not in response.data
    assert client.get("/healthz").status_code == 503


def test_an_answer_reads_one_snapshot(engine: Engine, catalog: Catalog) -> None:
    catalog.publish()
    with snapshot.read(engine) as conn:
        before = conn.execute(text("SELECT block_number FROM checkpoint")).scalar_one()
        catalog.publish("Published while the answer was being read")
        assert conn.execute(text("SELECT block_number FROM checkpoint")).scalar_one() == before
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 1
    with snapshot.read(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 2


def test_the_market_row_is_optional(app: Flask, engine: Engine, catalog: Catalog) -> None:
    catalog.publish()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM market"))
    stats = get(app, "/api/v1/stats").json["stats"]
    assert stats["fee_bps"] is None and stats["volume"] == {} and stats["orders"] == 0


def test_event_arguments_keep_json_types(app: Flask, story: dict[str, Any], engine: Engine) -> None:
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT args FROM events WHERE name = 'OrderStarted' LIMIT 1")).scalar_one()
    stored = json.loads(raw)
    items = get(app, f"/api/v1/datasets/{story['dt']}/history").json["items"]
    shown = next(item["args"] for item in items if item["event"] == "OrderStarted")
    assert shown["order_id"] == str(stored["order_id"]) and shown["funding"] == "bought"
    assert shown["environment"] == stored["environment"] and MARKET not in shown.values()
