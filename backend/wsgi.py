"""The WSGI entry point of the backend's API and pages: ``gunicorn 'backend.wsgi:app'``.

The app is built on first access of ``app``, not at import, from the backend's settings
(``DATAMARKET_BACKEND_*``): the catalog database it reads and the chain it was indexed from. The
chain id comes from the ``chain_id`` setting when there is one, else from the node at ``rpc_url``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Flask


@cache
def build() -> Flask:
    from backend.api import ratelimit
    from backend.api.app import create_app
    from backend.db.engine import open_engine
    from backend.settings import BackendSettings
    from backend.web.wallet import WalletSettings

    settings = BackendSettings.load()
    chain_id = settings.chain_id or _node_chain_id(settings.rpc_url, settings.rpc_timeout_s)
    return create_app(
        open_engine(str(settings.database_url)),
        chain_id=chain_id,
        public_url=settings.public_url,
        rate_limits=ratelimit.config(settings),
        client_dir=settings.client_dir,
        wallet=WalletSettings(
            market=settings.market,
            gateway_url=settings.gateway_url,
            connect_origins=settings.page_connect_origins,
        ),
    )


def _node_chain_id(rpc_url: str, timeout: float) -> int:
    import requests
    from web3 import Web3

    session = requests.Session()
    session.trust_env = False  # the node is named explicitly: no proxy from the environment
    return int(
        Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, session=session)).eth.chain_id
    )


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
