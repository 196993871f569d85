"""Hypothesis strategies shared by unit and integration tests."""

from __future__ import annotations

from eth_keys.constants import SECPK1_N
from eth_utils import to_checksum_address
from hypothesis import strategies as st

from datamarket.chain.quotes import ProviderFee

addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
bytes32_hex = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
private_keys = st.integers(min_value=1, max_value=SECPK1_N - 1).map(lambda k: k.to_bytes(32, "big"))


def uints(bits: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**bits - 1)


quotes = st.builds(
    ProviderFee,
    datatoken=addresses,
    consumer=addresses,
    service_id=uints(8),
    fee_token=addresses,
    amount=uints(256),
    valid_until=uints(64),
    nonce=uints(64),
    environment=bytes32_hex,
)
