from __future__ import annotations

import glob
import shutil
from pathlib import Path

import pytest

from datamarket.chain import devchain
from datamarket.chain.devchain import DEV_CHAIN_ID, DevChain, dev_account, find_anvil
from datamarket.errors import ConfigError


def test_dev_accounts_are_the_public_anvil_accounts() -> None:
    # The first two accounts of "test test ... junk", as anvil and Hardhat print them.
    assert dev_account(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert dev_account(1).address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert dev_account(0).key.hex().removeprefix("0x") == (
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    )
    assert dev_account(3) is dev_account(3)
    assert len({dev_account(i).address for i in range(10)}) == 10


def test_find_anvil_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMARKET_ANVIL", "/opt/foundry/anvil")
    assert find_anvil() == "/opt/foundry/anvil"


def test_find_anvil_uses_the_npm_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAMARKET_ANVIL", raising=False)
    found = find_anvil()
    assert Path(found).name == "anvil"
    assert "node_modules/@foundry-rs/anvil-" in found or shutil.which("anvil") == found


def test_find_anvil_explains_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAMARKET_ANVIL", raising=False)
    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="npm ci") as caught:
        find_anvil()
    assert caught.value.code == "invalid_config"


def test_dev_chain_url_and_defaults() -> None:
    chain = DevChain(port=8555)
    assert chain.url == "http://127.0.0.1:8555"
    assert chain.process is None
    chain.stop()  # stopping a chain that never started is a no-op
    assert DEV_CHAIN_ID == 31337


def test_free_port_is_a_bindable_port() -> None:
    port = devchain.free_port()
    assert 1024 <= port <= 65535
