"""A replay that starts after the market's deployment: what it keeps and where it starts from."""

from __future__ import annotations

from datamarket.audit.history import MarketConfig, in_range, start_state
from datamarket.chain.replay import MarketState
from tests.unit.audit.market_history import COLLECTOR, DT, FEE_BPS, MARKET, OTHER, History


def test_only_the_datasets_published_in_the_range_and_the_market_wide_events_are_kept() -> None:
    history = History()
    history.publish(OTHER)
    history.buy_and_order(OTHER)
    cut = len(history.events)
    history.publish(DT, index=1)
    history.burn_and_order(DT)
    history.buy_and_order(OTHER)
    kept = in_range(history.events[:1] + history.events[cut:], MARKET)
    assert [type(e).__name__ for e in kept] == ["MarketFeeSet", "DatasetPublished", "PriceSet", "Transfer",
                                                "OrderStarted"]  # fmt: skip


def test_the_replay_starts_from_the_markets_configuration_before_the_range() -> None:
    history = History()
    history.publish(OTHER)
    history.buy_and_order(OTHER)
    cut = len(history.events)
    history.publish(DT, index=1)
    history.buy_and_order(DT)
    later = in_range(history.events[cut:], MARKET)

    fresh = MarketState(MARKET)
    for event in later:
        fresh.apply(event)
    fresh.settle()
    assert len(fresh.violations) == 3  # index 1 of 0, order 1 of 0, a buy at no market fee

    state = start_state(MARKET, MarketConfig(COLLECTOR, FEE_BPS, False, dataset_count=1, order_count=1))
    for event in later:
        state.apply(event)
    state.settle()
    assert state.violations == []
    assert state.datasets[DT].orders.keys() == {1}
    assert start_state(MARKET, None) == MarketState(MARKET)
