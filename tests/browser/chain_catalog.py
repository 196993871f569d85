"""The catalog the browser tests browse, filled by the real indexer from a real chain.

A local anvil of its own (the session's shared chain stays pristine for the other tests), the market
deployed on it, the demo dataset published with its metadata document in an embedded content store,
bought and ordered twice a day apart, one compute receipt posted by its provider, and a second dataset.
Then the indexer indexes the chain and fetches the documents, exactly as ``datamarket indexer run``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import keccak
from sqlalchemy import Engine

from backend.db.engine import open_engine
from backend.db.migrate import upgrade
from backend.indexer.documents import DocumentFetcher
from backend.indexer.follower import Indexer
from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.events import OrderStarted
from datamarket.chain.logs import Rpc
from datamarket.chain.market import ComputeReceipt, Market, PublishParams, deploy_test_token, epsilon_units
from datamarket.chain.market import mint_test_token as mint
from datamarket.chain.quotes import ZERO_HASH, ProviderFee, sign_quote
from datamarket.metadata.document import canonical_bytes
from datamarket.storage import open_store
from datamarket.storage.base import add_bytes
from tests.fakes import full_document

ONE = 10**18
DAY = 86400
NAME = "Breast cancer diagnostics"
DESCRIPTION = "Features of cell nuclei from breast mass images, with the diagnosis."


@dataclass(frozen=True)
class Demo:
    chain_id: int
    datatoken: str
    name: str
    price_text: str
    orders: list[int]
    job_id: str
    consumer: str
    publisher: str
    chain: DevChain = field(repr=False, compare=False)


def _publish(market: Market, store, provider: str, usd: str, doc: dict, price: int) -> str:
    raw = canonical_bytes(doc)
    params = PublishParams(provider=provider, metadata_cid=add_bytes(store, raw),
                           metadata_hash="0x" + hashlib.sha256(raw).hexdigest(), services=0b11,
                           epsilon_budget=epsilon_units(10), payment_token=usd, price=price)  # fmt: skip
    return market.publish(params).datatoken


def seed(work: Path) -> tuple[Engine, Demo]:
    """The catalog's engine and what the tests look for in it; the caller stops ``demo.chain``."""
    chain = DevChain().start()
    try:
        return _seed(chain, work)
    except BaseException:
        chain.stop()
        raise


def _seed(chain: DevChain, work: Path) -> tuple[Engine, Demo]:
    w3 = chain.web3()
    owner, publisher, provider, consumer = (dev_account(i) for i in (0, 1, 2, 3))
    market = Market.deploy(w3, owner, fee_collector=dev_account(5).address, fee_bps=100)
    deploy_block = w3.eth.block_number
    usd = deploy_test_token(w3, owner, "Local USD", "lUSD")
    mint(w3, owner, usd, consumer.address, 1000 * ONE)
    buyer = market.as_account(consumer)
    buyer.approve(usd, 1000 * ONE)
    store = open_store(work / "store")
    document = {**full_document(), "name": NAME, "tags": ["health", "tabular"],
                "publisher": publisher.address, "description": DESCRIPTION}  # fmt: skip
    as_publisher = market.as_account(publisher)
    datatoken = _publish(as_publisher, store, provider.address, usd, document, 5 * ONE)
    taxis = {**document, "name": "Taxi trips 2023", "description": "City taxi trips.", "tags": ["transport"]}
    _publish(as_publisher, store, provider.address, usd, taxis, 2 * ONE)
    orders = []
    for nonce in (1, 2):
        buyer.buy(datatoken, 1)
        quote = ProviderFee(datatoken=datatoken, consumer=consumer.address, service_id=nonce - 1,
                            fee_token=usd, amount=0, valid_until=2**40, nonce=nonce,
                            environment=ZERO_HASH)  # fmt: skip
        signature = sign_quote(quote, provider.key, chain_id=market.chain_id, market=market.address)
        orders.append(buyer.start_order(quote, signature).event(OrderStarted).order_id)
        w3.provider.make_request("evm_increaseTime", [DAY])
    job_id = "0x" + keccak(text="demo job").hex()
    market.as_account(provider).post_compute_receipts([ComputeReceipt(
        job_id=job_id, datatoken=datatoken, order_id=orders[1],
        algorithm_hash="0x" + keccak(text="algo").hex(), output_hash="0x" + keccak(text="out").hex(),
        epsilon=epsilon_units(1),
    )])  # fmt: skip
    engine = open_engine(f"sqlite:///{work / 'catalog.db'}")
    upgrade(engine)
    indexer = Indexer(engine, Rpc(w3), market.address, deploy_block=deploy_block)
    indexer.open()
    indexer.step()
    DocumentFetcher(engine, store).fetch_due()
    demo = Demo(market.chain_id, datatoken, NAME, "5 lUSD", orders, job_id, consumer.address,
                publisher.address, chain)  # fmt: skip
    return engine, demo
