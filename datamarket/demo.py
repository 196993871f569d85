"""The demo: the market's three users, on a local market that it starts and stops.

**The data owner** (dev account 2) publishes scikit-learn's breast_cancer table as CSV three ways:
for download (profiled, encrypted on its machine, pinned in the content store, its key wrapped to the
provider), for compute only under a privacy budget (trained on with DP-SGD, never downloaded), and for
any algorithm under sample and aggregate; and publishes an algorithm (a logistic regression bundle).
**The researcher** (dev account 4) searches the catalog, buys the downloadable table, gets the key
from the provider and decrypts it locally (the sha256s must agree), trains a DP model on the
compute-only one inside the provider's sandbox (it gets the weights and metrics back, never a row; the
epsilon is charged to the budget and the job's receipt is posted on chain), and runs the published
algorithm on the third. **The auditor** rebuilds both first datasets' histories from the chain alone,
checks them against the catalog, and traces the model to the receipt of the job that made it. The
accounts are anvil's public dev keys.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.errors import DatamarketError
from datamarket.sdk import download as flows
from datamarket.sdk import orders
from datamarket.sdk.files import sha256_file
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.settings import client_home
from datamarket.storage import open_store

PUBLISHER, CONSUMER = 2, 4
ONE = 10**18


class DemoError(DatamarketError):
    code = "demo_failed"


@dataclass
class DemoReport:
    dataset: str = ""
    publish_tx: str = ""
    buy_tx: str = ""
    order_tx: str = ""
    metadata_cid: str = ""
    data_cid: str = ""
    plaintext_sha256: str = ""
    downloaded_sha256: str = ""
    rows: int = 0
    compute_dataset: str = ""
    job_id: str = ""
    job_state: str = ""
    accuracy: float = 0.0
    epsilon_spent: float = 0.0
    epsilon_charged: float = 0.0
    receipt_tx: str = ""
    privacy: dict | None = None
    #: The untrusted algorithm's job, under sample and aggregate.
    aggregate_dataset: str = ""
    aggregate_job_state: str = ""
    aggregate: dict | None = None
    #: The compute dataset's page in the catalog, and its audit from the chain alone.
    page_url: str = ""
    audit_url: str = ""
    audit_summary: str = ""
    audit_ok: bool = False
    #: The job ids whose receipts commit to the model the researcher received (one: the DP job's).
    result_receipts: list[str] = field(default_factory=list)
    #: The downloadable dataset's audit, and the algorithm the owner published (CID, bundle sha256).
    download_audit_summary: str = ""
    download_audit_ok: bool = False
    algorithm_cid: str = ""
    algorithm_sha256: str = ""
    #: What the researcher's catalog search found: (dataset, name) of each.
    found: list[list[str]] = field(default_factory=list)
    #: The catalog's pages: the search, each dataset's page and audit.
    pages: dict[str, str] = field(default_factory=dict)


def write_breast_cancer_csv(path: Path) -> int:
    """scikit-learn's breast_cancer data (shipped inside the package) as one CSV; returns rows."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(path, index=False)
    return len(frame)


_DESCRIBED = re.compile(r"^(\w[\w ]*) \((mean|standard error|worst)\):\s+([-\d.]+)\s+([-\d.]+)\s*$", re.M)


def breast_cancer_bounds() -> dict[str, list[float]]:
    """breast_cancer's per-feature [min, max] as its published description (DESCR) gives them:
    public bounds, so a DP job can clip and scale without looking at the data."""
    from sklearn.datasets import load_breast_cancer

    loaded = load_breast_cancer(as_frame=True)
    names = {"mean": "mean {}", "standard error": "{} error", "worst": "worst {}"}
    bounds = {
        names[kind].format(name): [float(lo), float(hi)]
        for name, kind, lo, hi in _DESCRIBED.findall(loaded.DESCR)
    }
    missing = set(loaded.frame.columns) - set(bounds) - {"target"}
    if missing:
        raise DemoError(f"no published bounds for {sorted(missing)}")
    return bounds


def run(say: Callable[[str], None] = print, home: Path | None = None, *, keep: bool = False) -> DemoReport:
    """Play the story on a local market in ``home`` (default: a temporary folder, or with ``keep`` the
    client's home, so that ``datamarket status`` and ``down`` find it); ``keep`` leaves it running."""
    report = DemoReport()
    with tempfile.TemporaryDirectory(prefix="datamarket-demo-") as tmp:
        work = Path(tmp)
        home = home or (client_home() if keep else work / "market")
        local = stack.up(home)
        try:
            _story(local, work, report, say)
        finally:
            if not keep:
                stack.down(home)
                say("local market stopped")
    if report.plaintext_sha256 != report.downloaded_sha256:
        raise DemoError("the downloaded file differs from the published one")
    say(f"audit: {report.audit_summary}")
    say("pages of the catalog:")
    for name, url in report.pages.items():
        say(f"  {name:<26} {url}")
    if keep:
        say(f"dataset page: {report.page_url} (the market keeps running; `datamarket down` stops it)")
    else:
        say(f"dataset page: {report.page_url} (`datamarket demo --keep` leaves the market running)")
    return report


def _story(local: stack.Stack, work: Path, report: DemoReport, say: Callable[[str], None]) -> None:
    chain = local.services["chain"]
    w3 = DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3()
    market = Market(w3, local.contracts["market"])
    store = open_store(local.store)
    provider = ProviderClient(local.services["provider"].url)
    say(f"local market up: chain {chain.url}, provider {provider.base_url}, store {local.store}")
    source = work / "breast_cancer.csv"
    report.rows = write_breast_cancer_csv(source)
    say(f"wrote {source.name}: {report.rows} rows, {source.stat().st_size:,} bytes")

    say("1. the data owner publishes (dev account 2)")
    downloadable, compute_only, any_algorithm = _publish_all(
        local, market, store, provider, source, report, say
    )
    say("2. the researcher (dev account 4)")
    _search(local, market, report, say)
    consumer = market.as_account(dev_account(CONSUMER))
    report.buy_tx = orders.buy(consumer, downloadable.datatoken).tx_hash
    say(f"bought a datatoken of {downloadable.dataset}: {report.buy_tx}")
    result = flows.download(consumer, store, provider, downloadable.datatoken, work / "downloaded.csv")
    # Hashed again from the file on disk, independently of the check the download made.
    report.order_tx, report.downloaded_sha256 = result.order_tx, sha256_file(Path(result.path))
    say(f"ordered ({result.order_tx}), got the key from the provider, decrypted {Path(result.path).name}")
    same = "equal" if report.downloaded_sha256 == downloadable.plaintext_sha256 else "DIFFERENT"
    say(f"sha256 published  {downloadable.plaintext_sha256}")
    say(f"       downloaded {report.downloaded_sha256}: {same}")
    _compute_story(local, market, store, provider, compute_only, work, report, say)
    _untrusted_story(market, store, provider, any_algorithm, work, report, say)
    say("3. the auditor")
    _audit(local, market, store, work, report, say, downloadable.datatoken)


def _publish_all(
    local: stack.Stack, market: Market, store, provider: ProviderClient, source: Path, report: DemoReport,
    say: Callable[[str], None],
) -> tuple[Any, Any, Any]:  # fmt: skip
    """The owner's three offers of the table, and the algorithm it publishes for the third."""
    from datamarket.sdk.jobs import publish_bundle

    downloadable = publish_file(
        PublishRequest(
            path=source, name="Breast cancer diagnostics",
            description="Features of cell nuclei from breast mass images, with the diagnosis.",
            tags=("health", "tabular"), price=5 * ONE, payment_token=local.contracts["payment_token"],
        ),
        market=market.as_account(dev_account(PUBLISHER)), store=store, provider_info=provider.info(),
        provider_url=provider.base_url,
    )  # fmt: skip
    report.dataset, report.publish_tx = downloadable.dataset, downloadable.publish_tx
    report.metadata_cid, report.data_cid = downloadable.metadata_cid, downloadable.data_cid
    report.plaintext_sha256 = downloadable.plaintext_sha256
    say(f"published {downloadable.dataset} for download, 5 lUSD")
    say(f"  encrypted on this machine; metadata {downloadable.metadata_cid}, data {downloadable.data_cid}")
    compute_only = _publish_compute_only(
        local, market, store, provider, source, name="Breast cancer diagnostics (compute only)",
        description="The same table, offered only for training models under a privacy budget.",
        max_epsilon_per_job=DP_EPSILON,
        # The publisher's declarations: the label, and the ranges documented for the features.
        targets=("target",), bounds={c: (lo, hi) for c, (lo, hi) in breast_cancer_bounds().items()},
    )  # fmt: skip
    report.compute_dataset = compute_only.dataset
    say(f"published {compute_only.dataset} for compute only, 2 lUSD, privacy budget epsilon 10")
    any_algorithm = _publish_compute_only(
        local, market, store, provider, source, name="Breast cancer diagnostics (any algorithm)",
        description="The same table; algorithms nobody vetted run under sample and aggregate.",
        max_epsilon_per_job=AGGREGATE_EPSILON, allow_any_algorithm=True, aggregate_blocks=AGGREGATE_BLOCKS,
    )  # fmt: skip
    report.aggregate_dataset = any_algorithm.dataset
    k = AGGREGATE_BLOCKS
    say(f"published {any_algorithm.dataset}: any algorithm, under sample and aggregate (k = {k})")
    report.algorithm_cid, report.algorithm_sha256, size = publish_bundle(store, UNTRUSTED_ALGORITHM)
    say(f"published an algorithm, {UNTRUSTED_ALGORITHM.name}: {report.algorithm_cid} ({size:,} bytes)")
    return downloadable, compute_only, any_algorithm


def _search(local: stack.Stack, market: Market, report: DemoReport, say: Callable[[str], None]) -> None:
    """The researcher's search of the catalog, once the indexer has caught up with the publications."""
    backend = local.services["backend"].url
    say(f"searching the catalog ({backend}) for 'breast cancer'...")
    _wait_for_index(backend, market.w3.eth.block_number)
    # The documents are fetched beside the events: searchable once each is fetched and checked.
    deadline = time.monotonic() + 30
    while True:
        found = requests.get(f"{backend}/api/v1/datasets", params={"q": "breast cancer"}, timeout=10).json()
        if len(found["items"]) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    report.found = [[f"eip155:{local.chain_id}/{d['datatoken']}", d["name"]] for d in found["items"]]
    say(f"catalog: a search for 'breast cancer' finds {len(found['items'])} datasets")
    for d in found["items"]:
        services = " and ".join(d.get("services") or ["?"])
        say(f"  {d['name']} ({services})")
    report.pages["catalog search"] = f"{backend}/?q=breast+cancer"


def _wait_for_index(backend: str, head: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        block = requests.get(f"{backend}/healthz", timeout=5).json().get("block") or {}
        if (block.get("number") or -1) >= head:
            return
        time.sleep(0.2)
    raise DemoError("the indexer did not catch up with the chain within 60 s")


def _audit(
    local: stack.Stack, market: Market, store, work: Path, report: DemoReport, say: Callable[[str], None],
    downloadable: str,
) -> None:  # fmt: skip
    """The auditor rebuilds both datasets' histories from the chain alone, checks them against what the
    catalog says, and finds the receipt behind the model."""
    from datamarket.audit import comparison, history
    from datamarket.audit.audits import audit_dataset, trace_result
    from datamarket.audit.formats import summary_line
    from datamarket.audit.provenance import saved_salt

    backend = local.services["backend"].url
    _wait_for_index(backend, market.w3.eth.block_number)
    chain = history.Chain(market.w3, market.address)
    audits = {}
    for datatoken in (downloadable, report.compute_dataset.split("/")[-1]):
        audits[datatoken] = audit_dataset(
            chain, datatoken, store=store, from_block=local.deploy_block, chain_id=local.chain_id,
            backend=comparison.http_fetch(backend), backend_url=backend,
        )  # fmt: skip
        line = summary_line(audits[datatoken])
        say(f"audit of eip155:{local.chain_id}/{datatoken} from the chain alone: {line}")
    dataset = report.compute_dataset.split("/")[-1]
    report.download_audit_summary = summary_line(audits[downloadable])
    report.download_audit_ok = audits[downloadable].ok
    report.audit_summary, report.audit_ok = summary_line(audits[dataset]), audits[dataset].ok
    report.page_url = f"{backend}/datasets/{dataset}"
    report.audit_url = f"{backend}/datasets/{dataset}/audit"
    report.pages["downloadable dataset"] = f"{backend}/datasets/{downloadable}"
    report.pages["its audit (download)"] = f"{backend}/datasets/{downloadable}/audit"
    report.pages["compute-only dataset"] = report.page_url
    report.pages["its audit (compute)"] = report.audit_url
    report.pages["the researcher's account"] = f"{backend}/accounts/{dev_account(CONSUMER).address}"
    salt = saved_salt(work / "result")
    traced = trace_result(chain, work / "result", salt or "", from_block=local.deploy_block)
    report.result_receipts = [r.job_id for r in traced.receipts]
    # A job id is 16 bytes; its receipt holds it as a bytes32, zeros first.
    if [int(j, 16) for j in report.result_receipts] != [int(report.job_id, 16)]:
        raise DemoError(
            f"the model's provenance names receipts {report.result_receipts}, not job {report.job_id}"
        )
    say(
        f"the model in result/ was produced by job {report.job_id}'s receipt (epsilon "
        f"{traced.receipts[0].epsilon / 1e6:g}, algorithm {traced.receipts[0].algorithm_hash[:18]}...)"
    )
    problems = [summary_line(a) for a in audits.values() if not a.ok]
    if problems:
        raise DemoError("the audit found problems: " + "; ".join(problems))


def _publish_compute_only(
    local: stack.Stack, market: Market, store, provider: ProviderClient, source: Path, *, name: str,
    description: str, max_epsilon_per_job: float, **policy: Any,
) -> Any:  # fmt: skip
    """``source`` published by the demo's publisher for compute only (2 lUSD an order, budget 10),
    with ``policy`` (declarations, algorithms) added to its compute service."""
    return publish_file(
        PublishRequest(
            path=source, name=name, description=description, tags=("health", "tabular"), price=2 * ONE,
            payment_token=local.contracts["payment_token"], download=False, compute=True,
            epsilon_budget=10.0, max_epsilon_per_job=max_epsilon_per_job, **policy,
        ),
        market=market.as_account(dev_account(PUBLISHER)), store=store, provider_info=provider.info(),
        provider_url=provider.base_url,
    )  # fmt: skip


#: The DP training job of the demo: an MLP on the 30 features, target "target", with the DP-SGD
#: settings the utility benchmark measured (scripts/bench/dp_utility.py: 0.95 accuracy at epsilon 3;
#: smaller batches and a lower rate sometimes left the model at chance).
DP_EPSILON = 3.0
DP_PARAMS = {"target": "target", "model": "mlp", "epochs": 15, "hidden": 128, "batch_size": 128, "lr": 0.02}


def _compute_story(
    local: stack.Stack, market: Market, store, provider: ProviderClient, published: Any, work: Path,
    report: DemoReport, say: Callable[[str], None],
) -> None:  # fmt: skip
    from datamarket.sdk import jobs, results

    consumer = market.as_account(dev_account(CONSUMER))
    handle = jobs.start_job(
        consumer, provider, store, published.datatoken, algorithm="train_tabular",
        params=DP_PARAMS,
        epsilon=DP_EPSILON, jobs_dir=work / "jobs",
    )  # fmt: skip
    report.job_id = handle.job_id
    say(f"ordered compute on it ({handle.order_tx}), job {handle.job_id}: train_tabular with DP-SGD")
    last: list[str] = []

    def show(status: dict) -> None:
        line = f"  job {status['state']} {status['progress']:.0%}"
        if not last or last[-1] != line:
            last.append(line)
            say(line)

    final = jobs.wait(handle, on_update=show, poll_s=0.25, timeout=600)
    report.job_state = final["state"]
    if final["state"] != "succeeded":
        raise DemoError(f"the compute job ended {final['state']}: {final.get('error')}")
    files = results.fetch_result(handle, store, work / "result")
    metrics = json.loads((work / "result" / "metrics.json").read_text())
    report.accuracy, report.epsilon_spent = metrics["accuracy"], metrics["epsilon_spent"]
    report.epsilon_charged = final["epsilon"]["charged"]
    say(f"result decrypted: {', '.join(sorted(p.name for p in files))} (the policy found no data row in it)")
    spent, delta = report.epsilon_spent, metrics["delta"]
    say(f"  test accuracy {report.accuracy:.3f}, epsilon spent {spent:.3f}, delta {delta:g}")
    deadline = time.monotonic() + 60
    while not final.get("receipt") and time.monotonic() < deadline:
        time.sleep(0.25)
        final = jobs.status(handle)
    if not final.get("receipt"):
        raise DemoError("the job's receipt was not posted on chain")
    report.receipt_tx = final["receipt"]["tx"]
    report.privacy = provider.privacy(published.datatoken)
    say(f"receipt on chain: {report.receipt_tx} (block {final['receipt']['block']})")
    p = report.privacy
    say(f"privacy budget: {p['budget']:g} epsilon, spent {p['spent']:g}, remaining {p['remaining']:g}")


#: The untrusted algorithm of the demo, run under sample and aggregate on k blocks.
UNTRUSTED_ALGORITHM = Path(__file__).parent / "examples" / "logistic_regression"
AGGREGATE_BLOCKS = 4
AGGREGATE_EPSILON = 3.0


def _untrusted_story(
    market: Market, store, provider: ProviderClient, published: Any, work: Path, report: DemoReport,
    say: Callable[[str], None],
) -> None:  # fmt: skip
    from datamarket.sdk import jobs, results

    consumer = market.as_account(dev_account(CONSUMER))
    n = len(breast_cancer_bounds()) + 1
    handle = jobs.start_job(
        consumer, provider, store, published.datatoken, algorithm=UNTRUSTED_ALGORITHM,
        params={"target": "target", "bounds": breast_cancer_bounds()}, epsilon=AGGREGATE_EPSILON,
        output={"format": "json", "shape": [n], "lower": -1.0, "upper": 1.0}, jobs_dir=work / "jobs",
    )  # fmt: skip
    say(f"runs the published logistic regression (a bundle nobody vetted) on it, job {handle.job_id}")
    final = jobs.wait(handle, poll_s=0.25, timeout=600)
    report.aggregate_job_state = final["state"]
    if final["state"] != "succeeded":
        raise DemoError(f"the sample-and-aggregate job ended {final['state']}: {final.get('error')}")
    results.fetch_result(handle, store, work / "aggregate")
    report.aggregate = json.loads((work / "aggregate" / "aggregate.json").read_text())
    released = report.aggregate
    shown = ", ".join(f"{v:+.2f}" for v in released["values"][:5])
    say(f"released: {n} coefficients averaged over {released['blocks']} blocks, Laplace noise of scale "
        f"{released['noise_scale']:.3f}, epsilon {released['epsilon']:g}")  # fmt: skip
    say(f"  first coefficients {shown}, ...; no logs, no per-block output left the provider")
