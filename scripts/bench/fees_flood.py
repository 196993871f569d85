"""One client flooding ``POST /api/v1/fees`` (each quote reads the chain, signs and writes a
nonce) on a local market that it starts and stops (gunicorn provider with 2 workers, anvil), before
and after rate limits:

- ``unlimited``: a fees limit no client reaches (what the provider did before it had limits);
- ``default``: the provider's default fees limit, counted by each gunicorn worker on its own
  (``memory://``);
- ``default_redis``: the same limit counted in Redis (127.0.0.1:6379, database 14), shared by the
  workers; left out when Redis does not answer.

The flood is BENCH_THREADS threads (default 8) sending as fast as answers come, for BENCH_SECONDS
(default 30); meanwhile another client asks for one quote a second. The provider trusts one proxy
(``DATAMARKET_PROVIDER_TRUSTED_PROXIES=1``) so that the two clients, both on this machine, can have
addresses of their own (``X-Forwarded-For``). Per run: requests sent and served per second, the
share answered 429, the latency of each kind of answer, and what the other client got.

Prints a table and writes bench/results/fees_flood.json.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

import requests
from machine import machine

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.storage import open_store
from provider.settings import ProviderSettings

ONE = 10**18
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
THREADS = int(os.environ.get("BENCH_THREADS", "8"))
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
OUT = Path(__file__).resolve().parents[2] / "bench" / "results" / "fees_flood.json"
DEFAULT_FEES = next(f.default for f in fields(ProviderSettings) if f.name == "rate_limit_fees")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 2)


def new_address() -> str:
    return "198.18." + ".".join(str(b) for b in secrets.token_bytes(2))


def flood(url: str, body: dict) -> dict:
    """THREADS threads of one client, and one quote a second from another, for SECONDS."""
    flooder, other = new_address(), new_address()
    answers: list[tuple[int, float]] = []
    probes: list[tuple[int, float]] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def ask(session: requests.Session, address: str) -> tuple[int, float]:
        began = time.perf_counter()
        try:
            status = session.post(
                url, json=body, headers={"X-Forwarded-For": address}, timeout=30
            ).status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - began

    def flooding() -> None:
        with requests.Session() as session:
            session.trust_env = False
            while time.monotonic() < stop:
                answer = ask(session, flooder)
                with lock:
                    answers.append(answer)

    def probing() -> None:
        with requests.Session() as session:
            session.trust_env = False
            while time.monotonic() < stop:
                probes.append(ask(session, other))
                time.sleep(max(0.0, 1.0 - probes[-1][1]))

    threads = [threading.Thread(target=flooding) for _ in range(THREADS)] + [threading.Thread(target=probing)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    statuses = Counter(status for status, _ in answers)
    return {
        "seconds": round(wall, 1),
        "sent": len(answers),
        "sent_per_s": round(len(answers) / wall, 1),
        "served_per_s": round(statuses[200] / wall, 2),
        "share_429": round(statuses[429] / max(len(answers), 1), 4),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "served_p50_ms": percentile([s for code, s in answers if code == 200], 0.5),
        "refused_p50_ms": percentile([s for code, s in answers if code == 429], 0.5),
        "other_client": {
            "asked": len(probes),
            "served": sum(1 for code, _ in probes if code == 200),
            "p50_ms": percentile([s for _, s in probes], 0.5),
            "max_ms": percentile([s for _, s in probes], 1.0),
        },
    }


def redis_answers() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return False
    return True


def main() -> int:
    runs = {
        "unlimited": {"DATAMARKET_PROVIDER_RATE_LIMIT_FEES": "1000000/second"},
        "default": {"DATAMARKET_PROVIDER_RATE_LIMIT_FEES": DEFAULT_FEES},
    }
    if redis_answers():
        runs["default_redis"] = {**runs["default"], "DATAMARKET_PROVIDER_RATE_LIMIT_URL": REDIS}
    results: dict = {"machine": machine(), "threads": THREADS, "default_fees_limit": DEFAULT_FEES, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="datamarket-bench-") as tmp:
        home = Path(tmp) / "market"
        body: dict = {}
        for name, env in runs.items():
            os.environ.update({"DATAMARKET_PROVIDER_TRUSTED_PROXIES": "1", **env})
            local = stack.up(home)
            try:
                provider = ProviderClient(local.services["provider"].url)
                if not body:  # published once: the chain and the store outlive a restart
                    w3 = DevChain(port=int(local.services["chain"].url.rsplit(":", 1)[1])).web3()
                    market = Market(w3, local.contracts["market"])
                    data = Path(tmp) / "data.csv"
                    data.write_text("x,y\n" + "".join(f"{i},{i % 7}\n" for i in range(200)))
                    published = publish_file(
                        PublishRequest(path=data, name="bench", price=ONE,
                                       payment_token=local.contracts["payment_token"]),
                        market=market.as_account(dev_account(2)), store=open_store(local.store),
                        provider_info=provider.info(), provider_url=provider.base_url,
                    )  # fmt: skip
                    consumer = dev_account(4).address
                    body = {"datatoken": published.datatoken, "consumer": consumer, "service_id": 0}
                results["runs"][name] = flood(provider.base_url + "/api/v1/fees", body)
            finally:
                stack.down(home)
                for key in env:
                    os.environ.pop(key, None)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"one client, {THREADS} threads, flooding POST /api/v1/fees for {SECONDS:g} s "
          f"(default limit {DEFAULT_FEES}, 2 gunicorn workers)")  # fmt: skip
    header = f"{'run':<14} {'sent/s':>8} {'served/s':>9} {'429':>7} {'served p50':>11} {'429 p50':>8}"
    print(header + "  other client")
    for name, r in results["runs"].items():
        o = r["other_client"]
        print(f"{name:<14} {r['sent_per_s']:>8} {r['served_per_s']:>9} {r['share_429']:>7.1%} "
              f"{r['served_p50_ms'] or 0:>8.1f} ms {r['refused_p50_ms'] or 0:>5.1f} ms  "
              f"{o['served']}/{o['asked']} served, p50 {o['p50_ms']} ms, max {o['max_ms']} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
