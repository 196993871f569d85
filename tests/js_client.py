"""Running the JavaScript client's Node tests from pytest: where node is, and whether to skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "js"


def require_node() -> str:
    """The node executable, with the client's packages installed; skip without them, except in CI."""
    node = shutil.which("node")
    missing = (
        "node is not installed"
        if node is None
        else "clients/js/node_modules is missing (npm ci --prefix clients/js)"
        if not (CLIENT / "node_modules").is_dir()
        else None
    )
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: the JavaScript client's tests must run in CI")
        pytest.skip(missing)
    return node


def run_node_tests(files: list[str], env: dict[str, str], *, timeout: float) -> subprocess.CompletedProcess:
    """``node --test FILES`` in clients/js with ``env`` added; its output for the assertion message."""
    node = require_node()
    return subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        cwd=CLIENT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
