"""Each metadata version's document: verified, hash mismatch, invalid or unavailable."""

from __future__ import annotations

import hashlib
import io

from datamarket.audit.documents import DocumentStatus, check_document, check_versions, fetch_and_check
from datamarket.metadata.document import canonical_bytes
from datamarket.storage.base import StoreUnavailable
from tests.fakes import FakeStore, full_document


def sha(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


DOCUMENT = canonical_bytes(full_document())


def test_a_valid_document_with_its_hash_is_verified() -> None:
    assert check_document(DOCUMENT, sha(DOCUMENT)).status == DocumentStatus.VERIFIED


def test_other_bytes_than_the_hash_are_a_mismatch_whatever_they_hold() -> None:
    check = check_document(DOCUMENT + b" ", sha(DOCUMENT))
    assert check.status == DocumentStatus.HASH_MISMATCH
    assert "the chain has" in check.reason


def test_bytes_that_match_but_break_the_schema_are_invalid() -> None:
    raw = b'{"name": "no schema"}'
    check = check_document(raw, sha(raw))
    assert check.status == DocumentStatus.INVALID and check.reason


def test_fetching_from_the_store_and_each_way_it_cannot_give_the_bytes() -> None:
    store = FakeStore()
    cid = store.add(io.BytesIO(DOCUMENT))
    assert fetch_and_check(store, cid, sha(DOCUMENT)).status == DocumentStatus.VERIFIED
    missing = fetch_and_check(store, FakeStore().add(io.BytesIO(b"x"), only_hash=True), sha(b"x"))
    assert (missing.status, missing.reason) == (
        DocumentStatus.UNAVAILABLE,
        "the content store does not hold it",
    )
    nowhere = fetch_and_check(None, cid, sha(DOCUMENT))
    assert (nowhere.status, nowhere.reason) == (DocumentStatus.UNAVAILABLE, "no content store is configured")

    class Down(FakeStore):
        def cat(self, cid):
            raise StoreUnavailable("down at http://user:secret@ipfs")

    down = fetch_and_check(Down(), cid, sha(DOCUMENT))
    assert (down.status, down.reason) == (DocumentStatus.UNAVAILABLE, "the content store is unavailable")


def test_each_version_is_fetched_once() -> None:
    store = FakeStore()
    cid = store.add(io.BytesIO(DOCUMENT))
    fetched = []

    class Counting(FakeStore):
        def cat(self, wanted):
            fetched.append(wanted)
            return store.cat(wanted)

    checks = check_versions(Counting(), [(cid, sha(DOCUMENT)), (cid, sha(DOCUMENT))])
    assert fetched == [cid] and checks[cid, sha(DOCUMENT)].status == DocumentStatus.VERIFIED
