"""The JavaScript client (clients/js) in a real headless Chromium, loaded as a page would load it:
through clients/js/importmap.json, with no bundler. The page opens a key and a stream made by the
Python kernel, hashes a job and signs a request; once with WebCrypto, once with ``crypto.subtle``
taken away (a page on plain http other than localhost has none), where @noble/ciphers stands in."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from selenium.webdriver.support.ui import WebDriverWait

from datamarket.crypto import keys, stream
from datamarket.jobs.spec import job_hash
from datamarket.storage import unixfs
from tests.js_client import CLIENT, require_node

JOB = {"algorithm": "dp_stats", "params": {"tol": 1e-7, "rate": 1e-5}, "epsilon": 1.5, "environment": "cpu"}

PAGE_SCRIPT = Path(__file__).parent / "js_client_page.js"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>client</title>
<script type="importmap">{importmap}</script>
<script>window.VECTORS = {vectors};</script>
</head><body><script type="module" src="/page.js"></script></body></html>
"""


def _vectors() -> dict[str, Any]:
    private = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"browser").digest())
    from cryptography.hazmat.primitives import serialization

    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    content_key, stream_key = bytes(range(32)), bytes(range(32, 64))
    plaintext = bytes(range(256)) * 3
    context = "access:eip155:31337/0xa16E02E87b7454126E5E10d957A927A7F5B5d2be:0x" + "ab" * 32
    blocks: dict[str, bytes] = {}
    imported = unixfs.import_file(
        io.BytesIO(plaintext * 400), cid_version=1, put=lambda cid, raw: blocks.__setitem__(str(cid), raw)
    )
    return {
        "fileCid": str(imported.cid),
        "file": (plaintext * 400).hex(),
        "blocks": {cid: raw.hex() for cid, raw in blocks.items()},
        "job": JOB,
        "privateKey": raw.hex(),
        "context": context,
        "wrapped": keys.wrap_key(content_key, keys.public_bytes(private), context=context),
        "key": content_key.hex(),
        "streamKey": stream_key.hex(),
        "ciphertext": keys.b64url(stream.encrypt_bytes(plaintext, stream_key, chunk_size=100)),
        "plaintext": plaintext.hex(),
        "datatoken": "0xa16E02E87b7454126E5E10d957A927A7F5B5d2be",
    }


@pytest.fixture(scope="module")
def client_site() -> Iterator[tuple[str, dict[str, Any]]]:
    """The base URL of clients/js served as static files, with the test page at /page.html."""
    require_node()
    vectors = _vectors()
    importmap = (CLIENT / "importmap.json").read_text()
    page = PAGE.format(importmap=importmap, vectors=json.dumps(vectors)).encode()
    script = PAGE_SCRIPT.read_bytes()
    blocks = {cid: bytes.fromhex(raw) for cid, raw in vectors.pop("blocks").items()}

    class Handler(SimpleHTTPRequestHandler):
        extensions_map: ClassVar[dict[str, str]] = {
            **SimpleHTTPRequestHandler.extensions_map,
            ".js": "text/javascript",
        }

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            served = {"/page.html": (page, "text/html"), "/page.js": (script, "text/javascript")}
            if path.startswith("/gateway/ipfs/") and path[14:] in blocks:
                served[path] = (blocks[path[14:]], "application/vnd.ipld.raw")
            if path.startswith("/provider/"):
                body = json.dumps({"error": {"code": "not_found", "message": "no", "details": {}}}).encode()
                self._send(404, body, "application/json")
                return
            body, kind = served.get(path, (None, None))
            if body is None:
                super().do_GET()
                return
            self._send(200, body, kind)

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(CLIENT)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", vectors
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.parametrize("query", ["", "?nosubtle"], ids=["webcrypto", "noble"])
def test_the_client_runs_in_the_browser_through_its_import_map(
    browser: Any, client_site: tuple[str, dict[str, Any]], query: str
) -> None:
    base, vectors = client_site
    browser.get(f"{base}/page.html{query}")
    result = WebDriverWait(browser, 30).until(lambda b: b.execute_script("return window.RESULT"))
    assert "error" not in result, result.get("error")
    assert result["subtle"] is (query == "")
    assert (
        result["canonical"]
        == '{"algorithm":"dp_stats","environment":"cpu","epsilon":1.5,"params":{"rate":0.00001,"tol":1e-7}}'
    )
    assert result["key"] == vectors["key"]
    assert result["plaintext"] == vectors["plaintext"]
    assert result["signed"] is True
    assert result["file"] == vectors["file"]
    assert result["refusal"] == ["ProviderError", "not_found", 404]
    # The job hash the browser signs is the Python kernel's once both write RFC 8785.
    assert result["jobHash"] == job_hash(JOB)
