"""The pages' Content-Security-Policy.

Every page but one runs no script at all (:data:`PAGE_POLICY`). The dataset page, when it offers the
wallet buttons, runs this server's own modules and the import map inline by its hash, and may connect
only to this server, to the dataset's provider, to the content gateway and to the origins the
operator names for a wallet that works inside the page (:func:`wallet_policy`). Origins come from
URLs, some written by a dataset's publisher: each is rebuilt from a checked scheme, host and port,
so nothing else can reach the header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

#: Pages may load only their own stylesheet; no script, no frame, forms post only here.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+$")


def origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL; None for anything else."""
    if not isinstance(url, str) or any(c.isspace() or c in ";,'\"" for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    if ":" in host:
        if not _IPV6.match(host):
            return None
        host = f"[{host}]"
    elif not _HOST.match(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def wallet_policy(script_hash: str, origins: Iterable[str | None]) -> str:
    """The dataset page's policy when it runs the wallet client: ``script_hash`` is the import map's
    CSP hash source; ``origins`` the URLs its scripts talk to (unusable ones are left out)."""
    allowed = sorted({o for o in (origin(url) for url in origins) if o is not None})
    connect = " ".join(["'self'", *allowed])
    return (
        f"default-src 'none'; script-src 'self' {script_hash}; connect-src {connect}; style-src 'self'; "
        "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


__all__ = ["PAGE_POLICY", "origin", "wallet_policy"]
