"""Search latency over 10,000 indexed datasets, on SQLite (FTS5) and PostgreSQL (full text, GIN).

The catalog is filled through the indexer's own write path (``backend.indexer.writer.write_batch``,
the fold of ``datamarket.chain.replay``) from generated events: ``BENCH_DATASETS`` datasets published
and priced, a fifth of them bought and ordered; their metadata documents (names, descriptions, tags and
columns drawn from a vocabulary) are fetched and checked by the indexer's ``DocumentFetcher`` from an
embedded content store. The API runs under gunicorn (2 workers) as ``datamarket up`` runs it, and one
client sends the query mix below in sequence over a kept-alive connection.

Prints p50/p99 per database and writes bench/results/catalog_search.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from bench_market import postgres_database
from eth_utils import keccak, to_checksum_address
from machine import machine

from backend.db.engine import open_engine, session_factory
from backend.db.migrate import upgrade
from backend.indexer import projection, writer
from backend.indexer.documents import DocumentFetcher
from datamarket.chain import events as ev
from datamarket.chain.devchain import DEV_CHAIN_ID, free_port
from datamarket.chain.logs import Batch, BlockRef
from datamarket.chain.quotes import ZERO_ADDRESS
from datamarket.metadata.document import canonical_bytes
from datamarket.storage.base import add_bytes
from datamarket.storage.embedded import EmbeddedStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.fakes import full_document  # a complete document, as the tests build it

DATASETS = int(os.environ.get("BENCH_DATASETS", "10000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "400"))
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "results" / "catalog_search.json"
MARKET = to_checksum_address("0x" + "5f" * 20)
USD = to_checksum_address("0x" + "e7" * 20)
ONE = 10**18
TOPICS = ["cancer", "diabetes", "traffic", "weather", "energy", "retail", "credit", "housing", "genomics",
          "satellite", "election", "football", "shipping", "air quality", "crop yield", "churn", "fraud",
          "sleep", "heart rate", "census"]  # fmt: skip
PLACES = ["Lisbon", "Nairobi", "Ohio", "Bavaria", "Kyoto", "Quebec", "Chile", "Punjab", "Norway", "Texas"]
KINDS = ["survey", "sensor readings", "transactions", "records", "measurements", "images features", "logs"]
TAGS = ["health", "tabular", "finance", "mobility", "climate", "retail", "sports", "public", "time-series",
        "geo", "text", "labels", "medical", "energy", "agriculture"]  # fmt: skip
COLUMNS = ["age", "income", "temperature", "pressure", "label", "diagnosis", "speed", "price", "region",
           "timestamp", "score", "glucose", "humidity", "distance", "category", "revenue"]  # fmt: skip


def address(kind: str, i: int) -> str:
    return to_checksum_address(keccak(text=f"{kind}{i}")[:20])


def document(rng: random.Random, i: int) -> dict:
    base = full_document()
    topic, place, kind = rng.choice(TOPICS), rng.choice(PLACES), rng.choice(KINDS)
    columns = rng.sample(COLUMNS, 5)
    profile = {**base["profile"], "columns": [{**base["profile"]["columns"][0], "name": c} for c in columns]}
    return {**base, "name": f"{topic.title()} {kind} from {place} #{i}",
            "description": f"{kind.capitalize()} about {topic} collected in {place}, {2000 + i % 25}.",
            "tags": rng.sample(TAGS, 3), "profile": profile}  # fmt: skip


def fill(engine, store_dir: Path) -> None:
    """Publish ``DATASETS`` datasets (and order a fifth of them) through the indexer's write path."""
    rng = random.Random(3)
    store = EmbeddedStore(store_dir, sync=False)
    catalog = projection.Catalog(MARKET)
    sessions = session_factory(engine)
    block, per_batch = 0, 500
    for first in range(0, DATASETS, per_batch):
        events, blocks = [], {}
        for i in range(first, min(DATASETS, first + per_batch)):
            block += 1
            blocks[block] = BlockRef(block, "0x" + keccak(text=f"b{block}").hex(), 1_700_000_000 + block * 12)
            raw = canonical_bytes(document(rng, i))
            cid, sha = add_bytes(store, raw), "0x" + hashlib.sha256(raw).hexdigest()
            dt, tx, here = address("dt", i), "0x" + keccak(text=f"tx{i}").hex(), blocks[block].hash
            metas = [ev.LogMeta(MARKET, block, here, tx, n) for n in range(3)] + [
                ev.LogMeta(dt, block, here, tx, 3)
            ]
            publisher, provider = address("publisher", i % 300), address("provider", i % 5)
            price = (1 + rng.randrange(100)) * ONE // 10
            services = 0b11 if i % 3 else 0b01
            events += [ev.DatasetPublished(metas[0], dt, publisher, provider, i, services, 10**7, sha, cid),
                       ev.PriceSet(metas[1], dt, USD, price, 0)]  # fmt: skip
            if i % 5 == 0:
                buyer = address("buyer", i % 97)
                events += [ev.Bought(metas[2], dt, buyer, USD, 1, price, price // 100, 0, True),
                           ev.Transfer(metas[3], ZERO_ADDRESS, buyer, 1)]  # fmt: skip
        with sessions.begin() as session:
            batch = Batch(first, block, events, blocks)
            writer.write_batch(session, catalog, batch, blocks[block], chain_id=DEV_CHAIN_ID, head=block)
    fetcher = DocumentFetcher(engine, store, parallel=2)
    while fetcher.fetch_due():
        pass


def queries(rng: random.Random) -> list[tuple[str, dict]]:
    mix = []
    for _ in range(QUERIES):
        kind = rng.randrange(6)
        if kind == 0:
            mix.append(("one word", {"q": rng.choice(TOPICS).split()[0]}))
        elif kind == 1:
            mix.append(("two words", {"q": f"{rng.choice(TOPICS)} {rng.choice(PLACES)}"}))
        elif kind == 2:
            mix.append(("prefix", {"q": rng.choice(TOPICS)[:4]}))
        elif kind == 3:
            mix.append(("word and tag", {"q": rng.choice(KINDS).split()[0], "tag": rng.choice(TAGS)}))
        elif kind == 4:
            mix.append(("filters, by price", {"service": "compute", "budget_left": "true", "sort": "price"}))
        else:
            mix.append(("browse newest", {}))
    return mix


def measure(database_url: str, work: Path) -> dict:
    engine = open_engine(database_url)
    upgrade(engine)
    started = time.perf_counter()
    fill(engine, work / f"store-{uuid.uuid4().hex[:6]}")
    filled = time.perf_counter() - started
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "DATAMARKET_BACKEND_DATABASE_URL": database_url,
           "DATAMARKET_BACKEND_RPC_URL": "http://127.0.0.1:9", "DATAMARKET_BACKEND_MARKET": MARKET,
           "DATAMARKET_BACKEND_STORE": str(work),
           "DATAMARKET_BACKEND_CHAIN_ID": str(DEV_CHAIN_ID),
           # One client asking as fast as answers come: the search, not the rate limit, is measured.
           "DATAMARKET_BACKEND_RATE_LIMIT_API": "100000/second"}  # fmt: skip
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "backend.wsgi:app"]  # fmt: skip
    server = subprocess.Popen(gunicorn, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    session = requests.Session()
    session.trust_env = False
    url = f"http://127.0.0.1:{port}/api/v1/datasets"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                session.get(url, timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        by_kind: dict[str, list[float]] = {}
        hits = 0
        for kind, params in queries(random.Random(5)):
            t0 = time.perf_counter()
            answer = session.get(url, params={**params, "limit": 20}, timeout=10)
            by_kind.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            answer.raise_for_status()
            hits += len(answer.json()["items"])
    finally:
        server.terminate()
        server.wait(timeout=15)
        engine.dispose()
    every = sorted(v for values in by_kind.values() for v in values)
    return {
        "datasets": DATASETS, "fill_s": round(filled, 1), "queries": len(every), "items_answered": hits,
        "p50_ms": round(statistics.median(every), 2), "p99_ms": round(every[int(0.99 * (len(every) - 1))], 2),
        "by_kind_p50_ms": {k: round(statistics.median(v), 2) for k, v in sorted(by_kind.items())},
    }  # fmt: skip


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/catalog.db", Path(tmp))
        url = postgres_database(POSTGRES, "dm_search")
        if url is not None:
            results["postgresql"] = measure(url, Path(tmp))
    report = {"target_p50_ms": 20, "results": results, "machine": machine()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'database':<12}{'datasets':>9}{'queries':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in results.items():
        print(f"{name:<12}{r['datasets']:>9}{r['queries']:>9}{r['p50_ms']:>9}{r['p99_ms']:>9}")
        print("   " + ", ".join(f"{k} {v}" for k, v in r["by_kind_p50_ms"].items()))


if __name__ == "__main__":
    main()
