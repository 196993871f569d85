"""Slow clients against a provider: ``/healthz`` latency while N connections trickle a request body
at one byte a second, under gunicorn's sync workers (what the provider ran before) and under the
gevent workers it runs now (``provider.gunicorn_conf``), two worker processes each.

Starts an anvil with the market deployed, and the provider under gunicorn on a loopback port (its key
is a public dev key). A ``/healthz`` that gets no answer within TIMEOUT_S counts as timed out.
Prints a table and writes bench/results/slow_clients.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bench_market import new_market
from machine import machine

from datamarket.chain.devchain import DevChain, dev_account, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.slow_clients import trickling  # the tests' trickling clients

OUT = Path(__file__).resolve().parents[2] / "bench" / "results" / "slow_clients.json"
TRICKLERS = (0, 2, 20, 200)
PROBES = int(os.environ.get("BENCH_PROBES", "20"))
TIMEOUT_S = 5.0
LIMITED = ("HEALTH", "READ", "FEES", "HEAVY", "CONSUMER")
WORKER_CLASSES = {"sync (before)": "sync", "gevent (now)": "datamarket.gunicorn_worker.JsonGeventWorker"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve(env: dict[str, str], worker_class: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "--config", "python:provider.gunicorn_conf",
           "--worker-class", worker_class, "--bind", f"127.0.0.1:{port}", "--workers", "2",
           "provider.wsgi:app"]  # fmt: skip
    process = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the provider did not start: {log.read_text()[-2000:]}")


def probe(url: str, clients: int) -> dict:
    latencies, timed_out = [], 0
    session = requests.Session()
    session.trust_env = False
    with trickling(url, "/api/v1/fees", clients):
        time.sleep(0.5)
        for _ in range(PROBES):
            started = time.perf_counter()
            try:
                session.get(url + "/healthz", timeout=TIMEOUT_S).raise_for_status()
                latencies.append(time.perf_counter() - started)
            except (TimeoutError, requests.RequestException):
                timed_out += 1
                if timed_out >= 3:
                    break
    figures = {"tricklers": clients, "probes": len(latencies) + timed_out, "timed_out": timed_out}
    if latencies:
        figures |= {"p50_ms": percentile(latencies, 0.5) * 1e3, "p99_ms": percentile(latencies, 0.99) * 1e3}
    return figures


def main() -> None:
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp, DevChain().start() as chain:
        work = Path(tmp)
        bench = new_market(chain, funds=10**18)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DATAMARKET_PROVIDER_")},
            "DATAMARKET_PROVIDER_RPC_URL": chain.url,
            "DATAMARKET_PROVIDER_MARKET": bench.market.address,
            "DATAMARKET_PROVIDER_MARKET_DEPLOY_BLOCK": str(bench.deploy_block),
            # A public dev key of the local chain, not a secret.
            "DATAMARKET_PROVIDER_PRIVATE_KEY": dev_account(2).key.hex(),
            "DATAMARKET_PROVIDER_DATA_DIR": str(work / "provider"),
            "DATAMARKET_PROVIDER_STORE": str(work / "store"),
            # Limits no client here reaches: the figures are the server's, not the rate limiter's.
            **{f"DATAMARKET_PROVIDER_RATE_LIMIT_{name}": "10000/second" for name in LIMITED},
        }
        for name, worker_class in WORKER_CLASSES.items():
            process, url = serve(env, worker_class, work / f"{worker_class}.log")
            try:
                rows[name] = [probe(url, clients) for clients in TRICKLERS]
            finally:
                process.terminate()
                process.wait(timeout=30)
    print(f"/healthz while clients trickle a body at 1 byte/s (2 workers; timeout {TIMEOUT_S:g} s)")
    print(f"{'workers':<15} {'tricklers':>9} {'p50 ms':>8} {'p99 ms':>8} {'timed out':>10}")
    for name, figures in rows.items():
        for f in figures:
            p50, p99 = (f"{f[k]:.1f}" if k in f else "-" for k in ("p50_ms", "p99_ms"))
            print(f"{name:<15} {f['tricklers']:>9} {p50:>8} {p99:>8} {f['timed_out']:>4} of {f['probes']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figures = {"machine": machine(), "timeout_s": TIMEOUT_S, "workers": rows}
    OUT.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
