"""Publishing a data file: profile, encrypt, pin, wrap the key to the provider, publish on chain.

Everything sensitive happens on the publisher's machine: the plaintext never leaves it, and the
content key leaves it only wrapped to the provider's public encryption key.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from datamarket.chain.market import Market, PublishParams, dataset_id, epsilon_units, new_salt
from datamarket.chain.quotes import SERVICE_COMPUTE, SERVICE_DOWNLOAD, ZERO_ADDRESS
from datamarket.crypto import keys, stream
from datamarket.crypto.contexts import content_context, content_offer
from datamarket.errors import DatamarketError
from datamarket.metadata import declarations, document, profile
from datamarket.sdk import content_keys
from datamarket.storage.base import ContentStore, add_bytes

Progress = Callable[[str, int, int], None]  # (phase, done, total)

DEFAULT_TIMEOUT = 24 * 3600
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


class PublishError(DatamarketError):
    code = "publish_failed"


@dataclass(frozen=True)
class PublishRequest:
    path: Path
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    license: str = "CC-BY-4.0"
    price: int = 0  # in the payment token's smallest unit
    payment_token: str = ZERO_ADDRESS
    free: bool = False
    #: A free dataset's dispenser gives each account at most this many datatokens in all (orders
    #: included): one order each.
    dispenser_limit: int = 10
    download: bool = True
    compute: bool = False
    epsilon_budget: float = 0.0
    max_epsilon_per_job: float = 1.0
    delta: float = 1e-5
    trusted_algorithms: tuple[str, ...] = ()
    allow_any_algorithm: bool = False
    #: Only jobs that declare an epsilon (DP) may run on the data.
    require_dp: bool = False
    #: k of sample and aggregate for untrusted algorithms (None: the worker's default).
    aggregate_blocks: int | None = None
    timeout: int = DEFAULT_TIMEOUT
    #: The publisher's declarations for the built-in algorithms (docs/compute.md, "Declarations"),
    #: made here from the table: label columns (classes: their distinct values), categorical columns
    #: (values occurring at least ``min_category_count`` times), free-text columns, numeric bounds
    #: (other numeric columns get their minimum and maximum rounded outward).
    targets: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    min_category_count: int = declarations.DEFAULT_MIN_CATEGORY_COUNT
    max_categories: int = declarations.DEFAULT_MAX_CATEGORIES
    #: Column declarations given as they are (e.g. a domain that the data does not show), over the
    #: ones made from the table.
    columns: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishResult:
    dataset: str
    datatoken: str
    publish_tx: str
    metadata_cid: str
    data_cid: str
    plaintext_sha256: str


def publish_file(
    req: PublishRequest,
    *,
    market: Market,
    store: ContentStore,
    provider_info: dict,
    provider_url: str,
    progress: Progress | None = None,
    keys_folder: Path | None = None,
) -> PublishResult:
    """Publish ``req.path`` through ``market`` (acting as the publisher) and ``store``. With
    ``keys_folder``, the content key is kept there (:mod:`datamarket.sdk.content_keys`) before the
    dataset is published, so that it can later be wrapped to another provider."""
    if not req.path.is_file():
        raise PublishError(f"{req.path} is not a readable file")
    if not (req.download or req.compute):
        raise PublishError("a dataset needs at least one service: download or compute")
    if req.free and req.price:
        raise PublishError("a free dataset has no price")
    provider_key = encryption_key(provider_info)
    plain_size = req.path.stat().st_size
    # Tables get a profile; other files (images, archives) are published without one.
    table = req.path.suffix.lower() in TABLE_SUFFIXES
    data_profile = profile.profile_file(req.path) if table else None
    declared = _declarations(req) if req.compute and table else None

    content_key = stream.new_content_key()
    with tempfile.TemporaryDirectory(prefix="datamarket-publish-") as tmp:
        encrypted = Path(tmp) / "data.enc"
        # Size and sha256 are taken from the very bytes that get encrypted, so a file that changes
        # while it is published cannot leave a document that disagrees with its ciphertext.
        with open(req.path, "rb") as raw, open(encrypted, "wb") as dst:
            src = _HashingReader(raw)
            stream.encrypt_stream(src, dst, content_key, progress=_phase(progress, "encrypt", plain_size))
        plain_size, plaintext_sha256 = src.size, src.digest.hexdigest()
        size = encrypted.stat().st_size
        with open(encrypted, "rb") as src:
            data_cid = store.add(src, cid_version=1)
    if progress:
        progress("pin", size, size)
    # Bound to this very dataset: its datatoken's address, fixed by the publisher and the salt
    # before the dataset exists, on this chain and market; and to what is offered. A compute-only
    # wrap never opens for the provider's key release, whatever the document later says.
    salt = new_salt()
    datatoken = market.predict_datatoken(market.account.address, salt)
    offer = content_offer(req.download)
    context = content_context(market.chain_id, market.address, datatoken, offer=offer)
    wrapped = keys.wrap_key(content_key, provider_key, context=context)
    if keys_folder is not None:
        entry = content_keys.ContentKey(market.chain_id, market.address, datatoken, offer, content_key)
        content_keys.save(keys_folder, entry)
    del content_key

    services = _services(req, provider_url, provider_info["address"], declared)
    doc = document.build_document(
        name=req.name,
        description=req.description,
        tags=list(req.tags),
        license=req.license,
        publisher=market.account.address,
        files=[{
            "cid": data_cid, "size": size, "plaintext_size": plain_size,
            "content_type": mimetypes.guess_type(req.path.name)[0] or "application/octet-stream",
            "plaintext_sha256": plaintext_sha256,
            "encryption": {"algorithm": stream.ALGORITHM, "chunk_size": stream.DEFAULT_CHUNK_SIZE,
                           "wrapped_key": wrapped},
        }],
        profile=data_profile,
        services=services,
    )  # fmt: skip
    document.validate(doc)
    raw = document.canonical_bytes(doc)
    metadata_cid = add_bytes(store, raw)
    published = market.publish(
        PublishParams(
            provider=provider_info["address"],
            metadata_cid=metadata_cid,
            metadata_hash="0x" + hashlib.sha256(raw).hexdigest(),
            services=(1 << SERVICE_DOWNLOAD if req.download else 0)
            | (1 << SERVICE_COMPUTE if req.compute else 0),
            free=req.free,
            epsilon_budget=epsilon_units(req.epsilon_budget),
            payment_token=req.payment_token,
            price=req.price,
            dispenser_limit=req.dispenser_limit if req.free else 0,
            salt=salt,
        )
    )
    if published.datatoken != datatoken:
        # Cannot happen with this market's contract; a wrap bound to another address would never open.
        raise PublishError(
            f"the datatoken was deployed at {published.datatoken}, not at the predicted {datatoken}",
            details={"predicted": datatoken, "deployed": published.datatoken},
        )
    if progress:
        progress("publish", 1, 1)
    return PublishResult(
        dataset=dataset_id(market.chain_id, published.datatoken),
        datatoken=published.datatoken,
        publish_tx=published.tx.tx_hash,
        metadata_cid=metadata_cid,
        data_cid=data_cid,
        plaintext_sha256=plaintext_sha256,
    )


def _declarations(req: PublishRequest) -> dict:
    """The compute section's declarations, made from the table on this machine."""
    try:
        declared = declarations.declare(
            profile.read_table(req.path), targets=req.targets, categorical=req.categorical, text=req.text,
            bounds=req.bounds, min_category_count=req.min_category_count, max_categories=req.max_categories,
        )  # fmt: skip
    except declarations.DeclarationError as exc:
        raise PublishError(str(exc), details=exc.details) from None
    declared["columns"].update(req.columns)
    return declared


def _services(
    req: PublishRequest, provider_url: str, provider_address: str, declared: dict | None = None
) -> list[dict]:
    base = {"provider_url": provider_url, "provider_address": provider_address, "timeout": req.timeout}
    services = []
    if req.download:
        services.append(document.download_service(id=SERVICE_DOWNLOAD, **base))
    if req.compute:
        compute = document.compute_service(
            id=SERVICE_COMPUTE, **base, epsilon_budget=req.epsilon_budget, delta=req.delta,
            max_epsilon_per_job=req.max_epsilon_per_job, trusted_algorithms=req.trusted_algorithms,
            allow_any_algorithm=req.allow_any_algorithm, require_dp=req.require_dp, declared=declared,
            aggregate_blocks=req.aggregate_blocks,
        )  # fmt: skip
        services.append(compute)
    return services


def encryption_key(info: dict) -> bytes:
    try:
        key = info["encryption_keys"][0]
        return base64.urlsafe_b64decode(key["public_key"] + "=" * (-len(key["public_key"]) % 4))
    except (KeyError, IndexError, ValueError) as exc:
        raise PublishError(f"the provider published no usable encryption key ({exc})") from None


class _HashingReader:
    """Reads through to a file, keeping the sha256 and count of what was read."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.size, self.digest = raw, 0, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.size += len(data)
        self.digest.update(data)
        return data


def _phase(progress: Progress | None, name: str, total: int):
    """Turn the encryptor's per-chunk byte counts into (phase, done so far, total) reports."""
    if progress is None:
        return None
    done = [0]

    def report(n: int) -> None:
        done[0] += n
        progress(name, done[0], total)

    return report


__all__ = ["PublishError", "PublishRequest", "PublishResult", "encryption_key", "publish_file"]
