"""Content addressing and content stores."""

from __future__ import annotations

from pathlib import Path

from datamarket.storage.base import CarStore


def open_store(url_or_path: str | Path) -> CarStore:
    """The content store at ``url_or_path``: an IPFS node's API for ``http://`` and ``https://``
    URLs (:class:`~datamarket.storage.kubo.KuboStore`), otherwise the embedded store in that
    directory (:class:`~datamarket.storage.embedded.EmbeddedStore`)."""
    location = str(url_or_path)
    if location.startswith(("http://", "https://")):
        from datamarket.storage.kubo import KuboStore

        return KuboStore(location)
    from datamarket.storage.embedded import EmbeddedStore

    return EmbeddedStore(Path(location))
