"""Compute job start overhead on a local market that it starts and stops: from the provider
accepting ``POST /api/v1/compute`` to the algorithm's first line of output, with a warm worker,
once with Redis as the broker (127.0.0.1:6379, database 14) and once with the embedded SQLite
broker. The algorithm prints a line first thing, so the figure is the platform's: queueing,
staging (fetch and decrypt the dataset into the job's tmpfs, build the raw-row index), the sandbox
and the interpreter's start. Also the whole round trip as the consumer sees it (order on chain,
signed request, job done and result decrypted).

Prints a table and writes bench/results/job_start.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.demo import write_breast_cancer_csv
from datamarket.jobs.store import JobStore
from datamarket.sdk.jobs import pack_bundle, start_job, wait
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.sdk.results import fetch_result
from datamarket.storage import open_store

ONE = 10**18
JOBS = int(os.environ.get("BENCH_JOBS", "30"))
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
OUT = Path(__file__).resolve().parents[2] / "bench" / "results" / "job_start.json"
FIRST_LINE = 'print("first line", flush=True)\nopen("/out/metrics.json", "w").write("{}")\n'


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(broker: str | None, work: Path) -> dict:
    home = work / ("market-redis" if broker else "market-sqlite")
    if broker:
        import redis

        redis.Redis.from_url(broker).flushdb()
        os.environ["DATAMARKET_BROKER_URL"] = broker
    else:
        os.environ.pop("DATAMARKET_BROKER_URL", None)
    local = stack.up(home)
    jobs = JobStore(f"sqlite:///{home / 'provider' / 'jobs.db'}")
    try:
        w3 = DevChain(port=int(local.services["chain"].url.rsplit(":", 1)[1])).web3()
        market = Market(w3, local.contracts["market"])
        store = open_store(local.store)
        provider = ProviderClient(local.services["provider"].url)
        csv = work / "breast_cancer.csv"
        write_breast_cancer_csv(csv)
        algorithm = work / "first_line.py"
        algorithm.write_text(FIRST_LINE)
        _, digest = pack_bundle(algorithm)
        published = publish_file(
            PublishRequest(path=csv, name="bench", price=ONE, payment_token=local.contracts["payment_token"],
                           download=False, compute=True, epsilon_budget=1.0, max_epsilon_per_job=1.0,
                           trusted_algorithms=(digest,)),
            market=market.as_account(dev_account(2)), store=store, provider_info=provider.info(),
            provider_url=provider.base_url,
        )  # fmt: skip
        consumer = market.as_account(dev_account(4))
        first, whole, queued, staging = [], [], [], []
        for i in range(JOBS + 2):  # the first two warm the worker's caches and are not counted
            began = time.perf_counter()
            handle = start_job(
                consumer, provider, store, published.datatoken, algorithm=algorithm, params={},
                epsilon=None, jobs_dir=work / "jobs",
            )  # fmt: skip
            final = wait(handle, poll_s=0.02, timeout=60)
            fetch_result(handle, store, work / "result" / handle.job_id)
            if final["state"] != "succeeded":
                raise SystemExit(f"job {handle.job_id} ended {final['state']}: {final['error']}")
            if i >= 2:
                whole.append(time.perf_counter() - began)
                # The buyer's status shows whole seconds; the operator's job database has the figures.
                row = jobs.get(handle.job_id)
                first.append(row.first_output_s)
                queued.append(row.timings["queued"])
                staging.append(row.timings["staging"])
        return {
            "broker": "redis" if broker else "sqlite",
            "jobs": JOBS,
            "first_line_p50_s": round(statistics.median(first), 4),
            "first_line_p99_s": round(percentile(first, 0.99), 4),
            "queued_p50_s": round(statistics.median(queued), 4),
            "staging_p50_s": round(statistics.median(staging), 4),
            "round_trip_p50_s": round(statistics.median(whole), 3),
        }
    finally:
        jobs.close()
        stack.down(home)


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="datamarket-bench-") as tmp:
        for broker in (REDIS, None):
            results.append(run(broker, Path(tmp)))
    print(
        "| broker | accepted -> first line p50 | p99 | queued p50 | staging p50 | consumer round trip p50 |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        keys = ("first_line_p50_s", "first_line_p99_s", "queued_p50_s", "staging_p50_s", "round_trip_p50_s")
        cells = [r["broker"], *(f"{r[k]:.3f} s" for k in keys)]
        print("| " + " | ".join(cells) + " |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"target_p50_s": 1.0, "results": results, "cpus": os.cpu_count()}, indent=2) + "\n"
    )
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
