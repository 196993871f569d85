"""Indexer catch-up: index ``BENCH_EVENTS`` (default 100,000) market events from a local anvil, from
an empty catalog, once into SQLite and once into PostgreSQL (127.0.0.1:5432, when it answers).

The chain gets a realistic mix: 1,000 datasets published (DatasetPublished, PriceSet), 2,000 buys
(Bought and a datatoken Transfer each), 300 orders (OrderStarted, Transfer), and compute receipts
posted in batches of 250 for the rest. The indexer runs as ``datamarket indexer run`` does, in a
process of its own; the figures are events per second from its start to the checkpoint reaching the
head, and that process's peak resident memory.

Prints a table and writes bench/results/indexer_catchup.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_market import ONE, Sender, new_market, postgres_database
from eth_utils import keccak
from machine import machine
from sqlalchemy import select

from backend.db import models as m
from backend.db.engine import open_engine, session_factory
from backend.db.migrate import upgrade
from datamarket.chain.devchain import DevChain
from datamarket.chain.events import DatasetPublished
from datamarket.chain.market import ComputeReceipt, Market, PublishParams
from datamarket.chain.quotes import ZERO_HASH, ProviderFee, sign_quote

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "results" / "indexer_catchup.json"
DATASETS, BUYS, ORDERS, RECEIPTS_PER_TX = 1_000, 2_000, 300, 250


def fill(chain: DevChain) -> tuple[Market, int, int]:
    """A market with about ``EVENTS`` events; returns it, its deploy block and the event count."""
    bench = new_market(chain, 10**9 * ONE)
    market, deploy_block, usd = bench.market, bench.deploy_block, bench.usd
    publisher, provider, consumer = bench.publisher, bench.provider, bench.consumer
    functions = market.contract.functions
    sender = Sender(chain, publisher)
    for i in range(DATASETS):
        params = PublishParams(provider=provider.address, metadata_cid=f"bafy-bench-{i}",
                               metadata_hash="0x" + keccak(text=str(i)).hex(), services=0b11,
                               epsilon_budget=2**47, payment_token=usd, price=(1 + i % 50) * ONE)  # fmt: skip
        sender.call(functions.publish(params.as_tuple()), 1_000_000)
    sender.wait()
    datatokens = [e.datatoken for e in market.events(deploy_block) if isinstance(e, DatasetPublished)]
    if len(datatokens) != DATASETS:
        raise SystemExit(f"{DATASETS - len(datatokens)} of {DATASETS} publications failed")
    events = 2 * len(datatokens)
    buyer = Sender(chain, consumer)
    for i in range(BUYS):
        buyer.call(functions.buy(datatokens[i % DATASETS], 1, usd, 50 * ONE), 300_000)
        events += 2
    for i in range(ORDERS):
        quote = ProviderFee(
            datatoken=datatokens[i % DATASETS], consumer=consumer.address, service_id=1, fee_token=usd,
            amount=0, valid_until=2**40, nonce=i + 1, environment=ZERO_HASH,
        )  # fmt: skip
        signature = sign_quote(quote, provider.key, chain_id=market.chain_id, market=market.address)
        buyer.call(functions.startOrder(quote.as_tuple(), signature, []), 400_000)
        events += 2
    buyer.wait()
    poster = Sender(chain, provider)
    job = 0
    while events < EVENTS:
        count = min(RECEIPTS_PER_TX, EVENTS - events)
        datatoken = datatokens[job % DATASETS]
        receipts = [ComputeReceipt(job_id="0x" + keccak(text=f"job{job + k}").hex(), datatoken=datatoken,
                                   order_id=k % ORDERS, algorithm_hash=ZERO_HASH[:-1] + "1",
                                   output_hash="0x" + keccak(text=f"out{job + k}").hex(), epsilon=1)
                    for k in range(count)]  # fmt: skip
        poster.call(functions.postComputeReceipts(datatoken, [r.as_tuple() for r in receipts]), 12_000_000)
        job += count
        events += count
    poster.wait()
    return market, deploy_block, events


def catch_up(chain: DevChain, market: Market, deploy_block: int, database_url: str, work: Path) -> dict:
    engine = open_engine(database_url)
    upgrade(engine)
    head = market.w3.eth.block_number
    settings = {"RPC_URL": chain.url, "MARKET": market.address, "MARKET_DEPLOY_BLOCK": str(deploy_block),
                "DATA_DIR": str(work), "DATABASE_URL": database_url, "STORE": str(work / "store"),
                "LOG_LEVEL": "WARNING"}  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        **{f"DATAMARKET_BACKEND_{k}": v for k, v in settings.items()},
    }
    sessions = session_factory(engine)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "backend"], env=env, cwd=REPO)
    while True:
        with sessions() as session:
            block = session.execute(select(m.Checkpoint.block_number)).scalar()
        if block is not None and block >= head:
            break
        if process.poll() is not None:
            raise SystemExit(f"the indexer exited with status {process.returncode}")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    process.terminate()
    _, _, usage = os.wait4(process.pid, 0)
    with sessions() as session:
        stored = session.query(m.Event).count()
    return {"events": stored, "seconds": round(seconds, 2), "events_per_s": round(stored / seconds),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}  # fmt: skip


def main() -> None:
    chain = DevChain().start()
    try:
        began = time.perf_counter()
        market, deploy_block, events = fill(chain)
        print(f"chain filled with {events} events in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = catch_up(
                chain, market, deploy_block, f"sqlite:///{tmp}/catalog.db", Path(tmp)
            )
            url = postgres_database(POSTGRES, "dm_bench")
            if url is not None:
                results["postgresql"] = catch_up(chain, market, deploy_block, url, Path(tmp))
    finally:
        chain.stop()
    report = {
        "events_on_chain": events,
        "target_events_per_s": 2000,
        "results": results,
        "machine": machine(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'database':<12}{'events':>9}{'seconds':>9}{'events/s':>10}{'peak RSS MiB':>14}")
    for name, r in results.items():
        print(f"{name:<12}{r['events']:>9}{r['seconds']:>9}{r['events_per_s']:>10}{r['peak_rss_mib']:>14}")


if __name__ == "__main__":
    main()
