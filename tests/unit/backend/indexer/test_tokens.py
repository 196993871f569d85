"""A payment token describes itself; what a hostile or old token answers never stops the indexer."""

from __future__ import annotations

import pytest
from eth_abi import encode

from backend.indexer.tokens import DECIMALS, NAME, SYMBOL, describe
from datamarket.chain.logs import Rpc

TOKEN = "0x" + "12" * 20


class Token:
    """Answers eth_call by selector with ``answers`` (bytes), or an error where there is none."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers

    def make_request(self, method: str, params: list) -> dict:
        assert method == "eth_call" and params[0]["to"] == TOKEN
        found = self.answers.get(params[0]["data"])
        if found is None:
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "execution reverted"}}
        return {"jsonrpc": "2.0", "id": 1, "result": "0x" + found.hex()}


class W3:
    def __init__(self, provider) -> None:
        self.provider = provider


def described(answers: dict[str, bytes]) -> dict:
    return describe(Rpc(W3(Token(answers))), TOKEN)


def test_a_standard_token() -> None:
    answers = {SYMBOL: encode(["string"], ["lUSD"]), NAME: encode(["string"], ["Local USD"]),
               DECIMALS: encode(["uint8"], [6])}  # fmt: skip
    assert described(answers) == {"address": TOKEN, "symbol": "lUSD", "name": "Local USD", "decimals": 6}


def test_an_old_token_answering_bytes32() -> None:
    answers = {SYMBOL: b"MKR".ljust(32, b"\0"), DECIMALS: encode(["uint256"], [18])}
    assert described(answers) == {"address": TOKEN, "symbol": "MKR", "name": None, "decimals": 18}


@pytest.mark.parametrize(
    "symbol",
    ["", "x" * 33, "US\nDC", "\u202eDSU", "USD\x00C"],
    ids=["empty", "too long", "newline", "bidi override", "nul"],
)
def test_a_symbol_that_is_not_plain_text_is_none(symbol: str) -> None:
    assert described({SYMBOL: encode(["string"], [symbol])})["symbol"] is None


def test_a_token_that_reverts_or_claims_absurd_decimals() -> None:
    assert described({}) == {"address": TOKEN, "symbol": None, "name": None, "decimals": None}
    assert described({DECIMALS: encode(["uint256"], [2**200])})["decimals"] is None
    assert described({DECIMALS: b"\x01"})["decimals"] is None
