"""Resolving a dataset's document: each way the content store fails says what was wrong, never where."""

from __future__ import annotations

import pytest

from datamarket.chain.reader import MetadataPointer
from datamarket.metadata.resolve import DocumentInvalid, DocumentUnavailable, load_document
from datamarket.storage.base import ContentCorrupted, InvalidCID, StorageError, StoreUnavailable
from tests.fakes import PROVIDER, PUBLISHER, FakeChain, record

DATATOKEN = "0x" + "ab" * 20


class FailingStore:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def cat(self, cid: str):
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (InvalidCID("bad at /srv/store"), DocumentInvalid, "the metadata CID on chain is not a valid CID"),
        (ContentCorrupted("x"), DocumentInvalid, "the metadata document does not match its CID"),
        (StorageError("content is larger"), DocumentInvalid, "the metadata document is too large"),
        (StoreUnavailable("down at /srv/store"), DocumentUnavailable, "the content store is unavailable"),
    ],
)  # fmt: skip
def test_each_store_failure_is_named(error: Exception, expected: type, message: str) -> None:
    chain = FakeChain()
    chain.pointers[DATATOKEN] = MetadataPointer(cid="bafy-anything", sha256="00" * 32, block_number=1)
    rec = record(publisher=PUBLISHER, provider=PROVIDER, metadata=b"{}")
    with pytest.raises(expected) as caught:
        load_document(chain, FailingStore(error), DATATOKEN, rec, max_bytes=1024)
    assert str(caught.value) == message and "/srv" not in str(caught.value)
