"""The health of each service of the local market, as ``datamarket status`` shows it.

Each service is asked what it knows of itself, over loopback, with a short timeout: the chain its
latest block, the provider, the backend and the gateway their ``/healthz`` checks, the worker through the
provider (``/api/v1/info`` says which compute environments a worker served in the last 30 s), the
indexer through the backend (the block the catalog reflects, against the chain's head). A service
whose process is gone is ``stopped``; one that runs but does not answer, or answers a failed check,
is ``unhealthy``, with the check it failed. Nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from datamarket.stack import Stack

TIMEOUT_S = 2.0
HEALTHY, UNHEALTHY, STOPPED = "healthy", "unhealthy", "stopped"


def health(stack: Stack) -> dict[str, dict[str, str]]:
    """``{service: {"health": healthy|unhealthy|stopped, "detail": ...}}`` for every recorded service."""
    session = requests.Session()
    session.trust_env = False  # loopback services: no proxy from the environment
    head: dict[str, Any] = {}
    probes: dict[str, Callable[[], tuple[bool, str]]] = {
        "chain": lambda: _chain(session, stack, head),
        "provider": lambda: _healthz(session, stack.services["provider"].url),
        "worker": lambda: _worker(session, stack),
        "backend": lambda: _healthz(session, stack.services["backend"].url),
        "gateway": lambda: _healthz(session, stack.services["gateway"].url),
        "indexer": lambda: _indexer(session, stack, head),
    }
    report = {}
    for name, service in stack.services.items():
        if not service.alive():
            report[name] = {"health": STOPPED, "detail": "not running"}
            continue
        probe = probes.get(name)
        try:
            ok, detail = probe() if probe else (True, "running")
        except (requests.RequestException, ValueError, KeyError, TypeError):
            ok, detail = False, "does not answer"
        report[name] = {"health": HEALTHY if ok else UNHEALTHY, "detail": detail}
    return report


def _chain(session: requests.Session, stack: Stack, head: dict[str, Any]) -> tuple[bool, str]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    answer = session.post(stack.services["chain"].url, json=body, timeout=TIMEOUT_S).json()
    head["block"] = int(answer["result"], 16)
    return True, f"block {head['block']}"


def _healthz(session: requests.Session, url: str) -> tuple[bool, str]:
    answer = session.get(url + "/healthz", timeout=TIMEOUT_S)
    checks = answer.json().get("checks", {})
    failed = sorted(name for name, value in checks.items() if value != "ok")
    if answer.status_code == 200 and not failed:
        return True, ", ".join(f"{name} ok" for name in sorted(checks)) or "ok"
    return False, ", ".join(f"{name} {checks[name]}" for name in failed) or f"HTTP {answer.status_code}"


def _worker(session: requests.Session, stack: Stack) -> tuple[bool, str]:
    provider = stack.services.get("provider")
    if provider is None or not provider.alive():
        return False, "its provider is not running"
    info = session.get(provider.url + "/api/v1/info", timeout=TIMEOUT_S).json()
    serving = [e["name"] for e in info.get("compute_environments", ()) if e.get("serving")]
    return (True, "serving " + ", ".join(serving)) if serving else (False, "no environment served")


def _indexer(session: requests.Session, stack: Stack, head: dict[str, Any]) -> tuple[bool, str]:
    backend = stack.services.get("backend")
    if backend is None or not backend.alive():
        return True, "running (no backend to ask)"
    block = session.get(backend.url + "/healthz", timeout=TIMEOUT_S).json().get("block")
    if block is None:
        return True, "nothing indexed yet"
    indexed = int(block["number"])
    if "block" in head:
        return True, f"block {indexed} ({head['block'] - indexed} behind the chain)"
    return True, f"block {indexed}"


__all__ = ["HEALTHY", "STOPPED", "UNHEALTHY", "health"]
