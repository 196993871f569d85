"""A load of many researchers at once against a local market (``datamarket up``): each client
requests its dataset's key from the provider (``POST /api/v1/access``, a fresh signed request each
time) and searches the catalog (``GET /api/v1/datasets?q=``), over and over, for a fixed time.

Every client is its own consumer: an account made for the run (throwaway keys derived from the run's
seed, funded on the local chain) that took one download order of one free dataset. What comes back
is every answer's status and latency, and every accepted access request, so that the caller checks
that nothing was answered 5xx and that no nonce was lost or accepted twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from eth_account import Account
from eth_utils import keccak

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.chain.quotes import SERVICE_DOWNLOAD
from datamarket.sdk import download, orders, publish
from datamarket.sdk.provider_client import ProviderClient
from datamarket.storage import open_store

SEARCH_WORDS = ("load", "table", "rows", "squares", "data")


@dataclass(frozen=True)
class Buyer:
    market: Market
    datatoken: str
    order_tx: str
    order_id: int


@dataclass
class LoadResult:
    duration_s: float
    clients: int
    #: (kind, status or "error: <exception class>", seconds) of every request.
    answers: list[tuple[str, str, float]] = field(default_factory=list)
    #: (consumer, nonce, body) of every access request answered 200.
    accepted: list[tuple[str, int, dict]] = field(default_factory=list)

    def statuses(self, kind: str) -> Counter:
        return Counter(status for k, status, _ in self.answers if k == kind)

    def latencies(self, kind: str, status: str = "200") -> list[float]:
        return sorted(s for k, st, s in self.answers if k == kind and st == status)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def prepare(local: stack.Stack, clients: int, work: Path, seed: str = "load") -> tuple[list[Buyer], str]:
    """One free dataset published on the local market and ``clients`` buyers holding an order of it;
    also the dataset's name."""
    chain = local.services["chain"]
    w3 = DevChain(port=int(chain.url.rsplit(":", 1)[1])).web3()
    market = Market(w3, local.contracts["market"])
    provider = ProviderClient(local.services["provider"].url)
    source = work / "load.csv"
    source.write_text("a,b\n" + "".join(f"{i},{i * i}\n" for i in range(1000)))
    name = f"load table {seed}"
    published = publish.publish_file(
        publish.PublishRequest(path=source, name=name, free=True, dispenser_limit=1),
        market=market.as_account(dev_account(2)),
        store=open_store(local.store),
        provider_info=provider.info(),
        provider_url=local.services["provider"].url,
    )
    buyers = []
    for i in range(clients):
        # Throwaway keys of this run on the local chain, funded with local test ether only.
        account = Account.from_key(keccak(text=f"{seed}-{i}"))
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])
        as_buyer = market.as_account(account)
        orders.buy(as_buyer, published.datatoken)
        order_tx, order_id = orders.order_of(
            orders.order(as_buyer, provider, published.datatoken, SERVICE_DOWNLOAD)
        )
        buyers.append(Buyer(as_buyer, published.datatoken, order_tx, order_id))
    return buyers, name


def run(provider_url: str, backend_url: str, buyers: list[Buyer], duration_s: float) -> LoadResult:
    """Every buyer a thread, asking for its key and searching, until ``duration_s`` has passed."""
    result = LoadResult(duration_s=duration_s, clients=len(buyers))
    lock = threading.Lock()
    start = threading.Barrier(len(buyers) + 1)
    stop_at: list[float] = []

    def client(index: int, buyer: Buyer) -> None:
        session = requests.Session()
        session.trust_env = False
        answers, accepted = [], []
        start.wait()
        while time.monotonic() < stop_at[0]:
            ask = download.sign_access(buyer.market, buyer.datatoken, buyer.order_tx, buyer.order_id)
            body = {"request": ask.request.to_json(), "signature": "0x" + ask.signature.hex()}
            status = _timed(session, "POST", provider_url + "/api/v1/access", answers, "access", json=body)
            if status == "200":
                accepted.append((buyer.market.account.address, ask.request.nonce, body))
            word = SEARCH_WORDS[(index + len(answers)) % len(SEARCH_WORDS)]
            _timed(session, "GET", backend_url + "/api/v1/datasets", answers, "search", params={"q": word})
        with lock:
            result.answers += answers
            result.accepted += accepted

    threads = [threading.Thread(target=client, args=(i, b), daemon=True) for i, b in enumerate(buyers)]
    for thread in threads:
        thread.start()
    stop_at.append(time.monotonic() + duration_s)
    start.wait()
    for thread in threads:
        thread.join(timeout=duration_s + 120)
    return result


def _timed(session: requests.Session, method: str, url: str, answers: list, kind: str, **kwargs) -> str:
    """One request, timed. A kept-alive connection that the server closed just as it was reused (the
    race every HTTP client meets: nothing reached the server) is retried once on a new connection, as
    clients do, and counted under ``reconnect``; a request the server took and did not answer would
    come back refused (a used nonce), not as 200."""
    started = time.perf_counter()
    for attempt in (1, 2):
        try:
            status = str(session.request(method, url, timeout=30, **kwargs).status_code)
            break
        except requests.ConnectionError as exc:
            status = f"error: {type(exc).__name__}"
            if attempt == 1:
                session.close()  # drop the pooled connections: the retry opens a new one
                answers.append(("reconnect", kind, 0.0))
        except requests.RequestException as exc:
            status = f"error: {type(exc).__name__}"
            break
    answers.append((kind, status, time.perf_counter() - started))
    return status


def replays(provider_url: str, accepted: list[tuple[str, int, dict]], sample: int = 100) -> Counter:
    """The error codes the provider answers to ``sample`` accepted requests sent again."""
    session = requests.Session()
    session.trust_env = False
    step = max(1, len(accepted) // sample)
    codes = Counter()
    for _, _, body in accepted[::step][:sample]:
        answer = session.post(provider_url + "/api/v1/access", json=body, timeout=30)
        codes[answer.json().get("error", {}).get("code", str(answer.status_code))] += 1
    return codes


__all__ = ["Buyer", "LoadResult", "percentile", "prepare", "replays", "run"]
