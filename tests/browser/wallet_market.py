"""The local market the wallet tests buy from: ``datamarket up`` in a temporary home (anvil, the
contracts, the provider, a compute worker, the content gateway, the indexer and the backend), with
two datasets published with the Python SDK (one to download, one for compute only, declaring its
target), and the catalog indexed up to them.

The backend lets the dataset page's scripts connect to the chain's node
(``DATAMARKET_BACKEND_PAGE_CONNECT_ORIGINS``): the test wallet runs inside the page and forwards to
it, where a real wallet would sign in its own extension.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.demo import write_breast_cancer_csv
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.storage import open_store
from tests.integration.compute.market import PUBLISHER, publish_compute_dataset

#: The buyer the test wallet signs for: anvil's public dev account 5 (lUSD granted by ``up``).
BUYER = 5
ONE = 10**18


@dataclass(frozen=True)
class WalletMarket:
    local: stack.Stack
    backend: str
    rpc_url: str
    #: The dataset to download and the compute-only one.
    download: str
    compute: str
    csv_sha256: str
    buyer: str


def start(home: Path, work: Path, chain_port: int) -> WalletMarket:
    """``datamarket up`` in ``home`` (its chain on ``chain_port``) and the two datasets; the caller
    runs ``stack.down(home)``. The environment names the broker and the page's wallet origin."""
    local = stack.up(home, chain_port=chain_port)
    chain = local.services["chain"]
    market = Market(DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3(), local.contracts["market"])
    provider = ProviderClient(local.services["provider"].url)
    store = open_store(local.store)
    csv = work / "breast_cancer.csv"
    write_breast_cancer_csv(csv)
    download = publish_file(
        PublishRequest(path=csv, name="Breast cancer (download)", price=2 * ONE,
                       payment_token=local.contracts["payment_token"], download=True, compute=False),
        market=market.as_account(dev_account(PUBLISHER)), store=store, provider_info=provider.info(),
        provider_url=provider.base_url,
    )  # fmt: skip
    compute = publish_compute_dataset(local, market, store, provider, csv, ())
    wallet_market = WalletMarket(
        local=local, backend=local.services["backend"].url, rpc_url=chain.url,
        download=download.datatoken, compute=compute.datatoken,
        csv_sha256=hashlib.sha256(csv.read_bytes()).hexdigest(), buyer=dev_account(BUYER).address,
    )  # fmt: skip
    for datatoken in (wallet_market.download, wallet_market.compute):
        _wait_indexed(wallet_market.backend, datatoken)
    return wallet_market


def _wait_indexed(backend: str, datatoken: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = requests.get(f"{backend}/api/v1/datasets/{datatoken}", timeout=5)
        if answer.ok and answer.json()["dataset"]["metadata"]["status"] == "valid":
            return
        time.sleep(0.2)
    raise AssertionError(f"the catalog did not index {datatoken} with a valid document in {timeout} s")
