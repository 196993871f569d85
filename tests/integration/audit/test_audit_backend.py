"""`datamarket audit --backend URL` on anvil, against a stand-in backend that serves what the chain says
(a real backend's end-to-end test belongs with the backend's API)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

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


def serve_the_chain(world: World, backend: StandIn, dt: str, report: dict[str, Any], block: int) -> None:
    """What a correct backend serves at ``block``, from the chain's own report."""
    header = world.w3.eth.get_block(block)
    at = {
        "number": block,
        "hash": "0x" + header["hash"].hex().removeprefix("0x"),
        "timestamp": header["timestamp"],
    }
    state, summary = report["state"], report["summary"]
    dataset = {
        "datatoken": dt, "publisher": state["publisher"], "provider": state["provider"],
        "state": state["state"], "free": state["free"], "payment_token": state["payment_token"],
        "price": state["price"], "epsilon_budget": str(state["epsilon_budget"]["units"]),
        "epsilon_spent": str(state["epsilon_spent"]["units"]),
        "order_count": summary["orders"], "receipt_count": summary["receipts"],
        "metadata_cid": report["metadata"][-1]["cid"], "metadata_hash": state["metadata_hash"],
        "metadata_versions": summary["metadata_versions"],
    }  # fmt: skip
    backend.routes[f"datasets/{dt}"] = {"block": at, "dataset": dataset}
    orders = [{k: v for k, v in o.items() if k not in ("payment", "paid", "time")} for o in report["orders"]]
    metadata = [{**m, "status": "valid"} for m in report["metadata"]]
    for kind, items in (("orders", orders), ("receipts", []), ("metadata", metadata)):
        backend.routes[f"datasets/{dt}/{kind}"] = {"block": at, "items": items, "next_cursor": None}


def test_a_backend_that_agrees_and_lags_is_not_a_false_alarm(world: World, store, backend) -> None:
    dt = publish(world, store, document("v1"))
    order(world, dt)
    indexed = world.block_number()
    chain_side = json.loads(CliRunner().invoke(main, ["audit", dt, "--json"]).output)
    serve_the_chain(world, backend, dt, chain_side, indexed)
    world.as_(world.accounts.publisher).set_price(dt, world.usd, 9 * ONE)  # after the backend's block

    result = CliRunner().invoke(main, ["audit", dt, "--backend", backend.url, "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["backend"]["disagreements"] == []
    assert (report["backend"]["block"]["number"], report["backend"]["behind"]) == (indexed, 1)
    assert report["blocks"]["to"] == indexed and report["state"]["price"] == str(5 * ONE)
    assert ("/api/v1/datasets/" + dt + "/orders", {"limit": ["100"]}) in backend.queries


def test_every_disagreement_is_listed_and_fails_the_audit(world: World, store, backend) -> None:
    dt = publish(world, store, document("v1"))
    order(world, dt)
    chain_side = json.loads(CliRunner().invoke(main, ["audit", dt, "--json"]).output)
    serve_the_chain(world, backend, dt, chain_side, world.block_number())
    backend.routes[f"datasets/{dt}"]["dataset"]["price"] = str(4 * ONE)
    backend.routes[f"datasets/{dt}/orders"]["items"] = []

    result = CliRunner().invoke(main, ["audit", dt, "--backend", backend.url])

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
