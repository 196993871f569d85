"""Every environment variable a client process reads (the CLI, the SDK, ``datamarket up``), read here.

Services read theirs through their settings classes (``DATAMARKET_PROVIDER_*``,
``DATAMARKET_WORKER_*``: see :mod:`datamarket.config`). The README's configuration table lists both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Name -> what it sets.
VARIABLES = {
    "DATAMARKET_HOME": "the client's folder: the local market's state, job files, content keys (.datamarket)",
    "DATAMARKET_CONFIG": "a TOML file of client settings",
    "DATAMARKET_RPC_URL": "the chain node's JSON-RPC URL",
    "DATAMARKET_MARKET": "the market contract's address",
    "DATAMARKET_MARKET_DEPLOY_BLOCK": "the block the market was deployed in (where audits start reading)",
    "DATAMARKET_STORE": "the content store: a folder or a kubo-compatible node's API URL",
    "DATAMARKET_PROVIDER_URL": "the provider's URL",
    "DATAMARKET_GATEWAY_URL": "the content gateway's URL (GET /ipfs/{cid}, IPFS Trustless Gateway)",
    "DATAMARKET_PAYMENT_TOKEN": "the ERC-20 token prices are in",
    "DATAMARKET_PRIVATE_KEY": "the signing key (never a flag; on the local chain, --account N instead)",
    "DATAMARKET_KEYSTORE": "an encrypted keystore (mode 0600) holding the signing key, instead of the key",
    "DATAMARKET_KEYSTORE_PASSWORD": "the keystore's password (never a flag)",
    "DATAMARKET_KEYSTORE_PASSWORD_FILE": "a file (mode 0600) holding the keystore's password",
    "DATAMARKET_PIN_SERVICE_URL": "a remote pinning service's API URL (the IPFS Pinning Service API)",
    "DATAMARKET_PIN_SERVICE_TOKEN": "the pinning service's access token (never a flag)",
    "DATAMARKET_IPFS_API": "datamarket up: use this IPFS node (kubo API URL) instead of the embedded store",
    "DATAMARKET_BROKER_URL": "datamarket up: the broker of the local provider and worker (redis://...)",
    "DATAMARKET_ANVIL": "the anvil binary (default: the npm package, then PATH)",
    "DATAMARKET_DEBUG": "CLI: show the traceback of an unexpected error",
}


def get(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of ``name`` (one of :data:`VARIABLES`), or ``""`` when unset."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not a datamarket client variable")
    return (os.environ if environ is None else environ).get(name) or ""


__all__ = ["VARIABLES", "get"]
