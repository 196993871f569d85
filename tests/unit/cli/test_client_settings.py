"""The client's settings: the local market's stack.json, then the TOML file, then the environment."""

from __future__ import annotations

import json

import pytest

from datamarket.errors import ConfigError
from datamarket.settings import load_settings

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = "0x" + "4c" * 32


@pytest.fixture
def home(tmp_path):
    stack = {"chain_id": 31337, "deploy_block": 1, "store": str(tmp_path / "store"),
             "contracts": {"market": MARKET, "payment_token": "0x" + "e7" * 20},
             "services": {"chain": {"url": "http://127.0.0.1:8545"},
                          "provider": {"url": "http://127.0.0.1:8030"},
                          "gateway": {"url": "http://127.0.0.1:8040"}}}  # fmt: skip
    (tmp_path / "stack.json").write_text(json.dumps(stack))
    return tmp_path


def test_the_local_market_gives_every_setting(home) -> None:
    settings = load_settings(home, environ={})
    assert (settings.rpc_url, settings.market, settings.chain_id) == ("http://127.0.0.1:8545", MARKET, 31337)
    assert (settings.market_deploy_block, settings.provider_url) == (1, "http://127.0.0.1:8030")
    assert settings.gateway_url == "http://127.0.0.1:8040"


def test_the_gateway_url_from_the_environment_wins(home) -> None:
    settings = load_settings(home, environ={"DATAMARKET_GATEWAY_URL": "https://gateway.example"})
    assert settings.gateway_url == "https://gateway.example"


def test_the_environment_wins_and_another_node_has_an_unknown_chain(home) -> None:
    environ = {"DATAMARKET_RPC_URL": "https://node.example", "DATAMARKET_MARKET_DEPLOY_BLOCK": "19000000",
               "DATAMARKET_PRIVATE_KEY": KEY}  # fmt: skip
    settings = load_settings(home, environ=environ)
    assert (settings.rpc_url, settings.chain_id, settings.market_deploy_block) == (
        "https://node.example", 0, 19_000_000,
    )  # fmt: skip
    assert KEY not in repr(settings) and "***" in repr(settings)


def test_a_deploy_block_that_is_not_a_number_is_refused(home) -> None:
    with pytest.raises(ConfigError, match="DATAMARKET_MARKET_DEPLOY_BLOCK must be a block number"):
        load_settings(home, environ={"DATAMARKET_MARKET_DEPLOY_BLOCK": "-3"})


def test_the_toml_file_takes_known_names_only(home, tmp_path) -> None:
    config = tmp_path / "client.toml"
    config.write_text('market_deploy_block = 7\nstore = "/data/store"\n')
    settings = load_settings(home, environ={"DATAMARKET_CONFIG": str(config)})
    assert (settings.market_deploy_block, settings.store) == (7, "/data/store")
    config.write_text('rpc = "http://x"\n')
    with pytest.raises(ConfigError, match=r"unknown settings in .*: rpc"):
        load_settings(home, environ={"DATAMARKET_CONFIG": str(config)})
