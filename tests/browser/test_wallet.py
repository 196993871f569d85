"""Buying from the dataset page with a browser wallet, in a real headless Chromium, against a real
local market: the test wallet (``dev_wallet.js``, injected before the page's scripts run) forwards
to anvil, whose unlocked dev accounts sign. "Buy and download" saves the file, decrypted in the
page, and its sha256 is the original's; "Run a job" reaches a finished job and shows its result.
Without a wallet, with a wallet that refuses and with one on another chain, the page says so; a
failure after paying names the order to use again."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.test_pages import screenshot
from tests.browser.wallet_market import WalletMarket

pytestmark = pytest.mark.integration

WALLET = Path(__file__).parent / "dev_wallet.js"
#: A wallet on another chain (1) that does not know the market's (EIP-1193 error 4902).
OTHER_CHAIN_WALLET = """
window.ethereum = {request: async ({method}) => {
  if (method === "eth_requestAccounts") return ["0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"];
  if (method === "eth_chainId") return "0x1";
  const e = new Error("Unrecognized chain ID"); e.code = 4902; throw e; }, on() {}, removeListener() {}};
"""
#: The content gateway unreachable from the page once the access request is signed (so after the
#: order is paid): every request for a block then fails.
GATEWAY_DOWN_AFTER_PAYING = """
const pageFetch = window.fetch;
window.fetch = (url, init) =>
  String(url).includes("/ipfs/") && (window.__walletCalls || []).includes("eth_signTypedData_v4")
    ? Promise.reject(new TypeError("Failed to fetch")) : pageFetch(url, init);
"""
#: A wallet whose user declines to share an account (EIP-1193 error 4001).
DECLINING_WALLET = """
window.ethereum = {request: async () => { const e = new Error("User rejected the request."); e.code = 4001;
  throw e; }, on() {}, removeListener() {}};
"""


def inject(browser: Any, source: str) -> Iterator[None]:
    """``source`` runs in every new document before its own scripts, until the test ends."""
    added = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
    try:
        yield
    finally:
        browser.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]}
        )


@pytest.fixture
def wallet(browser: Any, wallet_market: WalletMarket) -> Iterator[None]:
    source = WALLET.read_text().replace("__RPC_URL__", wallet_market.rpc_url)
    yield from inject(browser, source.replace("__ACCOUNT__", wallet_market.buyer))


@pytest.fixture
def downloads(browser: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    return folder


def open_dataset(browser: Any, market: WalletMarket, datatoken: str) -> None:
    browser.get(f"{market.backend}/datasets/{datatoken}")
    try:  # the page script has loaded: the import map, the client and ethers ran under the page's CSP
        WebDriverWait(browser, 30).until(
            lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-wallet")
        )
    except Exception:
        raise AssertionError(f"the page script did not start; console: {console(browser)}") from None


def outcome(browser: Any, timeout: float) -> tuple[str, str]:
    """(``ok`` or ``error``, the status line) once the page's flow has ended."""
    status = browser.find_element(By.ID, "wallet-status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kind = status.get_attribute("data-kind")
        if kind in ("ok", "error"):
            return kind, status.text
        time.sleep(0.25)
    raise AssertionError(f"no outcome in {timeout} s; status: {status.text!r}; console: {console(browser)}")


def console(browser: Any) -> list[str]:
    try:
        return [entry["message"] for entry in browser.get_log("browser")]
    except Exception:  # a driver without the console log
        return []


def saved(folder: Path, name: str, timeout: float = 30.0) -> Path:
    """The file once Chromium has finished writing it."""
    path = folder / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and not list(folder.glob("*.crdownload")):
            return path
        time.sleep(0.2)
    raise AssertionError(f"{name} was not saved in {timeout} s: {sorted(p.name for p in folder.iterdir())}")


def test_buy_and_download_saves_the_decrypted_file(
    browser: Any, wallet_market: WalletMarket, wallet: None, downloads: Path, screenshots: Path
) -> None:
    open_dataset(browser, wallet_market, wallet_market.download)
    button = browser.find_element(By.ID, "buy-download")
    assert button.text == "Buy and download" and button.is_enabled()
    button.click()
    kind, text = outcome(browser, timeout=120)
    assert kind == "ok", f"{text}; console: {console(browser)}"
    file = saved(downloads, "data.csv")
    assert hashlib.sha256(file.read_bytes()).hexdigest() == wallet_market.csv_sha256
    calls = browser.execute_script("return window.__walletCalls")
    # The wallet sent the buy and order transactions and signed the access request.
    assert (
        "eth_requestAccounts" in calls and "eth_sendTransaction" in calls and "eth_signTypedData_v4" in calls
    )
    screenshot(browser, screenshots, "wallet-download")


def test_run_a_job_shows_the_finished_jobs_result(
    browser: Any, wallet_market: WalletMarket, wallet: None, screenshots: Path
) -> None:
    open_dataset(browser, wallet_market, wallet_market.compute)
    assert browser.find_elements(By.ID, "buy-download") == []  # compute only
    Select(browser.find_element(By.ID, "job-algorithm")).select_by_value("dp_stats")
    epsilon = browser.find_element(By.ID, "job-epsilon")
    epsilon.clear()
    epsilon.send_keys("1")
    browser.find_element(By.ID, "run-job-button").click()
    kind, text = outcome(browser, timeout=300)
    assert kind == "ok", f"{text}; console: {console(browser)}"
    assert "succeeded" in text
    metrics = browser.find_element(By.CSS_SELECTOR, "pre.result-json[data-file='metrics.json']")
    assert '"epsilon_spent"' in metrics.text
    links = [a.get_attribute("download") for a in browser.find_elements(By.CSS_SELECTOR, "a.saved-file")]
    assert "metrics.json" in links and "stats.json" in links
    screenshot(browser, screenshots, "wallet-job")


def test_without_a_wallet_the_page_says_so(browser: Any, wallet_market: WalletMarket) -> None:
    open_dataset(browser, wallet_market, wallet_market.download)
    assert browser.execute_script("return typeof window.ethereum") == "undefined"
    browser.find_element(By.ID, "buy-download").click()
    kind, text = outcome(browser, timeout=10)
    assert kind == "error" and "No browser wallet found" in text


def test_a_declined_request_is_said_plainly(browser: Any, wallet_market: WalletMarket) -> None:
    for _ in inject(browser, DECLINING_WALLET):
        open_dataset(browser, wallet_market, wallet_market.download)
        browser.find_element(By.ID, "buy-download").click()
        kind, text = outcome(browser, timeout=10)
        assert kind == "error" and "You rejected the request in your wallet" in text


def test_a_wallet_on_another_chain_is_told_which(browser: Any, wallet_market: WalletMarket) -> None:
    chain_id = wallet_market.local.chain_id
    for _ in inject(browser, OTHER_CHAIN_WALLET):
        open_dataset(browser, wallet_market, wallet_market.download)
        browser.find_element(By.ID, "buy-download").click()
        kind, text = outcome(browser, timeout=10)
        assert kind == "error" and f"Your wallet does not know chain {chain_id}" in text


def test_a_failure_after_paying_names_the_order_to_reuse(
    browser: Any, wallet_market: WalletMarket, wallet: None
) -> None:
    for _ in inject(browser, GATEWAY_DOWN_AFTER_PAYING):
        open_dataset(browser, wallet_market, wallet_market.download)
        browser.find_element(By.ID, "buy-download").click()
        kind, text = outcome(browser, timeout=120)
    assert kind == "error" and "The content gateway could not give the data" in text
    dataset_id = f"eip155:{wallet_market.local.chain_id}/{wallet_market.download}"
    assert "Your order is paid (transaction 0x" in text
    assert f"datamarket download {dataset_id} --order-tx 0x" in text and "--order-id " in text
