"""The JavaScript client served to the pages: only files of its ``src/`` and ``node_modules/``, only
JavaScript (and source maps) with a JavaScript MIME type, nothing through ``..``, hidden names or
links; a client that is not installed answers 503 in the JSON error shape, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.web.client import import_map
from tests.unit.backend.api.catalog_rows import CHAIN_ID
from tests.unit.backend.web.client_dir import make_client


@pytest.fixture
def client_root(tmp_path: Path) -> Path:
    return make_client(tmp_path / "js")


def served(engine: Engine, root: Path) -> Flask:
    return create_app(engine, chain_id=CHAIN_ID, client_dir=root)


def test_the_clients_modules_are_served_as_javascript(engine: Engine, client_root: Path) -> None:
    c = served(engine, client_root).test_client()
    for path in (
        "src/index.js",
        "node_modules/ethers/dist/ethers.js",
        "node_modules/@noble/hashes/esm/sha256.js",
    ):
        response = c.get(f"/static/client/{path}")
        assert response.status_code == 200, path
        assert (
            response.mimetype == "text/javascript" and response.headers["X-Content-Type-Options"] == "nosniff"
        )
        assert response.get_data() == (client_root / path).read_bytes()
        assert "max-age=" in response.headers["Cache-Control"] and response.headers["ETag"]
    source_map = c.get("/static/client/node_modules/ethers/dist/ethers.js.map")
    assert source_map.status_code == 200 and source_map.mimetype == "application/json"
    etag = c.get("/static/client/src/index.js").headers["ETag"]
    assert c.get("/static/client/src/index.js", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "secret.js",  # the client's root: not one of the served folders
        "package.json",
        "importmap.json",
        "src/README.md",  # not JavaScript
        "src/.hidden.js",
        "src/../secret.js",
        "src/%2e%2e/secret.js",
        "src/..%2fsecret.js",
        "node_modules/../../outside.js",
        "src/nothing.js",
        "src",
        "src/",
        "src//index.js",
        "src\\..\\secret.js",
        "lib/index.js",
    ],
)
def test_nothing_else_is_served(engine: Engine, client_root: Path, path: str) -> None:
    (client_root.parent / "outside.js").write_text("export const outside = 1;\n")
    response = served(engine, client_root).test_client().get(f"/static/client/{path}")
    assert response.status_code == 404, path
    assert response.mimetype == "application/json" and response.json["error"]["code"] == "not_found"
    assert str(client_root) not in response.get_data(as_text=True)


def test_a_link_out_of_the_served_folders_is_not_followed(engine: Engine, client_root: Path) -> None:
    (client_root.parent / "outside.js").write_text("export const outside = 1;\n")
    os.symlink(client_root.parent / "outside.js", client_root / "src" / "linked.js")
    os.symlink(client_root.parent, client_root / "node_modules" / "escape")
    c = served(engine, client_root).test_client()
    assert c.get("/static/client/src/linked.js").status_code == 404
    assert c.get("/static/client/node_modules/escape/outside.js").status_code == 404


def test_a_client_not_installed_is_a_clear_503(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "js"
    (root / "src").mkdir(parents=True)
    (root / "src" / "index.js").write_text("export {};\n")
    c = served(engine, root).test_client()
    response = c.get("/static/client/node_modules/ethers/dist/ethers.js")
    assert response.status_code == 503 and response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == "client_not_installed" and "npm ci" in error["message"]
    assert "Traceback" not in response.get_data(as_text=True) and str(root) not in error["message"]
    missing = served(engine, tmp_path / "none").test_client().get("/static/client/src/index.js")
    assert missing.status_code == 503 and missing.json["error"]["code"] == "client_not_installed"


def test_the_import_map_points_at_the_served_files(client_root: Path) -> None:
    imports = json.loads(import_map(client_root).text)["imports"]
    assert imports == {
        "ethers": "/static/client/node_modules/ethers/dist/ethers.js",
        "@noble/hashes/": "/static/client/node_modules/@noble/hashes/esm/",
        "canonicalize": "/static/client/node_modules/canonicalize/lib/canonicalize.js",
    }


@pytest.mark.parametrize(
    "imports",
    [
        {"ethers": "../elsewhere/ethers.js"},
        {"ethers": "./secret.js"},
        {"ethers": "https://cdn.example.org/ethers.js"},
        {"ethers": 1},
        ["ethers"],
    ],
)
def test_an_unusable_import_map_gives_no_map(tmp_path: Path, imports: object) -> None:
    assert import_map(make_client(tmp_path / "js", imports)) is None  # type: ignore[arg-type]


def test_no_map_without_the_installed_packages(tmp_path: Path) -> None:
    root = make_client(tmp_path / "js")
    shutil.rmtree(root / "node_modules")
    assert import_map(root) is None
