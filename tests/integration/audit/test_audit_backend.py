"""`datamarket audit --backend URL` on anvil, against the real backend (the indexer and the API over a
catalog of the test's own), and against a stand-in for a backend that answers nonsense."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from werkzeug.serving import make_server

from backend.api.app import create_app
from backend.db.engine import open_engine
from backend.db.migrate import upgrade
from backend.indexer.documents import DocumentFetcher
from backend.indexer.follower import Indexer
from datamarket.chain.logs import Rpc
from datamarket.cli import main
from tests.conftest import ONE, World
from tests.integration.audit.market_actions import document, order, publish

pytestmark = pytest.mark.integration


class StandIn:
    """Serves ``routes`` (path -> JSON) under /api/v1; records each query."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.queries: list[tuple[str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                owner.queries.append((url.path, parse_qs(url.query)))
                body = owner.routes.get(url.path.removeprefix("/api/v1/"))
                data = json.dumps(body).encode()
                self.send_response(404 if body is None else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def backend() -> Iterator[StandIn]:
    stand_in = StandIn()
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()


class RealBackend:
    """The backend itself: the indexer fills a catalog from the test's chain and store, and the API
    serves it on a local port."""

    def __init__(self, world: World, store, folder) -> None:
        self.engine = open_engine(f"sqlite:///{folder / 'catalog.db'}")
        upgrade(self.engine)
        self.indexer = Indexer(
            self.engine, Rpc(world.w3), world.market.address, deploy_block=world.deploy_block
        )
        self.indexer.open()
        self.documents = DocumentFetcher(self.engine, store)
        app = create_app(self.engine, chain_id=world.market.chain_id)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def index(self) -> None:
        self.indexer.step()
        self.documents.fetch_due()

    def tamper(self, statement: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(statement))


@pytest.fixture
def real_backend(world: World, store, tmp_path) -> Iterator[RealBackend]:
    backend = RealBackend(world, store, tmp_path)
    try:
        yield backend
    finally:
        backend.server.shutdown()
        backend.engine.dispose()


def test_the_real_backend_agrees_and_lagging_is_not_a_false_alarm(world: World, real_backend) -> None:
    store = real_backend.documents.store
    dt = publish(world, store, document("v1"))
    order(world, dt)
    real_backend.index()
    indexed = world.block_number()
    world.as_(world.accounts.publisher).set_price(dt, world.usd, 9 * ONE)  # after the backend's block

    result = CliRunner().invoke(main, ["audit", dt, "--backend", real_backend.url, "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["backend"]["disagreements"] == []
    assert (report["backend"]["block"]["number"], report["backend"]["behind"]) == (indexed, 1)
    assert report["blocks"]["to"] == indexed and report["state"]["price"] == str(5 * ONE)


def test_every_disagreement_with_the_real_backend_is_listed_and_fails_the_audit(
    world: World, real_backend
) -> None:
    dt = publish(world, real_backend.documents.store, document("v1"))
    order(world, dt)
    real_backend.index()
    real_backend.tamper(f"UPDATE datasets SET price = '{4 * ONE}' WHERE datatoken = '{dt}'")
    real_backend.tamper("DELETE FROM orders")

    result = CliRunner().invoke(main, ["audit", dt, "--backend", real_backend.url])

    assert result.exit_code == 1
    assert f"dataset price: the chain has {5 * ONE}, the backend {4 * ONE}" in result.output
    assert "order 0 presence: the chain has recorded, the backend missing" in result.output
    assert result.output.splitlines()[-1].endswith("2 disagreements with the backend: FAILED")


def test_a_backend_that_does_not_answer_is_an_error(world: World, store, backend) -> None:
    dt = publish(world, store, document("v1"))
    backend.routes[f"datasets/{dt}"] = {"no": "block"}
    result = CliRunner().invoke(
        main, ["audit", dt, "--backend", backend.url.replace("http://", "http://u:pw@")]
    )
    assert result.exit_code == 2
    assert result.stderr == "error (backend_unavailable): the backend's answer has no block dict\n"
