"""The contracts demo, run through the CLI as `make demo` runs it."""

import json

import pytest
from click.testing import CliRunner

from datamarket.cli import main

pytestmark = pytest.mark.integration


def test_demo_json_reports_the_whole_story():
    result = CliRunner().invoke(main, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["chain_id"] == 31337
    assert report["dataset"].startswith("eip155:31337/0x")
    assert report["metadata_cid"].startswith("bafkrei")
    steps = report["transactions"]
    assert set(steps) == {
        "publish", "buy", "order", "buy_and_order_permit", "compute_receipt",
        "withdraw_publisher", "withdraw_provider", "withdraw_market",
    }  # fmt: skip
    blocks = [steps[s]["block"] for s in ("publish", "buy", "order", "buy_and_order_permit")]
    assert blocks == sorted(blocks)
    # Two sales at 5 with a 1% market fee, two provider fees of 0.5.
    one = 10**18
    assert report["earnings"] == {"publisher": 2 * 5 * one * 99 // 100, "market": 2 * 5 * one // 100,
                                  "provider": one}  # fmt: skip


def test_demo_prints_a_transaction_table():
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert "transactions:" in result.output
    assert "buy_and_order_permit" in result.output
