import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamarket.storage import varint


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (2**63 - 1, b"\xff" * 8 + b"\x7f"),
    ],
)
def test_known_encodings(value, encoded):
    assert varint.encode(value) == encoded
    assert varint.decode(encoded) == (value, len(encoded))


@given(st.integers(min_value=0, max_value=2**63 - 1), st.binary(max_size=4))
def test_round_trip_stops_at_the_end_of_the_varint(value, tail):
    encoded = varint.encode(value)
    assert varint.decode(b"\x07" + encoded + tail, 1) == (value, 1 + len(encoded))


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff", b"\x80\x00", b"\xff" * 9 + b"\x01"])
def test_truncated_non_minimal_and_overlong_varints_are_refused(data):
    with pytest.raises(ValueError):
        varint.decode(data)


def test_negative_values_cannot_be_encoded():
    with pytest.raises(ValueError):
        varint.encode(-1)
