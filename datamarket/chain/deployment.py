"""Deploying a market to a chain (``datamarket market deploy``), and the settings it hands on.

The deployment is one transaction, signed here by the deployer's key. Before sending it, the node's
chain is checked: the one the operator expects (``expected_chain_id``), not a local development chain
unless asked (its markets are thrown away with the chain), and no public dev key on any other chain (its
key is known to everyone, so anyone could take the market's ownership). The deployer must hold enough
of the chain's coin for the transaction at the node's current fees. Then the receipt is waited for,
``confirmations`` blocks deep, and asked for again each time, so that a reorganisation that moves the
transaction to another block gives that block. The deploy block is the receipt's: where the provider,
the indexer and audits start reading the market's events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TransactionNotFound,
    Web3Exception,
)

from datamarket.chain import artifacts
from datamarket.chain.devchain import DEV_CHAIN_ID, dev_account
from datamarket.chain.market import revert_from
from datamarket.config import mask_url
from datamarket.errors import ChainError, ChainUnavailable, DatamarketError

#: Chain ids of local development chains: anvil and Hardhat (31337), Ganache and ``geth --dev`` (1337).
DEV_CHAIN_IDS = {DEV_CHAIN_ID: "anvil or Hardhat", 1337: "Ganache or geth --dev"}
#: The public dev accounts refused as deployers on any other chain (anvil's first ten).
PUBLIC_DEV_ACCOUNTS = 10
#: The environment variable prefixes of the provider (and its workers) and of the backend (indexer
#: and API), and what each reads of a deployment.
PROVIDER_PREFIX = "DATAMARKET_PROVIDER_"
BACKEND_PREFIX = "DATAMARKET_BACKEND_"
_NODE_MESSAGE_CHARS = 200


class DeployError(ChainError):
    """A deployment refused or failed; ``code`` says which way."""

    code = "deploy_error"

    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.code = code


@dataclass(frozen=True)
class Deployment:
    """A deployed market: where, since when, by whom, with which fee."""

    market: str
    deploy_block: int
    chain_id: int
    tx_hash: str
    deployer: str
    owner: str
    fee_collector: str
    fee_bps: int

    def environment(self, rpc_url: str) -> dict[str, dict[str, str]]:
        """The variables to give each part of the market, by who reads them: ``provider`` (the
        provider and its workers), ``backend`` (the indexer and the catalog API), ``client`` (the
        CLI and the SDK). A password in ``rpc_url`` is shown as ``***``."""
        url = mask_url(rpc_url)
        service = {"RPC_URL": url, "CHAIN_ID": str(self.chain_id), "MARKET": self.market,
                   "MARKET_DEPLOY_BLOCK": str(self.deploy_block)}  # fmt: skip
        return {
            "provider": {PROVIDER_PREFIX + k: v for k, v in service.items()},
            "backend": {BACKEND_PREFIX + k: v for k, v in service.items()},
            "client": {
                "DATAMARKET_RPC_URL": url,
                "DATAMARKET_MARKET": self.market,
                "DATAMARKET_MARKET_DEPLOY_BLOCK": str(self.deploy_block),
            },
        }

    def as_dict(self, rpc_url: str) -> dict[str, Any]:
        return {
            "market": self.market, "deploy_block": self.deploy_block, "chain_id": self.chain_id,
            "tx": self.tx_hash, "deployer": self.deployer, "owner": self.owner,
            "fee_collector": self.fee_collector, "fee_bps": self.fee_bps,
            "environment": self.environment(rpc_url),
        }  # fmt: skip


def deploy_market(
    w3: Web3,
    account: LocalAccount,
    *,
    owner: str | None = None,
    fee_collector: str | None = None,
    fee_bps: int = 0,
    expected_chain_id: int | None = None,
    allow_dev_chain: bool = False,
    confirmations: int = 1,
    timeout_s: float = 600.0,
    poll_s: float = 1.0,
) -> Deployment:
    """Deploy a market owned by ``owner`` (default: the deployer) whose fee of ``fee_bps`` goes to
    ``fee_collector`` (default: the owner), and wait until its transaction is ``confirmations`` blocks
    deep; the module's docstring says what is checked first."""
    try:
        return _deploy(w3, account, owner or account.address, fee_collector, fee_bps, expected_chain_id,
                       allow_dev_chain, confirmations, timeout_s, poll_s)  # fmt: skip
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "an error"
        raise ChainUnavailable(f"the node at {_origin(w3)} answered HTTP {status}") from None
    except requests.RequestException:
        raise ChainUnavailable(f"the node at {_origin(w3)} did not answer") from None
    except (Web3Exception, ValueError) as exc:
        if isinstance(exc, DatamarketError):
            raise
        raise _refused(w3, f"the node at {_origin(w3)} failed", exc) from None


def _deploy(
    w3: Web3, account: LocalAccount, owner: str, fee_collector: str | None, fee_bps: int,
    expected_chain_id: int | None, allow_dev_chain: bool, confirmations: int, timeout_s: float,
    poll_s: float,
) -> Deployment:  # fmt: skip
    chain_id = w3.eth.chain_id
    _check_chain(chain_id, account, expected_chain_id, allow_dev_chain)
    balance = w3.eth.get_balance(account.address)
    if balance == 0:
        raise _unfunded(account.address, chain_id, balance)
    collector = fee_collector or owner
    art = artifacts.load("DataMarket")
    ctor = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(
        to_checksum_address(owner), to_checksum_address(collector), fee_bps
    )
    params = {"from": account.address, "chainId": chain_id,
              "nonce": w3.eth.get_transaction_count(account.address, "pending")}  # fmt: skip
    try:
        tx = ctor.build_transaction(params)
    except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
        raise revert_from(exc) from None
    except Web3Exception as exc:
        if "insufficient funds" in str(exc).lower():
            raise _unfunded(account.address, chain_id, balance) from None
        raise _refused(w3, "the node could not prepare the deployment", exc) from None
    cost = tx["gas"] * int(tx.get("maxFeePerGas", tx.get("gasPrice", 0)))
    if balance < cost:
        raise _unfunded(account.address, chain_id, balance, cost)
    signed = account.sign_transaction(tx)
    try:
        tx_hash = "0x" + bytes(w3.eth.send_raw_transaction(signed.raw_transaction)).hex()
    except Web3Exception as exc:
        raise _refused(w3, "the node refused the deployment", exc) from None
    receipt = _receipt(w3, tx_hash, confirmations, time.monotonic() + timeout_s, poll_s)
    if receipt["status"] != 1 or not w3.eth.get_code(receipt["contractAddress"]):
        raise DeployError("deploy_failed", f"the deployment {tx_hash} failed", details={"tx": tx_hash})
    return Deployment(
        market=to_checksum_address(receipt["contractAddress"]), deploy_block=receipt["blockNumber"],
        chain_id=chain_id, tx_hash=tx_hash, deployer=account.address, owner=to_checksum_address(owner),
        fee_collector=to_checksum_address(collector), fee_bps=fee_bps,
    )  # fmt: skip


def _check_chain(chain_id: int, account: LocalAccount, expected: int | None, allow_dev_chain: bool) -> None:
    if expected is not None and chain_id != expected:
        raise DeployError(
            "wrong_chain",
            f"the node is on chain {chain_id}, not {expected}",
            details={"chain_id": chain_id, "expected_chain_id": expected},
        )
    if chain_id in DEV_CHAIN_IDS and not allow_dev_chain:
        raise DeployError(
            "dev_chain",
            f"chain {chain_id} is a local development chain ({DEV_CHAIN_IDS[chain_id]}), thrown away with "
            "its node; pass --allow-dev-chain to deploy there anyway",
            details={"chain_id": chain_id},
        )
    public = {dev_account(i).address for i in range(PUBLIC_DEV_ACCOUNTS)}
    if chain_id not in DEV_CHAIN_IDS and account.address in public:
        raise DeployError(
            "public_dev_key",
            f"the deployer {account.address} is a public dev account: its key is known to everyone, so "
            "anyone could take the market over; sign with a key of your own",
            details={"deployer": account.address},
        )


def _receipt(w3: Web3, tx_hash: str, confirmations: int, deadline: float, poll_s: float) -> Any:
    """The transaction's receipt once it is ``confirmations`` blocks deep, asked for again each time
    (a reorganisation may have moved it)."""
    while True:
        try:
            receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            receipt = None
        if receipt is not None and w3.eth.block_number - receipt["blockNumber"] + 1 >= confirmations:
            return receipt
        if time.monotonic() >= deadline:
            state = "not mined yet" if receipt is None else f"in block {receipt['blockNumber']}"
            raise DeployError(
                "receipt_timeout",
                f"the deployment {tx_hash} is {state}, not {confirmations} blocks deep in time; it may "
                "still land: look it up before deploying again",
                details={"tx": tx_hash},
            )
        time.sleep(poll_s)


def _unfunded(address: str, chain_id: int, balance: int, cost: int | None = None) -> DeployError:
    need = "" if cost is None else f"; the deployment may cost up to {cost} wei at the node's current fees"
    return DeployError(
        "insufficient_funds",
        f"the deployer {address} holds {balance} wei on chain {chain_id}{need}: fund it first",
        details={"deployer": address, "balance_wei": balance, "cost_wei": cost, "chain_id": chain_id},
    )


def _refused(w3: Web3, what: str, exc: Exception) -> DeployError:
    """``what``, with the node's own words, cut short and printable only (the node may be anyone's),
    and without its URL (which may hold an access key)."""
    said = str(exc)
    endpoint = str(getattr(w3.provider, "endpoint_uri", "") or "")
    if endpoint:
        said = said.replace(endpoint, _origin(w3))
    said = "".join(c for c in said if c.isprintable())[:_NODE_MESSAGE_CHARS]
    return DeployError("node_refused", f"{what}: {said}")


def _origin(w3: Web3) -> str:
    """The node's scheme and host: its URL's path or user part may hold an access key."""
    parts = urlsplit(str(getattr(w3.provider, "endpoint_uri", "") or ""))
    return f"{parts.scheme}://{parts.hostname}" if parts.hostname else "the configured URL"


__all__ = ["DEV_CHAIN_IDS", "DeployError", "Deployment", "deploy_market"]
