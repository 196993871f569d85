"""The market client's pure parts: revert decoding, epsilon units, ABI tuples; no chain."""

from __future__ import annotations

import re
from dataclasses import fields
from decimal import Decimal
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3
from web3.providers.base import BaseProvider

from datamarket.chain import artifacts
from datamarket.chain.events import DatasetPublished, JobStatus, LogMeta, Transfer
from datamarket.chain.market import (
    MAX_EPSILON_UNITS,
    ComputeReceipt,
    DatasetRecord,
    Market,
    PublishParams,
    TxResult,
    dataset_id,
    decode_revert,
    epsilon_units,
)
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.errors import ChainError, ContractRevert

PROVIDER = to_checksum_address("0x" + "a1" * 20)
DATATOKEN = to_checksum_address("0x" + "d7" * 20)
META = LogMeta(address=DATATOKEN, block_number=1, block_hash="0x" + "00" * 32, tx_hash="0x" + "01" * 32,
               log_index=0)  # fmt: skip


def abi_function(name: str) -> dict[str, Any]:
    return next(i for i in artifacts.load("DataMarket").abi if i.get("name") == name)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def all_errors() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for contract in artifacts.EXPORTED:
        for item in artifacts.load(contract).abi:
            if item["type"] == "error":
                seen.setdefault(item["name"], item)
    return list(seen.values())


def error_data(name: str, types: list[str], values: list[Any]) -> bytes:
    return function_signature_to_4byte_selector(f"{name}({','.join(types)})") + encode(types, values)


def sample(abi_type: str, position: int) -> Any:
    if abi_type == "address":
        return to_checksum_address(keccak(bytes([position]))[:20])
    if abi_type == "bytes32":
        return keccak(bytes([position]))
    if abi_type == "string":
        return f"text-{position}"
    bits = int(abi_type.removeprefix("uint"))
    return 2**bits - 1 - position


# ---------------------------------------------------------------------------------------------- reverts


@pytest.mark.parametrize("error", all_errors(), ids=lambda e: e["name"])
def test_every_custom_error_decodes_to_its_name_and_arguments(error: dict[str, Any]) -> None:
    types = [i["type"] for i in error["inputs"]]
    values = [sample(t, i) for i, t in enumerate(types)]
    revert = decode_revert("0x" + error_data(error["name"], types, values).hex(), tx_hash="0xabc")

    assert isinstance(revert, ContractRevert)
    assert revert.code == error["name"]
    assert revert.tx_hash == "0xabc"
    names = [i["name"] or f"arg{n}" for n, i in enumerate(error["inputs"])]
    expected = ["0x" + v.hex() if isinstance(v, bytes) else v for v in values]
    assert revert.details == dict(zip(names, expected, strict=True))


def test_quote_used_revert_reads_well() -> None:
    data = error_data("MarketQuoteUsed", ["address", "uint64"], [PROVIDER.lower(), 42])
    revert = decode_revert(data)
    assert revert.code == "MarketQuoteUsed"
    assert revert.details == {"provider": PROVIDER, "nonce": 42}
    assert str(revert) == f"MarketQuoteUsed(provider={PROVIDER}, nonce=42)"
    assert revert.tx_hash is None


@pytest.mark.parametrize(
    "data",
    [
        "0xdeadbeef" + "00" * 32,
        error_data("Error", ["string"], ["plain require message"]).hex(),
        error_data("Panic", ["uint256"], [0x11]),
        b"",
        "0x",
    ],
    ids=["unknown-selector", "error-string", "panic", "empty-bytes", "empty-hex"],
)
def test_unknown_or_empty_revert_data_is_kept_raw(data: str | bytes) -> None:
    revert = decode_revert(data)
    raw = data if isinstance(data, bytes) else bytes.fromhex(data.removeprefix("0x"))
    assert revert.code == "UnknownRevert"
    assert revert.details == {"data": "0x" + raw.hex()}


def test_known_selector_with_malformed_arguments_is_an_unknown_revert() -> None:
    # A hostile payment token can revert with anything, including a truncated copy of our errors.
    data = error_data("MarketQuoteUsed", ["address", "uint64"], [PROVIDER, 1])[:20]
    revert = decode_revert(data)
    assert revert.code == "UnknownRevert"
    assert revert.details == {"data": "0x" + data.hex()}


# ---------------------------------------------------------------------------------------------- epsilon


@given(st.integers(min_value=0, max_value=MAX_EPSILON_UNITS))
def test_epsilon_units_round_trip(units: int) -> None:
    epsilon = Decimal(units).scaleb(-6)
    assert epsilon_units(epsilon) == units
    assert epsilon_units(str(epsilon)) == units
    assert epsilon_units(format(epsilon, "f")) == units


@given(st.integers(min_value=0, max_value=10**9))
def test_epsilon_units_of_floats_use_their_shortest_repr(units: int) -> None:
    assert epsilon_units(units / 10**6) == units


@pytest.mark.parametrize(("epsilon", "units"), [(0, 0), (1, 10**6), ("0.5", 500_000), (0.1, 100_000),
                                                ("1e-6", 1), (Decimal("2.500000"), 2_500_000)])  # fmt: skip
def test_epsilon_units_examples(epsilon: Any, units: int) -> None:
    assert epsilon_units(epsilon) == units


@given(st.integers(min_value=1, max_value=10**12).filter(lambda n: n % 10))
def test_epsilon_units_rejects_more_than_six_decimals(n: int) -> None:
    with pytest.raises(ValueError, match="6 decimals"):
        epsilon_units(Decimal(n).scaleb(-7))


@given(st.integers(min_value=1, max_value=10**12))
def test_epsilon_units_rejects_negatives(n: int) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        epsilon_units(Decimal(-n).scaleb(-6))


@pytest.mark.parametrize("epsilon", ["abc", "", "NaN", float("nan"), float("inf"), "-Infinity", True])
def test_epsilon_units_rejects_non_numbers_with_value_error(epsilon: Any) -> None:
    with pytest.raises(ValueError, match="epsilon"):
        epsilon_units(epsilon)


def test_epsilon_units_rejects_what_a_uint48_cannot_hold() -> None:
    assert epsilon_units(Decimal(MAX_EPSILON_UNITS).scaleb(-6)) == 2**48 - 1
    with pytest.raises(ValueError, match="maximum"):
        epsilon_units(Decimal(MAX_EPSILON_UNITS + 1).scaleb(-6))


# ---------------------------------------------------------------------------------------------- tuples


def test_publish_params_tuple_follows_the_contract_struct() -> None:
    params = PublishParams(
        provider=PROVIDER.lower(),
        metadata_cid="bafy-cid",
        metadata_hash="0x" + "ab" * 32,
        services=0b10,
        free=True,
        publish_fee_bps=250,
        epsilon_budget=7_000_000,
        payment_token="0x" + "cc" * 20,
        price=123,
        cap=9,
        dispenser_limit=2,
        publish_fee_collector="0x" + "fe" * 20,
        allowlist_root="0x" + "77" * 32,
        salt="0x" + "5a" * 32,
    )
    components = abi_function("publish")["inputs"][0]["components"]
    assert dict(zip([c["name"] for c in components], params.as_tuple(), strict=True)) == {
        "provider": PROVIDER,
        "services": 0b10,
        "free": True,
        "publishFeeBps": 250,
        "epsilonBudget": 7_000_000,
        "paymentToken": to_checksum_address("0x" + "cc" * 20),
        "price": 123,
        "cap": 9,
        "dispenserLimit": 2,
        "publishFeeCollector": to_checksum_address("0x" + "fe" * 20),
        "metadataHash": bytes.fromhex("ab" * 32),
        "allowlistRoot": bytes.fromhex("77" * 32),
        "salt": bytes.fromhex("5a" * 32),
        "metadataCid": "bafy-cid",
    }


def test_publish_params_defaults() -> None:
    params = PublishParams(provider=PROVIDER, metadata_cid="c", metadata_hash="0x" + "01" * 32)
    values = params.as_tuple()
    assert values[1:10] == (0b01, False, 0, 0, ZERO_ADDRESS, 0, 0, 0, ZERO_ADDRESS)
    assert values[11] == bytes(32)
    # Each params object draws its own random salt, kept for a retry of the same params.
    other = PublishParams(provider=PROVIDER, metadata_cid="c", metadata_hash="0x" + "01" * 32)
    assert len(values[12]) == 32 and values[12] != other.as_tuple()[12]
    assert params.as_tuple()[12] == values[12]


@pytest.mark.parametrize("bad", ["0x" + "ab" * 31, "0x" + "ab" * 33, "0x"])
def test_publish_params_refuse_a_hash_that_is_not_32_bytes(bad: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PublishParams(provider=PROVIDER, metadata_cid="c", metadata_hash=bad).as_tuple()


def test_compute_receipt_tuple_follows_the_contract_struct() -> None:
    receipt = ComputeReceipt(
        job_id="0x" + "01" * 32,
        datatoken=DATATOKEN.lower(),
        order_id=2**64 - 1,
        algorithm_hash="0x" + "03" * 32,
        output_hash="0x" + "04" * 32,
        epsilon=1_250_000,
        status=JobStatus.REJECTED,
    )
    components = abi_function("postComputeReceipts")["inputs"][1]["components"]
    assert dict(zip([c["name"] for c in components], receipt.as_tuple(), strict=True)) == {
        "jobId": bytes([1]) * 32,
        "orderId": 2**64 - 1,
        "algorithmHash": bytes([3]) * 32,
        "outputHash": bytes([4]) * 32,
        "epsilon": 1_250_000,
        "status": 2,
    }
    assert ComputeReceipt("0x" + "01" * 32, DATATOKEN, 0, ZERO_HASH, ZERO_HASH, 0).status is (
        JobStatus.SUCCEEDED
    )


def test_dataset_record_fields_follow_get_dataset() -> None:
    # Market.dataset builds the record positionally from getDataset's tuple.
    components = abi_function("getDataset")["outputs"][0]["components"]
    assert [f.name for f in fields(DatasetRecord)] == [snake(c["name"]) for c in components]


# ---------------------------------------------------------------------------------------------- results


def test_tx_result_event_returns_exactly_one() -> None:
    published = DatasetPublished(META, DATATOKEN, PROVIDER, PROVIDER, 0, 1, 0, ZERO_HASH, "cid")
    transfer = Transfer(META, ZERO_ADDRESS, PROVIDER, 1)
    result = TxResult("0x01", 5, 21000, [transfer, published, transfer])
    assert result.event(DatasetPublished) is published
    with pytest.raises(ChainError, match="found 2"):
        result.event(Transfer)
    with pytest.raises(ChainError, match="found 0"):
        TxResult("0x02", 5, 21000).event(DatasetPublished)


def test_dataset_id_is_caip_style() -> None:
    assert dataset_id(31337, DATATOKEN.lower()) == f"eip155:31337/{DATATOKEN}"


class RefusingProvider(BaseProvider):
    def make_request(self, method: Any, params: Any) -> Any:
        raise AssertionError(f"unexpected RPC {method}")

    def is_connected(self, show_traceback: bool = False) -> bool:
        return False


def test_read_only_client_refuses_to_send_before_touching_the_chain() -> None:
    market = Market(Web3(RefusingProvider()), "0x" + "5f" * 20)
    assert market.address == to_checksum_address("0x" + "5f" * 20)
    with pytest.raises(ChainError, match="read only"):
        market.withdraw()
    with pytest.raises(ChainError, match="read only"):
        market.set_orders_paused(True)
