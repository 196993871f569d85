"""What a browser wallet signs and what a web page posts: the ``eth_signTypedData_v4`` payload of a
provider request, written as a page hands it to the wallet (addresses in lower case, every integer a
decimal string), and its signature as the wallet computes it (eth-account's ``sign_typed_data`` with
``full_message``, which is the v4 algorithm)."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from datamarket.auth import DOMAIN_NAME, DOMAIN_VERSION, SignedRequest

EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def typed_data_v4(request: SignedRequest, chain_id: int, market: str) -> dict[str, Any]:
    """The JSON a page passes to ``eth_signTypedData_v4`` for ``request``: its ``message`` is the
    request with lower-case addresses and decimal-string integers."""
    fields = type(request).TYPES[type(request).PRIMARY_TYPE]
    message: dict[str, Any] = {}
    for field in fields:
        value = request.to_json()[field["name"]]
        if field["type"] == "address":
            value = value.lower()
        elif field["type"].startswith("uint"):
            value = str(value)
        message[field["name"]] = value
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN, **type(request).TYPES},
        "primaryType": type(request).PRIMARY_TYPE,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": str(chain_id),
            "verifyingContract": market.lower(),
        },
        "message": message,
    }


def wallet_signature(private_key: bytes | str, payload: dict[str, Any], *, v_base: int = 27) -> str:
    """The ``0x`` hex signature a wallet answers for ``payload``; ``v_base=0`` writes v as 0 or 1, as
    some signers (hardware wallets, some libraries) do."""
    signed = Account.sign_typed_data(private_key, full_message=payload)
    raw = bytes(signed.signature)
    return "0x" + (raw[:64] + bytes([raw[64] - 27 + v_base])).hex()


def high_s(signature: str) -> str:
    """The same signature with s replaced by n - s (and v flipped): valid for ecrecover, refused by EIP-2."""
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    raw = bytes.fromhex(signature.removeprefix("0x"))
    s = int.from_bytes(raw[32:64], "big")
    return "0x" + (raw[:32] + (n - s).to_bytes(32, "big") + bytes([55 - raw[64]])).hex()


__all__ = ["EIP712_DOMAIN", "high_s", "typed_data_v4", "wallet_signature"]
