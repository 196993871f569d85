"""RFC 8785 canonical JSON: the bytes every hash and signature over JSON is computed on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamarket.auth import InvalidRequest
from datamarket.canonical import MAX_SAFE_INTEGER, canonical_json, parse_json

# Expected bytes written by hand from RFC 8785 (and checked against JavaScript's JSON.stringify, which
# writes numbers the way JCS does).
CASES = [
    ({"delta": 1e-5}, b'{"delta":0.00001}'),
    ({"delta": 1e-7}, b'{"delta":1e-7}'),
    ([1.0, 0.5, -0.0, 1e21, 1e20, 123456789.125], b"[1,0.5,0,1e+21,100000000000000000000,123456789.125]"),
    ([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER], b"[9007199254740991,-9007199254740991]"),
    (
        {"b": [True, None], "a": 'é\u2028\x01"\\'},
        b'{"a":"\xc3\xa9\xe2\x80\xa8\\u0001\\"\\\\","b":[true,null]}',
    ),
    # Keys sort by UTF-16 code units: U+1F600 (D83D DE00) comes before U+FB01, unlike code points.
    ({"\ufb01": 1, "\U0001f600": 2, "Z": 3}, '{"Z":3,"\U0001f600":2,"\ufb01":1}'.encode()),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_canonical_json_is_rfc_8785(value, expected: bytes) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ({"n": 2**53}, "$.n", "2^53"),
        ({"a": [1, -(2**60)]}, "$.a[1]", "2^53"),
        ({"x": {"y": float("nan")}}, "$.x.y", "finite"),
        ([float("inf")], "$[0]", "finite"),
        ({"x": object()}, "$.x", "not a JSON value"),
        ({1: 2}, "$", "key that is not a string"),
        ({"s": "\ud800"}, "$.s", "UTF-8"),
    ],
)
def test_what_jcs_cannot_write_exactly_is_refused_by_path(value, field: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical_json(value)
    assert caught.value.code == "invalid_request"
    assert caught.value.details["field"] == field
    assert words in caught.value.message


def test_the_field_name_prefixes_the_path() -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical_json({"seed": 2**64}, field="job.params")
    assert caught.value.details["field"] == "job.params.seed"


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_canonical_json_parses_back_to_an_equal_value_and_is_a_fixed_point(value) -> None:
    raw = canonical_json(value)
    again = parse_json(raw)
    assert again == value
    assert canonical_json(again) == raw


def test_an_integral_double_beyond_2_53_reads_back_as_a_double() -> None:
    raw = canonical_json({"x": 5.8e16})
    assert raw == b'{"x":58000000000000000}'
    assert json.loads(raw)["x"] == 58000000000000000  # Python alone would read an int JCS refuses
    assert canonical_json(parse_json(raw)) == raw
