"""The backend's rate limits shared in a real Redis (127.0.0.1:6379; skipped when unreachable,
except in CI): two apps over one catalog, as two workers or two machines, add to the same counts of
a client address, for the API and for the pages. Each test counts under an address of its own, so
that runs do not meet in Redis."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from backend.api import ratelimit
from backend.api.app import create_app
from backend.db.engine import open_engine
from backend.db.migrate import upgrade
from backend.settings import BackendSettings
from tests.redis_service import require_redis

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("DATAMARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.fixture
def redis_url() -> str:
    return require_redis(REDIS_URL)


def test_two_apps_share_one_count(tmp_path: Path, redis_url: str) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    settings = BackendSettings.load(
        env={
            "DATAMARKET_BACKEND_RPC_URL": "http://127.0.0.1:8545",
            "DATAMARKET_BACKEND_MARKET": MARKET,
            "DATAMARKET_BACKEND_DATA_DIR": str(tmp_path),
            "DATAMARKET_BACKEND_RATE_LIMIT_URL": redis_url,
            "DATAMARKET_BACKEND_RATE_LIMIT_API": "3/minute",
            "DATAMARKET_BACKEND_RATE_LIMIT_PAGES": "1/minute",
        }
    )
    try:
        one, two = (
            create_app(engine, chain_id=31337, rate_limits=ratelimit.config(settings)).test_client()
            for _ in range(2)
        )
        peer = {"REMOTE_ADDR": "10." + ".".join(str(b) for b in secrets.token_bytes(3))}
        api = [c.get("/api/v1/stats", environ_base=peer) for c in (one, two, one, two)]
        assert [a.status_code for a in api] == [200, 200, 200, 429]
        assert api[3].json["error"]["code"] == "rate_limited" and int(api[3].headers["Retry-After"]) >= 1
        pages = [c.get("/", environ_base=peer).status_code for c in (two, one)]
        assert pages == [200, 429]
    finally:
        engine.dispose()
