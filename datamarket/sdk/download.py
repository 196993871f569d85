"""Downloading: order on chain, get the content key from the provider, decrypt locally.

The provider never streams the data: it re-wraps the content key to a one-time X25519 key that the
consumer makes for this request, and the consumer fetches the ciphertext from the content store.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from datamarket import auth
from datamarket.chain.market import Market
from datamarket.chain.quotes import SERVICE_DOWNLOAD
from datamarket.crypto import keys, stream
from datamarket.crypto.contexts import access_context
from datamarket.errors import DatamarketError
from datamarket.metadata import document
from datamarket.sdk import orders
from datamarket.sdk.provider_client import ProviderClient
from datamarket.storage.base import ChunkReader, ContentStore, cat_bytes

MAX_METADATA_BYTES = 1 << 20


class DownloadError(DatamarketError):
    code = "download_failed"


@dataclass(frozen=True)
class Dataset:
    """A dataset's chain record with its verified metadata document."""

    datatoken: str
    metadata_cid: str
    metadata: dict

    def service(self, service_id: int) -> dict:
        for service in self.metadata["services"]:
            if service["id"] == service_id:
                return service
        raise DownloadError(f"the dataset offers no service {service_id}")


@dataclass(frozen=True)
class DownloadResult:
    path: str
    sha256: str
    order_tx: str
    order_id: int


def resolve(market: Market, store: ContentStore, datatoken: str) -> Dataset:
    """Fetch the dataset's metadata document and check it against the hash on chain."""
    cid, sha256 = market.metadata_pointer(datatoken)
    raw = cat_bytes(store, cid, max_size=MAX_METADATA_BYTES)
    return Dataset(datatoken=datatoken, metadata_cid=cid, metadata=document.load(raw, expected_sha256=sha256))


def download(
    market: Market,
    store: ContentStore,
    provider: ProviderClient,
    datatoken: str,
    out: Path,
    *,
    order_tx: str | None = None,
    order_id: int | None = None,
) -> DownloadResult:
    """Order the download service (unless ``order_tx`` is given: an order already paid for, which
    ``order_id`` picks when the transaction holds several), get the key, decrypt to ``out``."""
    dataset = resolve(market, store, datatoken)
    dataset.service(SERVICE_DOWNLOAD)
    if order_tx is None:
        order_tx, order_id = orders.order_of(orders.order(market, provider, datatoken, SERVICE_DOWNLOAD))
    else:
        order_id = orders.find_order(market, order_tx, datatoken, SERVICE_DOWNLOAD, order_id)
    content_key = request_key(market, provider, datatoken, order_tx, order_id)
    file = dataset.metadata["files"][0]
    out = Path(out)
    try:
        _decrypt(store, file["cid"], content_key, out, file["plaintext_sha256"])
    except stream.PlaintextMismatch:
        raise DownloadError("the decrypted file's sha256 differs from the metadata document's") from None
    digest = file["plaintext_sha256"]
    return DownloadResult(path=str(out), sha256=digest, order_tx=order_tx, order_id=order_id)


@dataclass(frozen=True)
class AccessAsk:
    """A signed access request with the one-time key its answer is wrapped to."""

    request: auth.AccessRequest
    signature: bytes
    one_time: X25519PrivateKey
    context: str


def sign_access(market: Market, datatoken: str, order_tx: str, order_id: int) -> AccessAsk:
    """Make a one-time X25519 key and sign an access request for it (nonce: now in milliseconds)."""
    one_time = X25519PrivateKey.generate()
    public = one_time.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    request = auth.AccessRequest(
        datatoken=datatoken,
        consumer=market.account.address,
        service_id=SERVICE_DOWNLOAD,
        order_tx=order_tx,
        order_id=order_id,
        consumer_key="0x" + public.hex(),
        nonce=time.time_ns() // 1_000_000,
    )
    signature = auth.sign_access_request(request, market.account.key, market.chain_id, market.address)
    # The provider wraps to the request's normalized (lower-case) order hash.
    context = access_context(market.chain_id, datatoken, request.order_tx)
    return AccessAsk(request, signature, one_time, context)


def open_answer(ask: AccessAsk, answer: dict) -> bytes:
    """The content key from the provider's answer to ``ask``."""
    return keys.unwrap_key(answer["wrapped_key"], ask.one_time, context=ask.context)


def request_key(
    market: Market, provider: ProviderClient, datatoken: str, order_tx: str, order_id: int
) -> bytes:
    """Ask the provider for the content key of an ordered dataset, wrapped to a one-time key."""
    ask = sign_access(market, datatoken, order_tx, order_id)
    return open_answer(ask, provider.access(ask.request.to_json(), ask.signature))


def _decrypt(store: ContentStore, cid: str, key: bytes, out: Path, sha256: str) -> None:
    """Decrypt the ciphertext as it streams out of the store; ``out`` appears only when complete
    and its sha256 matches. A thread reads (and verifies) blocks from the store while this one
    decrypts, so the two run side by side."""
    out.parent.mkdir(parents=True, exist_ok=True)
    reader = ChunkReader(_prefetch(store.cat(cid)))
    stream.decrypt_to_path(io.BufferedReader(reader, 1 << 20), out, key, expected_sha256=sha256)


_DONE = object()


def _prefetch(chunks: Iterator[bytes], depth: int = 16) -> Iterator[bytes]:
    """Iterate ``chunks`` in a background thread, ``depth`` chunks ahead; errors are re-raised here."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                queue.put(chunk)
            queue.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put(exc)

    worker = threading.Thread(target=produce, name="store-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get_nowait()
            except Empty:
                worker.join(0.01)


__all__ = ["Dataset", "DownloadError", "DownloadResult", "download", "resolve"]
