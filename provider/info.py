"""``GET /api/v1/info``: who this provider is and what it offers; where it offers compute, each
environment and whether a worker serves it now (seen within the last 30 s)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from datamarket import __version__
from provider.context import ProviderContext, current
from provider.jobs import WORKER_SEEN_S
from provider.settings import SERVICE_IDS

bp = Blueprint("info", __name__, url_prefix="/api/v1")


def provider_info(ctx: ProviderContext) -> dict[str, Any]:
    services = []
    for name in ctx.settings.services:
        fee = ctx.settings.fee_for(SERVICE_IDS[name])
        services.append(
            {"id": SERVICE_IDS[name], "type": name, "fee_token": fee.token, "fee_amount": str(fee.amount)}
        )
    info = {
        "address": ctx.address,
        "chain_id": ctx.chain.chain_id,
        "market": ctx.chain.market_address,
        "version": __version__,
        "encryption_keys": [k.to_json() for k in ctx.keys.public_keys()],
        "services": services,
        "nonce_window_ms": ctx.settings.nonce_window_ms,
        "min_confirmations": ctx.settings.min_confirmations,
    }
    if ctx.compute is not None:
        serving = ctx.compute.jobs.live_queues(WORKER_SEEN_S)
        info["compute_environments"] = [
            {"name": env, "serving": env in serving} for env in ctx.settings.compute_environments
        ]
    return info


@bp.get("/info")
def get_info() -> ResponseReturnValue:
    return jsonify(provider_info(current()))


__all__ = ["bp", "provider_info"]
