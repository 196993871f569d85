"""Freshness: from an order's block to the catalog API showing the order, at 0 confirmations.

A local anvil with the market and one dataset; the indexer (``python -m backend``, polling every
0.25 s as ``datamarket up`` runs it) and the API (gunicorn, ``backend.wsgi:app``) in processes of their
own, on SQLite. Each of ``BENCH_ORDERS`` orders is sent as a raw transaction (anvil mines it before it
answers: the clock starts when the block exists), then the API's order list is polled every 10 ms
until the order is there. Orders are spaced by a random 0-0.5 s, so they land anywhere in the
indexer's polling cycle.

Prints p50/p90/max and writes bench/results/indexer_freshness.json.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bench_market import ONE, Sender, new_market
from machine import machine

from datamarket.chain.devchain import DevChain, free_port
from datamarket.chain.market import PublishParams
from datamarket.chain.quotes import ZERO_HASH, ProviderFee, sign_quote

ORDERS = int(os.environ.get("BENCH_ORDERS", "40"))
REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "results" / "indexer_freshness.json"


def wait_for(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    rng = random.Random(7)
    with DevChain() as chain, tempfile.TemporaryDirectory() as tmp:
        bench = new_market(chain, 10**6 * ONE)
        market, deploy_block, usd = bench.market, bench.deploy_block, bench.usd
        publisher, provider, consumer = bench.publisher, bench.provider, bench.consumer
        buyer = market.as_account(consumer)
        params = PublishParams(provider=provider.address, metadata_cid="bafy-fresh",
                               metadata_hash="0x" + "11" * 32, services=0b11, epsilon_budget=10**6,
                               payment_token=usd, price=ONE)  # fmt: skip
        datatoken = market.as_account(publisher).publish(params).datatoken
        buyer.buy(datatoken, ORDERS)
        port = free_port()
        settings = {"RPC_URL": chain.url, "MARKET": market.address, "MARKET_DEPLOY_BLOCK": str(deploy_block),
                    "DATA_DIR": tmp, "STORE": str(Path(tmp) / "store"), "CHAIN_ID": str(market.chain_id),
                    "LOG_LEVEL": "WARNING",
                    # The catalog is polled every 10 ms: the freshness, not the rate limit, is measured.
                    "RATE_LIMIT_API": "100000/second"}  # fmt: skip
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            **{f"DATAMARKET_BACKEND_{k}": v for k, v in settings.items()},
        }
        gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                    "backend.wsgi:app"]  # fmt: skip
        processes = [
            subprocess.Popen([sys.executable, "-m", "backend"], env=env, cwd=REPO),
            subprocess.Popen(gunicorn, env=env, cwd=REPO, stderr=subprocess.DEVNULL),
        ]
        api = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.trust_env = False
        try:
            wait_for(lambda: session.get(f"{api}/healthz", timeout=1).json()["block"] is not None, "the API")
            sender = Sender(chain, consumer)
            latencies = []
            for nonce in range(1, ORDERS + 1):
                time.sleep(rng.uniform(0, 0.5))
                quote = ProviderFee(datatoken=datatoken, consumer=consumer.address, service_id=0,
                                    fee_token=usd, amount=0, valid_until=2**40, nonce=nonce,
                                    environment=ZERO_HASH)  # fmt: skip
                signature = sign_quote(quote, provider.key, chain_id=market.chain_id, market=market.address)
                sender.call(market.contract.functions.startOrder(quote.as_tuple(), signature, []), 400_000)
                sender.flush()  # anvil answers once the order's block is mined
                mined = time.perf_counter()
                url = f"{api}/api/v1/datasets/{datatoken}"
                while session.get(url, timeout=5).json()["dataset"]["order_count"] < nonce:
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - mined)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=15)
    ordered = sorted(latencies)
    report = {
        "orders": ORDERS, "confirmations": 0, "poll_interval_s": 0.25, "database": "sqlite",
        "p50_s": round(statistics.median(ordered), 3),
        "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 3), "max_s": round(ordered[-1], 3),
        "target_p50_s": 1.0, "machine": machine(),
    }  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"order block -> API: p50 {report['p50_s']} s, p90 {report['p90_s']} s, max {report['max_s']} s "
          f"over {ORDERS} orders (0 confirmations)")  # fmt: skip


if __name__ == "__main__":
    main()
