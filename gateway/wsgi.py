"""The WSGI entry point of the gateway: ``gunicorn 'gateway.wsgi:app'``.

The app is built on first access of ``app``, not at import, from the gateway's settings
(``DATAMARKET_GATEWAY_*``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Flask


@cache
def build() -> Flask:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    return create_app(GatewaySettings.load())


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
