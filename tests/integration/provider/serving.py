"""``provider serve`` as a subprocess on a loopback port, for the tests that need a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from eth_account.signers.local import LocalAccount

from datamarket.chain.devchain import DevChain, free_port
from tests.conftest import World

#: The served providers' metrics token (a test value, never a real one).
METRICS_TOKEN = "test-metrics-token-0123456789"


def provider_env(
    anvil: DevChain, world: World, folder: Path, account: LocalAccount, key_env: dict[str, str] | None = None
) -> tuple[dict, Path]:
    """The environment and config file of a provider signing with ``account`` (a public dev key),
    with its data under ``folder``. ``key_env``: variables set last, naming another source of that key
    than a key file (a keystore)."""
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "provider.key"
    key_file.write_text(account.key.hex())
    key_file.chmod(0o600)
    config = folder / "provider.toml"
    config.write_text(f"market_deploy_block = {world.deploy_block}\nmin_confirmations = 1\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DATAMARKET_PROVIDER_")},
        "DATAMARKET_PROVIDER_RPC_URL": anvil.url,
        "DATAMARKET_PROVIDER_MARKET": world.market.address,
        "DATAMARKET_PROVIDER_PRIVATE_KEY_FILE": str(key_file),
        "DATAMARKET_PROVIDER_DATA_DIR": str(folder / "provider"),
        "DATAMARKET_PROVIDER_STORE": str(folder / "store"),
        "DATAMARKET_PROVIDER_METRICS_TOKEN": METRICS_TOKEN,
    }
    if key_env is not None:
        del env["DATAMARKET_PROVIDER_PRIVATE_KEY_FILE"]
        env.update(key_env)
    return env, config


def provider_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from provider.cli import provider; provider()", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def provider_cli_json(env: dict, *args: str) -> dict:
    done = provider_cli(env, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextmanager
def serve_provider(
    anvil: DevChain,
    world: World,
    folder: Path,
    account: LocalAccount,
    *,
    store: Path | None = None,
    key_env: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve a provider (two gunicorn workers) until the block ends; its base URL. ``store``: the
    content store folder to share with the test (default: its own); ``key_env``: see provider_env;
    ``extra_env``: more settings."""
    env, config = provider_env(anvil, world, folder, account, key_env)
    if store is not None:
        env["DATAMARKET_PROVIDER_STORE"] = str(store)
    env.update(extra_env or {})
    port = free_port()
    cmd = [sys.executable, "-c", "from provider.cli import provider; provider()", "serve",
           "--port", str(port), "--workers", "2", "--config", str(config)]  # fmt: skip
    log_path = folder / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                if session.get(url + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail("the provider did not become healthy: " + log_path.read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        assert account.key.hex().removeprefix("0x") not in log_path.read_text(), "the key was logged"
