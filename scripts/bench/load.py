"""Load: 200 researchers at once for 60 s against a local market that it starts (``datamarket up``:
the provider and the backend under gunicorn, two workers each). Every client is its own consumer with
one download order; it asks the provider for its key (a freshly signed ``POST /api/v1/access``) and
searches the catalog (``GET /api/v1/datasets?q=``), over and over. The load runs on the same machine
as the market, so the figures are the machine's, both sides included.

Prints a table and writes bench/results/load.json (BENCH_OUT names another file); BENCH_CLIENTS and
BENCH_SECONDS change the load.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from machine import machine

from datamarket import stack

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests import load  # the load the tests check, measured here

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
OUT = Path(os.environ.get("BENCH_OUT") or Path(__file__).resolve().parents[2] / "bench/results/load.json")


def summary(result: load.LoadResult, kind: str) -> dict:
    ok = result.latencies(kind)
    return {
        "requests": sum(result.statuses(kind).values()),
        "ok_per_s": len(ok) / result.duration_s,
        "statuses": dict(result.statuses(kind)),
        "p50_ms": load.percentile(ok, 0.5) * 1e3,
        "p99_ms": load.percentile(ok, 0.99) * 1e3,
        "max_ms": (ok[-1] if ok else float("nan")) * 1e3,
        #: Latencies of the answered requests (ms), every tenth, for the distribution plot.
        "sample_ms": [round(s * 1e3, 2) for s in ok[::10]],
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "market"
        os.environ["DATAMARKET_HOME"] = str(home)
        local = stack.up(home)
        try:
            buyers, _ = load.prepare(local, CLIENTS, Path(tmp))
            provider, backend = (local.services[name].url for name in ("provider", "backend"))
            result = load.run(provider, backend, buyers, SECONDS)
            replayed = load.replays(provider, result.accepted)
        finally:
            stack.down(home)
    keys = {(consumer, nonce) for consumer, nonce, _ in result.accepted}
    figures = {
        "machine": machine(),
        "clients": CLIENTS,
        "seconds": SECONDS,
        "access": summary(result, "access"),
        "search": summary(result, "search"),
        "accepted_nonces": len(result.accepted),
        "doubled_nonces": len(result.accepted) - len(keys),
        "replayed": dict(replayed),
    }
    print(f"{CLIENTS} clients for {SECONDS:g} s (one machine: the load and the market)")
    print(f"{'endpoint':<8} {'requests':>9} {'ok/s':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for kind in ("access", "search"):
        f = figures[kind]
        print(f"{kind:<8} {f['requests']:>9} {f['ok_per_s']:>7.1f} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f}  "
              f"{f['statuses']}")  # fmt: skip
    doubled = figures["doubled_nonces"]
    print(f"nonces accepted {len(result.accepted)}, doubled {doubled}, sent again: {replayed}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
