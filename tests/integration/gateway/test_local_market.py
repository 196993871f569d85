"""The local market's gateway as ``datamarket up`` starts it, ``status`` checks it and ``down`` stops it
(the gateway alone: it needs only the store, not the chain)."""

from __future__ import annotations

import io
import os

import pytest
import requests

from datamarket import stack as local
from datamarket.stack_health import HEALTHY, STOPPED, health
from datamarket.storage.embedded import EmbeddedStore
from tests.gateway_server import ROOT

pytestmark = pytest.mark.integration


def test_up_starts_the_gateway_over_the_store_and_down_stops_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    (tmp_path / "logs").mkdir()
    market = local.Stack(home=str(tmp_path), store=str(tmp_path / "store"))
    cid = EmbeddedStore(market.store).add(io.BytesIO(b"published content"))
    local.start_gateway(market)
    gateway = market.services["gateway"]
    try:
        assert health(market)["gateway"] == {"health": HEALTHY, "detail": "store ok"}
        answer = requests.get(f"{gateway.url}/ipfs/{cid}?format=raw", timeout=10)
        assert answer.status_code == 200 and answer.content == b"published content"
        saved = local.Stack.load(tmp_path)
        assert saved.services["gateway"].url == gateway.url
    finally:
        local.down(tmp_path)
    assert health(local.Stack.load(tmp_path))["gateway"]["health"] == STOPPED
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{gateway.url}/healthz", timeout=2)
