"""200 researchers at once for a minute against a local market (``datamarket up``): each asks the
provider for its key with a freshly signed request and searches the catalog, over and over. Nothing
is answered 5xx, no request goes unanswered, and every nonce the provider accepted was accepted once:
no two accepted requests share one, and each sent again is refused ``nonce_used``. The latencies are
``make bench``'s (scripts/bench/load.py), not asserted here."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from datamarket import stack
from tests import load

pytestmark = pytest.mark.integration

CLIENTS = 200
SECONDS = float(os.environ.get("DATAMARKET_TEST_LOAD_SECONDS", "60"))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[stack.Stack, load.LoadResult]]:
    home = tmp_path_factory.mktemp("load")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAMARKET_HOME", str(home / "market"))
        try:
            local = stack.up(home / "market")
            buyers, _ = load.prepare(local, CLIENTS, home)
            provider, backend = (local.services[name].url for name in ("provider", "backend"))
            yield local, load.run(provider, backend, buyers, SECONDS)
        finally:
            stack.down(home / "market")


def test_no_answer_is_a_server_error_and_none_is_missing(loaded) -> None:
    _, result = loaded
    for kind in ("access", "search"):
        statuses = result.statuses(kind)
        assert statuses["200"] > 0, statuses
        assert set(statuses) <= {"200", "429"}, statuses


def test_every_accepted_nonce_was_accepted_once(loaded) -> None:
    local, result = loaded
    keys = [(consumer, nonce) for consumer, nonce, _ in result.accepted]
    assert len(keys) == len(set(keys))
    sample = min(100, len(result.accepted))
    codes = load.replays(local.services["provider"].url, result.accepted, sample)
    # Sent again: used, or by now older than the provider's nonce window; never accepted.
    assert sum(codes.values()) == sample and set(codes) <= {"nonce_used", "nonce_expired"}, codes
