"""A JavaScript client's folder as the backend serves it (``clients/js``: ``src/``, ``node_modules/``,
``importmap.json``), with small stand-in files: the tests check what is served and how, not the client."""

from __future__ import annotations

import json
from pathlib import Path

IMPORTS = {
    "ethers": "./node_modules/ethers/dist/ethers.js",
    "@noble/hashes/": "./node_modules/@noble/hashes/esm/",
    "canonicalize": "node_modules/canonicalize/lib/canonicalize.js",
}


def make_client(root: Path, imports: dict | None = None) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "index.js").write_text('export const version = "test";\n')
    (root / "src" / "README.md").write_text("not a module\n")
    (root / "src" / ".hidden.js").write_text("export {};\n")
    for target in (
        "ethers/dist/ethers.js",
        "@noble/hashes/esm/sha256.js",
        "canonicalize/lib/canonicalize.js",
    ):
        file = root / "node_modules" / target
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("export default 1;\n")
    (root / "node_modules" / "ethers" / "dist" / "ethers.js.map").write_text("{}")
    (root / "package.json").write_text('{"name": "x"}')
    (root / "secret.js").write_text("export const key = 1;\n")
    (root / "importmap.json").write_text(json.dumps({"imports": imports if imports is not None else IMPORTS}))
    return root
