"""``datamarket market deploy`` before it sends anything: its options, the chains and keys it refuses,
and the settings it prints for each part of the market."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from eth_account import Account
from web3.exceptions import Web3Exception

from backend.settings import BackendSettings
from compute_to_data.settings import WorkerSettings
from datamarket import environment
from datamarket.chain.deployment import DeployError, Deployment, deploy_market
from datamarket.chain.devchain import dev_account
from datamarket.cli import main
from datamarket.cli.market import _lines
from datamarket.errors import DatamarketError
from provider.settings import ProviderSettings

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
COLLECTOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
KEY_VARIABLES = ("DATAMARKET_PRIVATE_KEY", "DATAMARKET_KEYSTORE", "DATAMARKET_KEYSTORE_PASSWORD",
                 "DATAMARKET_KEYSTORE_PASSWORD_FILE", "DATAMARKET_RPC_URL", "DATAMARKET_CONFIG")  # fmt: skip


class FakeEth:
    """A node on ``chain_id`` where every account holds ``balance``; nothing can be sent."""

    def __init__(self, chain_id: int, balance: int = 0) -> None:
        self.chain_id, self.balance = chain_id, balance

    def get_balance(self, address: str) -> int:
        return self.balance

    def __getattr__(self, name: str) -> Any:
        pytest.fail(f"the deployment went on to eth.{name}")


class FakeWeb3:
    def __init__(self, chain_id: int, balance: int = 0) -> None:
        self.eth = FakeEth(chain_id, balance)

    def __getattr__(self, name: str) -> Any:
        pytest.fail(f"the deployment used w3.{name}")


def _deploy(*args: str, key: str | None = dev_account(0).key.hex(), home=None) -> dict:
    env = dict.fromkeys(KEY_VARIABLES)
    env.update({"DATAMARKET_HOME": str(home), "DATAMARKET_PRIVATE_KEY": key})
    result = CliRunner().invoke(main, ["market", "deploy", *args, "--json"], env=env)
    return {"exit_code": result.exit_code, **json.loads(result.output.strip().splitlines()[-1])}


@pytest.mark.parametrize(
    ("args", "param"),
    [
        (["--rpc-url", "ftp://node.example"], "--rpc-url"),
        (["--rpc-url", "https://node.example", "--fee-collector", COLLECTOR.lower()], "--fee-collector"),
        (["--rpc-url", "https://node.example", "--owner", "0x1234"], "--owner"),
        (["--rpc-url", "https://node.example", "--fee-bps", "1001"], "--fee-bps"),
        (["--rpc-url", "https://node.example", "--chain-id", "0"], "--chain-id"),
    ],
)
def test_bad_options_are_usage_errors_that_name_them(tmp_path, args, param) -> None:
    answer = _deploy(*args, home=tmp_path)
    assert answer["exit_code"] == 2 and answer["error"]["code"] == "usage_error"
    assert answer["error"]["details"] == {"param": param}


def test_a_node_url_and_a_key_are_asked_for(tmp_path) -> None:
    no_url = _deploy(home=tmp_path)
    assert no_url["exit_code"] == 2 and "--rpc-url URL or DATAMARKET_RPC_URL" in no_url["error"]["message"]
    no_key = _deploy("--rpc-url", "https://node.example", key=None, home=tmp_path)
    assert no_key["exit_code"] == 2 and "DATAMARKET_KEYSTORE" in no_key["error"]["message"]


def test_a_node_on_another_chain_than_expected_is_refused() -> None:
    with pytest.raises(DeployError) as caught:
        deploy_market(FakeWeb3(chain_id=1), Account.create(), expected_chain_id=11155111)
    assert caught.value.code == "wrong_chain" and "chain 1, not 11155111" in caught.value.message


@pytest.mark.parametrize("chain_id", [31337, 1337])
def test_a_local_development_chain_needs_to_be_allowed(chain_id: int) -> None:
    with pytest.raises(DeployError) as caught:
        deploy_market(FakeWeb3(chain_id), Account.create())
    assert caught.value.code == "dev_chain" and "--allow-dev-chain" in caught.value.message
    with pytest.raises(DeployError) as caught:  # allowed, it goes on (to the funds)
        deploy_market(FakeWeb3(chain_id), Account.create(), allow_dev_chain=True)
    assert caught.value.code == "insufficient_funds"


def test_a_public_dev_key_is_refused_on_any_other_chain() -> None:
    with pytest.raises(DeployError) as caught:
        deploy_market(FakeWeb3(chain_id=8453, balance=10**18), dev_account(3), allow_dev_chain=True)
    assert caught.value.code == "public_dev_key" and dev_account(3).address in caught.value.message


def test_a_deployer_without_funds_is_told_to_fund_itself() -> None:
    deployer = Account.create()
    with pytest.raises(DeployError) as caught:
        deploy_market(FakeWeb3(chain_id=11155111), deployer)
    assert caught.value.code == "insufficient_funds"
    assert f"{deployer.address} holds 0 wei on chain 11155111" in caught.value.message


def test_the_printed_variables_are_the_ones_each_part_of_the_market_reads() -> None:
    deployed = Deployment(market=MARKET, deploy_block=19_000_123, chain_id=8453, tx_hash="0x" + "ab" * 32,
                          deployer=COLLECTOR, owner=COLLECTOR, fee_collector=COLLECTOR,
                          fee_bps=100)  # fmt: skip
    printed = deployed.environment("https://user:s3cr3t@rpc.example/v1?x=1&y=2")
    readers = {"provider": (ProviderSettings, WorkerSettings), "backend": (BackendSettings,)}
    for group, classes in readers.items():
        for settings_class in classes:
            names = {
                settings_class.env_name(n) for n in ("rpc_url", "chain_id", "market", "market_deploy_block")
            }
            assert set(printed[group]) == names
    assert set(printed["client"]) <= set(environment.VARIABLES)
    assert printed["provider"]["DATAMARKET_PROVIDER_MARKET_DEPLOY_BLOCK"] == "19000123"
    assert printed["backend"]["DATAMARKET_BACKEND_CHAIN_ID"] == "8453"
    assert printed["client"]["DATAMARKET_MARKET"] == MARKET
    assert all("s3cr3t" not in value for values in printed.values() for value in values.values())
    exports = [line for line in _lines(deployed.as_dict("https://rpc.example/?a=1&b=2")) if "export" in line]
    assert "export DATAMARKET_RPC_URL='https://rpc.example/?a=1&b=2'" in exports
    assert all(shlex.split(line)[0] == "export" for line in exports)


class FailingNode:
    """A node at a URL holding an access key, whose answers ``error`` breaks."""

    def __init__(self, error: Exception) -> None:
        self.provider = type("Provider", (), {"endpoint_uri": "https://rpc.example/v3/ACCESS-KEY"})()
        self.eth = self
        self.error = error

    @property
    def chain_id(self) -> int:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (requests.ConnectionError("https://rpc.example/v3/ACCESS-KEY refused"), "chain_unavailable",
         "the node at https://rpc.example did not answer"),
        (Web3Exception("no JSON from https://rpc.example/v3/ACCESS-KEY: \x1b[31m<html>"), "node_refused",
         "the node at https://rpc.example failed: no JSON from https://rpc.example: [31m<html>"),
    ],
)  # fmt: skip
def test_a_failing_node_is_named_by_its_host_only(error, code, message) -> None:
    with pytest.raises(DatamarketError) as caught:
        deploy_market(FailingNode(error), Account.create())
    assert (caught.value.code, caught.value.message) == (code, message)
