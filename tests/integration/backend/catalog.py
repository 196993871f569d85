"""Helpers of the indexer's integration tests: an indexer on the test chain, and what the chain says."""

from __future__ import annotations

from sqlalchemy import Engine, select

from backend.db import models as m
from backend.db.engine import open_engine, session_factory
from backend.db.migrate import upgrade
from backend.indexer.follower import Indexer
from datamarket.chain.logs import LogFetcher, Rpc, market_batch
from datamarket.chain.replay import MarketState, replay
from tests.conftest import World


def new_catalog(url: str) -> Engine:
    engine = open_engine(url)
    upgrade(engine)
    return engine


def indexer_for(world: World, engine: Engine, **options) -> Indexer:
    indexer = Indexer(engine, Rpc(world.w3), world.market.address, deploy_block=world.deploy_block, **options)
    indexer.open()
    return indexer


def chain_replay(world: World) -> MarketState:
    """The market's state from its logs on the node now (the audit's way, no database)."""
    head = world.w3.eth.block_number
    batch = market_batch(LogFetcher(Rpc(world.w3)), world.market.address, set(), world.deploy_block, head)
    return replay(batch.events, world.market.address)


def chain_event_positions(world: World) -> list[tuple[int, int]]:
    head = world.w3.eth.block_number
    batch = market_batch(LogFetcher(Rpc(world.w3)), world.market.address, set(), world.deploy_block, head)
    return [(e.meta.block_number, e.meta.log_index) for e in batch.events]


def stored_positions(engine: Engine) -> list[tuple[int, int]]:
    with session_factory(engine)() as session:
        query = select(m.Event.block_number, m.Event.log_index).order_by(
            m.Event.block_number, m.Event.log_index
        )
        return [tuple(row) for row in session.execute(query).all()]


def dataset_rows(engine: Engine) -> dict[str, m.Dataset]:
    with session_factory(engine)() as session:
        return {row.datatoken: row for row in session.execute(select(m.Dataset)).scalars()}


def assert_catalog_is_chain(world: World, engine: Engine) -> None:
    """Every dataset row equals the replay of the node's logs and the market's own getters."""
    state = chain_replay(world)
    rows = dataset_rows(engine)
    assert set(rows) == set(state.datasets)
    for datatoken, ds in state.datasets.items():
        row, record = rows[datatoken], world.market.dataset(datatoken)
        assert (row.publisher, row.provider, row.state) == (
            record.publisher,
            record.provider,
            record.state.name,
        )
        assert (row.price, row.payment_token, row.free) == (
            str(record.price),
            record.payment_token,
            record.free,
        )
        assert (row.epsilon_budget, row.epsilon_spent) == (record.epsilon_budget, record.epsilon_spent)
        assert row.metadata_hash == record.metadata_hash
        assert row.order_count == len(ds.orders) and row.receipt_count == ds.receipt_count
        assert row.total_supply == str(ds.total_supply)
    assert stored_positions(engine) == chain_event_positions(world)
