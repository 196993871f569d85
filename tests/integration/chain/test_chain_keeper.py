"""The local market's chain node under its keeper (``datamarket.chain_keeper``), with a real anvil:
killed with SIGKILL, anvil dies with it and the state file restores every block written before the
kill; stopped with SIGTERM, the keeper writes the last block first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from datamarket.chain.devchain import find_anvil, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def until(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


class KeptChain:
    def __init__(self, folder: Path) -> None:
        self.state, self.port, self.log = folder / "state.json", free_port(), folder / "chain.log"
        self.process: subprocess.Popen | None = None
        self.w3 = Web3(HTTPProvider(f"http://127.0.0.1:{self.port}", request_kwargs={"timeout": 5}))

    def start(self) -> None:
        command = [sys.executable, "-m", "datamarket.chain_keeper", str(self.state), "--", find_anvil(),
                   "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
        until(self.answers, "the node answering")

    def answers(self) -> bool:
        try:
            return self.w3.eth.chain_id > 0
        except Exception:
            return False

    def mine(self, count: int) -> int:
        sender, to = self.w3.eth.accounts[:2]
        for _ in range(count):
            self.w3.eth.send_transaction({"from": sender, "to": to, "value": 1})
        return self.w3.eth.block_number

    def written(self) -> int:
        try:
            return int(json.loads(self.state.read_bytes())["best_block_number"])
        except FileNotFoundError:
            return -1

    def signal_group(self, sig: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[KeptChain]:
    kept = KeptChain(tmp_path)
    yield kept
    if kept.process is not None and kept.process.poll() is None:
        kept.signal_group(signal.SIGTERM)


def test_a_killed_keeper_takes_anvil_with_it_and_restarts_from_its_last_write(chain: KeptChain) -> None:
    chain.start()
    head = chain.mine(3)
    until(lambda: chain.written() == head, "the state file at the head")
    assert chain.process is not None
    os.kill(chain.process.pid, signal.SIGSTOP)  # no write from now on: the kill lands before the next
    assert chain.mine(2) == head + 2
    chain.signal_group(signal.SIGKILL)
    until(lambda: not chain.answers(), "anvil gone with its keeper", timeout=10)
    chain.start()
    assert chain.w3.eth.block_number == head
    assert len(chain.w3.eth.get_block(head)["transactions"]) == 1


def test_a_stopped_keeper_writes_the_last_block_first(chain: KeptChain) -> None:
    chain.start()
    head = chain.mine(1)
    chain.signal_group(signal.SIGTERM)
    assert chain.process is not None and chain.process.returncode == 0
    assert not chain.answers()
    chain.start()
    assert chain.w3.eth.block_number == head
