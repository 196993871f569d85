"""The rate limiter (``datamarket/ratelimit.py``) on a clock the tests move: rules, the client's
address and who may choose it, counting per class and client, Retry-After, and what happens when
the shared store does not answer."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits.storage import RedisStorage

from datamarket.ratelimit import (
    MAX_RULES,
    REDIS_RETRY_S,
    RateLimitConfig,
    RateLimited,
    RateLimiter,
    client_address,
    parse_rule,
    rule_check,
)
from tests.ratelimit_clock import FrozenClock, freeze


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    return freeze(monkeypatch)


def limiter(**rules: str) -> RateLimiter:
    return RateLimiter(RateLimitConfig(rules=rules))


def accepted(lim: RateLimiter, name: str = "c", client: str = "1.2.3.4") -> bool:
    try:
        lim.hit(name, client)
    except RateLimited:
        return False
    return True


def refusal(lim: RateLimiter, name: str = "c", client: str = "1.2.3.4") -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        lim.hit(name, client)
    return refused.value


# ------------------------------------------------------------------------------------------ rules


def test_a_rule_is_its_limits_shortest_window_first() -> None:
    items = parse_rule("100/hour;5/second ; 60 per minute")
    assert [(i.amount, i.get_expiry()) for i in items] == [(5, 1), (60, 60), (100, 3600)]


@pytest.mark.parametrize(
    "bad", ["", "five/second", "0/second", "5/second;0/minute", "5/fortnight", ";".join(["1/second"] * 5), 5]
)
def test_a_bad_rule_is_refused_by_name(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_rule(bad)  # type: ignore[arg-type]
    message = rule_check(bad)
    assert message is not None and f"at most {MAX_RULES}" in message


def test_a_good_rule_passes_the_check() -> None:
    assert rule_check("5/second;60/minute") is None


# ------------------------------------------------------------------------------- client address


def test_without_trusted_proxies_the_peer_counts_whatever_the_header_says() -> None:
    assert client_address("10.0.0.7") == "10.0.0.7"
    assert client_address("10.0.0.7", ["1.1.1.1"]) == "10.0.0.7"
    assert client_address("10.0.0.7", ["1.1.1.1, 2.2.2.2"], 0) == "10.0.0.7"


def test_with_trusted_proxies_the_entry_the_outermost_proxy_wrote_counts() -> None:
    # The client sent "6.6.6.6" itself; the one proxy appended the client's real address.
    assert client_address("10.0.0.1", ["6.6.6.6, 203.0.113.9"], 1) == "203.0.113.9"
    # Two proxies: the outer one appended the client, the inner one the outer proxy.
    assert client_address("10.0.0.1", ["6.6.6.6, 203.0.113.9, 10.0.0.2"], 2) == "203.0.113.9"
    # Several header lines read as one list, in order.
    assert client_address("10.0.0.1", ["6.6.6.6", "203.0.113.9, 10.0.0.2"], 2) == "203.0.113.9"


def test_a_header_the_proxies_did_not_fill_counts_under_the_peer() -> None:
    assert client_address("10.0.0.1", [], 1) == "10.0.0.1"
    assert client_address("10.0.0.1", ["203.0.113.9"], 2) == "10.0.0.1"
    assert client_address("10.0.0.1", ["203.0.113.9, unknown"], 1) == "10.0.0.1"
    # An empty entry keeps its place: entries the client wrote cannot shift the proxies' ones.
    assert client_address("10.0.0.1", ["6.6.6.6, , 203.0.113.9"], 1) == "203.0.113.9"
    assert client_address("10.0.0.1", ["6.6.6.6, 203.0.113.9, "], 1) == "10.0.0.1"


def test_addresses_with_ports_and_brackets() -> None:
    assert client_address("10.0.0.1", ["203.0.113.9:4711"], 1) == "203.0.113.9"
    assert client_address("10.0.0.1", ["[2001:db8::1]:4711"], 1) == "2001:db8::/64"


def test_ipv6_clients_count_by_their_64_network() -> None:
    assert (
        client_address("2001:db8:1:2:aaaa::1")
        == client_address("2001:db8:1:2:bbbb::2")
        == "2001:db8:1:2::/64"
    )
    assert client_address("2001:db8:1:3::1") != client_address("2001:db8:1:2::1")
    assert client_address("::ffff:192.0.2.5") == "192.0.2.5"


def test_no_address_counts_as_unknown() -> None:
    assert client_address(None) == client_address("") == client_address("not-an-ip") == "unknown"


# ------------------------------------------------------------------------------------- counting


def test_a_rule_takes_its_amount_then_refuses_with_retry_after(clock: FrozenClock) -> None:
    lim = limiter(c="3/second")
    assert [accepted(lim) for _ in range(3)] == [True] * 3
    refused = refusal(lim)
    assert refused.code == "rate_limited" and refused.retry_after == 1
    assert refused.details == {"retry_after": 1}
    clock.advance(1.001)
    assert accepted(lim)


def test_retry_after_runs_to_when_the_window_takes_one_more(clock: FrozenClock) -> None:
    lim = limiter(c="2/minute")
    clock.advance(30)  # half way into a minute window
    assert accepted(lim) and accepted(lim)
    refused = refusal(lim)
    assert refused.retry_after == 30
    clock.advance(29.9)
    refusal(lim)
    clock.advance(0.2)
    assert accepted(lim)


def test_refused_requests_are_not_counted(clock: FrozenClock) -> None:
    lim = limiter(c="2/minute")
    assert accepted(lim) and accepted(lim)
    for _ in range(50):
        refusal(lim)
    clock.advance(60.01)
    assert accepted(lim)  # the 50 refusals did not push the window further


def test_a_burst_refused_by_the_short_window_leaves_the_long_one_alone(clock: FrozenClock) -> None:
    lim = limiter(c="2/second;3/minute")
    assert accepted(lim) and accepted(lim)
    for _ in range(10):
        assert refusal(lim).retry_after == 1
    clock.advance(2.5)
    assert accepted(lim)  # the minute had counted 2, not 12
    assert refusal(lim).retry_after == 58  # now the minute is full: until its window ends


def test_classes_and_clients_count_apart(clock: FrozenClock) -> None:
    lim = limiter(a="1/minute", b="1/minute")
    assert accepted(lim, "a", "1.1.1.1")
    refusal(lim, "a", "1.1.1.1")
    assert accepted(lim, "b", "1.1.1.1")
    assert accepted(lim, "a", "2.2.2.2")
    assert accepted(lim, "unnamed", "1.1.1.1")  # a class without a rule is not limited


def test_namespaces_keep_two_services_apart(clock: FrozenClock) -> None:
    from limits.storage import MemoryStorage

    shared = MemoryStorage()
    one = RateLimiter(RateLimitConfig(rules={"c": "1/minute"}, namespace="one"), storage=shared)
    two = RateLimiter(RateLimitConfig(rules={"c": "1/minute"}, namespace="two"), storage=shared)
    assert accepted(one) and accepted(two)
    refusal(one)


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(1, 6),
    span=st.sampled_from(["second", "minute", "hour"]),
    gaps=st.lists(st.floats(0, 90, allow_nan=False), min_size=1, max_size=25),
)
def test_retry_after_is_neither_early_nor_late_by_a_second(amount: int, span: str, gaps: list[float]) -> None:
    """Whatever came before: a refusal's Retry-After is the first whole second at which a request
    is taken again."""
    with pytest.MonkeyPatch.context() as patch:
        clock = freeze(patch)
        lim = limiter(c=f"{amount}/{span}")
        for gap in gaps:
            clock.advance(gap)
            try:
                lim.hit("c", "1.2.3.4")
            except RateLimited as refused:
                wait = refused.retry_after
                assert wait >= 1
                now = clock.now
                if wait > 1:
                    clock.now = now + wait - 1
                    assert not accepted(lim), "Retry-After is later than needed by a second or more"
                clock.now = now + wait + 0.001
                assert accepted(lim), "Retry-After came before a request is taken"
                break


# ------------------------------------------------------------------ a shared store that is down


def test_an_unreachable_store_fails_open_to_counts_in_this_process(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    """Redis that does not answer: the limits stay on, counted in this process, and the log says
    so once per retry period, naming the error's type, never the store's URL or password."""
    url = f"unix://{tmp_path / 'no-redis.sock'}?password=hunter2-secret"
    down = RedisStorage(url.replace("unix://", "redis+unix://"), wrap_exceptions=True)
    lim = RateLimiter(RateLimitConfig(rules={"c": "2/minute"}, url="redis://x"), storage=down)
    with caplog.at_level(logging.WARNING, logger="datamarket.ratelimit"):
        assert accepted(lim) and accepted(lim)
        refusal(lim)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text and "no-redis" not in caplog.text
    caplog.clear()
    clock.advance(REDIS_RETRY_S + 0.1)  # tried again, still down: one more warning
    with caplog.at_level(logging.WARNING, logger="datamarket.ratelimit"):
        refusal(lim)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_open_storage_names_only_its_schemes() -> None:
    from datamarket.ratelimit import open_storage

    with pytest.raises(ValueError) as refused:
        open_storage("memcached://u:pw@host")
    assert "pw" not in str(refused.value)
