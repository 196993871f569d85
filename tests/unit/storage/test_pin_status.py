"""Parsing a pinning service's answers: what the spec allows passes and round-trips, anything else is a
ShapeError naming the field, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamarket.storage.pin_status import (
    Pin,
    ShapeError,
    parse_results,
    parse_status,
    parse_time,
)
from tests.pinning_spec import PIN_STATUS

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "requestid": st.one_of(st.just("r1"), json_values),
        "status": st.one_of(st.sampled_from(["queued", "pinned", "done"]), json_values),
        "created": st.one_of(st.just("2020-07-27T17:32:28.276Z"), json_values),
        "pin": st.one_of(st.just({"cid": CID}), json_values),
        "delegates": st.one_of(st.just(["/ip4/203.0.113.1/tcp/4001/p2p/QmPeer"]), json_values),
        "info": json_values,
    },
)


@given(st.one_of(fields, json_values))
def test_any_json_parses_or_is_a_shape_error(value) -> None:
    try:
        status = parse_status(value)
    except ShapeError as exc:
        assert str(exc).startswith("answer")
    else:
        assert status.status in ("queued", "pinned") and status.pin.cid == CID


@given(
    st.sampled_from(["queued", "pinning", "pinned", "failed"]),
    st.one_of(st.none(), st.text(max_size=255)),
    st.lists(st.text(min_size=1, max_size=40), max_size=20, unique=True),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5),
)
def test_a_status_round_trips_through_its_json(status, name, origins, meta) -> None:
    from jsonschema import Draft202012Validator

    body = {"requestid": "8c5a1b", "status": status, "created": "2020-07-27T17:32:28.276123456+02:00",
            "pin": {"cid": CID, **({"name": name} if name is not None else {}), "origins": origins,
                    "meta": meta},
            "delegates": ["/ip4/203.0.113.1/tcp/4001/p2p/QmPeer"],
            "info": {"status_details": "x"}}  # fmt: skip
    parsed = parse_status(body)
    assert parsed.to_json() == body
    assert list(Draft202012Validator(PIN_STATUS).iter_errors(parsed.to_json())) == []
    assert parsed.final == (status in ("pinned", "failed"))


def test_created_keeps_the_service_text_and_its_time() -> None:
    parsed = parse_status({"requestid": "r", "status": "queued", "created": "2020-07-27T17:32:28.276123456Z",
                           "pin": {"cid": CID}, "delegates": []})  # fmt: skip
    assert parsed.created == "2020-07-27T17:32:28.276123456Z"  # sent back as it is (pagination)
    assert parsed.created_at == datetime(2020, 7, 27, 17, 32, 28, 276123, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2020-07-27", "2020-07-27T17:32:28", "27/07/2020", "2020-13-45T99:99:99Z"])
def test_times_without_a_zone_or_not_rfc3339_are_refused(text) -> None:
    with pytest.raises(ShapeError, match="RFC 3339"):
        parse_time(text, "created")


def test_a_listing_holds_statuses() -> None:
    item = {"requestid": "r", "status": "pinned", "created": "2020-07-27T17:32:28Z", "pin": {"cid": CID},
            "delegates": []}  # fmt: skip
    results = parse_results({"count": 7, "results": [item]})
    assert results.count == 7 and [r.requestid for r in results.results] == ["r"]
    with pytest.raises(ShapeError, match="count"):
        parse_results({"count": True, "results": []})


def test_a_pin_request_leaves_out_what_it_does_not_have() -> None:
    assert Pin(CID).to_json() == {"cid": CID}
    assert Pin(CID, name="", origins=("/a/p2p/b",), meta={"k": "v"}).to_json() == {
        "cid": CID, "name": "", "origins": ["/a/p2p/b"], "meta": {"k": "v"},
    }  # fmt: skip
