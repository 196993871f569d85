"""What the audit's integration tests do on the market: publish with a document, order, post receipts."""

from __future__ import annotations

import hashlib

from eth_utils import keccak

from datamarket.chain.events import OrderStarted
from datamarket.chain.market import ComputeReceipt, epsilon_units
from datamarket.metadata.document import canonical_bytes
from datamarket.storage.base import add_bytes
from tests.conftest import ONE, World
from tests.fakes import full_document


def sha256(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def b32(text: str) -> str:
    return "0x" + keccak(text=text).hex()


def document(description: str) -> bytes:
    return canonical_bytes({**full_document(), "description": description})


def publish(world: World, store, raw: bytes, *, claimed: bytes | None = None) -> str:
    """A dataset whose metadata is ``raw`` in the store, with the hash of ``claimed`` (default: raw)."""
    cid = add_bytes(store, raw)
    return world.publish(metadata_cid=cid, metadata_hash=sha256(claimed or raw), price=5 * ONE).datatoken


def order(world: World, datatoken: str) -> OrderStarted:
    consumer = world.as_(world.accounts.consumer)
    consumer.buy(datatoken)
    quote, signature = world.quote(datatoken, fee_token=world.usd, amount=ONE)
    return consumer.start_order(quote, signature).event(OrderStarted)


def post_receipt(world: World, datatoken: str, order_id: int, job: str = "job", output: str = "") -> None:
    receipt = ComputeReceipt(
        job_id=b32(job), datatoken=datatoken, order_id=order_id, algorithm_hash=b32("train_tabular"),
        output_hash=output or b32("outputs"), epsilon=epsilon_units("0.5"),
    )  # fmt: skip
    world.as_(world.accounts.provider).post_compute_receipts([receipt])
