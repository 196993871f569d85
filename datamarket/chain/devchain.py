"""A local anvil chain for development, demos and tests, started and stopped by the project.

The accounts are anvil's (and Hardhat's) default dev accounts, derived from the public test
mnemonic "test test ... junk". Their keys are public knowledge: never use them on a real network.
"""

from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from datamarket import environment
from datamarket.errors import ChainUnavailable, ConfigError

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337


@cache
def dev_account(index: int) -> LocalAccount:
    """Dev account ``index`` of the public test mnemonic (funded with 10,000 ETH on anvil)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def find_anvil() -> str:
    """The anvil binary: $DATAMARKET_ANVIL, the npm package under node_modules, or anvil on PATH."""
    explicit = environment.get("DATAMARKET_ANVIL")
    if explicit:
        return explicit
    roots = [Path.cwd(), Path(__file__).resolve().parents[2]]
    for root in roots:
        found = sorted(glob.glob(str(root / "node_modules/@foundry-rs/anvil-*/bin/anvil")))
        if found:
            return found[0]
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise ConfigError(
        "anvil not found: run `npm ci` in the repository (it installs @foundry-rs/anvil) "
        "or set DATAMARKET_ANVIL to the binary"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DevChain:
    """An anvil process on a loopback port. Use as a context manager, or call start/stop."""

    port: int = 0
    state_file: Path | None = None
    block_time: float | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> DevChain:
        if not self.port:
            self.port = free_port()
        cmd = [find_anvil(), "--host", "127.0.0.1", "--port", str(self.port),
               "--chain-id", str(DEV_CHAIN_ID), "--silent"]  # fmt: skip
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file)]
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        w3 = self.web3()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")[-500:] if self.process.stderr else ""
                )
                raise ChainUnavailable(f"anvil exited with code {self.process.returncode}: {err}")
            try:
                if w3.eth.chain_id == DEV_CHAIN_ID:
                    return self
            except Exception:  # not listening yet; requests raises several types
                time.sleep(0.05)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def web3(self) -> Web3:
        # The chain is on loopback: a proxy named in the environment (HTTP_PROXY without a
        # NO_PROXY entry for 127.0.0.1) must not be asked to reach it.
        session = requests.Session()
        session.trust_env = False
        return Web3(HTTPProvider(self.url, request_kwargs={"timeout": 30}, session=session))

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> DevChain:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
