"""A market on a local anvil for the catalog's benchmarks, filled fast: transactions signed locally with
consecutive nonces and sent in JSON-RPC batches, without waiting for each receipt (anvil mines each
as it arrives); and a PostgreSQL database of the benchmark's own."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from datamarket.chain.devchain import DEV_CHAIN_ID, DevChain, dev_account
from datamarket.chain.market import Market, deploy_test_token, mint_test_token

ONE = 10**18


@dataclass
class BenchMarket:
    market: Market
    deploy_block: int
    usd: str
    publisher: object
    provider: object
    consumer: object


def new_market(chain: DevChain, funds: int) -> BenchMarket:
    """The market deployed, and a payment token of which the consumer holds and approved ``funds``."""
    w3 = chain.web3()
    owner, publisher, provider, consumer = (dev_account(i) for i in (0, 1, 2, 3))
    market = Market.deploy(w3, owner, fee_collector=dev_account(5).address, fee_bps=100)
    deploy_block = w3.eth.block_number
    usd = deploy_test_token(w3, owner, "Bench USD", "bUSD")
    mint_test_token(w3, owner, usd, consumer.address, funds)
    market.as_account(consumer).approve(usd, funds)
    return BenchMarket(market, deploy_block, usd, publisher, provider, consumer)


def postgres_database(admin_url: str, prefix: str) -> str | None:
    """A new database on the server of ``admin_url``; None when there is no server."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return None
    return admin_url.rsplit("/", 1)[0] + "/" + name


class Sender:
    """Signs transactions locally with consecutive nonces and sends them in JSON-RPC batches, without
    waiting for each receipt (anvil mines each one as it arrives)."""

    def __init__(self, chain: DevChain, account) -> None:
        self.w3, self.account, self.url = chain.web3(), account, chain.url
        self.nonce = self.w3.eth.get_transaction_count(account.address)
        self.pending: list[str] = []

    def call(self, fn, gas: int) -> None:
        tx = {"to": fn.address, "data": fn._encode_transaction_data(), "gas": gas, "nonce": self.nonce,
              "chainId": DEV_CHAIN_ID, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 1}  # fmt: skip
        self.nonce += 1
        self.pending.append("0x" + self.account.sign_transaction(tx).raw_transaction.hex())
        if len(self.pending) >= 200 or sum(map(len, self.pending)) > 1_000_000:  # the node caps a request
            self.flush()

    def flush(self) -> None:
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
                 for i, raw in enumerate(self.pending)]  # fmt: skip
        self.pending = []
        if batch:
            answers = requests.post(self.url, json=batch, timeout=300).json()
            if not isinstance(answers, list):
                raise SystemExit(f"the node refused the batch: {answers}")
            failed = [a["error"] for a in answers if "error" in a]
            if failed:
                raise SystemExit(f"{len(failed)} transactions refused: {failed[0]}")

    def wait(self) -> None:
        """Send what is left and wait until every transaction sent is mined (a transaction that anvil
        left pending, which it does now and then under a burst, is mined with ``evm_mine``)."""
        self.flush()
        stalled_since = time.monotonic()
        mined = self.w3.eth.get_transaction_count(self.account.address, "latest")
        while mined < self.nonce:
            time.sleep(0.05)
            now = self.w3.eth.get_transaction_count(self.account.address, "latest")
            if now > mined:
                mined, stalled_since = now, time.monotonic()
            elif time.monotonic() - stalled_since > 2:
                self.w3.provider.make_request("evm_mine", [])
                stalled_since = time.monotonic()
