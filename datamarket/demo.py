"""The demo: a whole market story on a real dataset, on a local market that it starts and stops.

A publisher (dev account 2) publishes scikit-learn's breast_cancer table as CSV: profiled, encrypted
on its machine, pinned in the content store, its key wrapped to the provider. A researcher (dev
account 4) buys a datatoken, orders the download service, gets the key from the provider and
decrypts locally; the demo checks that the sha256s agree. The accounts are anvil's public dev keys.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.errors import DatamarketError
from datamarket.sdk import download as flows
from datamarket.sdk.files import sha256_file
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
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


def write_breast_cancer_csv(path: Path) -> int:
    """scikit-learn's breast_cancer data (shipped inside the package) as one CSV; returns rows."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(path, index=False)
    return len(frame)


def run(say: Callable[[str], None] = print, home: Path | None = None) -> DemoReport:
    report = DemoReport()
    with tempfile.TemporaryDirectory(prefix="datamarket-demo-") as tmp:
        work = Path(tmp)
        home = home or work / "market"
        local = stack.up(home)
        try:
            _story(local, work, report, say)
        finally:
            stack.down(home)
            say("local market stopped")
    if report.plaintext_sha256 != report.downloaded_sha256:
        raise DemoError("the downloaded file differs from the published one")
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
    published = publish_file(
        PublishRequest(
            path=source, name="Breast cancer diagnostics",
            description="Features of cell nuclei from breast mass images, with the diagnosis.",
            tags=("health", "tabular"), price=5 * ONE, payment_token=local.contracts["payment_token"],
        ),
        market=market.as_account(dev_account(PUBLISHER)), store=store, provider_info=provider.info(),
        provider_url=provider.base_url,
    )  # fmt: skip
    report.dataset, report.publish_tx = published.dataset, published.publish_tx
    report.metadata_cid, report.data_cid = published.metadata_cid, published.data_cid
    report.plaintext_sha256 = published.plaintext_sha256
    say(f"published {published.dataset} for 5 lUSD")
    say(f"  metadata {published.metadata_cid}, data {published.data_cid}")

    consumer = market.as_account(dev_account(CONSUMER))
    report.buy_tx = flows.buy(consumer, published.datatoken).tx_hash
    say(f"researcher bought a datatoken: {report.buy_tx}")
    result = flows.download(consumer, store, provider, published.datatoken, work / "downloaded.csv")
    # Hashed again from the file on disk, independently of the check the download made.
    report.order_tx, report.downloaded_sha256 = result.order_tx, sha256_file(Path(result.path))
    say(f"ordered ({result.order_tx}), got the key from the provider, decrypted {Path(result.path).name}")
    same = "equal" if report.downloaded_sha256 == published.plaintext_sha256 else "DIFFERENT"
    say(f"sha256 published  {published.plaintext_sha256}")
    say(f"       downloaded {report.downloaded_sha256}: {same}")
