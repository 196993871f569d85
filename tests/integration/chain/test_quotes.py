"""The Python EIP-712 quote digest is byte-identical to the contract's quoteDigest."""

from __future__ import annotations

import pytest
from eth_account.messages import encode_typed_data
from eth_keys import keys
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings

from datamarket.chain.quotes import QUOTE_TYPES, ProviderFee, domain, recover_quote_signer, sign_quote
from tests.conftest import World
from tests.strategies import quotes

pytestmark = pytest.mark.integration


def python_digest(quote: ProviderFee, chain_id: int, market: str) -> bytes:
    signable = encode_typed_data(
        domain_data=domain(chain_id, market), message_types=QUOTE_TYPES, message_data=quote.message()
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


# Read-only calls: the session's deployment is safe to share across examples without a snapshot.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quote=quotes)
def test_quote_digest_matches_the_contract(deployment: World, quote: ProviderFee) -> None:
    market = deployment.market
    on_chain = market.contract.functions.quoteDigest(quote.as_tuple()).call()
    assert bytes(on_chain) == python_digest(quote, market.chain_id, market.address)


def test_the_contract_recovers_the_python_signer(deployment: World) -> None:
    market, provider = deployment.market, deployment.accounts.provider
    quote = ProviderFee("0x" + "11" * 20, "0x" + "22" * 20, 1, "0x" + "33" * 20, 10**18, 2**40, 99)
    signature = sign_quote(quote, provider.key, chain_id=market.chain_id, market=market.address)
    digest = bytes(market.contract.functions.quoteDigest(quote.as_tuple()).call())
    v = signature[64] - 27
    signer = keys.Signature(signature[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
    assert signer.to_checksum_address() == provider.address
    assert recover_quote_signer(quote, signature, chain_id=market.chain_id, market=market.address) == (
        provider.address
    )
