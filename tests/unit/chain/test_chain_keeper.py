"""The local chain's keeper: when it writes anvil's state, and how it starts anvil."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from datamarket import chain_keeper
from datamarket.chain_keeper import Keeper, anvil_command, main, rpc_url

ANVIL = ["/bin/anvil", "--host", "127.0.0.1", "--port", "9545", "--chain-id", "31337"]


class FakeNode:
    """anvil's JSON-RPC as the keeper uses it: a head, and its state as gzip-compressed JSON hex."""

    def __init__(self) -> None:
        self.head, self.dumps, self.down = 1, 0, False

    def __call__(self, url: str, method: str, params: list | None = None) -> object:
        assert url == "http://127.0.0.1:9545"
        if self.down:
            raise ConnectionRefusedError("connection refused")
        if method == "eth_blockNumber":
            return hex(self.head)
        assert method == "anvil_dumpState"
        self.dumps += 1
        return "0x" + gzip.compress(json.dumps({"best_block_number": self.head}).encode()).hex()


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> FakeNode:
    fake = FakeNode()
    monkeypatch.setattr(chain_keeper, "call", fake)
    return fake


def written(state: Path) -> int:
    return json.loads(state.read_bytes())["best_block_number"]


def test_the_state_is_written_after_each_new_block_and_not_between(
    node: FakeNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    keeper = Keeper(state, ANVIL)
    keeper.step()
    assert (written(state), node.dumps) == (1, 1)
    keeper.step()
    assert node.dumps == 1  # no new block: nothing to write
    node.head = 3
    keeper.step()
    assert (written(state), node.dumps) == (3, 2)
    # Changes without a block (a balance set by RPC) are written after a while anyway.
    monkeypatch.setattr(chain_keeper, "IDLE_WRITE_S", 0.0)
    keeper.step()
    assert node.dumps == 3
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left behind


def test_a_node_that_does_not_answer_leaves_the_last_state(node: FakeNode, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    keeper = Keeper(state, ANVIL)
    keeper.step()
    node.down, node.head = True, 5
    keeper.step()
    keeper.step(final=True)
    assert written(state) == 1
    node.down = False
    keeper.step(final=True)
    assert written(state) == 5


def test_anvil_loads_the_state_only_once_there_is_one(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert anvil_command(state, ANVIL) == ANVIL
    state.write_text("{}")
    assert anvil_command(state, ANVIL) == [*ANVIL, "--load-state", str(state)]


def test_the_node_url_comes_from_anvils_arguments() -> None:
    assert rpc_url(ANVIL) == "http://127.0.0.1:9545"
    assert rpc_url(["/bin/anvil"]) == "http://127.0.0.1:8545"


def test_a_command_line_without_the_separator_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["state.json", "/bin/anvil"]) == 2
    assert "usage: python -m datamarket.chain_keeper STATE -- ANVIL" in capsys.readouterr().err
