"""The dataset page's wallet buttons: offered only when the client is installed and the dataset can be
used from a page; the import map and the offer the page script reads; the page's Content-Security-
Policy (scripts from this server and the map by its hash; connections to the provider, the gateway
and the operator's wallet origins only, a hostile provider URL kept out)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.settings import BackendSettings
from backend.web.policy import PAGE_POLICY, origin
from backend.web.wallet import WalletSettings
from tests.unit.backend.api.catalog_rows import CHAIN_ID, MARKET, Catalog
from tests.unit.backend.web.client_dir import make_client
from tests.unit.backend.web.html_check import Element, Page, accessibility_problems

GATEWAY = "http://127.0.0.1:8050/"
WALLET_NODE = "http://127.0.0.1:8545"


@pytest.fixture
def client_root(tmp_path: Path) -> Path:
    return make_client(tmp_path / "js")


def app_with(engine: Engine, root: Path, gateway: str | None = GATEWAY) -> Flask:
    wallet = WalletSettings(market=MARKET, gateway_url=gateway, connect_origins=(WALLET_NODE,))
    return create_app(engine, chain_id=CHAIN_ID, client_dir=root, wallet=wallet)


def get(app: Flask, path: str) -> tuple[Page, dict[str, str]]:
    response = app.test_client().get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = Page(response.get_data(as_text=True))
    assert accessibility_problems(page) == []
    return page, directives(response.headers["Content-Security-Policy"])


def directives(policy: str) -> dict[str, str]:
    return {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2] for d in policy.split(";")}


def script(page: Page, kind: str) -> Element:
    return next(s for s in page.all("script") if s.attrs.get("type") == kind)


def test_a_dataset_with_both_services_offers_both_buttons(
    engine: Engine, catalog: Catalog, client_root: Path
) -> None:
    dt = catalog.publish().datatoken
    page, csp = get(app_with(engine, client_root), f"/datasets/{dt}")
    assert [b.all_text() for b in page.all("button")] == ["Buy and download", "Run a job"]
    assert all("disabled" in b.attrs for b in page.all("button"))  # until the script has loaded
    offer = json.loads(script(page, "application/json").text)
    assert (
        offer["chainId"] == CHAIN_ID
        and offer["market"] == MARKET
        and offer["datatoken"] == dt
        and offer["price"] == str(5 * 10**18)
    )
    assert offer["gatewayUrl"] == GATEWAY and offer["document"]["name"] == "Heart disease (Cleveland)"
    assert (
        offer["download"]["providerUrl"] == "http://127.0.0.1:8030"
        and offer["download"]["fileName"] == "data.csv"
    )
    compute = offer["compute"]
    assert compute["maxEpsilonPerJob"] == 2 and compute["serviceId"] == 1
    # It declares no target: only the built-in that needs none is offered.
    assert [a["name"] for a in compute["algorithms"]] == ["dp_stats"]
    module = next(s for s in page.all("script") if s.attrs.get("type") == "module")
    assert module.attrs["src"] == "/static/wallet.js"
    # The import map runs by its hash, and nothing else inline.
    text = script(page, "importmap").text
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    assert csp["script-src"] == f"'self' 'sha256-{digest}'"
    assert json.loads(text)["imports"]["ethers"] == "/static/client/node_modules/ethers/dist/ethers.js"
    assert set(csp["connect-src"].split()) == {"'self'", "http://127.0.0.1:8030", "http://127.0.0.1:8050",
                                               WALLET_NODE}  # fmt: skip
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'" and "'unsafe" not in str(csp)


def test_the_page_script_is_served(engine: Engine, client_root: Path) -> None:
    response = app_with(engine, client_root).test_client().get("/static/wallet.js")
    assert response.status_code == 200 and "javascript" in response.mimetype
    assert b'from "./client/src/index.js"' in response.get_data()


def test_declared_targets_offer_the_training_builtins(
    engine: Engine, catalog: Catalog, client_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.backend.api import catalog_rows

    original = catalog_rows.document

    def with_targets(*args: Any) -> dict[str, Any]:
        body = original(*args)
        for service in body["services"]:
            if service["type"] == "compute":
                service["compute"]["columns"] = {"diagnosis": {"type": "categorical", "values": [0, 1]}}
                service["compute"]["targets"] = ["diagnosis"]
                service["compute"]["require_dp"] = True
        return body

    monkeypatch.setattr(catalog_rows, "document", with_targets)
    dt = catalog.publish(services=2).datatoken
    page, _ = get(app_with(engine, client_root), f"/datasets/{dt}")
    offer = json.loads(script(page, "application/json").text)
    assert offer["download"] is None and [b.all_text() for b in page.all("button")] == ["Run a job"]
    assert [a["name"] for a in offer["compute"]["algorithms"]] == ["train_tabular", "dp_stats"]
    assert offer["compute"]["targets"] == ["diagnosis"] and offer["compute"]["requireDp"] is True
    options = [o.attrs["value"] for o in page.all("option")]
    assert options == ["train_tabular", "dp_stats", "diagnosis"]


def test_without_a_gateway_there_is_no_download_button(
    engine: Engine, catalog: Catalog, client_root: Path
) -> None:
    dt = catalog.publish(services=1).datatoken
    page, csp = get(app_with(engine, client_root, gateway=None), f"/datasets/{dt}")
    assert page.all("button") == [] and "script-src" not in csp
    assert "names no content gateway" in page.text()


def test_without_the_client_the_page_runs_no_script(engine: Engine, catalog: Catalog, tmp_path: Path) -> None:
    dt = catalog.publish().datatoken
    page, csp = get(app_with(engine, tmp_path / "none"), f"/datasets/{dt}")
    assert page.all("script") == [] and page.all("button") == []
    assert "The wallet client is not installed on this server" in page.text()
    assert "script-src" not in csp and "connect-src" not in csp


@pytest.mark.parametrize(
    ("state", "status", "why"),
    [("RETIRED", "valid", "it takes no new orders"), ("ACTIVE", "invalid", "not verified")],
)
def test_a_dataset_that_cannot_be_bought_here_says_why(
    engine: Engine, catalog: Catalog, client_root: Path, state: str, status: str, why: str
) -> None:
    dt = catalog.publish(state=state, document_status=status, reason="bad").datatoken
    page, csp = get(app_with(engine, client_root), f"/datasets/{dt}")
    assert page.all("button") == [] and why in page.text() and "script-src" not in csp


def test_the_other_pages_run_no_script(engine: Engine, catalog: Catalog, client_root: Path) -> None:
    catalog.publish()
    response = app_with(engine, client_root).test_client().get("/")
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8030/api", "http://127.0.0.1:8030"),
        ("https://Provider.example.org", "https://provider.example.org"),
        ("https://[::1]:8443/x", "https://[::1]:8443"),
        ("http://evil.example; script-src *", None),
        ("http://a.example,b.example", None),
        ("javascript:alert(1)", None),
        ("ftp://files.example.org", None),
        ("http://user:pw@host.example", None),
        ("http://bad_host.example", None),
        ("http://host.example:99999", None),
        ("http://'self'", None),
        (None, None),
    ],
)
def test_only_clean_origins_reach_the_policy(url: str | None, expected: str | None) -> None:
    assert origin(url) == expected


def test_a_hostile_provider_url_stays_out_of_the_policy(
    engine: Engine, catalog: Catalog, client_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.backend.api import catalog_rows

    original = catalog_rows.document

    def hostile(*args: Any) -> dict[str, Any]:
        body = original(*args)
        body["services"][0]["provider_url"] = "http://x.example/'unsafe-inline'"
        body["services"][1]["provider_url"] = "http://y.example; script-src *"
        return body

    monkeypatch.setattr(catalog_rows, "document", hostile)
    dt = catalog.publish().datatoken
    page, csp = get(app_with(engine, client_root), f"/datasets/{dt}")
    assert page.all("button") == [] and "script-src" not in csp and "example" not in str(csp)
    assert "No service of this dataset can be used from the page" in page.text()


def test_the_settings_take_the_gateway_and_the_wallet_origins(tmp_path: Path) -> None:
    settings = BackendSettings.from_mapping({
        "rpc_url": "http://127.0.0.1:1", "market": MARKET, "data_dir": str(tmp_path),
        "gateway_url": GATEWAY, "page_connect_origins": f"{WALLET_NODE}, https://relay.example.org",
        "client_dir": str(tmp_path / "js"),
    })  # fmt: skip
    assert settings.gateway_url == GATEWAY and settings.client_dir == tmp_path / "js"
    assert settings.page_connect_origins == (WALLET_NODE, "https://relay.example.org")
    bad = {"rpc_url": "http://127.0.0.1:1", "market": MARKET, "page_connect_origins": "http://a.example, ';'"}
    with pytest.raises(Exception, match="page_connect_origins"):
        BackendSettings.from_mapping(bad)


def test_the_wsgi_app_gives_the_page_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine, catalog: Catalog, client_root: Path
) -> None:
    from backend import wsgi

    settings = {"RPC_URL": "http://127.0.0.1:8545", "MARKET": MARKET, "DATABASE_URL": str(engine.url),
                "CHAIN_ID": str(CHAIN_ID), "GATEWAY_URL": GATEWAY, "CLIENT_DIR": str(client_root),
                "PAGE_CONNECT_ORIGINS": WALLET_NODE}  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(f"DATAMARKET_BACKEND_{name}", value)
    dt = catalog.publish().datatoken
    wsgi.build.cache_clear()
    try:
        page, csp = get(wsgi.app, f"/datasets/{dt}")
    finally:
        wsgi.build.cache_clear()
    offer = json.loads(script(page, "application/json").text)
    assert (offer["market"], offer["gatewayUrl"]) == (MARKET, GATEWAY)
    assert WALLET_NODE in csp["connect-src"] and "sha256-" in csp["script-src"]
