"""The pages: each one's key content, its accessibility rules, its 404 and 400 pages, and document
text (attacker-controlled) rendered escaped everywhere it appears."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.unit.backend.api.catalog_rows import (
    CHAIN_ID,
    ONE,
    USD,
    Catalog,
    account,
    address_of,
    consumer,
    publisher,
)
from tests.unit.backend.web.html_check import Page, accessibility_problems

DAY = 86400
T0 = 1_717_286_400  # 2024-06-02 00:00 UTC
XSS = "<script>alert(1)</script>"


@pytest.fixture
def demo(catalog: Catalog) -> dict[str, Any]:
    published = catalog.publish(tags=["health", "cardiology"])
    dt = published.datatoken
    first = catalog.buy_and_order(dt, timestamp=T0 + 3600)
    second = catalog.buy_and_order(dt, timestamp=T0 + 2 * DAY + 60, service_id=1)
    job = catalog.receipt(dt, second, epsilon=2.5)
    catalog.update_metadata(dt, status="invalid", reason="does not match datamarket/dataset@1")
    other = catalog.publish(
        "Taxi trips", description="City taxi trips.", tags=["transport"], columns=[], price=0
    )
    return {"dt": dt, "orders": [first, second], "job": job, "other": other.datatoken}


def page(app: Flask, path: str, status: int = 200, **query: Any) -> Page:
    response = app.test_client().get(path, query_string=query)
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "text/html"
    assert "script-src" not in response.headers["Content-Security-Policy"]  # no script may run
    parsed = Page(response.get_data(as_text=True))
    assert accessibility_problems(parsed) == [], path
    return parsed


def test_home_lists_datasets_and_has_a_labelled_get_form(app: Flask, demo: dict[str, Any]) -> None:
    home = page(app, "/")
    form = home.all("form")[0]
    assert form.attrs["method"] == "get" and form.attrs["action"] == "/"
    names = {field.attrs.get("name") for field in home.all("input") + home.all("select")}
    fields = "q tag service state min_price max_price payment_token publisher provider sort budget_left"
    assert set(fields.split()) <= names
    links = [a.attrs["href"] for a in home.all("a")]
    assert f"/datasets/{demo['dt']}" in links and f"/datasets/{demo['other']}" in links


def test_home_searches(app: Flask, demo: dict[str, Any]) -> None:
    results = page(app, "/", q="taxi")
    links = [a.attrs["href"] for a in results.all("a")]
    assert f"/datasets/{demo['other']}" in links and f"/datasets/{demo['dt']}" not in links
    assert "Results" in results.text()
    filtered = page(app, "/", tag="transport", service="", state="", min_price="")  # a form's empty fields
    assert f"/datasets/{demo['other']}" in [a.attrs["href"] for a in filtered.all("a")]


def test_home_pages_through_results(app: Flask, catalog: Catalog) -> None:
    for i in range(3):
        catalog.publish(f"Dataset {i}")
    first = page(app, "/", limit="2")
    next_links = [a.attrs["href"] for a in first.all("a") if a.attrs.get("rel") == "next"]
    assert len(next_links) == 1 and "cursor=" in next_links[0] and "limit=2" in next_links[0]
    second = app.test_client().get(next_links[0])
    assert second.status_code == 200 and "Dataset 0" in second.get_data(as_text=True)


def test_a_bad_search_parameter_is_a_400_page_that_names_it(app: Flask, demo: dict[str, Any]) -> None:
    bad = page(app, "/", status=400, min_price="cheap")
    alert = [p for p in bad.all("p") if p.attrs.get("role") == "alert"]
    assert alert and "min_price" in alert[0].all_text()


def test_dataset_page(app: Flask, demo: dict[str, Any]) -> None:
    dt = demo["dt"]
    ds = page(app, f"/datasets/{dt}")
    text = ds.text()
    assert (
        ds.all("h1")[0].all_text().strip() == f"Dataset {dt[:6]}…{dt[-4:]}"
    )  # its current document is invalid
    assert "does not match datamarket/dataset@1" in text
    price = [span for span in ds.all("span") if span.attrs.get("class") == "price"]
    assert [span.all_text() for span in price] == ["5 lUSD"]
    token_link = next(a for a in ds.all("a") if a.attrs.get("title") == f"Token contract {USD}")
    assert (
        token_link.all_text() == f"{USD[:6]}…{USD[-4:]}"
        and token_link.attrs["href"] == f"/?payment_token={USD}"
    )
    assert f"Local USD (symbol lUSD), contract {USD}" in text and str(5 * ONE) in text
    assert f"datamarket buy eip155:{CHAIN_ID}/{dt}" in text
    # its current document has no schema to name a target from
    assert f"datamarket compute start eip155:{CHAIN_ID}/{dt} --algorithm train_tabular --epsilon 1" in text
    orders_chart = ds.all("figure")[0].find_all("svg")[0]
    bars = [r for r in orders_chart.find_all("rect") if r.attrs.get("class") == "bar"]
    assert len(bars) == 3  # three days from the first order's to the last's, one without orders
    heights = [float(bar.attrs["height"]) for bar in bars]
    assert heights[0] == heights[2] > heights[1]
    assert "Orders per day, 2 in all" in orders_chart.all_text()
    gauge = next(svg for svg in ds.all("svg") if "gauge" in svg.attrs.get("class", ""))
    assert "2.5 of 10 epsilon spent (25%); 7.5 remaining" in gauge.all_text()


def test_dataset_page_with_a_valid_document(app: Flask, catalog: Catalog) -> None:
    dt = catalog.publish(description="Line one.\nLine two.").datatoken
    catalog.buy_and_order(dt)
    ds = page(app, f"/datasets/{dt}")
    text = ds.text()
    assert ds.all("h1")[0].all_text().strip() == "Heart disease (Cleveland)"
    assert "Line one." in text and "CC-BY-4.0" in text and "✓ verified" in text
    assert [a.all_text() for a in ds.all("a") if "/?tag=" in a.attrs.get("href", "")] == [
        "cardiology",
        "health",
    ]
    rows = [th.all_text() for th in ds.all("th") if th.attrs.get("scope") == "row"]
    assert rows == ["age", "cholesterol", "diagnosis"]
    charts = [svg for svg in ds.all("svg") if svg.attrs.get("class") == "bars"]
    assert len(charts) == 4  # orders, and one per column
    diagnosis = charts[-1]
    assert "diagnosis: most frequent values" in diagnosis.all_text()
    assert len([r for r in diagnosis.find_all("rect") if r.attrs.get("class") == "bar"]) == 2
    command = (
        f"datamarket compute start eip155:{CHAIN_ID}/{dt} --algorithm train_tabular --param target=diagnosis"
    )
    assert command in text


def test_audit_page(app: Flask, demo: dict[str, Any]) -> None:
    dt = demo["dt"]
    audit = page(app, f"/datasets/{dt}/audit")
    text = audit.text()
    assert f"datamarket audit eip155:{CHAIN_ID}/{dt}" in text
    events = [h.all_text() for h in audit.all("h3") if h.attrs.get("class") == "event-name"]
    assert events[:2] == ["DatasetPublished", "PriceSet"] and events.count("OrderStarted") == 2
    assert events[-2:] == ["ComputeReceiptPosted", "MetadataUpdated"]
    assert "✓ verified" in text and "✗ invalid: does not match datamarket/dataset@1" in text
    order_rows = [th.all_text() for th in audit.all("th") if th.attrs.get("scope") == "row"]
    assert str(demo["orders"][0]) in order_rows and str(demo["orders"][1]) in order_rows
    titles = {span.attrs.get("title") for span in audit.all("span")}
    assert demo["job"] in titles  # the receipt's job id, in full in its title
    receipt_row = next(
        tr for tr in audit.all("tr") if demo["job"] in {s.attrs.get("title") for s in tr.find_all("span")}
    )
    assert "2.5" in receipt_row.all_text() and "succeeded" in receipt_row.all_text()


def test_account_page(app: Flask, demo: dict[str, Any]) -> None:
    buyer = page(app, f"/accounts/{consumer().lower()}")
    assert consumer() in buyer.all("h1")[0].all_text()
    assert f"/datasets/{demo['dt']}" in [a.attrs["href"] for a in buyer.all("a")]
    owner = page(app, f"/accounts/{publisher()}")
    assert "Taxi trips" in owner.text()
    empty = page(app, f"/accounts/{account(9)}")
    assert empty.text().count("None.") == 4


def test_unknown_pages_are_404_pages(app: Flask, demo: dict[str, Any]) -> None:
    for path in ("/datasets/0x" + "ab" * 20, "/datasets/0x" + "ab" * 20 + "/audit", "/no/such/page"):
        missing = page(app, path, status=404)
        assert "Not found" in missing.all("h1")[0].all_text()
    bad = page(app, "/accounts/0xnope", status=400)
    assert "address" in bad.text()


def test_document_text_is_escaped_everywhere(app: Flask, catalog: Catalog) -> None:
    dt = catalog.publish(
        XSS, description='<img src=x onerror="alert(2)">', tags=['"><svg onload=alert(3)>'],
        columns=[{"name": "<b>bold</b>", "dtype": "<i>", "kind": "categorical", "missing": 0,
                  "stats": {"top": [{"value": "<u>x</u>", "count": 3}]}}],
    ).datatoken  # fmt: skip
    catalog.buy_and_order(dt)
    for path in ("/", f"/datasets/{dt}", f"/datasets/{dt}/audit", f"/accounts/{publisher()}", "/?q=script"):
        html = app.test_client().get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        for raw in ('<img src=x onerror="alert(2)">', "<svg onload=alert(3)>", "<b>bold</b>", "<u>x</u>"):
            assert raw not in html, (path, raw)
    parsed = page(app, f"/datasets/{dt}")
    assert parsed.all("h1")[0].all_text().strip() == XSS  # shown as text
    assert not parsed.all("script") and not parsed.all("img")


def test_pages_before_anything_is_indexed(app: Flask) -> None:
    home = page(app, "/")
    assert "Nothing indexed yet." in home.text() and "No dataset matches." in home.text()


def test_the_stylesheet_is_served(app: Flask) -> None:
    css = app.test_client().get("/static/style.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and b"--fg" in css.data
    css.close()


def test_free_and_native_coin_prices(app: Flask, catalog: Catalog) -> None:
    free = catalog.publish("Free data", price=0).datatoken
    native = catalog.publish("Native", price=ONE + ONE // 2, payment_token="0x" + "0" * 40).datatoken
    assert "Free" in page(app, f"/datasets/{free}").text()
    native_page = page(app, f"/datasets/{native}")
    assert "1.5 (native coin)" in native_page.text() and "the chain's native coin" in native_page.text()
    assert not [a for a in native_page.all("a") if a.attrs.get("title", "").startswith("Token contract")]


def test_a_token_that_did_not_describe_itself_is_priced_in_base_units(app: Flask, catalog: Catalog) -> None:
    mute = address_of("mute token")
    catalog.describe_token(mute, "MUTE", None, None)  # decimals() reverted
    dt = catalog.publish("Mute", price=5 * ONE, payment_token=mute).datatoken
    ds = page(app, f"/datasets/{dt}")
    assert [s.all_text() for s in ds.all("span") if s.attrs.get("class") == "price"] == [
        "5,000,000,000,000,000,000 base units"
    ]
    assert f"Token contract {mute}" in {a.attrs.get("title") for a in ds.all("a")}
    assert "its decimals are unknown" in ds.text()
    home = page(app, "/")
    assert "5,000,000,000,000,000,000 base units" in home.text() and "5 MUTE" not in home.text()


def test_a_hostile_token_symbol_is_escaped_and_its_address_shown(app: Flask, catalog: Catalog) -> None:
    evil = address_of("evil token")
    catalog.describe_token(evil, "<b>x</b>", "<script>alert(4)</script>", 6)
    dt = catalog.publish("Evil", price=1_500_000, payment_token=evil).datatoken
    catalog.buy_and_order(dt, fee_token=evil, fee_amount=250_000)
    for path in ("/", f"/datasets/{dt}", f"/datasets/{dt}/audit", f"/accounts/{consumer()}"):
        html = app.test_client().get(path).get_data(as_text=True)
        assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html, path
        assert "<script>alert(4)" not in html, path
        parsed = page(app, path)
        assert f"Token contract {evil}" in {a.attrs.get("title") for a in parsed.all("a")}, path
    ds = page(app, f"/datasets/{dt}")
    assert [s.all_text() for s in ds.all("span") if s.attrs.get("class") == "price"] == ["1.5 <b>x</b>"]
    audit = page(app, f"/datasets/{dt}/audit")
    assert [s.all_text() for s in audit.all("span") if s.attrs.get("class") == "fee"] == ["0.25 <b>x</b>"]
    buyer = page(app, f"/accounts/{consumer()}")
    assert [s.all_text() for s in buyer.all("span") if s.attrs.get("class") == "cost"] == ["1.5 <b>x</b>"]
    assert [s.all_text() for s in buyer.all("span") if s.attrs.get("class") == "fee"] == ["0.25 <b>x</b>"]


def test_the_price_filter_says_its_unit(app: Flask) -> None:
    home = page(app, "/")
    labels = {label.attrs["for"]: label.all_text() for label in home.all("label")}
    assert "base units" in labels["min_price"] and "base units" in labels["max_price"]
    hint = next(p for p in home.all("p") if p.attrs.get("id") == "price-units")
    assert "5 tokens are 5000000000000000000 base units" in hint.all_text()
    fields = {i.attrs["id"]: i for i in home.all("input")}
    assert fields["min_price"].attrs["aria-describedby"] == "price-units"
