"""Filling a local anvil fast for the benchmarks: transactions signed locally with consecutive nonces
and sent in JSON-RPC batches, without waiting for each receipt (anvil mines each as it arrives)."""

from __future__ import annotations

import time

import requests

from datamarket.chain.devchain import DEV_CHAIN_ID, DevChain


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
        """Send what is left and wait until every transaction sent is mined."""
        self.flush()
        while self.w3.eth.get_transaction_count(self.account.address, "latest") < self.nonce:
            time.sleep(0.05)
