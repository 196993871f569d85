"""The WSGI entry point: ``gunicorn 'provider.wsgi:app'``.

The app is built from the environment (``DATAMARKET_PROVIDER_*``) on first access of ``app``, not
at import, and an encryption key is generated on first start if the key store is empty.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Flask


@cache
def build() -> Flask:
    from datamarket.crypto.keys import KeyStore
    from provider.app import create_app
    from provider.settings import ProviderSettings

    settings = ProviderSettings.load()
    keys = KeyStore(settings.keys_dir)  # type: ignore[arg-type]
    keys.ensure_key()
    return create_app(settings, keys=keys)


def __getattr__(name: str) -> Any:
    if name == "app":
        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
