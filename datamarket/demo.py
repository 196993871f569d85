"""The contracts demo: a whole market story on a local anvil chain that the demo starts and stops.

A publisher publishes a dataset record with a fixed price, a researcher buys a datatoken and orders
the download service with a provider-signed fee quote, a second researcher buys and orders in one
transaction with a permit, the provider posts a compute receipt, and the payees withdraw.
The accounts are anvil's public dev accounts (see ``devchain``); the payment token is a test token.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.events import JobStatus
from datamarket.chain.market import (
    ComputeReceipt,
    Market,
    PublishParams,
    TxResult,
    dataset_id,
    deploy_test_token,
    epsilon_units,
    mint_test_token,
)
from datamarket.chain.quotes import SERVICE_COMPUTE, SERVICE_DOWNLOAD, ProviderFee, sign_quote
from datamarket.storage.cid import raw_leaf_cid

ONE = 10**18


@dataclass
class DemoReport:
    chain_id: int = 0
    market: str = ""
    payment_token: str = ""
    dataset: str = ""
    metadata_cid: str = ""
    transactions: dict[str, dict] = field(default_factory=dict)
    earnings: dict[str, int] = field(default_factory=dict)

    def record(self, step: str, tx: TxResult) -> TxResult:
        self.transactions[step] = {"tx": tx.tx_hash, "block": tx.block_number, "gas": tx.gas_used}
        return tx


def _metadata_document(publisher: str, provider: str) -> bytes:
    doc = {
        "schema": "datamarket/dataset@1",
        "name": "Breast cancer diagnostics (demo record)",
        "description": "Tabular features of cell nuclei with a diagnosis label.",
        "tags": ["health", "tabular"],
        "license": "CC-BY-4.0",
        "publisher": publisher,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "services": [
            {"id": SERVICE_DOWNLOAD, "type": "download", "provider": provider},
            {"id": SERVICE_COMPUTE, "type": "compute", "provider": provider},
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def run(say: Callable[[str], None] = print) -> DemoReport:
    """Run the story on a fresh anvil and return what happened."""
    owner, fee_collector, publisher, provider, alice, bob = (dev_account(i) for i in range(6))
    report = DemoReport()
    with DevChain() as chain:
        w3 = chain.web3()
        report.chain_id = w3.eth.chain_id
        market = Market.deploy(w3, owner, fee_collector=fee_collector.address, fee_bps=100)
        usd = deploy_test_token(w3, owner, "Demo USD", "dUSD")
        report.market, report.payment_token = market.address, usd
        say(f"anvil at {chain.url}, chain {report.chain_id}; market {market.address}, test token {usd}")
        for who in (alice, bob):
            mint_test_token(w3, owner, usd, who.address, 100 * ONE)

        doc = _metadata_document(publisher.address, provider.address)
        report.metadata_cid = raw_leaf_cid(doc)
        published = market.as_account(publisher).publish(
            PublishParams(
                provider=provider.address,
                metadata_cid=report.metadata_cid,
                metadata_hash="0x" + hashlib.sha256(doc).hexdigest(),
                services=0b11,
                epsilon_budget=epsilon_units(10),
                payment_token=usd,
                price=5 * ONE,
            )
        )
        report.dataset = dataset_id(report.chain_id, published.datatoken)
        report.record("publish", published.tx)
        say(f"published {report.dataset} (metadata {report.metadata_cid}) for 5 dUSD")

        as_alice = market.as_account(alice)
        as_alice.approve(usd)
        report.record("buy", as_alice.buy(published.datatoken))
        quote = _quote(published.datatoken, alice.address, usd, nonce=1, service=SERVICE_DOWNLOAD)
        signature = sign_quote(quote, provider.key, chain_id=report.chain_id, market=market.address)
        report.record("order", as_alice.start_order(quote, signature))
        say("alice bought one datatoken and ordered the download service")

        as_bob = market.as_account(bob)
        quote = _quote(published.datatoken, bob.address, usd, nonce=2, service=SERVICE_COMPUTE)
        signature = sign_quote(quote, provider.key, chain_id=report.chain_id, market=market.address)
        deadline = w3.eth.get_block("latest")["timestamp"] + 600
        tx = as_bob.buy_and_order(quote, signature, permit_deadline=deadline)
        report.record("buy_and_order_permit", tx)
        say("bob bought and ordered compute in one transaction, with a permit instead of an approve")

        receipt = ComputeReceipt(
            job_id="0x" + hashlib.sha256(f"{tx.tx_hash}:0".encode()).hexdigest(),
            datatoken=published.datatoken,
            order_tx=tx.tx_hash,
            algorithm_hash="0x" + hashlib.sha256(b"train_tabular").hexdigest(),
            output_hash="0x" + hashlib.sha256(b"model.safetensors").hexdigest(),
            epsilon=epsilon_units(1),
            status=JobStatus.SUCCEEDED,
        )
        report.record("compute_receipt", market.as_account(provider).post_compute_receipts([receipt]))
        record = market.dataset(published.datatoken)
        spent, budget = record.epsilon_spent / 1e6, record.epsilon_budget / 1e6
        say(f"provider posted a compute receipt: epsilon {spent:g} of {budget:g} spent")

        for name, who in (("publisher", publisher), ("provider", provider), ("market", fee_collector)):
            report.earnings[name] = market.earnings(usd, who.address)
            report.record(f"withdraw_{name}", market.as_account(who).withdraw(usd))
        say("earnings withdrawn: " + ", ".join(f"{k} {v / ONE:g} dUSD" for k, v in report.earnings.items()))
    return report


def _quote(datatoken: str, consumer: str, fee_token: str, *, nonce: int, service: int) -> ProviderFee:
    return ProviderFee(
        datatoken=datatoken,
        consumer=consumer,
        service_id=service,
        fee_token=fee_token,
        amount=ONE // 2,
        valid_until=int(time.time()) + 3600,
        nonce=nonce,
    )
