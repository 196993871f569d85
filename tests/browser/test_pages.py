"""The pages in a real browser, over the catalog the real indexer filled from a local chain: search
from the home page's form, the dataset page's price and orders chart, the audit trail's orders,
receipt and verified metadata, the account page; a screenshot of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.chain_catalog import Demo

pytestmark = pytest.mark.integration


def screenshot(browser: Any, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_search_from_the_home_page(browser: Any, site: tuple[str, Demo], screenshots: Path) -> None:
    base, demo = site
    browser.get(base + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Datasets"
    field = browser.find_element(By.ID, "q")
    field.send_keys("breast cancer")
    browser.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
    arrived(browser, expected_conditions.url_contains("q=breast+cancer"))
    results = browser.find_elements(By.CSS_SELECTOR, "li.result h3 a")
    assert [a.text for a in results] == [demo.name]
    assert browser.find_element(By.CSS_SELECTOR, "li.result .price").text == demo.price_text
    screenshot(browser, screenshots, "search")
    results[0].click()
    arrived(browser, expected_conditions.url_to_be(f"{base}/datasets/{demo.datatoken}"))


def test_the_dataset_page(browser: Any, site: tuple[str, Demo], screenshots: Path) -> None:
    base, demo = site
    browser.get(f"{base}/datasets/{demo.datatoken}")
    assert browser.find_element(By.TAG_NAME, "h1").text == demo.name
    assert browser.find_element(By.CSS_SELECTOR, ".price").text == demo.price_text
    # The token's address is beside the price: a symbol alone can be anyone's.
    token = browser.find_element(By.CSS_SELECTOR, ".price + .token a")
    address = token.get_attribute("title").removeprefix("Token contract ")
    assert token.is_displayed() and token.text == f"{address[:6]}…{address[-4:]}"
    assert f"Local USD (symbol lUSD), contract {address}" in browser.find_element(By.TAG_NAME, "main").text
    chart = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=orders-heading] svg")
    assert chart.get_attribute("role") == "img"
    bars = chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert len(bars) == 2 and all(bar.size["height"] > 0 and bar.is_displayed() for bar in bars)
    assert "Orders per day, 2 in all" in browser.find_element(
        By.CSS_SELECTOR, "#orders-chart-title"
    ).get_attribute("textContent")
    commands = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "pre.command")]
    assert f"datamarket buy eip155:{demo.chain_id}/{demo.datatoken}" in commands
    # The stylesheet loaded: the header has its background colour.
    header = browser.find_element(By.CSS_SELECTOR, "header.site")
    assert header.value_of_css_property("background-color") == "rgba(18, 58, 102, 1)"
    screenshot(browser, screenshots, "dataset")


def test_the_audit_page(browser: Any, site: tuple[str, Demo], screenshots: Path) -> None:
    base, demo = site
    browser.get(f"{base}/datasets/{demo.datatoken}/audit")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Audit trail: {demo.name}"
    orders = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=audit-orders-heading] tbody")
    assert [row.find_element(By.TAG_NAME, "th").text for row in orders.find_elements(By.TAG_NAME, "tr")] == [
        str(order) for order in demo.orders
    ]
    receipts = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=receipts-heading] tbody")
    rows = receipts.find_elements(By.TAG_NAME, "tr")
    assert len(rows) == 1
    assert rows[0].find_element(By.CSS_SELECTOR, "th span").get_attribute("title") == demo.job_id
    events = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h3.event-name")]
    assert events.count("OrderStarted") == 2 and "ComputeReceiptPosted" in events
    versions = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=metadata-heading] tbody")
    assert [row.find_element(By.CSS_SELECTOR, ".status").text for row in versions.find_elements(
        By.TAG_NAME, "tr")] == ["✓ verified"]  # fmt: skip
    screenshot(browser, screenshots, "audit")


def test_the_account_page(browser: Any, site: tuple[str, Demo], screenshots: Path) -> None:
    base, demo = site
    browser.get(f"{base}/accounts/{demo.consumer.lower()}")
    assert demo.consumer in browser.find_element(By.TAG_NAME, "h1").text
    orders = browser.find_elements(
        By.CSS_SELECTOR, "section[aria-labelledby=account-orders-heading] tbody tr"
    )
    assert len(orders) == 2
    browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=account-orders-heading] tbody a").click()
    arrived(browser, expected_conditions.url_to_be(f"{base}/datasets/{demo.datatoken}"))
    browser.get(f"{base}/accounts/{demo.publisher}")
    assert (
        demo.name in browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=published-heading]").text
    )
    screenshot(browser, screenshots, "account")


def arrived(browser: Any, condition: Any) -> None:
    """Until a click's navigation has landed where ``condition`` says (a click returns before it does)."""
    WebDriverWait(browser, 10).until(condition)
