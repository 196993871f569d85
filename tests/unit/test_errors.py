from __future__ import annotations

import inspect

import pytest

from datamarket import errors
from datamarket.errors import (
    ChainError,
    ChainUnavailable,
    ConfigError,
    ContractRevert,
    DatamarketError,
    EventDecodeError,
)


def error_classes() -> list[type[DatamarketError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, DatamarketError)]


def test_tree_and_stdlib_mixins() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ChainUnavailable, ConnectionError)
    assert issubclass(EventDecodeError, ValueError)
    for cls in (ChainUnavailable, ContractRevert, EventDecodeError):
        assert issubclass(cls, ChainError)
    assert all(issubclass(c, DatamarketError) for c in error_classes())


def test_codes_are_unique_and_stable() -> None:
    codes = {c.code for c in error_classes() if c is not ContractRevert}
    assert len(codes) == len(error_classes()) - 1
    assert ConfigError("x").code == "invalid_config"
    assert ChainUnavailable("x").code == "chain_unavailable"


def test_contract_revert_code_is_the_custom_error_name() -> None:
    revert = ContractRevert("MarketQuoteExpired", {"validUntil": 5, "nowTime": 9}, tx_hash="0x01")
    assert revert.code == "MarketQuoteExpired"
    assert revert.details == {"validUntil": 5, "nowTime": 9}
    assert revert.tx_hash == "0x01"
    assert str(revert) == "MarketQuoteExpired(validUntil=5, nowTime=9)"
    assert ContractRevert.code == "chain_error"  # the class keeps its parent's; instances name the error


def test_details_default_to_an_empty_dict() -> None:
    error = ConfigError("bad setting")
    assert error.details == {}
    assert error.message == "bad setting"
    with pytest.raises(ValueError, match="bad setting"):
        raise error
