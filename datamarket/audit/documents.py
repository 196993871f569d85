"""Each metadata version's document, fetched from the content store and checked against the chain.

A version is **verified** when the bytes its CID names hash to the sha256 the chain holds and form a
valid ``datamarket/dataset@1`` document (:func:`datamarket.metadata.document.load`); a **hash
mismatch** when they hash to anything else; **invalid** when they hash right but are not a valid
document, are too large to be one, or do not match their CID; **unavailable** when no bytes could be
had (no store, CID not found, store down, not a CID): the audit cannot say, and says so as a
warning rather than a problem.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from datamarket.metadata.document import (
    MAX_DOCUMENT_BYTES,
    InvalidMetadata,
    MetadataHashMismatch,
    load,
)
from datamarket.storage.base import (
    ContentCorrupted,
    ContentNotFound,
    ContentStore,
    InvalidCID,
    StorageError,
    StoreUnavailable,
    cat_bytes,
)


class DocumentStatus(enum.StrEnum):
    VERIFIED = "verified"
    HASH_MISMATCH = "hash_mismatch"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class DocumentCheck:
    status: DocumentStatus
    reason: str = ""


def check_document(raw: bytes, expected_sha256: str) -> DocumentCheck:
    """What the fetched bytes ``raw`` of a version whose on-chain hash is ``expected_sha256`` are."""
    try:
        load(raw, expected_sha256=expected_sha256)
    except MetadataHashMismatch as exc:
        return DocumentCheck(DocumentStatus.HASH_MISMATCH, exc.message)
    except InvalidMetadata as exc:
        return DocumentCheck(DocumentStatus.INVALID, exc.message)
    return DocumentCheck(DocumentStatus.VERIFIED)


def fetch_and_check(store: ContentStore | None, cid: str, expected_sha256: str) -> DocumentCheck:
    """Fetch ``cid`` from ``store`` (None: no store configured) and check it."""
    if store is None:
        return DocumentCheck(DocumentStatus.UNAVAILABLE, "no content store is configured")
    try:
        raw = cat_bytes(store, cid, max_size=MAX_DOCUMENT_BYTES)
    except ContentNotFound:
        return DocumentCheck(DocumentStatus.UNAVAILABLE, "the content store does not hold it")
    except StoreUnavailable:
        return DocumentCheck(DocumentStatus.UNAVAILABLE, "the content store is unavailable")
    except InvalidCID:
        return DocumentCheck(DocumentStatus.UNAVAILABLE, "the chain's CID is not a valid CID")
    except ContentCorrupted:  # as the indexer records it: the bytes are not the CID's
        return DocumentCheck(DocumentStatus.INVALID, "the bytes the store gave do not match the CID")
    except StorageError:  # cat_bytes' size limit, or content that is not a file
        return DocumentCheck(DocumentStatus.INVALID, f"not a document of at most {MAX_DOCUMENT_BYTES} bytes")
    return check_document(raw, expected_sha256)


def check_versions(
    store: ContentStore | None, versions: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], DocumentCheck]:
    """Every ``(cid, sha256)`` checked once, even when several versions name it."""
    return {version: fetch_and_check(store, *version) for version in dict.fromkeys(versions)}


__all__ = ["DocumentCheck", "DocumentStatus", "check_document", "check_versions", "fetch_and_check"]
