"""Typed market and datatoken events, decoded from transaction receipts or ``eth_getLogs``.

Every event of ``IDataMarket`` and the datatoken's ERC-20 events has a frozen dataclass whose fields
follow the Solidity event's arguments in order (snake_case; ``from``/``to`` become ``from_``/``to``).
``meta`` says where the log was found, so an indexer can detect reorganisations by block hash.
"""

from __future__ import annotations

import enum
import re
import typing
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from typing import Any

from eth_abi import decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from datamarket.chain import artifacts
from datamarket.errors import EventDecodeError


class DatasetState(enum.IntEnum):
    NONE = 0
    ACTIVE = 1
    PAUSED = 2
    RETIRED = 3


class JobStatus(enum.IntEnum):
    SUCCEEDED = 0
    FAILED = 1
    REJECTED = 2
    CANCELLED = 3


class OrderFunding(enum.IntEnum):
    """How an order's datatoken was paid for (see ``IDataMarket.OrderFunding``)."""

    BURNED = 0  # a datatoken the caller held was burned
    BOUGHT = 1  # bought in the same call, never minted
    FREE = 2  # a free dataset's dispenser, never minted


@dataclass(frozen=True)
class LogMeta:
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class DatasetPublished:
    meta: LogMeta
    datatoken: str
    publisher: str
    provider: str
    index: int
    services: int
    epsilon_budget: int
    metadata_hash: str
    metadata_cid: str


@dataclass(frozen=True)
class PriceSet:
    meta: LogMeta
    datatoken: str
    payment_token: str
    price: int
    cap: int


@dataclass(frozen=True)
class DispenserSet:
    meta: LogMeta
    datatoken: str
    limit: int
    cap: int


@dataclass(frozen=True)
class PublishFeeSet:
    meta: LogMeta
    datatoken: str
    collector: str
    bps: int


@dataclass(frozen=True)
class MetadataUpdated:
    meta: LogMeta
    datatoken: str
    updated_by: str
    metadata_hash: str
    metadata_cid: str


@dataclass(frozen=True)
class DatasetStateChanged:
    meta: LogMeta
    datatoken: str
    from_: DatasetState
    to: DatasetState


@dataclass(frozen=True)
class AllowlistSet:
    meta: LogMeta
    datatoken: str
    root: str


@dataclass(frozen=True)
class MetadataUpdaterSet:
    meta: LogMeta
    datatoken: str
    updater: str


@dataclass(frozen=True)
class MinterSet:
    meta: LogMeta
    datatoken: str
    account: str
    allowed: bool


@dataclass(frozen=True)
class MintersCleared:
    meta: LogMeta
    datatoken: str


@dataclass(frozen=True)
class ProviderChangeStarted:
    meta: LogMeta
    datatoken: str
    provider: str
    new_provider: str


@dataclass(frozen=True)
class ProviderChanged:
    meta: LogMeta
    datatoken: str
    from_: str
    to: str


@dataclass(frozen=True)
class DatasetTransferStarted:
    meta: LogMeta
    datatoken: str
    from_: str
    to: str


@dataclass(frozen=True)
class DatasetTransferred:
    meta: LogMeta
    datatoken: str
    from_: str
    to: str


@dataclass(frozen=True)
class PrivacyBudgetRaised:
    meta: LogMeta
    datatoken: str
    from_: int
    to: int


@dataclass(frozen=True)
class Minted:
    meta: LogMeta
    datatoken: str
    by: str
    to: str
    amount: int


@dataclass(frozen=True)
class Dispensed:
    meta: LogMeta
    datatoken: str
    to: str
    amount: int


@dataclass(frozen=True)
class Bought:
    meta: LogMeta
    datatoken: str
    buyer: str
    payment_token: str
    amount: int
    cost: int
    market_fee: int
    publish_fee: int
    minted: bool


@dataclass(frozen=True)
class OrderStarted:
    meta: LogMeta
    datatoken: str
    consumer: str
    provider: str
    order_id: int
    payer: str
    funding: OrderFunding
    service_id: int
    fee_token: str
    fee_amount: int
    quote_nonce: int
    environment: str


@dataclass(frozen=True)
class ComputeReceiptPosted:
    meta: LogMeta
    job_id: str
    datatoken: str
    order_id: int
    poster: str
    algorithm_hash: str
    output_hash: str
    epsilon: int
    spent_after: int
    status: JobStatus


@dataclass(frozen=True)
class EarningsWithdrawn:
    meta: LogMeta
    payee: str
    token: str
    to: str
    amount: int


@dataclass(frozen=True)
class MarketFeeSet:
    meta: LogMeta
    collector: str
    bps: int


@dataclass(frozen=True)
class OrdersPausedSet:
    meta: LogMeta
    paused: bool


@dataclass(frozen=True)
class Transfer:
    """ERC-20 transfer of a datatoken (mint: from_ is the zero address; burn: to is)."""

    meta: LogMeta
    from_: str
    to: str
    value: int


@dataclass(frozen=True)
class Approval:
    meta: LogMeta
    owner: str
    spender: str
    value: int


MARKET_EVENTS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        DatasetPublished, PriceSet, DispenserSet, PublishFeeSet, MetadataUpdated,
        DatasetStateChanged, AllowlistSet, MetadataUpdaterSet, MinterSet, MintersCleared,
        ProviderChangeStarted, ProviderChanged, DatasetTransferStarted, DatasetTransferred,
        PrivacyBudgetRaised, Minted, Dispensed, Bought, OrderStarted, ComputeReceiptPosted,
        EarningsWithdrawn, MarketFeeSet, OrdersPausedSet,
    )
}  # fmt: skip
DATATOKEN_EVENTS: dict[str, type] = {"Transfer": Transfer, "Approval": Approval}

_ENUMS = {("DatasetStateChanged", 1): DatasetState, ("DatasetStateChanged", 2): DatasetState,
          ("OrderStarted", 5): OrderFunding, ("ComputeReceiptPosted", 8): JobStatus}  # fmt: skip

MarketEvent = Any  # one of the dataclasses above


@cache
def _abis_by_topic() -> dict[bytes, tuple[dict[str, Any], type]]:
    table: dict[bytes, tuple[dict[str, Any], type]] = {}
    for contract, classes in (("DataMarket", MARKET_EVENTS), ("Datatoken", DATATOKEN_EVENTS)):
        for item in artifacts.load(contract).abi:
            if item["type"] == "event" and item["name"] in classes:
                table[event_abi_to_log_topic(item)] = (item, classes[item["name"]])
    return table


def topic_of(event_name: str) -> str:
    """The topic0 (keccak of the signature) of a known event, as 0x-hex."""
    for topic, (abi, _) in _abis_by_topic().items():
        if abi["name"] == event_name:
            return "0x" + topic.hex()
    raise KeyError(f"unknown event {event_name!r}")


def _plain(value: Any, abi_type: str = "") -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if abi_type == "address":
        return to_checksum_address(value)
    return value


def _raw(value: Any) -> bytes:
    """Bytes of a topic or data field, whether web3 gave HexBytes or the node's raw hex."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


@lru_cache(maxsize=1 << 16)
def _checksum(address: Any) -> str:
    """Checksummed, with a cache: the same few addresses (the market, its datatokens, the accounts)
    come back in nearly every log, and checksumming is a keccak each time."""
    return to_checksum_address(address)


_STATIC = re.compile(r"address|bool|bytes(\d+)|uint(\d+)")


def _word(abi_type: str, word: bytes) -> Any:
    """One 32-byte ABI word of a static type, checked as strictly as eth_abi checks it."""
    if len(word) != 32:
        raise ValueError(f"a {abi_type} word of {len(word)} bytes")
    if abi_type == "address":
        if any(word[:12]):
            raise ValueError("an address with non-zero padding")
        return _checksum("0x" + word[12:].hex())
    if abi_type == "bool":
        if word[:31] != bytes(31) or word[31] > 1:
            raise ValueError("a bool that is neither 0 nor 1")
        return bool(word[31])
    match = _STATIC.fullmatch(abi_type)
    if match is None:  # a dynamic type indexed is its hash: kept as bytes32
        return "0x" + word.hex()
    if match.group(1):
        size = int(match.group(1))
        if any(word[size:]):
            raise ValueError(f"a {abi_type} with non-zero padding")
        return "0x" + word[:size].hex()
    value = int.from_bytes(word, "big")
    if value >> int(match.group(2)):
        raise ValueError(f"a {abi_type} out of range")
    return value


def _data(types: list[str], data: bytes) -> list[Any]:
    """The non-indexed arguments: sliced word by word when all are static, else by eth_abi."""
    if all(_STATIC.fullmatch(t) for t in types):
        if len(data) != 32 * len(types):
            raise ValueError(f"{len(data)} bytes of data for {len(types)} words")
        return [_word(t, data[32 * i : 32 * i + 32]) for i, t in enumerate(types)]
    return [_plain(value, t) for t, value in zip(types, decode(types, data), strict=True)]


def _quantity(value: Any) -> int:
    """A JSON-RPC quantity: an int from web3, or the node's raw 0x-hex."""
    return int(value, 16) if isinstance(value, str) else int(value)


def decode_log(log: Any) -> MarketEvent | None:
    """Decode one log into its dataclass; None when it is not one of our events."""
    topics = log["topics"]
    if not topics:
        return None
    entry = _abis_by_topic().get(_raw(topics[0]))
    if entry is None:
        return None
    abi, cls = entry
    # eth_abi directly, not web3's get_event_data: a provider decodes an order's log per request.
    inputs = abi["inputs"]
    indexed = [a["type"] for a in inputs if a["indexed"]]
    if len(topics) != 1 + len(indexed):
        raise EventDecodeError(
            f"{abi['name']} log has {len(topics) - 1} indexed topics, expected {len(indexed)}"
        )
    data_types = [a["type"] for a in inputs if not a["indexed"]]
    try:
        from_topics = iter([_word(t, _raw(topic)) for t, topic in zip(indexed, topics[1:], strict=True)])
        from_data = iter(_data(data_types, _raw(log["data"])))
    except Exception as exc:  # eth_abi raises several unrelated types for malformed data
        raise EventDecodeError(f"cannot decode {abi['name']} log: {exc}") from exc
    meta = LogMeta(
        address=_checksum(log["address"]),
        block_number=_quantity(log["blockNumber"]),
        block_hash=_plain(log["blockHash"]),
        tx_hash=_plain(log["transactionHash"]),
        log_index=_quantity(log["logIndex"]),
    )
    values = []
    for i, arg in enumerate(inputs):
        value = next(from_topics) if arg["indexed"] else next(from_data)
        enum_type = _ENUMS.get((abi["name"], i))
        try:
            values.append(enum_type(value) if enum_type else value)
        except ValueError:
            raise EventDecodeError(f"{abi['name']} has an unknown {arg['name']} value {value}") from None
    if len(values) != len(fields(cls)) - 1:
        raise EventDecodeError(f"{abi['name']} has {len(values)} arguments; the dataclass differs")
    return cls(meta, *values)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def event_args(event: MarketEvent) -> dict[str, Any]:
    """An event's arguments by field name, as JSON can hold them (enums by name; ints stay ints)."""
    values = {f.name: getattr(event, f.name) for f in fields(event) if f.name != "meta"}
    return {key: value.name if isinstance(value, enum.Enum) else value for key, value in values.items()}


def event_from_args(name: str, meta: LogMeta, args: dict[str, Any]) -> MarketEvent:
    """The event that :func:`event_args` wrote (``name`` is its class name)."""
    cls = MARKET_EVENTS.get(name) or DATATOKEN_EVENTS[name]
    hints = _hints(cls)
    values = {}
    for key, value in args.items():
        kind = hints[key]
        values[key] = kind[value] if isinstance(kind, type) and issubclass(kind, enum.Enum) else value
    return cls(meta=meta, **values)


def decode_logs(logs: list[Any]) -> list[MarketEvent]:
    """Decode the logs that have one of our events' topics, in order; others are skipped.

    Decoding goes by topic only: any ERC-20's Transfer decodes as :class:`Transfer`, and any contract
    can emit a log that looks like a market event. Callers check ``meta.address`` (the market, or
    one of its datatokens) before trusting an event; ``Market`` does so for its transactions.
    """
    return [event for event in (decode_log(log) for log in logs) if event is not None]
