"""The provider's unit-test world: its settings, a dataset's metadata and a :class:`Scenario` that
wires the app to the fakes (``tests/fakes.py``); the ``scenario`` fixture (``conftest.py``) builds one."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account.signers.local import LocalAccount
from flask import Flask
from flask.testing import FlaskClient

from datamarket.auth import AccessRequest, sign_access_request
from datamarket.chain.devchain import dev_account
from datamarket.chain.reader import MetadataPointer
from datamarket.crypto.contexts import DOWNLOAD, content_context
from datamarket.crypto.keys import KeyStore, public_bytes, wrap_key
from datamarket.metadata import document
from provider.app import create_app
from provider.nonces import SQLiteNonceStore, Window
from provider.settings import ProviderSettings, Secret
from tests.fakes import CHAIN_ID, MARKET, FakeChain, FakeStore, record
from tests.provider_api import validating

NOW = 1_800_000_000.0
DATATOKEN = "0x2279B7A0a67DB372996a5FaB50D91eAA73d2eBe6"
OTHER_DATATOKEN = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318"
DATA_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


#: The test provider's metrics token (a test value).
METRICS_TOKEN = "a-metrics-token-for-tests"
#: The tests send every request from one address and one consumer, as fast as they run: limits far
#: above that (the rate-limit tests set their own).
GENEROUS_LIMITS = {
    f"rate_limit_{name}": "10000/second" for name in ("health", "read", "fees", "heavy", "consumer")
}


def settings_for(tmp: Path, **overrides: Any) -> ProviderSettings:
    values: dict[str, Any] = {
        "rpc_url": "http://127.0.0.1:1",
        "market": MARKET,
        "chain_id": CHAIN_ID,
        "private_key": Secret(dev_account(2).key.hex()),
        "data_dir": tmp,
        "metrics_token": Secret(METRICS_TOKEN),
        **GENEROUS_LIMITS,
    }
    values.update(overrides)
    return ProviderSettings(**values)


def build_metadata(provider: str, wrapped: dict, *, timeout: int = 3600, cid: str = DATA_CID) -> bytes:
    doc = document.build_document(
        name="unit",
        description="a unit-test dataset",
        tags=["test"],
        license="CC0-1.0",
        publisher=dev_account(1).address,
        files=[
            document.file_entry(
                cid=cid,
                plaintext_size=10,
                plaintext_sha256="aa" * 32,
                content_type="text/csv",
                wrapped_key=wrapped,
                chunk_size=65536,
            )
        ],
        profile=None,
        services=[
            document.download_service(
                id=0, provider_url="http://p", provider_address=provider, timeout=timeout
            ),
            document.compute_service(
                id=1,
                provider_url="http://p",
                provider_address=provider,
                timeout=timeout,
                epsilon_budget=10,
                delta=1e-5,
                max_epsilon_per_job=1,
            ),
        ],
        created="2026-11-28T12:00:00Z",
    )
    return document.canonical_bytes(doc)


@dataclass
class Scenario:
    app: Flask
    client: FlaskClient
    chain: FakeChain
    store: FakeStore
    keys: KeyStore
    nonces: SQLiteNonceStore
    provider: LocalAccount
    consumer: LocalAccount
    content_key: bytes
    now: list[float]
    one_time: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)

    def publish(
        self,
        datatoken: str,
        *,
        timeout: int = 3600,
        provider: str | None = None,
        offer: str = DOWNLOAD,
        **kw: Any,
    ) -> None:
        provider = provider or self.provider.address
        wrapped = wrap_key(
            self.content_key,
            self.keys.public_keys()[0].public_key,
            context=content_context(self.chain.chain_id, self.chain.market_address, datatoken, offer=offer),
        )
        metadata = build_metadata(provider, wrapped, timeout=timeout)
        cid = self.store.add(io.BytesIO(metadata))
        self.chain.datasets[datatoken] = record(
            publisher=dev_account(1).address, provider=provider, metadata=metadata, **kw
        )
        self.chain.pointers[datatoken] = MetadataPointer(
            cid, self.chain.datasets[datatoken].metadata_hash, 1, publisher=dev_account(1).address
        )

    def order(self, *, consumer: str | None = None, datatoken: str = DATATOKEN, **kw: Any) -> str:
        tx = "0x" + secrets.token_hex(32)
        kw.setdefault("provider", self.provider.address)
        self.chain.add_order(tx, datatoken=datatoken, consumer=consumer or self.consumer.address, **kw)
        self.chain.mine()
        return tx

    def order_id(self, order_tx: str) -> int:
        """The id of the order in ``order_tx`` (0 for a transaction that holds none)."""
        tx = self.chain.txs.get(order_tx)
        return tx.orders[0].order_id if tx is not None and tx.orders else 0

    def request(self, order_tx: str, **overrides: Any) -> AccessRequest:
        values: dict[str, Any] = {
            "datatoken": DATATOKEN,
            "consumer": self.consumer.address,
            "service_id": 0,
            "order_tx": order_tx,
            "order_id": self.order_id(order_tx),
            "consumer_key": "0x" + public_bytes(self.one_time).hex(),
            "nonce": self.now_ms,
        }
        values.update(overrides)
        return AccessRequest(**values)

    def body(
        self,
        req: AccessRequest,
        *,
        signer: LocalAccount | None = None,
        chain_id: int = CHAIN_ID,
        market: str = MARKET,
        proof: list[str] | None = None,
    ) -> dict[str, Any]:
        signature = sign_access_request(req, (signer or self.consumer).key, chain_id, market)
        body: dict[str, Any] = {"request": req.to_json(), "signature": "0x" + signature.hex()}
        if proof is not None:
            body["allowlist_proof"] = proof
        return body

    @property
    def now_ms(self) -> int:
        """The provider's clock in milliseconds: the nonce of a request signed now."""
        return int(self.now[0] * 1000)

    def last_nonce(self, address: str | None = None) -> int:
        """The highest nonce accepted from ``address`` that is still in the window (0 if none)."""
        window = Window.around(
            self.now_ms, self.app.extensions["datamarket_provider"].settings.nonce_window_ms
        )
        return self.nonces.last(address or self.consumer.address, window)


def make_scenario(tmp_path: Path) -> Scenario:
    """A provider app over fresh fakes, with one dataset (``DATATOKEN``) published."""
    chain, store = FakeChain(), FakeStore()
    keys = KeyStore(tmp_path / "keys")
    keys.ensure_key()
    nonces = SQLiteNonceStore(tmp_path / "nonces.db", namespace="unit")
    now = [NOW]
    app = validating(
        create_app(
            settings_for(tmp_path), chain=chain, store=store, nonces=nonces, keys=keys, clock=lambda: now[0]
        )
    )
    s = Scenario(
        app=app,
        client=app.test_client(),
        chain=chain,
        store=store,
        keys=keys,
        nonces=nonces,
        provider=dev_account(2),
        consumer=dev_account(3),
        content_key=secrets.token_bytes(32),
        now=now,
    )
    s.publish(DATATOKEN)
    return s
