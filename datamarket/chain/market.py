"""The market client: deploy, publish, buy, order, post receipts and read datasets, signing locally.

Transactions are signed with an eth-account key held by the caller (never an unlocked node account),
and a revert becomes a :class:`~datamarket.errors.ContractRevert` whose ``code`` is the contract's
custom error name. Every write returns the transaction's decoded events.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from datamarket.chain import artifacts
from datamarket.chain.events import (
    DATATOKEN_EVENTS,
    MARKET_EVENTS,
    DatasetPublished,
    DatasetState,
    JobStatus,
    decode_logs,
    topic_of,
)
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH, ProviderFee
from datamarket.errors import ChainError, ChainUnavailable, ContractRevert

MICRO = 10**6


#: The contracts hold epsilon budgets and charges in uint48 micro-epsilon.
MAX_EPSILON_UNITS = 2**48 - 1


def epsilon_units(epsilon: float | str | Decimal) -> int:
    """Epsilon as the contracts store it: an integer count of micro-epsilon (1e-6).

    Raises ValueError for anything that is not a finite number >= 0 with at most 6 decimals that
    fits the contracts' uint48.
    """
    try:
        units = Decimal(str(epsilon).strip()) * MICRO
    except InvalidOperation:
        raise ValueError(f"epsilon {epsilon!r} is not a number") from None
    if not units.is_finite() or units < 0 or units != units.to_integral_value():
        raise ValueError(f"epsilon {epsilon} must be a finite number >= 0 with at most 6 decimals")
    if units > MAX_EPSILON_UNITS:
        raise ValueError(f"epsilon {epsilon} exceeds the contracts' maximum of {MAX_EPSILON_UNITS / MICRO}")
    return int(units)


def new_salt() -> str:
    """32 random bytes (hex), the default publish salt: with the publisher, it fixes the datatoken's
    address before publishing (see :meth:`Market.predict_datatoken`)."""
    return "0x" + secrets.token_hex(32)


@dataclass(frozen=True)
class PublishParams:
    """What a publisher sets in one publish transaction (see ``IDataMarket.PublishParams``).

    ``salt`` is drawn once, when the params are made: sending the same params again lands on the
    same datatoken address, where the market refuses a second dataset (``MarketDatatokenExists``).
    """

    provider: str
    metadata_cid: str
    metadata_hash: str
    services: int = 0b01
    free: bool = False
    publish_fee_bps: int = 0
    epsilon_budget: int = 0
    payment_token: str = ZERO_ADDRESS
    price: int = 0
    cap: int = 0
    dispenser_limit: int = 0
    publish_fee_collector: str = ZERO_ADDRESS
    allowlist_root: str = ZERO_HASH
    salt: str = field(default_factory=new_salt)

    def as_tuple(self) -> tuple:
        return (
            to_checksum_address(self.provider), self.services, self.free, self.publish_fee_bps,
            self.epsilon_budget, to_checksum_address(self.payment_token), self.price, self.cap,
            self.dispenser_limit, to_checksum_address(self.publish_fee_collector),
            _b32(self.metadata_hash), _b32(self.allowlist_root), _b32(self.salt), self.metadata_cid,
        )  # fmt: skip


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset as the market stores it."""

    publisher: str
    state: DatasetState
    services: int
    free: bool
    has_allowlist: bool
    capped: bool
    publish_fee_bps: int
    index: int
    provider: str
    epsilon_budget: int
    epsilon_spent: int
    payment_token: str
    price: int
    cap: int
    dispenser_limit: int
    metadata_hash: str
    publish_fee_collector: str
    allowlist_root: str


@dataclass(frozen=True)
class ComputeReceipt:
    """One finished job; the market takes a batch of one dataset's receipts (the datatoken is the
    batch's, not each receipt's)."""

    job_id: str
    datatoken: str
    order_id: int
    algorithm_hash: str
    output_hash: str
    epsilon: int
    status: JobStatus = JobStatus.SUCCEEDED

    def as_tuple(self) -> tuple:
        return (
            _b32(self.job_id), self.order_id, _b32(self.algorithm_hash), _b32(self.output_hash),
            self.epsilon, int(self.status),
        )  # fmt: skip


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int
    events: list[Any] = field(default_factory=list)

    def event(self, cls: type) -> Any:
        """The one event of type ``cls`` in this transaction."""
        found = [e for e in self.events if isinstance(e, cls)]
        if len(found) != 1:
            raise ChainError(f"expected one {cls.__name__} event in {self.tx_hash}, found {len(found)}")
        return found[0]


@dataclass(frozen=True)
class Published:
    datatoken: str
    tx: TxResult


def _b32(value: str | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@cache
def _get_dataset_abi() -> tuple[bytes, list[str]]:
    """The selector of ``getDataset(address)`` and its output type, from the packaged ABI."""
    item = next(i for i in artifacts.load("DataMarket").abi if i.get("name") == "getDataset")
    fields = ",".join(c["type"] for c in item["outputs"][0]["components"])
    return function_abi_to_4byte_selector(item), [f"({fields})"]


@cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table = {}
    for name in artifacts.EXPORTED:
        for item in artifacts.load(name).abi:
            if item["type"] == "error":
                types = [i["type"] for i in item["inputs"]]
                names = [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])]
                table[function_abi_to_4byte_selector(item)] = (item["name"], types, names)
    return table


def decode_revert(data: str | bytes, tx_hash: str | None = None) -> ContractRevert:
    """Turn revert data into a ContractRevert named after the contract's custom error."""
    raw = data if isinstance(data, bytes) else bytes.fromhex(str(data).removeprefix("0x"))
    entry = _error_table().get(raw[:4])
    if entry is None:
        return ContractRevert("UnknownRevert", {"data": _hex(raw)}, tx_hash=tx_hash)
    name, types, names = entry
    try:
        values = decode(types, raw[4:])
    except DecodingError:
        # A known selector with malformed arguments: not one of ours (a hostile token can revert
        # with any bytes), so it is reported raw rather than raised as a decoding failure.
        return ContractRevert("UnknownRevert", {"data": _hex(raw)}, tx_hash=tx_hash)
    args = {}
    for n, t, v in zip(names, types, values, strict=True):
        args[n] = _hex(v) if isinstance(v, bytes) else to_checksum_address(v) if t == "address" else v
    return ContractRevert(name, args, tx_hash=tx_hash)


class Market:
    """A client of one deployed DataMarket, acting as ``account`` (None: read only)."""

    def __init__(self, w3: Web3, address: str, account: LocalAccount | None = None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.account = account
        self.contract = w3.eth.contract(address=self.address, abi=artifacts.load("DataMarket").abi)
        self._chain_id: int | None = None
        # Whether a log's source is one of this market's datatokens; never changes for an address.
        self._datatokens: dict[str, bool] = {}

    # ------------------------------------------------------------------ set-up

    @classmethod
    def deploy(
        cls, w3: Web3, account: LocalAccount, *, fee_collector: str | None = None, fee_bps: int = 0,
        owner: str | None = None,
    ) -> Market:  # fmt: skip
        """Deploy a new market owned by ``owner`` (default: the deployer)."""
        art = artifacts.load("DataMarket")
        factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        owner = owner or account.address
        ctor = factory.constructor(owner, fee_collector or owner, fee_bps)
        receipt = _send(w3, account, ctor)
        return cls(w3, receipt["contractAddress"], account)

    def as_account(self, account: LocalAccount | None) -> Market:
        """The same market, acting as another account."""
        other = Market(self.w3, self.address, account)
        other._chain_id = self._chain_id
        other._datatokens = self._datatokens
        return other

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        return self._chain_id

    # ------------------------------------------------------------------ reads

    def dataset(self, datatoken: str, block: int | str = "latest") -> DatasetRecord:
        # The hottest read (every buy, order and access): one raw eth_call, encoded and decoded with
        # eth_abi directly, skips web3's contract machinery (a third of the provider's access time).
        selector, types = _get_dataset_abi()
        data = selector + encode(["address"], [to_checksum_address(datatoken)])
        answer = self.w3.provider.make_request(
            "eth_call",
            [{"to": self.address, "data": _hex(data)}, block if isinstance(block, str) else hex(block)],
        )
        if "error" in answer or answer.get("result") in (None, "0x"):
            # A node that errs (rate limit, pruned state) or a market address with no code.
            raise ChainUnavailable("the chain node did not answer getDataset")
        (raw,) = decode(types, bytes.fromhex(answer["result"].removeprefix("0x")))
        values = [
            _hex(v) if isinstance(v, bytes) else to_checksum_address(v) if isinstance(v, str) else v
            for v in raw
        ]
        values[1] = DatasetState(values[1])
        return DatasetRecord(*values)

    def predict_datatoken(self, publisher: str, salt: str | bytes) -> str:
        """The address ``publisher``'s publish with ``salt`` deploys its datatoken at (the market's view)."""
        f = self.contract.functions.predictDatatoken(to_checksum_address(publisher), _b32(salt))
        return to_checksum_address(self._call(f))

    def datatoken_implementation(self) -> str:
        return to_checksum_address(self._call(self.contract.functions.datatokenImplementation()))

    def dataset_count(self) -> int:
        return self._call(self.contract.functions.marketConfig())[3]

    def order_count(self) -> int:
        """How many orders this market has taken; the next order's id."""
        return self._call(self.contract.functions.marketConfig())[4]

    def market_fee(self) -> tuple[str, int]:
        collector, bps, *_ = self._call(self.contract.functions.marketConfig())
        return collector, bps

    def orders_paused(self) -> bool:
        return self._call(self.contract.functions.marketConfig())[2]

    def earnings(self, token: str, payee: str) -> int:
        f = self.contract.functions.earnings(to_checksum_address(token), to_checksum_address(payee))
        return self._call(f)

    def pending_provider(self, datatoken: str) -> str:
        """The provider named by the publisher that has not accepted yet (the zero address: none)."""
        f = self.contract.functions.pendingProvider(to_checksum_address(datatoken))
        return to_checksum_address(self._call(f))

    def pending_publisher(self, datatoken: str) -> str:
        f = self.contract.functions.pendingPublisher(to_checksum_address(datatoken))
        return to_checksum_address(self._call(f))

    def metadata_updater(self, datatoken: str) -> str:
        f = self.contract.functions.metadataUpdater(to_checksum_address(datatoken))
        return to_checksum_address(self._call(f))

    def is_minter(self, datatoken: str, account: str) -> bool:
        f = self.contract.functions.isMinter(to_checksum_address(datatoken), to_checksum_address(account))
        return self._call(f)

    def dispensed(self, datatoken: str, account: str) -> int:
        """How many datatokens ``account`` has received from the dataset's dispenser, orders included."""
        f = self.contract.functions.dispensed(to_checksum_address(datatoken), to_checksum_address(account))
        return self._call(f)

    def allowance(self, token: str, owner: str) -> int:
        """What the market may take of ``owner``'s ERC-20 ``token``."""
        contract = self.w3.eth.contract(
            address=to_checksum_address(token), abi=artifacts.load("MockERC20").abi
        )
        return self._call(contract.functions.allowance(to_checksum_address(owner), self.address))

    def is_quote_used(self, provider: str, nonce: int) -> bool:
        return self._call(self.contract.functions.isQuoteUsed(to_checksum_address(provider), nonce))

    def datatoken(self, datatoken: str):
        return self.w3.eth.contract(
            address=to_checksum_address(datatoken), abi=artifacts.load("Datatoken").abi
        )

    def balance_of(self, token: str, account: str) -> int:
        """ERC-20 balance (a datatoken or a payment token); native coin for the zero address."""
        if to_checksum_address(token) == ZERO_ADDRESS:
            return self.w3.eth.get_balance(to_checksum_address(account))
        contract = self.w3.eth.contract(
            address=to_checksum_address(token), abi=artifacts.load("MockERC20").abi
        )
        return self._call(contract.functions.balanceOf(to_checksum_address(account)))

    def total_supply(self, datatoken: str) -> int:
        return self._call(self.datatoken(datatoken).functions.totalSupply())

    def tx_events(self, tx_hash: str) -> list[Any]:
        """The events this market and its datatokens emitted in a mined transaction."""
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        return self._own_events(receipt["logs"])

    def events(self, from_block: int, to_block: int | str = "latest") -> list[Any]:
        """The market's events in a block range, decoded, in chain order."""
        logs = self.w3.eth.get_logs({"address": self.address, "fromBlock": from_block, "toBlock": to_block})
        return decode_logs(logs)

    def metadata_pointer(self, datatoken: str) -> tuple[str, str]:
        """The current metadata document's (CID, sha256 hex) of a dataset, from its events.

        The CID is the newest ``DatasetPublished`` or ``MetadataUpdated`` event's; the sha256 is
        the one the market stores now, which a reader checks the fetched document against.
        """
        datatoken = to_checksum_address(datatoken)
        record = self.dataset(datatoken)
        if record.state == DatasetState.NONE:
            raise ChainError(f"{datatoken} is not a dataset of market {self.address}")
        topics = [[topic_of("DatasetPublished"), topic_of("MetadataUpdated")],
                  "0x" + "00" * 12 + datatoken[2:].lower()]  # fmt: skip
        logs = self.w3.eth.get_logs(
            {"address": self.address, "fromBlock": 0, "toBlock": "latest", "topics": topics}
        )
        events = decode_logs(logs)
        if not events:
            raise ChainError(f"no metadata event found for {datatoken}")
        return events[-1].metadata_cid, record.metadata_hash.removeprefix("0x")

    # ------------------------------------------------------------------ publisher

    def publish(self, params: PublishParams) -> Published:
        tx = self._transact(self.contract.functions.publish(params.as_tuple()))
        return Published(datatoken=tx.event(DatasetPublished).datatoken, tx=tx)

    def update_metadata(self, datatoken: str, cid: str, sha256: str) -> TxResult:
        f = self.contract.functions.updateMetadata(to_checksum_address(datatoken), cid, _b32(sha256))
        return self._transact(f)

    def set_price(self, datatoken: str, payment_token: str, price: int) -> TxResult:
        f = self.contract.functions.setPrice(
            to_checksum_address(datatoken), to_checksum_address(payment_token), price
        )
        return self._transact(f)

    def set_dispenser(self, datatoken: str, limit: int) -> TxResult:
        f = self.contract.functions.setDispenser(to_checksum_address(datatoken), limit)
        return self._transact(f)

    def set_state(self, datatoken: str, state: DatasetState) -> TxResult:
        f = self.contract.functions.setDatasetState(to_checksum_address(datatoken), int(state))
        return self._transact(f)

    def set_allowlist(self, datatoken: str, root: str) -> TxResult:
        f = self.contract.functions.setAllowlist(to_checksum_address(datatoken), _b32(root))
        return self._transact(f)

    def set_metadata_updater(self, datatoken: str, updater: str) -> TxResult:
        f = self.contract.functions.setMetadataUpdater(
            to_checksum_address(datatoken), to_checksum_address(updater)
        )
        return self._transact(f)

    def set_minter(self, datatoken: str, account: str, allowed: bool) -> TxResult:
        f = self.contract.functions.setMinter(
            to_checksum_address(datatoken), to_checksum_address(account), allowed
        )
        return self._transact(f)

    def raise_privacy_budget(self, datatoken: str, new_budget: int) -> TxResult:
        f = self.contract.functions.raisePrivacyBudget(to_checksum_address(datatoken), new_budget)
        return self._transact(f)

    def transfer_dataset(self, datatoken: str, new_publisher: str) -> TxResult:
        f = self.contract.functions.transferDataset(
            to_checksum_address(datatoken), to_checksum_address(new_publisher)
        )
        return self._transact(f)

    def accept_dataset(self, datatoken: str) -> TxResult:
        return self._transact(self.contract.functions.acceptDataset(to_checksum_address(datatoken)))

    def propose_provider(self, datatoken: str, new_provider: str) -> TxResult:
        """Name ``new_provider`` for the dataset (publisher); it takes over when it accepts."""
        f = self.contract.functions.proposeProvider(
            to_checksum_address(datatoken), to_checksum_address(new_provider)
        )
        return self._transact(f)

    def accept_provider(self, datatoken: str) -> TxResult:
        """Take the dataset over as its provider (the account named by ``propose_provider``)."""
        return self._transact(self.contract.functions.acceptProvider(to_checksum_address(datatoken)))

    def set_publish_fee_collector(self, datatoken: str, new_collector: str) -> TxResult:
        f = self.contract.functions.setPublishFeeCollector(
            to_checksum_address(datatoken), to_checksum_address(new_collector)
        )
        return self._transact(f)

    def mint(self, datatoken: str, to: str, amount: int) -> TxResult:
        f = self.contract.functions.mint(to_checksum_address(datatoken), to_checksum_address(to), amount)
        return self._transact(f)

    # ------------------------------------------------------------------ consumer

    def approve(self, token: str, amount: int) -> TxResult:
        """Let the market take ``amount`` of an ERC-20 payment token from this account."""
        contract = self.w3.eth.contract(
            address=to_checksum_address(token), abi=artifacts.load("MockERC20").abi
        )
        return self._transact(contract.functions.approve(self.address, amount))

    def transfer(self, token: str, to: str, amount: int) -> TxResult:
        """Send ``amount`` of an ERC-20 (a datatoken: whole datatokens) from this account to ``to``."""
        contract = self.w3.eth.contract(
            address=to_checksum_address(token), abi=artifacts.load("MockERC20").abi
        )
        return self._transact(contract.functions.transfer(to_checksum_address(to), amount))

    def ensure_allowance(self, token: str, amount: int) -> TxResult | None:
        """Approve exactly ``amount`` of ``token`` when the market may take less; never more than
        a purchase needs (an unlimited allowance is what a hostile price switch would drain)."""
        if to_checksum_address(token) == ZERO_ADDRESS or amount == 0:
            return None
        if self.allowance(token, self._require_account().address) >= amount:
            return None
        return self.approve(token, amount)

    def buy(
        self, datatoken: str, amount: int = 1, *, payment_token: str | None = None,
        max_price: int | None = None, approve: bool = True,
    ) -> TxResult:  # fmt: skip
        """Buy ``amount`` whole datatokens, paying in ``payment_token`` at most ``max_price`` each
        (defaults: what the market says now; pass what the buyer agreed to, so a price or token
        switched in between reverts). With ``approve``, the exact cost is approved first."""
        record = self.dataset(datatoken)
        payment_token = record.payment_token if payment_token is None else to_checksum_address(payment_token)
        max_price = record.price if max_price is None else max_price
        # What the market charges is its price now (a higher one reverts against max_price).
        cost = min(record.price, max_price) * amount
        if approve:
            self.ensure_allowance(payment_token, cost)
        value = cost if payment_token == ZERO_ADDRESS else 0
        f = self.contract.functions.buy(to_checksum_address(datatoken), amount, payment_token, max_price)
        return self._transact(f, value=value)

    def dispense(self, datatoken: str, amount: int = 1) -> TxResult:
        return self._transact(self.contract.functions.dispense(to_checksum_address(datatoken), amount))

    def start_order(self, quote: ProviderFee, signature: bytes, proof: list[str] | None = None) -> TxResult:
        value = quote.amount if quote.fee_token == ZERO_ADDRESS else 0
        f = self.contract.functions.startOrder(quote.as_tuple(), signature, _proof(proof))
        return self._transact(f, value=value)

    def buy_and_order(
        self,
        quote: ProviderFee,
        signature: bytes,
        proof: list[str] | None = None,
        *,
        payment_token: str | None = None,
        max_price: int | None = None,
        permit_deadline: int | None = None,
        approve: bool = True,
    ) -> TxResult:
        """Buy one datatoken and order with it in one transaction, paying in ``payment_token`` at most
        ``max_price`` (defaults: the dataset's now; zero and zero for a free dataset). With
        ``permit_deadline`` the allowances come from EIP-2612 permits signed here (the payment token's
        and, when the fee is in another token, the fee token's); otherwise, with ``approve``, exactly
        what is due is approved first."""
        record = self.dataset(quote.datatoken)
        if payment_token is None:
            payment_token = ZERO_ADDRESS if record.free else record.payment_token
        payment_token = to_checksum_address(payment_token)
        if max_price is None:
            max_price = 0 if record.free else record.price
        price = 0 if record.free else min(record.price, max_price)
        due: dict[str, int] = {}
        for token, amount in ((payment_token, price), (quote.fee_token, quote.amount)):
            due[token] = due.get(token, 0) + amount
        value = due.get(ZERO_ADDRESS, 0)
        args = (quote.as_tuple(), signature, _proof(proof), payment_token, max_price)
        if permit_deadline is None:
            if approve:
                for token, amount in due.items():
                    self.ensure_allowance(token, amount)
            return self._transact(self.contract.functions.buyAndOrder(*args), value=value)
        permits = [
            self.sign_permit(token, due[token], permit_deadline)
            if token != ZERO_ADDRESS and due[token]
            else NO_PERMIT
            for token in (payment_token, quote.fee_token)
        ]
        if quote.fee_token == payment_token:
            permits[1] = NO_PERMIT
        f = self.contract.functions.buyAndOrderWithPermit(*args, *permits)
        return self._transact(f, value=value)

    def sign_permit(self, token: str, value: int, deadline: int) -> tuple:
        """An EIP-2612 permit of ``value`` to the market, as the ABI tuple the market takes."""
        account = self._require_account()
        contract = self.w3.eth.contract(
            address=to_checksum_address(token), abi=artifacts.load("MockERC20").abi
        )
        _, name, version, chain_id, verifying, _, _ = self._call(contract.functions.eip712Domain())
        nonce = self._call(contract.functions.nonces(account.address))
        message = encode_typed_data(
            domain_data={"name": name, "version": version, "chainId": chain_id,
                         "verifyingContract": verifying},
            message_types={"Permit": [
                {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]},
            message_data={"owner": account.address, "spender": self.address, "value": value,
                          "nonce": nonce, "deadline": deadline},
        )  # fmt: skip
        signed = account.sign_message(message)
        return (value, deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))

    def withdraw(self, token: str = ZERO_ADDRESS) -> TxResult:
        return self._transact(self.contract.functions.withdraw(to_checksum_address(token)))

    def withdraw_to(self, token: str, to: str) -> TxResult:
        """Pay everything this account earned in ``token`` out to ``to``."""
        f = self.contract.functions.withdrawTo(to_checksum_address(token), to_checksum_address(to))
        return self._transact(f)

    # ------------------------------------------------------------------ provider

    def post_compute_receipts(self, receipts: list[ComputeReceipt]) -> TxResult:
        """Post one dataset's receipts in one transaction (the market takes one dataset per batch)."""
        datatokens = {to_checksum_address(r.datatoken) for r in receipts}
        if len(datatokens) != 1:
            raise ValueError(f"a receipt batch names one dataset, not {len(datatokens)}")
        f = self.contract.functions.postComputeReceipts(datatokens.pop(), [r.as_tuple() for r in receipts])
        return self._transact(f)

    # ------------------------------------------------------------------ market owner

    def set_market_fee(self, collector: str, bps: int) -> TxResult:
        return self._transact(self.contract.functions.setMarketFee(to_checksum_address(collector), bps))

    def set_orders_paused(self, paused: bool) -> TxResult:
        return self._transact(self.contract.functions.setOrdersPaused(paused))

    # ------------------------------------------------------------------ plumbing

    def _require_account(self) -> LocalAccount:
        if self.account is None:
            raise ChainError("this market client is read only: give it an account to send transactions")
        return self.account

    def _call(self, fn) -> Any:
        try:
            return fn.call()
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise revert_from(exc) from None

    def _transact(self, fn, *, value: int = 0) -> TxResult:
        receipt = _send(self.w3, self._require_account(), fn, value=value)
        return TxResult(
            tx_hash=_hex(receipt["transactionHash"]),
            block_number=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            events=self._own_events(receipt["logs"]),
        )

    def _own_events(self, logs: list[Any]) -> list[Any]:
        """The events of ``logs`` that this market or one of its datatokens emitted.

        Decoding goes by topic alone, so a payment token's own Transfer would pass for a datatoken's,
        and a hostile token could emit an imitation OrderStarted: the source address decides.
        """
        own = []
        # Only logs from the market or its datatokens are decoded: anything else (a hostile payment
        # token's malformed log) is skipped before it can fail the decoding of a mined transaction.
        mine = [
            log
            for log in logs
            if to_checksum_address(log["address"]) == self.address
            or self._is_datatoken(to_checksum_address(log["address"]))
        ]
        for event in decode_logs(mine):
            source = event.meta.address
            if source == self.address:
                keep = MARKET_EVENTS.get(type(event).__name__) is type(event)
            else:
                keep = DATATOKEN_EVENTS.get(type(event).__name__) is type(event) and self._is_datatoken(
                    source
                )
            if keep:
                own.append(event)
        return own

    def _is_datatoken(self, address: str) -> bool:
        if address not in self._datatokens:
            self._datatokens[address] = self.dataset(address).state != DatasetState.NONE
        return self._datatokens[address]


# The permit argument that buyAndOrderWithPermit skips (a zero deadline).
NO_PERMIT = (0, 0, 0, b"\x00" * 32, b"\x00" * 32)


def _proof(proof: list[str] | None) -> list[bytes]:
    return [_b32(p) for p in (proof or [])]


def revert_from(exc: Exception, tx_hash: str | None = None) -> ContractRevert:
    """The contract custom error that web3 raised, as a ContractRevert (UnknownRevert without data)."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return decode_revert(data, tx_hash)
    return ContractRevert("UnknownRevert", {"reason": str(exc)[:200]}, tx_hash=tx_hash)


def _send(w3: Web3, account: LocalAccount, fn, *, value: int = 0) -> Any:
    """Build, sign locally, send and wait; a revert (at estimation or in the block) raises."""
    params = {
        "from": account.address,
        "value": value,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    try:
        tx = fn.build_transaction(params)
    except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
        raise revert_from(exc) from None
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        try:
            w3.eth.call({k: tx[k] for k in ("from", "to", "data", "value") if k in tx},
                        receipt["blockNumber"] - 1)  # fmt: skip
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise revert_from(exc, _hex(tx_hash)) from None
        raise ContractRevert("UnknownRevert", {}, tx_hash=_hex(tx_hash))
    return receipt


def deploy_test_token(w3: Web3, account: LocalAccount, name: str, symbol: str) -> str:
    """Deploy a MockERC20 payment token (anyone can mint it: for tests, demos and benchmarks)."""
    art = artifacts.load("MockERC20")
    ctor = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(name, symbol)
    return _send(w3, account, ctor)["contractAddress"]


def mint_test_token(w3: Web3, account: LocalAccount, token: str, to: str, amount: int) -> TxResult:
    contract = w3.eth.contract(address=to_checksum_address(token), abi=artifacts.load("MockERC20").abi)
    receipt = _send(w3, account, contract.functions.mint(to_checksum_address(to), amount))
    return TxResult(_hex(receipt["transactionHash"]), receipt["blockNumber"], receipt["gasUsed"],
                    decode_logs(receipt["logs"]))  # fmt: skip


def create2_datatoken(market: str, implementation: str, publisher: str, salt: str | bytes) -> str:
    """The datatoken address computed here, without a node: CREATE2 by ``market`` of an EIP-1167
    clone of ``implementation``, salted with ``keccak256(abi.encode(publisher, salt))``, as
    ``DataMarket.predictDatatoken`` does."""
    clone_salt = keccak(encode(["address", "bytes32"], [to_checksum_address(publisher), _b32(salt)]))
    init_code = (
        bytes.fromhex("3d602d80600a3d3981f3363d3d373d3d3d363d73")
        + bytes.fromhex(to_checksum_address(implementation)[2:])
        + bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
    )
    raw = keccak(b"\xff" + bytes.fromhex(to_checksum_address(market)[2:]) + clone_salt + keccak(init_code))
    return to_checksum_address(raw[12:])


def dataset_id(chain_id: int, datatoken: str) -> str:
    """The dataset's one-string id: ``eip155:<chainId>/<checksum datatoken address>``."""
    return f"eip155:{chain_id}/{to_checksum_address(datatoken)}"


__all__ = [
    "ComputeReceipt",
    "DatasetRecord",
    "Market",
    "PublishParams",
    "Published",
    "TxResult",
    "create2_datatoken",
    "dataset_id",
    "decode_revert",
    "deploy_test_token",
    "epsilon_units",
    "mint_test_token",
    "new_salt",
    "revert_from",
]  # fmt: skip
