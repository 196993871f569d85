"""The dataset page's wallet buttons ("Buy and download", "Run a job"): what the page needs to offer
them, and why it does not when it cannot.

The page script (``static/wallet.js``) reads :func:`offer`'s answer from a JSON data block (never
run as a script), asks the buyer's wallet (EIP-1193, ``window.ethereum``) to sign, and runs the
JavaScript client in the page: the provider re-wraps the content key to a key that never leaves the
page, the ciphertext comes from the content gateway, and the file is decrypted in the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from backend.web.policy import origin
from datamarket import builtins
from datamarket.metadata.declarations import job_declarations

EXTENSION = "datamarket.backend.wallet"
#: File name suffixes of the saved file, by content type (anything else: ``.bin``).
SUFFIXES = {"text/csv": ".csv", "application/json": ".json", "text/plain": ".txt", "application/zip": ".zip",
            "application/x-parquet": ".parquet", "application/vnd.apache.parquet": ".parquet"}  # fmt: skip


@dataclass(frozen=True)
class WalletSettings:
    """What the pages' wallet buttons need from the operator."""

    #: The market contract's address (the client's EIP-712 domain and its chain reads).
    market: str | None = None
    #: The content gateway's URL (an IPFS Trustless Gateway): the page fetches ciphertext from it.
    gateway_url: str | None = None
    #: More origins the page's scripts may connect to: a wallet that works inside the page (a relay, or
    #: a development wallet that talks to the chain's node).
    connect_origins: tuple[str, ...] = ()


def install(app: Flask, settings: WalletSettings | None) -> None:
    app.extensions[EXTENSION] = settings or WalletSettings()


def settings() -> WalletSettings:
    return current_app.extensions.get(EXTENSION, WalletSettings())


def offer(detail: dict[str, Any], chain_id: int, wallet: WalletSettings) -> tuple[dict[str, Any] | None, str]:
    """(the page script's configuration, or None; the reason there is none, or ""). A service whose
    provider URL has no plain http(s) origin (see :func:`backend.web.policy.origin`) is not offered."""
    document = detail.get("document")
    gateway_url = wallet.gateway_url
    if wallet.market is None:
        return None, "This catalog does not name its market contract: use the command line."
    if detail.get("state") != "active":
        return None, f"This dataset is {detail.get('state')}: it takes no new orders."
    if not isinstance(document, dict):
        return None, "The dataset's metadata document is not verified, so the page cannot use it."
    if detail.get("has_allowlist"):
        return None, "Only accounts on the publisher's allowlist may order it: use the command line."
    services = {s.get("type"): s for s in document.get("services", []) if isinstance(s, dict)}
    download = _download(services.get("download"), document, gateway_url)
    compute = _compute(services.get("compute"))
    if download is None and compute is None:
        reason = "No service of this dataset can be used from the page."
        if "download" in services and gateway_url is None:
            reason = "This catalog names no content gateway to fetch the data from: use the command line."
        return None, reason
    config = {
        "datasetId": detail["id"], "chainId": chain_id, "market": wallet.market,
        "datatoken": detail["datatoken"],
        "name": detail.get("name") or detail["datatoken"], "free": bool(detail.get("free")),
        "paymentToken": detail.get("payment_token"), "price": str(detail.get("price") or 0),
        "gatewayUrl": gateway_url, "document": document, "download": download, "compute": compute,
    }  # fmt: skip
    return config, ""


def origins(config: dict[str, Any] | None, wallet: WalletSettings) -> list[str | None]:
    """The URLs the page's scripts talk to: the services' providers, the gateway, the wallet's."""
    if config is None:
        return []
    providers = [s["providerUrl"] for s in (config["download"], config["compute"]) if s is not None]
    return [*providers, config["gatewayUrl"], *wallet.connect_origins]


def _download(service: dict | None, document: dict, gateway_url: str | None) -> dict[str, Any] | None:
    files = document.get("files") or []
    if service is None or gateway_url is None or not files or origin(service["provider_url"]) is None:
        return None
    content_type = str(files[0].get("content_type", "")).split(";")[0].strip().lower()
    return {
        "serviceId": service["id"], "providerUrl": service["provider_url"],
        "providerAddress": service["provider_address"], "sha256": files[0].get("plaintext_sha256"),
        "fileName": "data" + SUFFIXES.get(content_type, ".bin"),
    }  # fmt: skip


def _compute(service: dict | None) -> dict[str, Any] | None:
    if (
        service is None
        or not isinstance(service.get("compute"), dict)
        or origin(service["provider_url"]) is None
    ):
        return None
    compute = service["compute"]
    declared = job_declarations(compute)
    texts = sorted(name for name, spec in declared["columns"].items() if spec["type"] == "text")
    algorithms = list(_algorithms(declared["targets"], texts))
    if not algorithms:
        return None
    privacy = compute["privacy"]
    return {
        "serviceId": service["id"], "providerUrl": service["provider_url"],
        "providerAddress": service["provider_address"], "maxEpsilonPerJob": privacy["max_epsilon_per_job"],
        "requireDp": bool(compute.get("require_dp")), "targets": declared["targets"], "textColumns": texts,
        "algorithms": algorithms,
    }  # fmt: skip


def _algorithms(targets: list[str], texts: list[str]) -> Iterable[dict[str, Any]]:
    """The built-ins this dataset's declarations let run (one that trains needs a declared target;
    the text classifier, a declared text column)."""
    for builtin in builtins.BUILTINS.values():
        if builtin.needs_target and not targets:
            continue
        if builtin.name == "text_classifier" and not texts:
            continue
        yield {
            "name": builtin.name, "description": builtin.description, "needsTarget": builtin.needs_target,
            "needsText": builtin.name == "text_classifier", "requiresEpsilon": builtin.requires_epsilon,
            "dp": builtin.dp,
        }  # fmt: skip


__all__ = ["WalletSettings", "install", "offer", "origins", "settings"]
