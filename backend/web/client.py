"""The JavaScript client (``clients/js``) served to the pages, read only, and the import map that
lets the dataset page load it: the buyer's browser runs the client, so the content key is unwrapped
and the file decrypted in the page, never on this server.

``GET /static/client/<path>`` answers a file of ``clients/js/src/`` or of ``clients/js/node_modules/``
and nothing else: no other folder, no ``..``, no hidden file, no link out of those folders, only
JavaScript (``text/javascript``) and source maps. A client whose folder or packages are not
installed answers 503 ``client_not_installed`` (and the dataset page shows no wallet buttons); a file
that is not there, 404. The import map is ``clients/js/importmap.json`` with its paths (relative to
``clients/js``) turned into these URLs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, send_file

from backend.api.errors import ApiError, NotFound

log = logging.getLogger("backend.web")

EXTENSION = "datamarket.backend.client"
#: The client's folders the pages may load from, under the client's root.
FOLDERS = ("src", "node_modules")
#: What may be served, by suffix, and as what.
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json"}
#: The URL the client's root is served under.
PREFIX = "/static/client/"
#: Seconds a browser may keep a file without asking again (a page loads a few dozen modules).
MAX_AGE = 300
#: The default client: ``clients/js`` beside the backend's package, in the repository.
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "clients" / "js"


class ClientNotInstalled(ApiError):
    """The JavaScript client, or the packages it imports, is not installed beside this server."""

    code = "client_not_installed"
    status = 503


@dataclass(frozen=True)
class ImportMap:
    """The page's import map: its exact text and the CSP hash source that lets it run."""

    text: str

    @property
    def hash_source(self) -> str:
        digest = hashlib.sha256(self.text.encode()).digest()
        return f"'sha256-{base64.b64encode(digest).decode()}'"


def install(app: Flask, root: Path | None) -> None:
    """Serve the client at ``root`` (default :data:`DEFAULT_ROOT`) from ``app``."""
    app.extensions[EXTENSION] = Path(root) if root is not None else DEFAULT_ROOT


def root() -> Path:
    return current_app.extensions.get(EXTENSION, DEFAULT_ROOT)


def serve(subpath: str) -> Response:
    """The view of ``GET /static/client/<subpath>``."""
    path = resolve(root(), subpath)
    response = send_file(path, mimetype=TYPES[path.suffix], conditional=True, etag=True, max_age=MAX_AGE)
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def resolve(client_root: Path, subpath: str) -> Path:
    """The file ``subpath`` names under one of the client's :data:`FOLDERS`; NotFound for anything
    else, ClientNotInstalled when that folder is missing."""
    parts = subpath.split("/")
    if (
        len(parts) < 2
        or parts[0] not in FOLDERS
        or "\\" in subpath
        or "\x00" in subpath
        or any(part in ("", ".", "..") or part.startswith(".") for part in parts)
        or posixpath.splitext(parts[-1])[1] not in TYPES
    ):
        raise NotFound("no such file of the client", code="not_found")
    folder = client_root / parts[0]
    if not folder.is_dir():
        raise ClientNotInstalled(
            "the JavaScript client is not installed on this server"
            + (" (its packages: run npm ci in clients/js)" if parts[0] == "node_modules" else "")
        )
    base = folder.resolve()
    path = folder.joinpath(*parts[1:]).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise NotFound("no such file of the client", code="not_found")
    return path


def import_map(client_root: Path | None = None) -> ImportMap | None:
    """The page's import map from the client's ``importmap.json``; None when the client is not
    installed or its map is unusable (logged: the pages then offer no wallet buttons)."""
    base = client_root if client_root is not None else root()
    file = base / "importmap.json"
    if not (file.is_file() and (base / "src").is_dir() and (base / "node_modules").is_dir()):
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        mapped: dict[str, Any] = {"imports": _urls(data["imports"])}
        if "scopes" in data:
            mapped["scopes"] = {_url(scope): _urls(entries) for scope, entries in data["scopes"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("the client's importmap.json cannot be used: %s", exc)
        return None
    # "<" escaped, so the text cannot close its script element; the JSON it parses to is the same.
    return ImportMap(json.dumps(mapped, sort_keys=True, separators=(",", ":")).replace("<", "\\u003c"))


def _urls(entries: dict[str, str]) -> dict[str, str]:
    if not isinstance(entries, dict):
        raise TypeError("an import map's entries are an object")
    return {str(name): _url(target) for name, target in entries.items()}


def _url(target: str) -> str:
    """A path relative to the client's root (``./node_modules/x/y.js``) as the URL it is served at."""
    if not isinstance(target, str):
        raise TypeError("an import map's target is a string")
    relative = posixpath.normpath(target.lstrip("/"))
    folder = relative.split("/", 1)[0]
    if folder not in FOLDERS or relative.startswith(".."):
        raise ValueError(f"{target!r} is not under the client's src/ or node_modules/")
    return PREFIX + relative + ("/" if target.endswith("/") else "")


__all__ = ["ClientNotInstalled", "ImportMap", "import_map", "install", "resolve", "root", "serve"]
