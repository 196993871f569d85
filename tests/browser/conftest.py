"""A real headless Chromium (the system's ``chromium`` and ``chromedriver``: nothing is downloaded)
browsing the backend's pages, served on a free local port over the catalog that the real indexer
filled from a local chain of its own (``chain_catalog``). Skipped when Chromium is missing, except in
CI (``scripts/browser/install.sh`` installs it)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from backend.api.app import create_app
from tests.browser.chain_catalog import Demo, seed
from tests.browser.wallet_market import WalletMarket, start
from tests.integration.compute.market import require_bubblewrap
from tests.redis_service import require_redis

#: The JavaScript client the dataset page runs, and the packages it imports.
CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"
#: The Redis database of the wallet tests' broker.
BROKER_URL = os.environ.get("DATAMARKET_TEST_BROKER_URL", "redis://127.0.0.1:6379/9")
CHROMIUM = os.environ.get("DATAMARKET_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DATAMARKET_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--window-size=1280,1600",
)  # fmt: skip


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("DATAMARKET_SCREENSHOTS") or Path(__file__).parent / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Demo]]:
    """(the base URL, the demo) of the app served in a thread over the indexed chain's catalog."""
    engine, demo = seed(tmp_path_factory.mktemp("catalog"))
    try:
        server = make_server("127.0.0.1", 0, create_app(engine, chain_id=demo.chain_id), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}", demo
        finally:
            server.shutdown()
            thread.join(timeout=10)
    finally:
        engine.dispose()
        demo.chain.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI: {CHROMIUM} or {CHROMEDRIVER} is missing")
        pytest.skip("Chromium and chromedriver are not installed (scripts/browser/install.sh)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for failures
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="package")
def wallet_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalletMarket]:
    """A local market (``datamarket up``) with a dataset to download and one for compute; the
    dataset page may connect to its chain's node, where the test wallet forwards."""
    if not (CLIENT / "node_modules").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("the JavaScript client's packages are required in CI: npm ci in clients/js")
        pytest.skip("the JavaScript client's packages are not installed (npm ci in clients/js)")
    require_bubblewrap()
    from datamarket import stack
    from datamarket.chain.devchain import free_port

    work = tmp_path_factory.mktemp("wallet")
    home = work / "market"
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAMARKET_HOME", str(home))
        mp.setenv("DATAMARKET_BROKER_URL", require_redis(BROKER_URL, flush=True))
        mp.setenv("DATAMARKET_BACKEND_PAGE_CONNECT_ORIGINS", f"http://127.0.0.1:{port}")
        try:
            yield start(home, work, port)
        finally:
            stack.down(home)
