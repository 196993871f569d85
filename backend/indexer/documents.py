"""Metadata documents: fetched from the content store, checked, recorded as valid or invalid.

Every ``DatasetPublished`` / ``MetadataUpdated`` adds a ``pending`` document row (cid, on-chain
sha256). :class:`DocumentFetcher` takes the pending rows that are due, a few at a time in parallel, and
records each as ``valid`` (its name, description, tags and search text extracted) or ``invalid`` with
the reason (bytes that do not match the CID or the on-chain hash, not JSON, against the schema, too
large): never dropped, never trusted. A document the store cannot give now stays ``pending`` and is
tried again after a backoff that doubles up to ``retry_max_s``, while the others go on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from backend.db import models as m
from backend.db.engine import session_factory
from datamarket.metadata import document
from datamarket.storage.base import (
    CIDMismatch,
    ContentCorrupted,
    ContentNotFound,
    ContentStore,
    InvalidCID,
    StorageError,
    StoreUnavailable,
    UnsupportedContent,
    cat_bytes,
)

log = logging.getLogger("datamarket.indexer.documents")

FIRST_RETRY_S = 1.0


def search_text(doc: dict[str, Any]) -> str:
    """The words search matches: name, description, tags and the profile's column names."""
    columns = [c.get("name", "") for c in (doc.get("profile") or {}).get("columns", [])]
    return "\n".join([doc.get("name", ""), doc.get("description", ""), " ".join(doc.get("tags", [])),
                      " ".join(columns)])  # fmt: skip


class DocumentFetcher:
    def __init__(
        self,
        engine: Engine,
        store: ContentStore,
        *,
        max_bytes: int = 1024 * 1024,
        retry_max_s: float = 300.0,
        parallel: int = 4,
    ) -> None:
        self.sessions = session_factory(engine)
        self.store = store
        self.max_bytes = max_bytes
        self.retry_max_s = retry_max_s
        self.parallel = parallel

    def due(self, limit: int = 32) -> list[tuple[int, str, str, int]]:
        now = time.time()
        query = (
            select(m.Document.id, m.Document.cid, m.Document.sha256, m.Document.attempts)
            .where(m.Document.status == "pending", m.Document.next_attempt <= now)
            .order_by(m.Document.next_attempt, m.Document.id)
            .limit(limit)
        )
        with self.sessions() as session:
            return [tuple(row) for row in session.execute(query).all()]

    def fetch_due(self) -> int:
        """Fetch and record every document that is due now; returns how many were tried."""
        rows = self.due()
        if not rows:
            return 0
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(rows))) as pool:
            list(pool.map(self._one, rows))
        return len(rows)

    def _one(self, row: tuple[int, str, str, int]) -> None:
        doc_id, cid, sha256, attempts = row
        try:
            raw = cat_bytes(self.store, cid, max_size=self.max_bytes)
            doc = document.load(raw, expected_sha256=sha256)
        except (ContentNotFound, StoreUnavailable):
            delay = min(self.retry_max_s, FIRST_RETRY_S * 2**attempts)
            self._record(doc_id, {"attempts": attempts + 1, "next_attempt": time.time() + delay,
                                  "reason": "not available from the content store"})  # fmt: skip
            return
        except InvalidCID:
            self._invalid(doc_id, attempts, "not a valid CID")
        except (ContentCorrupted, CIDMismatch):
            self._invalid(doc_id, attempts, "the bytes do not match the CID")
        except UnsupportedContent:
            self._invalid(doc_id, attempts, "content the store cannot read as a file")
        except StorageError as exc:
            reason = f"larger than {self.max_bytes} bytes" if type(exc) is StorageError else "unreadable"
            self._invalid(doc_id, attempts, reason)
        except document.MetadataHashMismatch:
            self._invalid(doc_id, attempts, "its sha256 is not the hash on chain")
        except document.InvalidMetadata as exc:
            self._invalid(doc_id, attempts, f"not a valid datamarket/dataset@1 document: {exc.message}")
        except Exception:  # a store client's own failure: retried, but logged for the operator
            log.exception("fetching document %s failed", cid)
            delay = min(self.retry_max_s, FIRST_RETRY_S * 2**attempts)
            self._record(doc_id, {"attempts": attempts + 1, "next_attempt": time.time() + delay})
        else:
            self._valid(doc_id, attempts, doc)

    def _invalid(self, doc_id: int, attempts: int, reason: str) -> None:
        self._record(doc_id, {"status": "invalid", "reason": reason, "attempts": attempts + 1,
                              "fetched_at": time.time()})  # fmt: skip

    def _valid(self, doc_id: int, attempts: int, doc: dict[str, Any]) -> None:
        tags = sorted(set(doc.get("tags", [])))
        values = {
            "status": "valid", "reason": None, "attempts": attempts + 1, "fetched_at": time.time(),
            "name": doc.get("name"), "description": doc.get("description"), "license": doc.get("license"),
            "search_text": search_text(doc), "body": json.dumps(doc, separators=(",", ":"), sort_keys=True),
        }  # fmt: skip
        with self.sessions.begin() as session:
            session.execute(update(m.Document).where(m.Document.id == doc_id).values(**values))
            session.execute(delete(m.DocumentTag).where(m.DocumentTag.document_id == doc_id))
            if tags:
                session.execute(insert(m.DocumentTag), [{"document_id": doc_id, "tag": t} for t in tags])

    def _record(self, doc_id: int, values: dict[str, Any]) -> None:
        with self.sessions.begin() as session:
            session.execute(update(m.Document).where(m.Document.id == doc_id).values(**values))

    def run(self, stop: threading.Event, *, idle_s: float = 0.2) -> None:
        while not stop.is_set():
            try:
                tried = self.fetch_due()
            except Exception:  # the database is away for a moment: try again
                log.exception("the document fetcher failed; retrying")
                tried = 0
            if not tried:
                stop.wait(idle_s)


__all__ = ["DocumentFetcher", "search_text"]
