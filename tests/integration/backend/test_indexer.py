"""The indexer on a real chain: it agrees with the replay and the market's getters, follows new blocks,
and undoes a reorganisation (blocks replaced with anvil's snapshot and revert)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select, update

from backend.db import models as m
from backend.db.engine import session_factory
from backend.indexer.documents import DocumentFetcher
from datamarket.chain.events import OrderStarted
from datamarket.errors import ChainUnavailable
from datamarket.metadata.document import canonical_bytes
from datamarket.storage import open_store
from datamarket.storage.base import add_bytes
from tests.conftest import ONE, World, evm_revert, evm_snapshot, metadata_hash
from tests.fakes import full_document
from tests.integration.backend.catalog import (
    assert_catalog_is_chain,
    dataset_rows,
    indexer_for,
    new_catalog,
    stored_positions,
)
from tests.integration.chain.test_events import run_every_market_action

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path, postgres_database) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return postgres_database()


def test_every_market_action_is_indexed_as_the_chain_says(world: World, catalog_url: str) -> None:
    run_every_market_action(world)
    engine = new_catalog(catalog_url)
    result = indexer_for(world, engine).step()
    assert result.events > 20
    assert_catalog_is_chain(world, engine)
    with session_factory(engine)() as session:
        orders = session.execute(select(m.Order)).scalars().all()
        receipts = session.execute(select(m.Receipt)).scalars().all()
        versions = (
            session.execute(select(m.MetadataVersion).order_by(m.MetadataVersion.block_number))
            .scalars()
            .all()
        )
        checkpoint = session.get(m.Checkpoint, 1)
    assert len(orders) == 1 and orders[0].funding == "BURNED" and orders[0].timestamp > 0
    assert len(receipts) == 1 and receipts[0].status == "SUCCEEDED"
    assert [v.cid for v in versions if v.version == 2] == ["bafy-v2"]
    assert checkpoint.block_number == world.w3.eth.block_number


def test_new_blocks_are_picked_up_and_a_restart_resumes(world: World, tmp_path) -> None:
    engine = new_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    indexer = indexer_for(world, engine)
    indexer.step()
    first = world.publish()
    assert indexer.step().events >= 2  # DatasetPublished, PriceSet
    assert first.datatoken in dataset_rows(engine)
    world.as_(world.accounts.consumer).buy(first.datatoken, 2)
    again = indexer_for(world, engine)  # a new process: the fold comes back from the rows
    assert again.catalog.state.datasets[first.datatoken].total_supply == 0
    again.step()
    assert dataset_rows(engine)[first.datatoken].total_supply == "2"
    assert_catalog_is_chain(world, engine)


def test_replaced_blocks_are_rolled_back_and_replayed(world: World, catalog_url: str) -> None:
    engine = new_catalog(catalog_url)
    indexer = indexer_for(world, engine)
    kept = world.publish()
    indexer.step()
    fork = evm_snapshot(world.w3)
    dropped = world.publish(price=7 * ONE)
    consumer = world.as_(world.accounts.consumer)
    consumer.buy(kept.datatoken, 1)
    quote, signature = world.quote(kept.datatoken)
    order = consumer.start_order(quote, signature).event(OrderStarted)
    assert indexer.step().events > 0
    assert dropped.datatoken in dataset_rows(engine)
    evm_revert(world.w3, fork)
    # The new chain: other transactions, and more blocks than the replaced one had.
    world.as_(world.accounts.publisher).update_metadata(kept.datatoken, "bafy-new", metadata_hash(b"new"))
    replacement = world.publish(price=9 * ONE)
    for _ in range(3):
        world.w3.provider.make_request("evm_mine", [])
    result = indexer.step()
    assert result.reorgs == 1
    rows = dataset_rows(engine)
    assert dropped.datatoken not in rows and replacement.datatoken in rows
    assert rows[kept.datatoken].order_count == 0 and rows[kept.datatoken].metadata_versions == 2
    with session_factory(engine)() as session:
        assert session.get(m.Order, order.order_id) is None
    assert_catalog_is_chain(world, engine)


def test_a_reorg_while_no_new_block_exists_yet(world: World, tmp_path) -> None:
    """The checkpoint's block itself is gone (the new chain is shorter so far): roll back and wait."""
    engine = new_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    indexer = indexer_for(world, engine)
    indexer.step()
    fork = evm_snapshot(world.w3)
    world.publish()
    world.publish()
    indexer.step()
    evm_revert(world.w3, fork)
    assert indexer.step().reorgs == 1
    assert stored_positions(engine) == [] or stored_positions(engine)[-1][0] <= world.w3.eth.block_number
    assert_catalog_is_chain(world, engine)


def test_confirmations_hold_back_the_newest_blocks(world: World, tmp_path) -> None:
    engine = new_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    indexer = indexer_for(world, engine, confirmations=2)
    published = world.publish()
    indexer.step()
    assert published.datatoken not in dataset_rows(engine)
    for _ in range(2):
        world.w3.provider.make_request("evm_mine", [])
    indexer.step()
    assert published.datatoken in dataset_rows(engine)


def test_payment_tokens_are_described_once(world: World, tmp_path) -> None:
    engine = new_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    indexer = indexer_for(world, engine)
    world.publish()
    world.publish(payment_token=world.eur)
    indexer.step()
    with session_factory(engine)() as session:
        tokens = {
            t.address: (t.symbol, t.name, t.decimals) for t in session.execute(select(m.Token)).scalars()
        }
    assert tokens == {world.usd: ("mUSD", "Mock USD", 18), world.eur: ("mEUR", "Mock EUR", 18)}
    world.publish()
    indexer.step()
    assert indexer.tokens == set(tokens)


def test_documents_from_the_store_are_checked_against_the_chain(world: World, tmp_path) -> None:
    """A document that matches its hash is valid and searchable; one that does not is invalid with the
    reason; one the store does not have yet waits, and is valid once it is there."""
    store = open_store(tmp_path / "store")
    good = canonical_bytes(full_document())
    later = canonical_bytes({**full_document(), "name": "Arrives later"})
    valid = world.publish(metadata_cid=add_bytes(store, good), metadata_hash=metadata_hash(good))
    wrong = world.publish(metadata_cid=add_bytes(store, good), metadata_hash=metadata_hash(b"other bytes"))
    missing_cid = open_store(tmp_path / "elsewhere").add(io.BytesIO(later))
    missing = world.publish(metadata_cid=missing_cid, metadata_hash=metadata_hash(later))
    engine = new_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    indexer_for(world, engine).step()
    fetcher = DocumentFetcher(engine, store)
    fetcher.fetch_due()

    def status(published) -> tuple[str, str | None]:
        row = dataset_rows(engine)[published.datatoken]
        with session_factory(engine)() as session:
            doc = session.execute(
                select(m.Document).where(
                    m.Document.cid == row.metadata_cid, m.Document.sha256 == row.metadata_hash
                )
            ).scalar_one()
        return doc.status, doc.reason

    assert status(valid) == ("valid", None)
    assert status(wrong) == ("invalid", "its sha256 is not the hash on chain")
    assert status(missing) == ("pending", "not available from the content store")
    add_bytes(store, later)
    with session_factory(engine).begin() as session:
        session.execute(update(m.Document).values(next_attempt=0))  # the backoff has passed
    fetcher.fetch_due()
    assert status(missing) == ("valid", None)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_metadata_cid_no_store_could_serve_does_not_stop_the_indexer(
    world: World, tmp_path, postgres_database, database: str
) -> None:
    """The market takes any string as a CID: a publisher's 5,000 characters must not make the database
    refuse the batch (and the indexer stop for good). The dataset is indexed; its document is invalid."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}" if database == "sqlite" else postgres_database()
    engine = new_catalog(url)
    hostile = world.publish(metadata_cid="bafy" + "x" * 5_000)
    after = world.publish()
    indexer_for(world, engine).step()
    rows = dataset_rows(engine)
    assert {hostile.datatoken, after.datatoken} <= set(rows)
    stored = rows[hostile.datatoken].metadata_cid
    assert len(stored) <= 512 and stored.startswith("bafyxxx") and "...sha256:" in stored
    DocumentFetcher(engine, open_store(tmp_path / "store")).fetch_due()
    with session_factory(engine)() as session:
        doc = session.execute(select(m.Document).where(m.Document.cid == stored)).scalar_one()
    assert (doc.status, doc.reason) == ("invalid", "not a valid CID")
    assert_catalog_is_chain(world, engine)


def test_a_reorg_between_the_check_and_the_batch_is_caught(world: World, tmp_path, monkeypatch) -> None:
    """Blocks replaced after the step checked its checkpoint: the next batch's first block does not
    follow the checkpoint, so nothing is written on top of a replaced block; the next step rolls back."""
    engine = new_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    indexer = indexer_for(world, engine)
    fork = evm_snapshot(world.w3)
    dropped = world.publish()
    indexer.step()
    evm_revert(world.w3, fork)
    kept = world.publish(price=3 * ONE)
    world.w3.provider.make_request("evm_mine", [])
    monkeypatch.setattr(indexer, "_replaced", lambda block: False)  # the check ran before the reorg
    with pytest.raises(ChainUnavailable, match="does not follow the checkpoint"):
        indexer.step()
    assert dropped.datatoken in dataset_rows(engine) and kept.datatoken not in dataset_rows(engine)
    monkeypatch.undo()
    assert indexer.step().reorgs == 1
    assert set(dataset_rows(engine)) == {kept.datatoken}
    assert_catalog_is_chain(world, engine)
