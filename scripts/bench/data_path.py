"""Data-path benchmark on a local market that it starts and stops (gunicorn provider, anvil).

1. Access request latency (POST /api/v1/access, a valid signed request against a mined order,
   timed from sending to the answer): p50 / p99 and requests per second with 1 and with 16
   concurrent clients, each client its own consumer with its own order (nonces are per address);
   also the p50 of the whole key fetch with the consumer's signing and unwrapping.
2. End-to-end download + decrypt MB/s of a 64 MiB file, beside a plain read of its ciphertext from
   the same content store.
Prints a table and writes bench/results/data_path.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eth_account import Account

from datamarket import stack
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market, mint_test_token
from datamarket.sdk import download as flows
from datamarket.sdk import orders
from datamarket.sdk.provider_client import ProviderClient
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.storage import open_store

ONE = 10**18
REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_REQUESTS", "100"))
FILE_MIB = int(os.environ.get("BENCH_FILE_MIB", "64"))
OUT = Path(__file__).resolve().parents[2] / "bench" / "results" / "data_path.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def new_consumer(market: Market, token: str) -> Market:
    w3 = market.w3
    account = Account.create()
    funder = market.as_account(dev_account(0))
    tx = {"to": account.address, "value": ONE, "nonce": w3.eth.get_transaction_count(dev_account(0).address),
          "chainId": market.chain_id, "gas": 21000, "gasPrice": w3.eth.gas_price}  # fmt: skip
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(dev_account(0).sign_transaction(tx).raw_transaction)
    )
    mint_test_token(w3, funder.account, token, account.address, 100 * ONE)
    return market.as_account(account)


def access_latencies(consumer: Market, provider: ProviderClient, datatoken: str, n: int) -> list[tuple]:
    """(request round trip, whole key fetch incl. the consumer's signing and unwrapping) per request."""
    order_tx, order_id = orders.order_of(orders.order(consumer, provider, datatoken, 0))
    times = []
    for _ in range(n):
        start = time.perf_counter()
        ask = flows.sign_access(consumer, datatoken, order_tx, order_id)
        sent = time.perf_counter()
        answer = provider.access(ask.request.to_json(), ask.signature)
        answered = time.perf_counter()
        flows.open_answer(ask, answer)
        times.append((answered - sent, time.perf_counter() - start))
        time.sleep(0.001)  # nonces are milliseconds: one request per millisecond and consumer
    return times


def reference_speed() -> float:
    """sha256 MiB/s over 64 MiB: how fast this machine is right now (shared hosts vary)."""
    import hashlib

    data = os.urandom(64 << 20)
    start = time.perf_counter()
    hashlib.sha256(data).digest()
    return round(64 / (time.perf_counter() - start), 1)


def main() -> int:
    results: dict[str, dict] = {"machine": {"reference_sha256_mib_s": reference_speed()}}
    with tempfile.TemporaryDirectory(prefix="datamarket-bench-") as tmp:
        work = Path(tmp)
        local = stack.up(work / "market")
        try:
            w3 = DevChain(port=int(local.services["chain"].url.rsplit(":", 1)[1])).web3()
            market = Market(w3, local.contracts["market"])
            token = local.contracts["payment_token"]
            store = open_store(local.store)
            provider = ProviderClient(local.services["provider"].url)
            data = work / "data.bin"
            with open(data, "wb") as f:
                for _ in range(FILE_MIB):
                    f.write(os.urandom(1 << 20))
            published = publish_file(
                PublishRequest(path=data, name="bench", price=ONE, payment_token=token),
                market=market.as_account(dev_account(2)), store=store, provider_info=provider.info(),
                provider_url=provider.base_url,
            )  # fmt: skip

            for clients in (1, 16):
                consumers = [new_consumer(market, token) for _ in range(clients)]
                start = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    runs = list(pool.map(
                        lambda c: access_latencies(c, ProviderClient(provider.base_url), published.datatoken,
                                                   REQUESTS_PER_CLIENT), consumers))  # fmt: skip
                wall = time.perf_counter() - start
                lat = [t[0] for run in runs for t in run]
                whole = [t[1] for run in runs for t in run]
                results[f"access_{clients}_clients"] = {
                    "requests": len(lat),
                    "p50_ms": round(percentile(lat, 0.5) * 1000, 2),
                    "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
                    "mean_ms": round(statistics.fmean(lat) * 1000, 2),
                    "with_client_crypto_p50_ms": round(percentile(whole, 0.5) * 1000, 2),
                    "throughput_rps": round(len(lat) / wall, 1),
                }

            cid = published.data_cid
            start = time.perf_counter()
            size = sum(len(chunk) for chunk in store.cat(cid))
            plain = time.perf_counter() - start
            consumer = new_consumer(market, token)
            order_tx = orders.order(consumer, provider, published.datatoken, 0).tx_hash
            start = time.perf_counter()
            flows.download(
                consumer, store, provider, published.datatoken, work / "out.bin", order_tx=order_tx
            )
            e2e = time.perf_counter() - start
            results["download"] = {
                "bytes": size,
                "plain_read_mb_s": round(size / plain / 1e6, 1),
                "download_decrypt_mb_s": round(size / e2e / 1e6, 1),
                "ratio": round(plain / e2e, 3),
            }
        finally:
            stack.down(work / "market")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    for clients in (1, 16):
        r = results[f"access_{clients}_clients"]
        print(f"access, {clients:>2} client(s): p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
              f"{r['throughput_rps']:7.1f} req/s  ({r['requests']} requests; p50 with the consumer's "
              f"signing and unwrapping {r['with_client_crypto_p50_ms']:.2f} ms)")  # fmt: skip
    print(f"(this machine's sha256 ran at {results['machine']['reference_sha256_mib_s']} MiB/s)")
    d = results["download"]
    print(f"download + decrypt {d['download_decrypt_mb_s']} MB/s vs plain read of the ciphertext "
          f"{d['plain_read_mb_s']} MB/s: {d['ratio']:.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
