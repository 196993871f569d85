"""A dataset's current metadata document, fetched and checked against the chain.

The pointer (CID) is the latest DatasetPublished/MetadataUpdated event of the datatoken; the bytes
come from the content store (which verifies them against the CID); their sha256 must equal the
hash the market stores now, and the document must be a valid ``datamarket/dataset@1``
(``datamarket.metadata.document.load`` checks both). Storage failures are reported without the
store's own messages, which name local paths.

Errors are the kernel's: :class:`DocumentInvalid` (the chain points at nothing usable, code
``metadata_invalid``) and :class:`DocumentUnavailable` (the document or the store cannot be reached
now, codes ``metadata_unavailable`` and ``store_unavailable``); each service maps them to its own
answers (the provider: 422 and 503).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from datamarket.chain.market import DatasetRecord
from datamarket.chain.reader import ChainReader
from datamarket.errors import DatamarketError
from datamarket.metadata import document
from datamarket.storage.base import (
    ContentCorrupted,
    ContentNotFound,
    ContentStore,
    InvalidCID,
    StorageError,
    StoreUnavailable,
    cat_bytes,
)


class DocumentInvalid(DatamarketError, ValueError):
    """The dataset's metadata document cannot be used: no metadata event, bytes that do not match
    the CID, or a document too large."""

    code = "metadata_invalid"


class DocumentUnavailable(DatamarketError, ConnectionError):
    """The document, or the content store itself, cannot be reached now; worth retrying."""

    code = "metadata_unavailable"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        if code is not None:
            self.code = code


@dataclass(frozen=True)
class DatasetDocument:
    datatoken: str
    metadata_cid: str
    document: dict[str, Any]
    #: The dataset's original publisher, from the chain (see MetadataPointer.publisher).
    publisher: str = ""

    def service(self, service_id: int) -> dict[str, Any] | None:
        return next((s for s in self.document["services"] if s["id"] == service_id), None)

    @property
    def file(self) -> dict[str, Any]:
        """The dataset's (first) encrypted file."""
        return self.document["files"][0]


def load_document(
    chain: ChainReader, store: ContentStore, datatoken: str, record: DatasetRecord, *, max_bytes: int
) -> DatasetDocument:
    pointer = chain.metadata_pointer(datatoken)
    if pointer is None:
        raise DocumentInvalid("the dataset has no metadata event on this market")
    try:
        raw = cat_bytes(store, pointer.cid, max_size=max_bytes)
    except ContentNotFound:
        raise DocumentUnavailable(
            "the metadata document is not available from the content store", details={"cid": pointer.cid}
        ) from None
    except StoreUnavailable:
        raise DocumentUnavailable("the content store is unavailable", code="store_unavailable") from None
    except ContentCorrupted:
        raise DocumentInvalid("the metadata document does not match its CID") from None
    except InvalidCID:
        raise DocumentInvalid("the metadata CID on chain is not a valid CID") from None
    except StorageError:
        raise DocumentInvalid("the metadata document is too large") from None
    # Raises InvalidMetadata / MetadataHashMismatch (422) for a document the chain did not commit to.
    doc = document.load(raw, expected_sha256=record.metadata_hash)
    return DatasetDocument(
        datatoken=datatoken, metadata_cid=pointer.cid, document=doc, publisher=pointer.publisher
    )


class DocumentCache:
    """Verified metadata documents by (datatoken, sha256 the market stores), at most ``size`` of them.

    A hit is exactly what a fresh load would return: the caller reads the dataset's record from the
    chain on every request, and a document is cached under the hash it was verified against, so a
    metadata update (a new hash on chain) misses and loads the new document."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._docs: OrderedDict[tuple[str, str], DatasetDocument] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(
        self,
        chain: ChainReader,
        store: ContentStore,
        datatoken: str,
        record: DatasetRecord,
        *,
        max_bytes: int,
    ) -> DatasetDocument:
        key = (datatoken, record.metadata_hash.lower().removeprefix("0x"))
        with self._lock:
            doc = self._docs.get(key)
            if doc is not None:
                self._docs.move_to_end(key)
                return doc
        doc = load_document(chain, store, datatoken, record, max_bytes=max_bytes)
        with self._lock:
            self._docs[key] = doc
            while len(self._docs) > self._size:
                self._docs.popitem(last=False)
        return doc


__all__ = ["DatasetDocument", "DocumentCache", "DocumentInvalid", "DocumentUnavailable", "load_document"]
