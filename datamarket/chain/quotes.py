"""Provider-fee quotes: the EIP-712 message a provider signs and the market checks on chain.

A quote names the datatoken, the consumer and the service it is for, the fee, its expiry and a
nonce that the market lets each provider use once. Signing happens locally with eth-account.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = "0x" + "00" * 32

SERVICE_DOWNLOAD = 0
SERVICE_COMPUTE = 1

QUOTE_TYPES = {
    "ProviderFee": [
        {"name": "datatoken", "type": "address"},
        {"name": "consumer", "type": "address"},
        {"name": "serviceId", "type": "uint8"},
        {"name": "feeToken", "type": "address"},
        {"name": "amount", "type": "uint256"},
        {"name": "validUntil", "type": "uint64"},
        {"name": "nonce", "type": "uint64"},
        {"name": "environment", "type": "bytes32"},
    ]
}


@dataclass(frozen=True)
class ProviderFee:
    datatoken: str
    consumer: str
    service_id: int
    fee_token: str
    amount: int
    valid_until: int
    nonce: int
    environment: str = ZERO_HASH

    def __post_init__(self) -> None:
        for name in ("datatoken", "consumer", "fee_token"):
            object.__setattr__(self, name, to_checksum_address(getattr(self, name)))

    def message(self) -> dict:
        """The EIP-712 message (camelCase, as the contract's type string names it)."""
        return {
            "datatoken": self.datatoken,
            "consumer": self.consumer,
            "serviceId": self.service_id,
            "feeToken": self.fee_token,
            "amount": self.amount,
            "validUntil": self.valid_until,
            "nonce": self.nonce,
            "environment": bytes.fromhex(self.environment.removeprefix("0x")),
        }

    @classmethod
    def from_json(cls, q: dict) -> ProviderFee:
        """A quote from its JSON form (the EIP-712 field names, as the provider's /fees answers)."""
        return cls(
            datatoken=q["datatoken"], consumer=q["consumer"], service_id=int(q["serviceId"]),
            fee_token=q["feeToken"], amount=int(q["amount"]), valid_until=int(q["validUntil"]),
            nonce=int(q["nonce"]), environment=q["environment"],
        )  # fmt: skip

    def as_tuple(self) -> tuple:
        """The ABI tuple the market's functions take."""
        m = self.message()
        return tuple(m[f["name"]] for f in QUOTE_TYPES["ProviderFee"])

    def to_json(self) -> dict:
        return asdict(self)


def domain(chain_id: int, market: str) -> dict:
    return {
        "name": "Datamarket",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(market),
    }


def _signable(quote: ProviderFee, chain_id: int, market: str):
    return encode_typed_data(
        domain_data=domain(chain_id, market), message_types=QUOTE_TYPES, message_data=quote.message()
    )


def sign_quote(quote: ProviderFee, private_key: bytes | str, *, chain_id: int, market: str) -> bytes:
    """The provider's 65-byte signature over ``quote``."""
    return bytes(Account.sign_message(_signable(quote, chain_id, market), private_key).signature)


def recover_quote_signer(quote: ProviderFee, signature: bytes, *, chain_id: int, market: str) -> str:
    return Account.recover_message(_signable(quote, chain_id, market), signature=signature)
