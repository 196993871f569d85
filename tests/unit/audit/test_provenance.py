"""A result folder's output hash, computed as the worker computes it, and the receipts that commit to it."""

from __future__ import annotations

import os

import pytest

from compute_to_data import policy
from datamarket.audit import provenance
from datamarket.audit.errors import ResultFolderError
from tests.unit.audit.market_history import MARKET, History, b32

SALT = "5a" * 32


@pytest.fixture
def result(tmp_path):
    folder = tmp_path / "result"
    (folder / "model").mkdir(parents=True)
    (folder / "metrics.json").write_text('{"accuracy": 0.93}')
    (folder / "model" / "weights.safetensors").write_bytes(bytes(range(256)) * 10)
    (folder / "model" / "a.json").write_text("{}")
    (folder / "empty").mkdir()
    return folder


def test_the_manifest_and_output_hash_are_the_workers(result) -> None:
    assert provenance.manifest(result) == policy.manifest(result)
    assert provenance.output_hash(provenance.manifest(result), SALT) == policy.output_hash(
        policy.manifest(result), SALT
    )


def test_the_output_hash_is_pinned(result) -> None:
    """A change to the commitment's format breaks every receipt already on chain: the hash here is
    sha256 of ``{"outputs":[{"path","sha256","size"}...],"salt":...}`` written out by hand."""
    assert [e["path"] for e in provenance.manifest(result)] == [
        "metrics.json", "model/a.json", "model/weights.safetensors",
    ]  # fmt: skip
    assert provenance.output_hash(provenance.manifest(result), SALT) == (
        "fa5f51cb77f68a7c345d990e6df2ed50907b7db976668b15924add944c0e8e42"
    )


def test_links_and_missing_folders_are_refused(result, tmp_path) -> None:
    os.symlink(result / "metrics.json", result / "link.json")
    with pytest.raises(ResultFolderError, match=r"link\.json is not a plain file"):
        provenance.manifest(result)
    with pytest.raises(ResultFolderError, match="does not exist"):
        provenance.manifest(tmp_path / "nothing")


def test_receipts_are_found_by_output_hash_from_the_market_only() -> None:
    history = History()
    history.publish()
    history.burn_and_order()
    history.receipt("job", 1, spent_after=1, output="mine")
    history.receipt("other", 1, spent_after=2, output="theirs")
    found = provenance.receipts_for(history.events, MARKET, b32("mine")[2:].upper())
    assert [r.job_id for r in found] == [b32("job")]
    assert provenance.receipts_for(history.events, "0x" + "00" * 20, b32("mine")) == []


def test_the_record_saved_beside_the_outputs_is_not_an_output(result) -> None:
    before = provenance.manifest(result)
    (result / ".datamarket-result.json").write_text('{"output_salt": "00"}')
    assert provenance.manifest(result) == before
    (result / "model" / ".datamarket-result.json").write_text("{}")  # only the top-level one is the record
    assert len(provenance.manifest(result)) == len(before) + 1
