"""A market deployed with ``datamarket market deploy`` on a fresh chain, every key from a keystore: the
deployer's, the provider's (``provider serve``) and the publisher's (``datamarket publish``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market
from datamarket.cli import main
from datamarket.environment import VARIABLES
from provider.settings import ProviderSettings
from tests.conftest import Accounts, World
from tests.integration.provider.serving import serve_provider
from tests.unit.config.keystores import PASSWORD, encrypted, write_keystore, write_secret

pytestmark = pytest.mark.integration

DEPLOYER, FEE_COLLECTOR, PUBLISHER, PROVIDER = (dev_account(i) for i in (0, 1, 2, 3))


def _cli(env: dict[str, str | None], *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, [*args, "--json"], env=env)
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def _client_env(home: Path, keystore: Path, password_file: Path, **values: str) -> dict[str, str | None]:
    """Only what is given: the caller's DATAMARKET_* variables are unset."""
    env: dict[str, str | None] = dict.fromkeys(VARIABLES)
    env.update(DATAMARKET_HOME=str(home), DATAMARKET_KEYSTORE=str(keystore),
               DATAMARKET_KEYSTORE_PASSWORD_FILE=str(password_file), **values)  # fmt: skip
    return env


def test_deploy_serve_and_publish_with_keystores(tmp_path: Path) -> None:
    keystores = {
        account.address: write_keystore(tmp_path / f"{account.address}.json", encrypted(account))
        for account in (DEPLOYER, PUBLISHER, PROVIDER)
    }
    password_file = write_secret(tmp_path / "password", PASSWORD + "\n")
    with DevChain() as chain:
        deploy_env = _client_env(tmp_path / "home", keystores[DEPLOYER.address], password_file)
        deploy = ("market", "deploy", "--rpc-url", chain.url, "--fee-bps", "100",
                  "--fee-collector", FEE_COLLECTOR.address)  # fmt: skip

        code, refused = _cli(deploy_env, *deploy)
        assert (code, refused["error"]["code"]) == (1, "dev_chain"), refused

        code, deployed = _cli(deploy_env, *deploy, "--allow-dev-chain", "--chain-id", "31337")
        assert code == 0, deployed
        w3 = chain.web3()
        receipt = w3.eth.get_transaction_receipt(deployed["tx"])
        assert w3.eth.get_transaction(deployed["tx"])["from"] == DEPLOYER.address
        assert (receipt["contractAddress"], receipt["blockNumber"]) == (
            deployed["market"],
            deployed["deploy_block"],
        )
        assert deployed["chain_id"] == 31337
        market = Market(w3, deployed["market"])
        assert market.contract.functions.owner().call() == DEPLOYER.address
        assert deployed["environment"]["client"] == {
            "DATAMARKET_RPC_URL": chain.url,
            "DATAMARKET_MARKET": deployed["market"],
            "DATAMARKET_MARKET_DEPLOY_BLOCK": str(deployed["deploy_block"]),
        }

        # The provider: the printed variables and its keystore, served by `provider serve`.
        key_env = {
            **deployed["environment"]["provider"],
            "DATAMARKET_PROVIDER_PRIVATE_KEY_KEYSTORE": str(keystores[PROVIDER.address]),
            "DATAMARKET_PROVIDER_PRIVATE_KEY_KEYSTORE_PASSWORD": PASSWORD,
        }
        settings = ProviderSettings.load(env=key_env)
        assert (settings.market, settings.chain_id, settings.market_deploy_block) == (
            deployed["market"], 31337, deployed["deploy_block"],
        )  # fmt: skip
        world = World(w3=w3, market=market, usd="", eur="", accounts=Accounts(),
                      deploy_block=deployed["deploy_block"])  # fmt: skip
        folder = tmp_path / "provider"
        with serve_provider(chain, world, folder, PROVIDER, key_env=key_env) as url:
            session = requests.Session()
            session.trust_env = False
            assert session.get(url + "/api/v1/info", timeout=10).json()["address"] == PROVIDER.address

            # A client command signs with the publisher's keystore.
            data = tmp_path / "table.csv"
            data.write_text("a,b\n" + "".join(f"{i},{i * 3}\n" for i in range(50)))
            publish_env = _client_env(
                tmp_path / "home", keystores[PUBLISHER.address], password_file,
                **deployed["environment"]["client"], DATAMARKET_STORE=str(folder / "store"),
                DATAMARKET_PROVIDER_URL=url,
            )  # fmt: skip
            code, published = _cli(publish_env, "publish", str(data), "--name", "keystore", "--price", "1",
                                   "--payment-token", "native")  # fmt: skip
            assert code == 0, published
        datatoken = published["dataset"].rsplit("/", 1)[1]
        record = market.dataset(datatoken)
        assert (record.publisher, record.provider) == (PUBLISHER.address, PROVIDER.address)
    assert PASSWORD not in (folder / "serve.log").read_text()
