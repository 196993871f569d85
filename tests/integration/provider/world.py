"""A provider on the session's anvil with real stores: its settings, datasets published through
the real SDK, orders on chain (the fixtures are in conftest.py)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account.signers.local import LocalAccount
from flask import Flask
from flask.testing import FlaskClient
from web3.exceptions import TransactionNotFound

from datamarket.auth import AccessRequest, sign_access_request
from datamarket.chain.allowlist import Allowlist
from datamarket.chain.devchain import DevChain
from datamarket.chain.events import OrderStarted
from datamarket.chain.market import new_salt
from datamarket.chain.quotes import ProviderFee
from datamarket.crypto import stream
from datamarket.crypto.contexts import DOWNLOAD, content_context
from datamarket.crypto.keys import KeyStore, public_bytes, wrap_key
from datamarket.metadata import document
from datamarket.storage.base import add_bytes
from datamarket.storage.embedded import EmbeddedStore
from provider.app import create_app
from provider.settings import ProviderSettings, Secret
from tests.conftest import World
from tests.provider_api import validating

ACCESS = "/api/v1/access"
FEES = "/api/v1/fees"
PLAINTEXT = b"id,label\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(2000))


@dataclass(frozen=True)
class Dataset:
    datatoken: str
    content_key: bytes
    data_cid: str
    metadata_cid: str
    allowlist: Allowlist | None = None


@dataclass
class ProviderWorld:
    world: World
    app: Flask
    client: FlaskClient
    settings: ProviderSettings
    store: EmbeddedStore
    keys: KeyStore
    one_time: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)

    @property
    def consumer(self) -> LocalAccount:
        return self.world.accounts.consumer

    def publish(
        self,
        *,
        provider: LocalAccount | None = None,
        timeout: int = 3600,
        allowlist: list[str] | None = None,
        services: int = 0b11,
        offer: str = DOWNLOAD,
    ) -> Dataset:
        """Encrypt, store, wrap to this provider's key (under ``offer``), build and store the
        document (a download and a compute service), publish."""
        a = self.world.accounts
        provider_address = (provider or a.provider).address
        content_key = stream.new_content_key()
        data_cid = add_bytes(self.store, stream.encrypt_bytes(PLAINTEXT, content_key))
        market = self.world.market
        salt = new_salt()
        datatoken = market.predict_datatoken(a.publisher.address, salt)
        wrapped = wrap_key(
            content_key,
            self.keys.public_keys()[0].public_key,
            context=content_context(market.chain_id, market.address, datatoken, offer=offer),
        )
        doc = document.build_document(
            name="integration",
            description="provider integration dataset",
            tags=["test"],
            license="CC0-1.0",
            publisher=a.publisher.address,
            files=[
                document.file_entry(
                    cid=data_cid,
                    plaintext_size=len(PLAINTEXT),
                    plaintext_sha256=hashlib.sha256(PLAINTEXT).hexdigest(),
                    content_type="text/csv",
                    wrapped_key=wrapped,
                    chunk_size=stream.DEFAULT_CHUNK_SIZE,
                )
            ],
            profile=None,
            services=[
                document.download_service(
                    id=0,
                    provider_url="http://127.0.0.1:8030",
                    provider_address=provider_address,
                    timeout=timeout,
                ),
                document.compute_service(
                    id=1,
                    provider_url="http://127.0.0.1:8030",
                    provider_address=provider_address,
                    timeout=timeout,
                    epsilon_budget=10,
                    delta=1e-5,
                    max_epsilon_per_job=1,
                ),
            ],
        )
        raw = document.canonical_bytes(doc)
        metadata_cid = add_bytes(self.store, raw)
        tree = Allowlist.of(allowlist) if allowlist else None
        extra: dict[str, Any] = {"allowlist_root": tree.root} if tree else {}
        published = self.world.publish(
            provider=provider_address,
            metadata_cid=metadata_cid,
            metadata_hash="0x" + hashlib.sha256(raw).hexdigest(),
            services=services,
            salt=salt,
            **extra,
        )
        assert published.datatoken == datatoken
        return Dataset(published.datatoken, content_key, data_cid, metadata_cid, tree)

    def fee_quote(self, datatoken: str, consumer: str, service_id: int = 0) -> tuple[ProviderFee, bytes]:
        response = self.client.post(
            FEES, json={"datatoken": datatoken, "consumer": consumer, "service_id": service_id}
        )
        assert response.status_code == 200, response.json
        q = response.json["quote"]
        quote = ProviderFee.from_json(q)
        return quote, bytes.fromhex(response.json["signature"][2:])

    def order(self, ds: Dataset, consumer: LocalAccount | None = None, *, service_id: int = 0) -> str:
        """Buy and order through the market, with this provider's quote; the order's tx hash."""
        consumer = consumer or self.consumer
        quote, signature = self.fee_quote(ds.datatoken, consumer.address, service_id)
        proof = ds.allowlist.proof(consumer.address) if ds.allowlist else None
        return self.world.as_(consumer).buy_and_order(quote, signature, proof).tx_hash

    def order_id(self, order_tx: str) -> int:
        """The id of the (first) order in ``order_tx``; 0 for a transaction that holds none."""
        try:
            orders = [e for e in self.world.market.tx_events(order_tx) if isinstance(e, OrderStarted)]
        except TransactionNotFound:
            return 0
        return orders[0].order_id if orders else 0

    def request(
        self, ds: Dataset, order_tx: str, consumer: LocalAccount | None = None, **kw: Any
    ) -> AccessRequest:
        values: dict[str, Any] = {
            "datatoken": ds.datatoken,
            "consumer": (consumer or self.consumer).address,
            "service_id": 0,
            "order_tx": order_tx,
            "order_id": self.order_id(order_tx),
            "consumer_key": "0x" + public_bytes(self.one_time).hex(),
            "nonce": time.time_ns() // 1_000_000,
        }
        values.update(kw)
        return AccessRequest(**values)

    def body(
        self,
        req: AccessRequest,
        *,
        signer: LocalAccount | None = None,
        chain_id: int | None = None,
        proof: list[str] | None = None,
    ) -> dict[str, Any]:
        signer = signer or next(a for a in vars(self.world.accounts).values() if a.address == req.consumer)
        chain_id = self.world.market.chain_id if chain_id is None else chain_id
        signature = sign_access_request(req, signer.key, chain_id, self.world.market.address)
        body: dict[str, Any] = {"request": req.to_json(), "signature": "0x" + signature.hex()}
        if proof is not None:
            body["allowlist_proof"] = proof
        return body

    def last_nonce(self, address: str | None = None) -> int:
        response = self.client.get(
            "/api/v1/nonce", query_string={"address": address or self.consumer.address}
        )
        assert response.status_code == 200
        return int(response.json["nonce"])  # a uint256, answered as a decimal string


def provider_settings(anvil: DevChain, world: World, data_dir: Path, **overrides: Any) -> ProviderSettings:
    values: dict[str, Any] = {
        "rpc_url": anvil.url,
        "market": world.market.address,
        "chain_id": world.market.chain_id,
        "market_deploy_block": world.deploy_block,
        "private_key": Secret(world.accounts.provider.key.hex()),
        "data_dir": data_dir,
    }
    values.update(overrides)
    return ProviderSettings(**values)


#: Every app a test made, checked after the test for requests that reached the catch-all handler.
APPS: list[Flask] = []


def make_provider_world(anvil: DevChain, world: World, data_dir: Path, **overrides: Any) -> ProviderWorld:
    settings = provider_settings(anvil, world, data_dir, **overrides)
    keys = KeyStore(settings.keys_dir)  # type: ignore[arg-type]
    keys.ensure_key()
    app = validating(create_app(settings))  # every adapter from the settings, as in production
    APPS.append(app)
    return ProviderWorld(
        world=world,
        app=app,
        client=app.test_client(),
        settings=settings,
        store=EmbeddedStore(str(settings.store), sync=False),
        keys=keys,
    )
