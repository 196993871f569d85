"""`datamarket audit` on anvil: a dataset's whole history rebuilt from the chain, its documents from the
embedded content store; what it flags; `--format csv` and `--from-block`; a result's provenance."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from datamarket.audit import provenance
from datamarket.cli import main
from datamarket.storage.base import add_bytes
from tests.conftest import ONE, World
from tests.integration.audit.market_actions import b32, document, order, post_receipt, publish, sha256

pytestmark = pytest.mark.integration

SALT = "c3" * 32


def audit(*args: str):
    return CliRunner().invoke(main, ["audit", *args])


def test_a_dataset_with_its_whole_history_audits_clean(world: World, store) -> None:
    a = world.accounts
    dt = publish(world, store, document("v1"))
    v2 = document("v2")
    world.as_(a.publisher).update_metadata(dt, add_bytes(store, v2), sha256(v2))
    world.as_(a.publisher).set_price(dt, world.usd, 6 * ONE)
    started = order(world, dt)
    post_receipt(world, dt, started.order_id)

    result = audit(f"eip155:{world.market.chain_id}/{dt}", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["problems"] == [] and report["warnings"] == []
    assert [(m["version"], m["status"]) for m in report["metadata"]] == [(1, "verified"), (2, "verified")]
    (line,) = report["orders"]
    assert (line["order_id"], line["consumer"], line["funding"], line["paid"]) == (
        started.order_id, a.consumer.address, "BURNED", True,
    )  # fmt: skip
    assert (line["fee_token"], line["fee_amount"]) == (world.usd, str(ONE))
    assert line["timestamp"] == world.w3.eth.get_block(line["block_number"])["timestamp"]
    (receipt,) = report["receipts"]
    assert (receipt["job_id"], receipt["algorithm_hash"], receipt["epsilon"]["epsilon"]) == (
        b32("job"), b32("train_tabular"), "0.5",
    )  # fmt: skip
    events = [e["event"] for e in report["timeline"]]
    assert events == ["DatasetPublished", "PriceSet", "MetadataUpdated", "PriceSet", "Bought", "Transfer",
                      "Transfer", "OrderStarted", "ComputeReceiptPosted"]  # fmt: skip
    assert report["state"]["price"] == str(6 * ONE)
    assert report["summary"]["epsilon_spent"] == "0.5" and report["summary"]["epsilon_budget"] == "10"

    table = audit(dt)
    assert table.exit_code == 0
    assert table.output.splitlines()[-1] == (
        "9 events, 2 of 2 metadata versions verified, 1 orders, 1 receipts, epsilon 0.5 spent of 10, "
        "0 problems: OK"
    )


def test_a_document_that_does_not_match_its_hash_is_flagged(world: World, store) -> None:
    dt = publish(world, store, document("what is pinned"), claimed=document("what was hashed"))
    result = audit(dt, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["metadata"][0]["status"] == "hash_mismatch"
    assert [p["kind"] for p in report["problems"]] == ["metadata_hash_mismatch"]


def test_a_receipt_posted_twice_is_flagged(world: World, store) -> None:
    dt = publish(world, store, document("v1"))
    started = order(world, dt)
    post_receipt(world, dt, started.order_id)
    post_receipt(world, dt, started.order_id)
    result = audit(dt, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [p["kind"] for p in report["problems"]] == ["duplicate_receipt"]
    assert [r["repeated"] for r in report["receipts"]] == [False, True]
    assert report["summary"]["epsilon_spent"] == "1"


def test_csv_parses_back_with_pandas(world: World, store, tmp_path) -> None:
    dt = publish(world, store, document("v1"))
    order(world, dt)
    result = audit(dt, "--format", "csv")
    assert result.exit_code == 0
    frame = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)
    assert list(frame["event"]) == ["DatasetPublished", "PriceSet", "Bought", "Transfer", "Transfer",
                                    "OrderStarted"]  # fmt: skip
    assert (frame["problems"] == "").all()
    assert frame["block_number"].is_monotonic_increasing


def test_from_block_starts_after_the_deployment_from_the_markets_state_there(world: World, store) -> None:
    before = publish(world, store, document("an earlier dataset"))
    order(world, before)  # order 0, at the market fee of the deployment
    start = world.block_number() + 1
    dt = publish(world, store, document("v1"))
    started = order(world, dt)

    result = audit(dt, "--from-block", str(start), "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["blocks"]["from"] == start and report["blocks"]["whole_market"] is False
    assert [o["order_id"] for o in report["orders"]] == [started.order_id] == [1]
    assert report["problems"] == [] and "after the market's deployment" in report["warnings"][0]
    assert audit(dt, "--from-block", str(world.deploy_block), "--json").exit_code == 0

    late = audit(dt, "--from-block", str(world.block_number()))
    assert late.exit_code == 2
    assert late.stderr.startswith(f"error (unknown_dataset): {dt} was published before block")


def test_an_unknown_dataset_or_another_chain_is_an_error(world: World, store) -> None:
    unknown = audit("0x" + "12" * 20)
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error (unknown_dataset): ")
    dt = publish(world, store, document("v1"))
    other_chain = audit(f"eip155:1/{dt}")
    assert other_chain.exit_code == 2
    assert other_chain.stderr == (
        f"error (chain_mismatch): the dataset is on chain 1, the node is on chain {world.market.chain_id}\n"
    )


def test_a_result_folder_is_traced_to_its_receipt(world: World, store, tmp_path) -> None:
    folder = tmp_path / "result"
    folder.mkdir()
    (folder / "metrics.json").write_text('{"accuracy": 0.9}')
    digest = provenance.output_hash(provenance.manifest(folder), SALT)
    dt = publish(world, store, document("v1"))
    started = order(world, dt)
    post_receipt(world, dt, started.order_id, job="traced", output="0x" + digest)

    result = audit("result", str(folder), "--salt", SALT, "--json")

    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    (receipt,) = found["receipts"]
    assert (receipt["job_id"], receipt["datatoken"], receipt["order_id"], receipt["epsilon"]) == (
        b32("traced"), dt, started.order_id, "0.5",
    )  # fmt: skip
    assert receipt["algorithm_hash"] == b32("train_tabular") and found["output_hash"] == "0x" + digest

    (folder / "metrics.json").write_text('{"accuracy": 0.99}')
    changed = audit("result", str(folder), "--salt", SALT)
    assert changed.exit_code == 1 and "no receipt" in changed.output
