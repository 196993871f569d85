from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import BadRequest, FormatRequired, NotAcceptable
from gateway.formats import Wanted, negotiate


@pytest.mark.parametrize(
    ("accept", "args", "wanted"),
    [
        ("application/vnd.ipld.raw", {}, Wanted(car=False)),
        ("application/vnd.ipld.car", {}, Wanted(car=True)),
        ("application/vnd.ipld.car;version=1;order=dfs;dups=y", {}, Wanted(car=True, dups=True)),
        ('application/vnd.ipld.car; version="1"; order=unk', {}, Wanted(car=True)),
        ("application/vnd.ipld.car", {"car-dups": "y", "dag-scope": "block"}, Wanted(True, True, "block")),
        ("APPLICATION/VND.IPLD.RAW", {}, Wanted(car=False)),
        (None, {"format": "raw"}, Wanted(car=False, from_query=True)),
        ("application/vnd.ipld.car;dups=y", {"format": "car"}, Wanted(car=True, dups=True, from_query=True)),
        ("application/vnd.ipld.raw", {"format": "car"}, Wanted(car=True, from_query=True)),
        ("application/vnd.ipld.car;order=x, application/vnd.ipld.raw;q=0.1", {}, Wanted(car=False)),
    ],
)
def test_negotiation(accept, args, wanted):
    assert negotiate(accept, args) == wanted


def test_content_types():
    assert Wanted(car=False).content_type == "application/vnd.ipld.raw"
    assert (
        Wanted(car=True, dups=True).content_type == "application/vnd.ipld.car; version=1; order=dfs; dups=y"
    )


@pytest.mark.parametrize("accept", [None, "", "  "])
def test_nothing_asked_is_format_required(accept):
    with pytest.raises(FormatRequired):
        negotiate(accept, {})


@given(st.text(max_size=200))
def test_any_accept_header_gives_an_answer_or_a_clear_refusal(accept):
    try:
        wanted = negotiate(accept, {})
    except (BadRequest, NotAcceptable) as exc:
        assert exc.message
    else:
        assert "application/vnd.ipld." in accept.lower()
        assert wanted.content_type
