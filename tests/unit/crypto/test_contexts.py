"""Wrap contexts: a wrap made for one dataset, chain, market, offer or job does not open for another."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from datamarket.crypto.contexts import (
    COMPUTE,
    COMPUTE_OFFERS,
    DOWNLOAD,
    access_context,
    content_context,
    content_offer,
    result_context,
)
from datamarket.crypto.keys import KeyUnwrapError, unwrap_key, wrap_key

CHAIN = 31337
MARKET = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
# An EIP-55 test vector: passed lower-case, named checksummed.
DATATOKEN = "0x52908400098527886e0f7030069857d2e4169ee7"
JOB = "0123456789abcdef" * 2
KEY = bytes(range(32))


def content(offer: str, chain: object = CHAIN, market: str = MARKET, datatoken: str = DATATOKEN) -> str:
    return content_context(chain, market, datatoken, offer=offer)  # type: ignore[arg-type]


def test_content_context_names_offer_chain_market_and_datatoken_checksummed() -> None:
    dataset = (
        "eip155:31337:0x5FbDB2315678afecb367f032d93F642f64180aa3:0x52908400098527886E0F7030069857D2E4169EE7"
    )
    assert content(DOWNLOAD) == f"content:download:{dataset}"
    assert content(COMPUTE) == f"content:compute:{dataset}"
    assert content(DOWNLOAD, market=MARKET.upper().replace("0X", "0x")) == content(DOWNLOAD)


def test_the_publisher_wraps_under_what_it_offers_and_the_worker_tries_both() -> None:
    assert content_offer(True) == DOWNLOAD
    assert content_offer(False) == COMPUTE
    assert set(COMPUTE_OFFERS) == {DOWNLOAD, COMPUTE}


@pytest.mark.parametrize(("made", "opened"), [(COMPUTE, DOWNLOAD), (DOWNLOAD, COMPUTE)])
def test_a_content_wrap_opens_only_under_the_offer_it_was_made_for(made: str, opened: str) -> None:
    provider = X25519PrivateKey.generate()
    wrapped = wrap_key(KEY, provider.public_key(), context=content(made))
    assert unwrap_key(wrapped, provider, context=content(made)) == KEY
    with pytest.raises(KeyUnwrapError):
        unwrap_key(wrapped, provider, context=content(opened))


def test_result_context_names_the_job_and_its_dataset() -> None:
    assert result_context(CHAIN, MARKET, DATATOKEN, JOB) == (
        f"result:eip155:31337:0x5FbDB2315678afecb367f032d93F642f64180aa3:"
        f"0x52908400098527886E0F7030069857D2E4169EE7:{JOB}"
    )


@pytest.mark.parametrize(
    "other",
    [
        pytest.param((CHAIN, MARKET, "0x" + "b2" * 20), id="another datatoken"),
        pytest.param((1, MARKET, DATATOKEN), id="another chain"),
        pytest.param((CHAIN, "0x" + "c3" * 20, DATATOKEN), id="another market"),
    ],
)
@pytest.mark.parametrize("offer", [DOWNLOAD, COMPUTE])
def test_a_content_wrap_opens_only_for_its_own_dataset(other: tuple, offer: str) -> None:
    provider = X25519PrivateKey.generate()
    wrapped = wrap_key(KEY, provider.public_key(), context=content(offer))
    assert unwrap_key(wrapped, provider, context=content(offer)) == KEY
    for any_offer in (DOWNLOAD, COMPUTE):
        with pytest.raises(KeyUnwrapError):
            unwrap_key(wrapped, provider, context=content(any_offer, *other))


@pytest.mark.parametrize(
    "other",
    [
        pytest.param((CHAIN, MARKET, DATATOKEN, "f" * 32), id="another job"),
        pytest.param((CHAIN, MARKET, "0x" + "b2" * 20, JOB), id="another datatoken"),
        pytest.param((5, MARKET, DATATOKEN, JOB), id="another chain"),
        pytest.param((CHAIN, "0x" + "c3" * 20, DATATOKEN, JOB), id="another market"),
    ],
)
def test_a_result_wrap_opens_only_for_its_own_job(other: tuple) -> None:
    consumer = X25519PrivateKey.generate()
    wrapped = wrap_key(KEY, consumer.public_key(), context=result_context(CHAIN, MARKET, DATATOKEN, JOB))
    assert unwrap_key(wrapped, consumer, context=result_context(CHAIN, MARKET, DATATOKEN, JOB)) == KEY
    with pytest.raises(KeyUnwrapError):
        unwrap_key(wrapped, consumer, context=result_context(*other))


def test_the_contexts_of_one_dataset_are_all_different() -> None:
    tx = "0x" + "ab" * 32
    made = {content(DOWNLOAD), content(COMPUTE),
            result_context(CHAIN, MARKET, DATATOKEN, JOB), access_context(CHAIN, DATATOKEN, tx)}  # fmt: skip
    assert len(made) == 4


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: content_context(0, MARKET, DATATOKEN, offer=DOWNLOAD), id="chain id 0"),
        pytest.param(lambda: content_context(True, MARKET, DATATOKEN, offer=DOWNLOAD), id="chain id bool"),
        pytest.param(lambda: content_context("31337", MARKET, DATATOKEN, offer=DOWNLOAD), id="chain id str"),
        pytest.param(lambda: content_context(CHAIN, "0x1234", DATATOKEN, offer=DOWNLOAD), id="short market"),
        pytest.param(lambda: content(DOWNLOAD, datatoken="not an address"), id="bad datatoken"),
        pytest.param(lambda: content("Download"), id="unknown offer"),
        pytest.param(lambda: content(""), id="empty offer"),
        pytest.param(lambda: result_context(CHAIN, MARKET, DATATOKEN, "F" * 32), id="upper-case job id"),
        pytest.param(lambda: result_context(CHAIN, MARKET, DATATOKEN, "ab:cd"), id="job id with colon"),
        pytest.param(lambda: access_context(CHAIN, DATATOKEN, "0x12"), id="short order tx"),
    ],
)
def test_malformed_parts_are_refused(call) -> None:
    with pytest.raises(ValueError):
        call()
