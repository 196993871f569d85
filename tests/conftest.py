"""Shared fixtures.

Integration tests share one anvil for the whole session and one market deployed on it. Each test
runs inside an ``evm_snapshot`` that is reverted afterwards, so every test sees the freshly deployed
market, funded accounts and nothing else, at the cost of two RPC calls. Unit tests use none of this
(``tests/unit/conftest.py`` makes sure they cannot reach the network).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from datamarket.chain.devchain import DevChain, dev_account
from datamarket.chain.market import Market, Published, PublishParams, deploy_test_token, mint_test_token
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH, ProviderFee, sign_quote
from datamarket.errors import ContractRevert

ONE = 10**18
MARKET_FEE_BPS = 100
#: What every funded consumer holds of each ERC-20 payment token at the start of a test.
CONSUMER_FUNDS = 1_000_000 * ONE
METADATA_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that starts anvil must say so: `-m "not integration"` has to leave a network-free run."""
    for item in items:
        if "anvil" in getattr(item, "fixturenames", ()) and item.get_closest_marker("integration") is None:
            raise pytest.UsageError(f"{item.nodeid} uses anvil but is not marked @pytest.mark.integration")


def evm_snapshot(w3: Web3) -> str:
    response = w3.provider.make_request("evm_snapshot", [])
    return response["result"]


def evm_revert(w3: Web3, snapshot_id: str) -> None:
    response = w3.provider.make_request("evm_revert", [snapshot_id])
    if response.get("result") is not True:
        raise RuntimeError(f"evm_revert({snapshot_id}) failed: {response}")


def metadata_hash(document: bytes) -> str:
    return "0x" + hashlib.sha256(document).hexdigest()


@dataclass(frozen=True)
class Accounts:
    """Roles, each a public anvil dev account (never funded on a live chain)."""

    owner: LocalAccount = field(default_factory=lambda: dev_account(0))
    publisher: LocalAccount = field(default_factory=lambda: dev_account(1))
    provider: LocalAccount = field(default_factory=lambda: dev_account(2))
    consumer: LocalAccount = field(default_factory=lambda: dev_account(3))
    consumer2: LocalAccount = field(default_factory=lambda: dev_account(4))
    fee_collector: LocalAccount = field(default_factory=lambda: dev_account(5))
    publish_market: LocalAccount = field(default_factory=lambda: dev_account(6))
    outsider: LocalAccount = field(default_factory=lambda: dev_account(7))
    #: Holds payment tokens but never approved the market: for permits.
    stranger: LocalAccount = field(default_factory=lambda: dev_account(8))


@dataclass
class World:
    """A market deployed on anvil with two ERC-20 payment tokens and funded, approving consumers."""

    w3: Web3
    market: Market  # acting as the market owner
    usd: str
    eur: str
    accounts: Accounts
    deploy_block: int
    _nonces: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def as_(self, account: LocalAccount) -> Market:
        return self.market.as_account(account)

    def now(self) -> int:
        """Timestamp of the latest block (the next block's is at least this)."""
        return self.w3.eth.get_block("latest")["timestamp"]

    def block_number(self) -> int:
        return self.w3.eth.block_number

    def next_nonce(self) -> int:
        return next(self._nonces)

    def params(self, **overrides: Any) -> PublishParams:
        values: dict[str, Any] = {
            "provider": self.accounts.provider.address,
            "metadata_cid": METADATA_CID,
            "metadata_hash": metadata_hash(b"metadata document"),
            "services": 0b11,
            "epsilon_budget": 10_000_000,
            "payment_token": self.usd,
            "price": 5 * ONE,
        }
        values.update(overrides)
        return PublishParams(**values)

    def publish(self, publisher: LocalAccount | None = None, **overrides: Any) -> Published:
        return self.as_(publisher or self.accounts.publisher).publish(self.params(**overrides))

    def quote(
        self,
        datatoken: str,
        consumer: str | None = None,
        *,
        service_id: int = 0,
        fee_token: str = ZERO_ADDRESS,
        amount: int = 0,
        valid_until: int | None = None,
        nonce: int | None = None,
        environment: str = ZERO_HASH,
        signer: LocalAccount | None = None,
    ) -> tuple[ProviderFee, bytes]:
        """A quote signed by the provider (or ``signer``), valid for an hour by default."""
        quote = ProviderFee(
            datatoken=datatoken,
            consumer=consumer or self.accounts.consumer.address,
            service_id=service_id,
            fee_token=fee_token,
            amount=amount,
            valid_until=self.now() + 3600 if valid_until is None else valid_until,
            nonce=self.next_nonce() if nonce is None else nonce,
            environment=environment,
        )
        key = (signer or self.accounts.provider).key
        return quote, sign_quote(quote, key, chain_id=self.market.chain_id, market=self.market.address)

    @staticmethod
    def expect_revert(code: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> ContractRevert:
        """Run ``action`` and return the ContractRevert it raised, which must be named ``code``."""
        with pytest.raises(ContractRevert) as caught:
            action(*args, **kwargs)
        assert caught.value.code == code, f"expected {code}, got {caught.value}"
        return caught.value

    def receipt(self, tx_hash: str) -> Any:
        return self.w3.eth.get_transaction_receipt(tx_hash)

    def gas_cost(self, tx_hash: str) -> int:
        """Native coin the sender paid for gas in ``tx_hash``."""
        receipt = self.receipt(tx_hash)
        return receipt["gasUsed"] * receipt["effectiveGasPrice"]


@pytest.fixture(scope="session")
def anvil() -> Iterator[DevChain]:
    chain = DevChain().start()
    try:
        yield chain
    finally:
        chain.stop()


@pytest.fixture(scope="session")
def deployment(anvil: DevChain) -> World:
    """Deployed once per session; tests reach it through ``world``, which isolates them."""
    w3 = anvil.web3()
    accounts = Accounts()
    owner = accounts.owner
    market = Market.deploy(w3, owner, fee_collector=accounts.fee_collector.address, fee_bps=MARKET_FEE_BPS)
    deploy_block = w3.eth.block_number
    usd = deploy_test_token(w3, owner, "Mock USD", "mUSD")
    eur = deploy_test_token(w3, owner, "Mock EUR", "mEUR")
    for token in (usd, eur):
        for account in (accounts.consumer, accounts.consumer2, accounts.stranger):
            mint_test_token(w3, owner, token, account.address, CONSUMER_FUNDS)
        for account in (accounts.consumer, accounts.consumer2):
            market.as_account(account).approve(token, CONSUMER_FUNDS)
    return World(w3=w3, market=market, usd=usd, eur=eur, accounts=accounts, deploy_block=deploy_block)


@pytest.fixture
def world(deployment: World) -> Iterator[World]:
    """The session's deployment, reverted to its pristine state after the test."""
    snapshot = evm_snapshot(deployment.w3)
    try:
        yield deployment
    finally:
        evm_revert(deployment.w3, snapshot)


@pytest.fixture
def market(world: World) -> Market:
    """The isolated market, acting as its owner."""
    return world.market
