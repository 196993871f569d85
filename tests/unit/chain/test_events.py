"""Decoding hand-built logs: each log is ABI-encoded here, independently of the decoder."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address
from hexbytes import HexBytes
from hypothesis import given
from hypothesis import strategies as st

from datamarket.chain import artifacts
from datamarket.chain.events import (
    DATATOKEN_EVENTS,
    MARKET_EVENTS,
    ComputeReceiptPosted,
    DatasetState,
    DatasetStateChanged,
    JobStatus,
    LogMeta,
    OrderFunding,
    OrderStarted,
    Transfer,
    decode_log,
    decode_logs,
    topic_of,
)
from datamarket.errors import EventDecodeError
from tests.strategies import addresses, bytes32_hex, uints

MARKET = to_checksum_address("0x5FbDB2315678afecb367f032d93F642f64180aa3")
PROVIDER = to_checksum_address("0x" + "b0" * 20)
DATATOKEN = to_checksum_address("0x" + "d7" * 20)
BLOCK_HASH = "0x" + "11" * 32
TX_HASH = "0x" + "22" * 32


def event_abi(contract: str, name: str) -> dict[str, Any]:
    return next(i for i in artifacts.load(contract).abi if i["type"] == "event" and i["name"] == name)


def all_events() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for contract, classes in (("DataMarket", MARKET_EVENTS), ("Datatoken", DATATOKEN_EVENTS)):
        found += [(contract, event_abi(contract, name)) for name in classes]
    return found


def snake(name: str) -> str:
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return "from_" if name == "from" else name


def make_log(abi: dict[str, Any], values: list[Any], *, address: str, log_index: int = 3) -> dict[str, Any]:
    """A log as eth_getLogs returns it, built with eth_abi from the event's ABI."""
    topics = [HexBytes(event_abi_to_log_topic(abi))]
    data_types, data_values = [], []
    for arg, value in zip(abi["inputs"], values, strict=True):
        if arg["indexed"]:
            topics.append(HexBytes(encode([arg["type"]], [value])))
        else:
            data_types.append(arg["type"])
            data_values.append(value)
    return {
        "address": address.lower(),
        "topics": topics,
        "data": HexBytes(encode(data_types, data_values)),
        "blockNumber": 12,
        "blockHash": HexBytes(BLOCK_HASH),
        "transactionHash": HexBytes(TX_HASH),
        "transactionIndex": 0,
        "logIndex": log_index,
        "removed": False,
    }


def sample(abi_type: str, position: int) -> Any:
    """A distinct, valid value of ``abi_type`` (uint8 stays below 4 so it is a valid enum)."""
    if abi_type == "address":
        return to_checksum_address(keccak(position.to_bytes(1, "big"))[:20])
    if abi_type == "bool":
        return True
    if abi_type == "string":
        return f"bafy-{position}"
    if abi_type == "bytes32":
        return keccak(b"b32" + position.to_bytes(1, "big"))
    if abi_type == "uint8":
        return 2
    bits = int(abi_type.removeprefix("uint"))
    return (2**bits - 1) - position


def expected_field(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


def test_every_market_event_in_the_abi_has_a_dataclass() -> None:
    # Inherited from OpenZeppelin (Ownable2Step, EIP712), not part of IDataMarket's indexer API.
    inherited = {"OwnershipTransferStarted", "OwnershipTransferred", "EIP712DomainChanged"}
    market_events = {i["name"] for i in artifacts.load("DataMarket").abi if i["type"] == "event"}
    token_events = {i["name"] for i in artifacts.load("Datatoken").abi if i["type"] == "event"}
    assert set(MARKET_EVENTS) == market_events - inherited
    assert set(DATATOKEN_EVENTS) == token_events - inherited


@pytest.mark.parametrize(
    ("contract", "abi"), all_events(), ids=lambda v: v if isinstance(v, str) else v["name"]
)
def test_dataclass_fields_follow_the_event_arguments(contract: str, abi: dict[str, Any]) -> None:
    cls = {**MARKET_EVENTS, **DATATOKEN_EVENTS}[abi["name"]]
    assert [f.name for f in fields(cls)] == ["meta"] + [snake(i["name"]) for i in abi["inputs"]]


@pytest.mark.parametrize(
    ("contract", "abi"), all_events(), ids=lambda v: v if isinstance(v, str) else v["name"]
)
def test_hand_built_log_decodes_into_its_dataclass(contract: str, abi: dict[str, Any]) -> None:
    values = [sample(arg["type"], i) for i, arg in enumerate(abi["inputs"])]
    address = MARKET if contract == "DataMarket" else DATATOKEN
    event = decode_log(make_log(abi, values, address=address))

    cls = {**MARKET_EVENTS, **DATATOKEN_EVENTS}[abi["name"]]
    assert type(event) is cls
    assert event.meta == LogMeta(
        address=address, block_number=12, block_hash=BLOCK_HASH, tx_hash=TX_HASH, log_index=3
    )
    decoded = [getattr(event, f.name) for f in fields(cls)[1:]]
    assert decoded == [expected_field(v) for v in values]


def test_enums_are_decoded_as_enums() -> None:
    abi = event_abi("DataMarket", "DatasetStateChanged")
    event = decode_log(make_log(abi, [DATATOKEN, 1, 3], address=MARKET))
    assert event == DatasetStateChanged(event.meta, DATATOKEN, DatasetState.ACTIVE, DatasetState.RETIRED)
    assert type(event.from_) is DatasetState and type(event.to) is DatasetState

    abi = event_abi("DataMarket", "ComputeReceiptPosted")
    values = [b"\x01" * 32, DATATOKEN, 7, PROVIDER, b"\x03" * 32, b"\x04" * 32, 1_500_000, 2_500_000, 1]
    receipt = decode_log(make_log(abi, values, address=MARKET))
    assert isinstance(receipt, ComputeReceiptPosted)
    assert receipt.status is JobStatus.FAILED
    assert (receipt.order_id, receipt.poster) == (7, PROVIDER)
    assert (receipt.epsilon, receipt.spent_after) == (1_500_000, 2_500_000)
    assert receipt.job_id == "0x" + "01" * 32

    abi = event_abi("DataMarket", "OrderStarted")
    values = [DATATOKEN, PROVIDER, PROVIDER, 3, PROVIDER, 2, 1, PROVIDER, 0, 5, b"\x00" * 32]
    order = decode_log(make_log(abi, values, address=MARKET))
    assert order.funding is OrderFunding.FREE and type(order.funding) is OrderFunding
    with pytest.raises(EventDecodeError, match="funding"):
        decode_log(make_log(abi, [*values[:5], 3, *values[6:]], address=MARKET))


@given(
    datatoken=addresses, consumer=addresses, provider=addresses, order_id=uints(64), payer=addresses,
    funding=st.sampled_from(list(OrderFunding)), service_id=uints(8), fee_token=addresses, amount=uints(256),
    nonce=uints(64), environment=bytes32_hex,
)  # fmt: skip
def test_order_started_round_trips_any_values(
    datatoken: str, consumer: str, provider: str, order_id: int, payer: str, funding: OrderFunding,
    service_id: int, fee_token: str, amount: int, nonce: int, environment: str,
) -> None:  # fmt: skip
    values = [datatoken, consumer, provider, order_id, payer, int(funding), service_id, fee_token, amount,
              nonce, bytes.fromhex(environment[2:])]  # fmt: skip
    event = decode_log(make_log(event_abi("DataMarket", "OrderStarted"), values, address=MARKET))
    assert event == OrderStarted(
        event.meta, datatoken, consumer, provider, order_id, payer, funding, service_id, fee_token, amount,
        nonce, environment,
    )  # fmt: skip


def test_decode_logs_keeps_order_and_skips_foreign_logs() -> None:
    transfer = event_abi("Datatoken", "Transfer")
    zero = "0x0000000000000000000000000000000000000000"
    consumer = to_checksum_address("0x" + "c0" * 20)
    mint = make_log(transfer, [zero, consumer, 5], address=DATATOKEN, log_index=0)
    foreign = {**mint, "topics": [HexBytes(keccak(text="Deposit(address,uint256)"))], "logIndex": 1}
    anonymous = {**mint, "topics": [], "logIndex": 2}
    burn = make_log(transfer, [consumer, zero, 1], address=DATATOKEN, log_index=3)

    events = decode_logs([mint, foreign, anonymous, burn])
    assert [type(e) for e in events] == [Transfer, Transfer]
    assert [(e.from_, e.to, e.value, e.meta.log_index) for e in events] == [
        (zero, consumer, 5, 0),
        (consumer, zero, 1, 3),
    ]
    assert decode_log(foreign) is None
    assert decode_log(anonymous) is None


def test_truncated_data_is_a_decode_error() -> None:
    abi = event_abi("DataMarket", "Bought")
    log = make_log(abi, [sample(a["type"], i) for i, a in enumerate(abi["inputs"])], address=MARKET)
    log["data"] = log["data"][:40]
    with pytest.raises(EventDecodeError, match="Bought"):
        decode_log(log)


def test_topic_of_is_the_keccak_of_the_signature() -> None:
    signature = (
        "OrderStarted(address,address,address,uint64,address,uint8,uint8,address,uint256,uint64,bytes32)"
    )
    assert topic_of("OrderStarted") == "0x" + keccak(text=signature).hex()
    assert topic_of("Transfer") == "0x" + keccak(text="Transfer(address,address,uint256)").hex()
    with pytest.raises(KeyError, match="NoSuchEvent"):
        topic_of("NoSuchEvent")


def test_hostile_values_are_decode_errors_or_plain_strings() -> None:
    from datamarket.chain.events import DatasetPublished, decode_log

    market = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    state = event_abi("DataMarket", "DatasetStateChanged")
    bad_enum = make_log(state, [market, 1, 9], address=market)
    with pytest.raises(EventDecodeError, match="unknown"):
        decode_log(bad_enum)
    # A CID that looks like an address is a string, not something to checksum (which would raise).
    published = event_abi("DataMarket", "DatasetPublished")
    odd_cid = "0x" + "z" * 40
    values = [market, market, market, 1, 3, 10, b"\x01" * 32, odd_cid]
    event = decode_log(make_log(published, values, address=market))
    assert isinstance(event, DatasetPublished)
    assert event.metadata_cid == odd_cid
    # Four topics where Transfer has three: a decode error, never a crash of another kind.
    transfer = make_log(event_abi("Datatoken", "Transfer"), [market, market, 5], address=market)
    transfer["topics"].append(transfer["topics"][1])
    with pytest.raises(EventDecodeError):
        decode_log(transfer)
