"""Provider-fee quotes: ``POST /api/v1/fees``.

A quote is the EIP-712 ``ProviderFee`` that the market checks on chain when the consumer orders:
the fee token and amount come from the settings (per service), the validity window starts at the
latest block's time (the contract compares with ``block.timestamp``), and the nonce comes from the
provider's persisted counter. The market lets each nonce be used once per provider; a counter that
restarted from an empty store would hand out used nonces, so each one is checked on chain and
skipped while used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from datamarket.auth import InvalidRequest, parse_address, parse_bytes32, parse_uint, require_fields
from datamarket.chain.events import DatasetState
from datamarket.chain.quotes import SERVICE_DOWNLOAD, ZERO_HASH, ProviderFee, sign_quote
from provider.context import ProviderContext, current, json_body
from provider.errors import Forbidden, NotFound, Unavailable

#: How many used quote nonces one request skips before giving up.
MAX_NONCE_SKIPS = 256

bp = Blueprint("fees", __name__, url_prefix="/api/v1")


@dataclass(frozen=True)
class FeeRequest:
    datatoken: str
    consumer: str
    service_id: int
    environment: str = ZERO_HASH


def parse_fee_body(body: dict[str, Any]) -> FeeRequest:
    require_fields(body, {"datatoken", "consumer", "service_id"}, frozenset({"environment"}), what="body")
    return FeeRequest(
        datatoken=parse_address(body["datatoken"], "datatoken"),
        consumer=parse_address(body["consumer"], "consumer"),
        service_id=parse_uint(body["service_id"], "service_id", 8),
        environment=parse_bytes32(body.get("environment", ZERO_HASH), "environment"),
    )


def quote_json(quote: ProviderFee) -> dict[str, Any]:
    """The quote as the market's EIP-712 type names its fields (camelCase; bytes32 as 0x-hex; the
    uint64 and uint256 values as decimal strings, which every JSON reader keeps exact)."""
    return {
        "datatoken": quote.datatoken,
        "consumer": quote.consumer,
        "serviceId": quote.service_id,
        "feeToken": quote.fee_token,
        "amount": str(quote.amount),
        "validUntil": str(quote.valid_until),
        "nonce": str(quote.nonce),
        "environment": quote.environment,
    }


def quote_fee(ctx: ProviderContext, body: dict[str, Any]) -> dict[str, Any]:
    """A signed quote for (dataset, service, consumer), or the reason there is none."""
    r = parse_fee_body(body)
    if r.service_id not in ctx.settings.service_ids:
        raise Forbidden("this provider does not offer this service", code="service_not_offered")
    if r.service_id == SERVICE_DOWNLOAD and r.environment != ZERO_HASH:
        raise InvalidRequest("a download has no compute environment", details={"field": "environment"})
    chain = ctx.chain
    record = chain.dataset(r.datatoken)
    if record is None:
        raise NotFound("no dataset with this datatoken on this market", code="unknown_dataset")
    if record.provider != ctx.address:
        raise Forbidden(
            "this dataset is served by another provider",
            code="not_this_provider",
            details={"provider": record.provider},
        )
    if record.state != DatasetState.ACTIVE:
        raise Forbidden(
            "the dataset is not active",
            code="dataset_not_active",
            details={"state": record.state.name.lower()},
        )
    if not record.services & (1 << r.service_id):
        raise Forbidden("the dataset does not offer this service", code="service_not_offered")

    fee = ctx.settings.fee_for(r.service_id)
    valid_until = chain.latest_block().timestamp + ctx.settings.quote_validity_s
    quote = ProviderFee(
        datatoken=r.datatoken,
        consumer=r.consumer,
        service_id=r.service_id,
        fee_token=fee.token,
        amount=fee.amount,
        valid_until=valid_until,
        nonce=_fresh_quote_nonce(ctx),
        environment=r.environment,
    )
    signature = sign_quote(
        quote, ctx.settings.private_key.reveal(), chain_id=chain.chain_id, market=chain.market_address
    )
    ctx.metrics.quotes_issued.inc()
    return {"quote": quote_json(quote), "signature": "0x" + signature.hex()}


def _fresh_quote_nonce(ctx: ProviderContext) -> int:
    for _ in range(MAX_NONCE_SKIPS):
        nonce = ctx.nonces.next_quote_nonce()
        if not ctx.chain.is_quote_used(ctx.address, nonce):
            return nonce
    raise Unavailable("no unused quote nonce found; try again", code="quote_nonce_unavailable")


@bp.post("/fees")
def post_fees() -> ResponseReturnValue:
    return jsonify(quote_fee(current(), json_body()))


__all__ = ["FeeRequest", "bp", "parse_fee_body", "quote_fee", "quote_json"]
