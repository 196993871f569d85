"""The JavaScript client's conformance flow: a local market (``datamarket up``: anvil, contracts,
content store and gateway, provider, compute worker), a dataset published with the Python SDK for
download and compute, and ``node --test clients/js/test/flow/`` doing what a browser page does:
quote, buy and order, access, fetch through the gateway, decrypt; then a compute job with float
params, its result opened and checked against the output hash the job's receipt commits to.

The consumer signs with anvil's public dev account 4 (its key is public, never funded on a live
chain). The broker is Redis (DATAMARKET_TEST_BROKER_URL, default database 13; required in CI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamarket.chain.devchain import dev_account
from datamarket.chain.events import ComputeReceiptPosted
from datamarket.demo import breast_cancer_bounds, write_breast_cancer_csv
from datamarket.sdk.jobs import publish_bundle
from datamarket.sdk.publish import PublishRequest, publish_file
from tests.integration.compute.market import PUBLISHER, running_market, wait_for
from tests.js_client import require_node, run_node_tests

pytestmark = pytest.mark.integration

CONSUMER = 4
ECHO = Path(__file__).parent / "echo_params.py"


@pytest.fixture(scope="module")
def local_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    require_node()
    home = tmp_path_factory.mktemp("market")
    with running_market(home) as running:
        local, market, store, provider = running.local, running.market, running.store, running.provider
        bundle_cid, bundle_sha256, _ = publish_bundle(store, ECHO)
        csv = home / "breast_cancer.csv"
        write_breast_cancer_csv(csv)
        published = publish_file(
            PublishRequest(
                path=csv, name="Breast cancer", price=10**18,
                payment_token=local.contracts["payment_token"], download=True, compute=True,
                epsilon_budget=50.0, max_epsilon_per_job=5.0,
                trusted_algorithms=(bundle_sha256,), targets=("target",),
                bounds={c: (lo, hi) for c, (lo, hi) in breast_cancer_bounds().items()},
            ),
            market=market.as_account(dev_account(PUBLISHER)), store=store, provider_info=provider.info(),
            provider_url=provider.base_url,
        )  # fmt: skip
        yield {
            "local": local, "market": market, "provider": provider, "published": published,
            "bundle_cid": bundle_cid, "bundle_sha256": bundle_sha256,
        }  # fmt: skip


def test_the_javascript_client_downloads_and_computes_on_a_local_market(
    local_market: dict, tmp_path: Path
) -> None:
    local, published = local_market["local"], local_market["published"]
    report = tmp_path / "report.json"
    env = {
        "DATAMARKET_RPC_URL": local.services["chain"].url,
        "DATAMARKET_MARKET": local.contracts["market"],
        "DATAMARKET_GATEWAY_URL": local.services["gateway"].url,
        "DATAMARKET_DATATOKEN": published.datatoken,
        # anvil's public dev account 4: a published test key, never funded on a live chain.
        "DATAMARKET_PRIVATE_KEY": "0x" + bytes(dev_account(CONSUMER).key).hex(),
        "DATAMARKET_BUNDLE_CID": local_market["bundle_cid"],
        "DATAMARKET_BUNDLE_SHA256": local_market["bundle_sha256"],
        "DATAMARKET_JS_REPORT": str(report),
    }
    done = run_node_tests(["test/flow/market.test.js"], env, timeout=400)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert "# pass 3" in done.stdout and "# skipped 0" in done.stdout, done.stdout[-3000:]
    result = json.loads(report.read_text())

    # The download: the plaintext the client decrypted is the file that was published.
    assert result["download"]["sha256"] == published.plaintext_sha256
    assert result["download"]["size"] == Path(local.home, "breast_cancer.csv").stat().st_size

    # The compute job ran the job the client signed (its float params intact), and the output hash
    # the client checked is the one the provider reports for the job.
    job = result["job"]
    assert job["state"] == "succeeded"
    assert json.loads(job["metrics"])["params"] == {"tol": 1e-7, "rate": 1e-5, "n": 3}
    handle = job["handle"]
    provider, market = local_market["provider"], local_market["market"]
    status = wait_for(
        lambda: (s := provider.compute_status(handle["jobId"], handle["token"]))["receipt"] and s,
        what="the job's receipt",
    )
    assert status["state"] == "succeeded"
    # The receipt on chain commits to the output hash the client checked the result against.
    receipt = market.w3.eth.get_transaction_receipt(status["receipt"]["tx"])
    posted = [
        e
        for e in market._own_events(receipt["logs"])
        if isinstance(e, ComputeReceiptPosted) and e.job_id.endswith(handle["jobId"])
    ]
    assert len(posted) == 1
    assert posted[0].output_hash.removeprefix("0x") == job["output_hash"]
