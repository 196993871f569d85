from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from datamarket.chain.devchain import DEV_CHAIN_ID, DevChain, dev_account
from datamarket.errors import ChainUnavailable

pytestmark = pytest.mark.integration


def accepts_connections(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_dev_chain_starts_on_a_free_port_and_stops(anvil: DevChain) -> None:
    with DevChain() as chain:
        assert chain.port not in (0, anvil.port)
        w3 = chain.web3()
        assert w3.eth.chain_id == DEV_CHAIN_ID
        assert w3.eth.get_balance(dev_account(9).address) == 10_000 * 10**18
        assert accepts_connections(chain.port)
        port = chain.port
    assert chain.process is None
    assert not accepts_connections(port)


def test_an_anvil_that_exits_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anvil: DevChain
) -> None:
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\necho 'bind failed' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("DATAMARKET_ANVIL", str(fake))
    with pytest.raises(ChainUnavailable, match="code 3: bind failed") as caught:
        DevChain().start(timeout=10)
    assert caught.value.code == "chain_unavailable"


def test_a_proxy_in_the_environment_is_not_used_for_the_loopback_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # discard port: nothing answers
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with DevChain() as chain:
        assert chain.web3().eth.chain_id == DEV_CHAIN_ID
