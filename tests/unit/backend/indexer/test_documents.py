"""Metadata documents: valid ones are recorded with their search text, failing ones as invalid with the
reason, unreachable ones retried with a growing backoff while the others go on."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from sqlalchemy import insert, select, update

from backend.db import models as m
from backend.db.engine import open_engine, session_factory
from backend.db.migrate import upgrade
from backend.indexer.documents import DocumentFetcher, search_text
from datamarket.metadata.document import canonical_bytes
from tests.fakes import FakeStore, full_document


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    return engine


def pending(engine, cid: str, sha256: str) -> int:
    with session_factory(engine).begin() as session:
        return session.execute(
            insert(m.Document).values(cid=cid, sha256=sha256, status="pending").returning(m.Document.id)
        ).scalar_one()


def row(engine, doc_id: int) -> m.Document:
    with session_factory(engine)() as session:
        return session.get(m.Document, doc_id)


def sha(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def test_a_valid_document_is_recorded_and_searchable(engine) -> None:
    store = FakeStore()
    raw = canonical_bytes(full_document())
    doc_id = pending(engine, store.add(io.BytesIO(raw)), sha(raw))
    assert DocumentFetcher(engine, store).fetch_due() == 1
    found = row(engine, doc_id)
    assert (found.status, found.name, found.reason) == ("valid", "Breast cancer (Wisconsin)", None)
    assert json.loads(found.body) == full_document()
    with session_factory(engine)() as session:
        tags = session.execute(select(m.DocumentTag.tag).where(m.DocumentTag.document_id == doc_id)).scalars()
        assert sorted(tags) == ["medical", "tabular"]
        match = "SELECT rowid FROM document_search WHERE document_search MATCH ?"
        hits = [session.connection().exec_driver_sql(match, (word,)).scalars().all()
                for word in ("wisconsin", "tabular", "nowhere")]  # fmt: skip
    assert hits == [[doc_id], [doc_id], []]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda raw: (raw, sha(b"other")), "its sha256 is not the hash on chain"),
        (lambda raw: (b"{not json", sha(b"{not json")), "not a valid datamarket/dataset@1 document"),
        (lambda raw: (b'{"schema": "datamarket/dataset@1"}', sha(b'{"schema": "datamarket/dataset@1"}')),
         "not a valid datamarket/dataset@1 document"),
    ],
)  # fmt: skip
def test_a_document_that_fails_is_invalid_with_the_reason(engine, make, reason: str) -> None:
    store = FakeStore()
    data, on_chain = make(canonical_bytes(full_document()))
    doc_id = pending(engine, store.add(io.BytesIO(data)), on_chain)
    DocumentFetcher(engine, store).fetch_due()
    found = row(engine, doc_id)
    assert found.status == "invalid" and found.reason.startswith(reason)
    assert found.body is None and found.search_text is None


def test_a_document_too_large_is_invalid(engine) -> None:
    store = FakeStore()
    raw = canonical_bytes(full_document())
    doc_id = pending(engine, store.add(io.BytesIO(raw)), sha(raw))
    DocumentFetcher(engine, store, max_bytes=100).fetch_due()
    assert row(engine, doc_id).reason == "larger than 100 bytes"


def test_an_unreachable_document_is_retried_with_backoff_without_holding_up_the_rest(
    engine, monkeypatch
) -> None:
    monkeypatch.setattr("backend.indexer.documents.time.time", lambda: 1000.0)
    store = FakeStore()
    missing_raw = canonical_bytes({**full_document(), "name": "later"})
    missing_cid = FakeStore().add(io.BytesIO(missing_raw))
    missing = pending(engine, missing_cid, sha(missing_raw))
    raw = canonical_bytes(full_document())
    present = pending(engine, store.add(io.BytesIO(raw)), sha(raw))
    fetcher = DocumentFetcher(engine, store, retry_max_s=3.0)
    assert fetcher.fetch_due() == 2
    assert row(engine, present).status == "valid"
    waiting = row(engine, missing)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert fetcher.fetch_due() == 0  # not due yet
    delays = [waiting.next_attempt - 1000.0]
    for _ in range(3):  # make it due again: the delay doubles up to the maximum
        with session_factory(engine).begin() as session:
            session.execute(update(m.Document).where(m.Document.id == missing).values(next_attempt=0))
        fetcher.fetch_due()
        delays.append(row(engine, missing).next_attempt - 1000.0)
    assert delays == [1.0, 2.0, 3.0, 3.0]
    assert row(engine, missing).attempts == 4
    store.add(io.BytesIO(missing_raw))
    with session_factory(engine).begin() as session:
        session.execute(update(m.Document).where(m.Document.id == missing).values(next_attempt=0))
    fetcher.fetch_due()
    assert row(engine, missing).status == "valid" and row(engine, missing).name == "later"


def test_search_text_holds_name_description_tags_and_columns() -> None:
    text = search_text(full_document())
    columns = [c["name"] for c in full_document()["profile"]["columns"]]
    for word in ["Breast", "Diagnostic", "medical", "tabular", *columns]:
        assert word in text
