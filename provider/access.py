"""Key release: ``POST /api/v1/access`` and the consumer's nonce, ``GET /api/v1/nonce``.

:func:`grant_access` runs the checks in this order, cheapest and stateless first, and changes
state only at the very end, so that a refused request changes nothing:

1. parse the body strictly (400);
2. the nonce is in the window ``[now - nonce_window_ms, now + nonce_window_ms]`` of the provider's
   clock in milliseconds (422 ``nonce_expired``, ``nonce_in_future``);
3. the EIP-712 signature recovers to ``request.consumer`` under the domain of THIS provider's chain
   id and market (401): a request signed for another chain recovers to another address;
4. a read-only look at the nonces accepted from the consumer (409 ``nonce_used`` if this one was,
   422 ``nonce_expired`` if it is below the store's floor), so replays cost no chain calls; it is
   not the guard (step 9 is), only a shortcut;
5. the order transaction and its OrderStarted event (``orders.match_order``: 404/409/403);
6. the dataset is Active and the consumer is on its allowlist (403);
7. the metadata document (sha256 against the chain) and the service's timeout (410, 422);
8. unwrap the content key with the provider's key and re-wrap it to the consumer's one-time key
   (422 if the dataset's wrap does not open here, 400 for an unusable consumer key);
9. consume the nonce: ONE atomic check-and-insert (409 if a concurrent request took it first, 422
   ``nonce_expired`` if the window moved past it meanwhile);
10. answer.

Everything before step 9 only reads, so a request refused anywhere leaves the nonce store as it
was, and a consumer whose order was merely pending can retry with the same signed request.
A consumer may send several requests at once: each nonce is accepted once, in any order
(``provider/nonces.py``). ``GET /api/v1/nonce`` answers the highest nonce accepted from an address
that is still in the window (0 if none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from datamarket.auth import (
    AccessRequest,
    InvalidRequest,
    parse_address,
    parse_bytes32,
    parse_signature,
    require_fields,
    verify_access_signature,
)
from datamarket.crypto.contexts import DOWNLOAD, access_context, content_context
from datamarket.crypto.keys import InvalidPublicKey, rewrap
from datamarket.metadata.resolve import DatasetDocument
from provider import orders
from provider.context import ProviderContext, current, json_body
from provider.errors import Forbidden, Unprocessable
from provider.nonces import MAX_NONCE, NonceError, Window
from provider.ratelimit import limit_consumer

MAX_PROOF_LENGTH = 64

bp = Blueprint("access", __name__, url_prefix="/api/v1")


@dataclass(frozen=True)
class AccessBody:
    request: AccessRequest
    signature: bytes
    allowlist_proof: list[str]


def parse_access_body(body: dict[str, Any]) -> AccessBody:
    require_fields(body, {"request", "signature"}, frozenset({"allowlist_proof"}), what="body")
    req = AccessRequest.from_json(body["request"])
    return AccessBody(
        request=req, signature=parse_signature(body["signature"]), allowlist_proof=parse_proof(body)
    )


def parse_proof(body: dict[str, Any]) -> list[str]:
    """The body's optional ``allowlist_proof``: at most MAX_PROOF_LENGTH bytes32."""
    proof = body.get("allowlist_proof", [])
    if not isinstance(proof, list) or len(proof) > MAX_PROOF_LENGTH:
        raise InvalidRequest(
            f"allowlist_proof is a list of at most {MAX_PROOF_LENGTH} bytes32",
            details={"field": "allowlist_proof"},
        )
    return [parse_bytes32(p, "allowlist_proof") for p in proof]


def nonce_window(ctx: ProviderContext) -> Window:
    """The request nonces acceptable now, by the provider's clock."""
    return Window.around(int(ctx.clock() * 1000), ctx.settings.nonce_window_ms)


def check_nonce_window(nonce: int, window: Window) -> None:
    if nonce < 1 or nonce > MAX_NONCE:
        raise NonceError(f"the nonce must be in [1, {MAX_NONCE}]", details={"field": "nonce"})
    window.check(nonce)


def grant_access(ctx: ProviderContext, body: dict[str, Any]) -> dict[str, Any]:
    """The content key of the ordered dataset, wrapped to the consumer's one-time key (see the
    module docstring for the order of the checks)."""
    access = parse_access_body(body)
    req = access.request
    authenticate(ctx, access)
    doc = authorize(ctx, req, access.allowlist_proof)
    released = release_key(ctx, req, doc)
    ctx.nonces.consume(req.consumer, req.nonce, nonce_window(ctx))  # the only write, last (step 9)
    ctx.metrics.access_granted.inc()
    file = doc.file
    return {
        "wrapped_key": released,
        "file": {"cid": file["cid"], "size": file["size"], "plaintext_sha256": file["plaintext_sha256"]},
    }


def authenticate(ctx: ProviderContext, access: AccessBody, verify: Any = verify_access_signature) -> None:
    """Steps 2-4: the nonce window, the signature (checked by ``verify``), and a read-only look at
    the nonces already accepted."""
    req = access.request
    window = nonce_window(ctx)
    check_nonce_window(req.nonce, window)
    verify(req, access.signature, ctx.chain.chain_id, ctx.chain.market_address)
    limit_consumer(ctx.limiter, req.consumer)  # only now is the consumer's address its own
    ctx.nonces.check(req.consumer, req.nonce, window)


def authorize(
    ctx: ProviderContext, req: AccessRequest, proof: list[str], *, kind: str = "download"
) -> DatasetDocument:
    """Steps 5-7: the order on chain, the dataset's state and allowlist, the service (of type
    ``kind``) and its timeout. Returns the dataset's verified metadata document. ``req`` may be any
    signed request with the AccessRequest fields (a ComputeRequest too)."""
    chain = ctx.chain
    latest = chain.latest_block()
    order = orders.match_order(
        req,
        chain.order_tx(req.order_tx),
        provider=ctx.address,
        latest=latest,
        min_confirmations=ctx.settings.min_confirmations,
    )
    record = orders.check_dataset(chain.dataset(req.datatoken), req.consumer, proof, provider=ctx.address)
    doc = ctx.documents.get_or_load(
        chain, ctx.store, req.datatoken, record, max_bytes=ctx.settings.max_metadata_bytes
    )
    service = doc.service(req.service_id)
    if service is None:
        raise Unprocessable("the dataset's metadata document has no such service", code="metadata_invalid")
    if service["type"] != kind:
        if kind == "download":
            raise Forbidden("this service does not release the content key", code="service_not_downloadable")
        raise Forbidden(f"this service is not a {kind} service", code=f"service_not_{kind}")
    orders.check_not_expired(order, timeout=service["timeout"], now=latest.timestamp)
    return doc


def release_key(ctx: ProviderContext, req: AccessRequest, doc: DatasetDocument) -> dict[str, str]:
    """Step 8: the publisher's wrap, opened with the provider's key under the download context of the
    dataset being ordered (``contexts.content_context``: the download offer, this provider's chain id
    and market, and the ordered datatoken), and wrapped again to ``req.consumer_key``
    (``contexts.access_context``: the order). A wrap made for any other dataset (copied into this
    one's metadata by whoever publishes, owns or updates it) does not open, nor does a compute-only
    wrap (whatever service types the document names now): 422 ``key_unwrap_failed``."""
    wrapped = doc.file["encryption"]["wrapped_key"]
    chain = ctx.chain
    try:
        return rewrap(
            wrapped,
            ctx.keys.private_key(wrapped.get("key_id")),
            req.consumer_key_bytes,
            context=content_context(chain.chain_id, chain.market_address, req.datatoken, offer=DOWNLOAD),
            new_context=access_context(chain.chain_id, req.datatoken, req.order_tx),
        )
    except InvalidPublicKey:
        raise InvalidPublicKey(
            "consumerKey is not a usable X25519 public key", details={"field": "consumerKey"}
        ) from None


@bp.post("/access")
def post_access() -> ResponseReturnValue:
    return jsonify(grant_access(current(), json_body()))


@bp.get("/nonce")
def get_nonce() -> ResponseReturnValue:
    address = parse_address(request.args.get("address"), "address")
    ctx = current()
    last = ctx.nonces.last(address, nonce_window(ctx))
    return jsonify({"address": address, "nonce": str(last)})  # a uint256: a decimal string


__all__ = [
    "AccessBody",
    "authenticate",
    "authorize",
    "bp",
    "check_nonce_window",
    "grant_access",
    "nonce_window",
    "parse_access_body",
    "parse_proof",
    "release_key",
]
