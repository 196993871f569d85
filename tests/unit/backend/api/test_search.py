"""Dataset search on SQLite and PostgreSQL: full text (and input that is query syntax elsewhere),
every filter, every sort, and pages that neither repeat nor skip a dataset."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from backend.api import ratelimit
from backend.api.app import create_app
from backend.api.search import fts5_query, tsquery, words
from datamarket.ratelimit import RateLimitConfig
from tests.unit.backend.api.catalog_rows import ONE, USD, Catalog, account, address_of
from tests.unit.backend.api.openapi_check import validating

EUR = address_of("eur")
HOSTILE = [
    '"',
    '""',
    "'",
    'heart"',
    "NEAR(heart",
    "NEAR(heart cholesterol, 2)",
    "*",
    "heart*",
    "-heart",
    "heart -cancer",
    "name:heart",
    "heart OR cancer",
    "heart AND",
    "^heart",
    "(",
    ")",
    "{",
    "}",
    "heart'; DROP TABLE datasets; --",
    "\\",
    "%",
    "_",
    "heart & !cancer",
    "heart:*",
    "<script>",
    "€",
    "心脏",
    "😀",
    "café",
    "a" * 500,
]


@pytest.fixture(scope="module")
def world(any_engine: Engine) -> dict[str, Any]:
    """Five datasets with different texts, tags, services, prices, states, budgets and order counts."""
    catalog = Catalog(any_engine)
    heart = catalog.publish("Heart disease (Cleveland)", tags=["health", "Cardiology"], price=5 * ONE)
    cancer = catalog.publish(
        "Breast cancer Wisconsin",
        description="Cell nuclei measurements of biopsies.",
        tags=["health", "oncology"],
        columns=[{"name": "radius_mean", "dtype": "float64", "missing": 0, "stats": {}}],
        price=5 * ONE,
        services=2,
        payment_token=EUR,
    )
    taxi = catalog.publish(
        "Taxi trips 2023",
        description="Pickup and dropoff times of city taxi trips.",
        tags=["transport"],
        columns=[],
        price=0,
        services=1,
        publisher_address=account(6),
        epsilon_budget=0,
    )
    weather = catalog.publish(
        "Weather stations",
        description="Hourly temperature readings.",
        tags=["climate"],
        columns=[],
        price=2 * ONE,
        state="PAUSED",
    )
    broken = catalog.publish(
        "Heart rate (broken)", document_status="invalid", reason="hash mismatch", price=ONE
    )
    for _ in range(3):
        catalog.buy_and_order(cancer.datatoken)
    catalog.buy_and_order(heart.datatoken)
    order = catalog.buy_and_order(weather.datatoken)
    catalog.receipt(weather.datatoken, order, epsilon=10.0)  # spends all of weather's budget
    # One client for the module's many searches, as fast as they run: limits far above them.
    generous = RateLimitConfig(rules={name: "10000/second" for name in ratelimit.CLASSES})
    client = validating(create_app(any_engine, chain_id=catalog.chain_id, rate_limits=generous)).test_client()
    return {
        "client": client,
        "heart": heart.datatoken,
        "cancer": cancer.datatoken,
        "taxi": taxi.datatoken,
        "weather": weather.datatoken,
        "broken": broken.datatoken,
    }


def found(client: FlaskClient, **query: Any) -> list[str]:
    response = client.get("/api/v1/datasets", query_string={"limit": 100, **query})
    assert response.status_code == 200, response.json
    return [item["datatoken"] for item in response.json["items"]]


def test_items_describe_their_payment_token(world: dict[str, Any]) -> None:
    response = world["client"].get("/api/v1/datasets", query_string={"limit": 100})
    info = {item["datatoken"]: (item["price"], item["payment_token_info"]) for item in response.json["items"]}
    assert info[world["heart"]] == (str(5 * ONE), {"address": USD, "symbol": "lUSD", "name": "Local USD",
                                                   "decimals": 18})  # fmt: skip
    # EUR's contract answered none of symbol(), name(), decimals(): the indexer stored a row of nulls
    assert info[world["cancer"]] == (str(5 * ONE), {"address": EUR, "symbol": None, "name": None,
                                                    "decimals": None})  # fmt: skip
    assert info[world["taxi"]] == ("0", {"address": "0x" + "0" * 40, "symbol": None, "name": "native coin",
                                         "decimals": 18})  # fmt: skip


def test_words_are_quoted_for_both_query_languages() -> None:
    assert words('NEAR(heart "cho*') == ["NEAR", "heart", "cho"]
    assert fts5_query(["NEAR", "heart", "cho"]) == '"NEAR" "heart" "cho"*'
    assert tsquery(["heart", "cho"]) == "'heart' & 'cho':*"


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("heart", {"heart"}),
        ("HEART Cleveland", {"heart"}),
        ("cardiology", {"heart"}),  # a tag
        ("cholesterol", {"heart"}),  # a column name
        ("radius_mean", {"cancer"}),
        ("biopsies", {"cancer"}),  # the description
        ("measurements", {"heart", "cancer"}),
        ("cardio", {"heart"}),  # the last word is a prefix
        ("taxi trip", {"taxi"}),
        ("heart taxi", set()),  # every word must match
        ("zebra", set()),
    ],
)
def test_text_search(world: dict[str, Any], q: str, expected: set[str]) -> None:
    assert set(found(world["client"], q=q)) == {world[name] for name in expected}


def test_text_search_skips_documents_that_are_not_valid(world: dict[str, Any]) -> None:
    assert world["broken"] not in found(world["client"], q="heart")
    everything = found(world["client"])
    assert world["broken"] in everything
    answer = world["client"].get("/api/v1/datasets", query_string={"limit": 100}).json
    broken = next(item for item in answer["items"] if item["datatoken"] == world["broken"])
    assert broken["name"] is None and broken["metadata"]["status"] == "invalid"
    assert broken["metadata"]["reason"] == "hash mismatch"


@pytest.mark.parametrize("q", HOSTILE)
def test_query_syntax_in_the_input_is_only_text(world: dict[str, Any], q: str) -> None:
    """Whatever the input holds, only its words count: the same answer as the words alone."""
    matches = found(world["client"], q=q)
    terms = words(q)
    assert matches == (found(world["client"], q=" ".join(terms)) if terms else [])


def test_hostile_input_still_finds_its_words(world: dict[str, Any]) -> None:
    for q in ('heart"', "heart)", '"heart"*', "heart*", "-heart", "^heart", "heart:*", "(heart)"):
        assert found(world["client"], q=q) == [world["heart"]], q


def test_operators_are_words_to_match(world: dict[str, Any]) -> None:
    # "OR" is not an operator: the documents would need the word "or" too.
    assert found(world["client"], q="heart OR cancer") == []
    assert found(world["client"], q="NEAR(heart cholesterol, 2)") == []
    assert set(found(world["client"], q="heart'; DROP TABLE datasets; --")) == set()
    assert len(found(world["client"])) == 5  # the table is still there


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"tag": "health"}, {"heart", "cancer"}),
        ({"tag": "cardiology"}, {"heart"}),  # tags match whatever their case
        ({"tag": ["health", "oncology"]}, {"cancer"}),
        ({"tag": ["health", "climate"]}, set()),
        ({"service": "download"}, {"heart", "taxi", "weather", "broken"}),
        ({"service": "compute"}, {"heart", "cancer", "weather", "broken"}),
        ({"min_price": str(2 * ONE)}, {"heart", "cancer", "weather"}),
        ({"max_price": str(2 * ONE)}, {"taxi", "weather", "broken"}),
        ({"min_price": str(ONE), "max_price": str(ONE)}, {"broken"}),
        ({"min_price": "0", "max_price": "0"}, {"taxi"}),
        ({"payment_token": EUR.lower()}, {"cancer"}),
        ({"state": "paused"}, {"weather"}),
        ({"state": "active"}, {"heart", "cancer", "taxi", "broken"}),
        ({"state": "retired"}, set()),
        ({"budget_left": "true"}, {"heart", "cancer", "broken"}),
        ({"budget_left": "false"}, {"taxi", "weather"}),
        ({"q": "heart", "state": "active", "service": "compute"}, {"heart"}),
    ],
)
def test_filters(world: dict[str, Any], query: dict[str, Any], expected: set[str]) -> None:
    assert set(found(world["client"], **query)) == {world[name] for name in expected}


def test_publisher_and_provider_filters_take_any_case(world: dict[str, Any]) -> None:
    assert found(world["client"], publisher=account(6).lower()) == [world["taxi"]]
    assert len(found(world["client"], publisher=account(2).upper().replace("0X", "0x"))) == 4
    items = (
        world["client"].get("/api/v1/datasets", query_string={"provider": account(3).lower()}).json["items"]
    )
    assert len(items) == 5 and all(item["provider"] == account(3) for item in items)


SORT_KEYS = {
    "newest": lambda item: (-item["published_block"], -item["index"]),
    "price": lambda item: (int(item["price"]), item["datatoken"]),
    "-price": lambda item: (-int(item["price"]), _desc(item["datatoken"])),
    "orders": lambda item: (-item["order_count"], item["datatoken"]),
}


def _desc(text: str) -> list[int]:
    return [-ord(c) for c in text]


@pytest.mark.parametrize("sort", list(SORT_KEYS))
def test_sorts(world: dict[str, Any], sort: str) -> None:
    items = world["client"].get("/api/v1/datasets", query_string={"sort": sort}).json["items"]
    assert len(items) == 5
    if sort in ("price", "-price"):  # ties break by datatoken; compare prices, which is what users see
        prices = [int(item["price"]) for item in items]
        assert prices == sorted(prices, reverse=sort == "-price")
    else:
        assert items == sorted(items, key=SORT_KEYS[sort])


@pytest.mark.parametrize("sort", list(SORT_KEYS))
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_pages_neither_repeat_nor_skip(world: dict[str, Any], sort: str, limit: int) -> None:
    client = world["client"]
    everything = found(client, sort=sort)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = {"sort": sort, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = client.get("/api/v1/datasets", query_string=query).json
        seen += [item["datatoken"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    assert len(set(seen)) == 5


def test_pages_keep_their_filters(world: dict[str, Any]) -> None:
    first = world["client"].get("/api/v1/datasets", query_string={"tag": "health", "limit": 1}).json
    second = (
        world["client"]
        .get("/api/v1/datasets", query_string={"tag": "health", "limit": 1, "cursor": first["next_cursor"]})
        .json
    )
    assert {first["items"][0]["datatoken"], second["items"][0]["datatoken"]} == {
        world["heart"],
        world["cancer"],
    }
    assert second["next_cursor"] is None


def test_a_cursor_belongs_to_its_sort(world: dict[str, Any]) -> None:
    cursor = world["client"].get("/api/v1/datasets", query_string={"limit": 1}).json["next_cursor"]
    response = world["client"].get("/api/v1/datasets", query_string={"sort": "price", "cursor": cursor})
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"param": "cursor"}
