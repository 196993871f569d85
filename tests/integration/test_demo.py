"""The demo, run through the CLI as `make demo` runs it."""

import json

import pytest
from click.testing import CliRunner

from datamarket.cli import main

pytestmark = pytest.mark.integration


def test_demo_json_reports_the_whole_story():
    result = CliRunner().invoke(main, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["dataset"].startswith("eip155:31337/0x")
    assert report["metadata_cid"].startswith("bafkrei")
    assert report["data_cid"].startswith("bafkrei")
    assert report["metadata_cid"] != report["data_cid"]
    assert len({report["publish_tx"], report["buy_tx"], report["order_tx"]}) == 3
    assert len(report["plaintext_sha256"]) == 64
    assert report["downloaded_sha256"] == report["plaintext_sha256"]
    assert report["rows"] == 569
    # The DP training job: a model that learned something, within the epsilon it was charged, and
    # the receipt on chain counting that epsilon against the budget.
    assert report["job_state"] == "succeeded"
    assert 0.6 < report["accuracy"] <= 1.0
    assert 0 < report["epsilon_spent"] <= report["epsilon_charged"] == 3.0
    assert report["receipt_tx"].startswith("0x") and len(report["receipt_tx"]) == 66
    assert report["privacy"]["spent"] == 3.0 and report["privacy"]["remaining"] == 7.0
    # The untrusted logistic regression under sample and aggregate: 31 noisy numbers and epsilon.
    assert report["aggregate_job_state"] == "succeeded"
    released = report["aggregate"]
    assert len(released["values"]) == 31 and released["epsilon"] == 3.0 and released["blocks"] == 4
    assert released["mechanism"] == "laplace" and released["noise_scale"] == pytest.approx(31 * 2 / 4 / 3)
    # The catalog and the auditor: the compute dataset's page, an audit that agrees with the chain and
    # the catalog, and the model traced to its job's receipt.
    datatoken = report["compute_dataset"].rsplit("/", 1)[1]
    assert report["page_url"].startswith("http://127.0.0.1:")
    assert report["page_url"].endswith(f"/datasets/{datatoken}")
    assert report["audit_url"] == report["page_url"] + "/audit"
    assert report["audit_ok"] is True
    assert report["audit_summary"].endswith("0 problems, 0 disagreements with the backend: OK")
    assert [int(j, 16) for j in report["result_receipts"]] == [int(report["job_id"], 16)]
    # The three roles: the owner published three offers and an algorithm, the researcher found all
    # three in the catalog, the auditor audited both the downloadable and the compute-only dataset.
    offers = {report["dataset"], report["compute_dataset"], report["aggregate_dataset"]}
    assert {dataset for dataset, _ in report["found"]} == offers
    assert report["algorithm_cid"].startswith("bafk") and len(report["algorithm_sha256"]) == 64
    assert report["download_audit_ok"] is True
    assert report["download_audit_summary"].endswith("0 disagreements with the backend: OK")
    backend = report["page_url"].split("/datasets/")[0]
    assert all(url.startswith(backend + "/") for url in report["pages"].values())
    downloadable = report["dataset"].rsplit("/", 1)[1]
    assert report["pages"]["downloadable dataset"] == f"{backend}/datasets/{downloadable}"


def test_demo_prints_the_story_and_stops_the_market():
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert ": equal" in result.output
    assert "test accuracy" in result.output and "receipt on chain: 0x" in result.output
    assert "released: 31 coefficients averaged over 4 blocks" in result.output
    assert "catalog: a search for 'breast cancer' finds 3 datasets" in result.output
    assert "the model in result/ was produced by job" in result.output
    lines = result.output.strip().splitlines()
    acts = ["1. the data owner publishes (dev account 2)", "2. the researcher (dev account 4)"]
    acts.append("3. the auditor")
    assert [line for line in lines if line in acts] == acts
    assert "published an algorithm, logistic_regression: bafk" in result.output
    assert sum(line.startswith("audit of eip155:31337/0x") for line in lines) == 2
    stopped = lines.index("local market stopped")
    assert lines[stopped + 1].startswith("audit: ") and lines[stopped + 1].endswith("with the backend: OK")
    assert lines[stopped + 2] == "pages of the catalog:"
    pages = lines[stopped + 3 : -1]
    assert len(pages) == 6 and all("http://127.0.0.1:" in line for line in pages)
    assert lines[-1].startswith("dataset page: http://127.0.0.1:") and "--keep" in lines[-1]
