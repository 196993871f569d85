"""Allowlists built in Python, checked by OpenZeppelin's MerkleProof in the market."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address

from datamarket.chain.allowlist import Allowlist
from datamarket.chain.events import AllowlistSet, OrderStarted
from datamarket.chain.quotes import ZERO_HASH
from tests.conftest import World

pytestmark = pytest.mark.integration


def filler(count: int) -> list[str]:
    return [to_checksum_address(keccak(text=f"member-{i}")[:20]) for i in range(count)]


def test_members_may_order_and_others_may_not(world: World) -> None:
    a = world.accounts
    tree = Allowlist.of([a.consumer.address, a.consumer2.address, *filler(9)])
    published = world.publish(free=True, dispenser_limit=5, allowlist_root=tree.root)
    dt = published.datatoken
    assert published.tx.event(AllowlistSet).root == tree.root
    record = world.market.dataset(dt)
    assert (record.has_allowlist, record.allowlist_root) == (True, tree.root)

    for member in (a.consumer, a.consumer2):
        client = world.as_(member)
        client.dispense(dt)
        quote, signature = world.quote(dt, consumer=member.address)
        order = client.start_order(quote, signature, tree.proof(member.address)).event(OrderStarted)
        assert order.consumer == member.address

    outsider = world.as_(a.outsider)
    outsider.dispense(dt, 2)
    quote, signature = world.quote(dt, consumer=a.outsider.address)
    for proof in ([], tree.proof(a.consumer.address)):
        error = world.expect_revert("MarketNotAllowlisted", outsider.start_order, quote, signature, proof)
        assert error.details == {"consumer": a.outsider.address}
    assert world.market.balance_of(dt, a.outsider.address) == 2

    # A new root that includes the outsider lets it in; a zero root lets anyone in.
    wider = Allowlist.of([a.consumer.address, a.outsider.address])
    assert world.as_(a.publisher).set_allowlist(dt, wider.root).event(AllowlistSet).root == wider.root
    outsider.start_order(quote, signature, wider.proof(a.outsider.address))
    world.as_(a.publisher).set_allowlist(dt, ZERO_HASH)
    assert world.market.dataset(dt).has_allowlist is False
    quote, signature = world.quote(dt, consumer=a.outsider.address)
    outsider.start_order(quote, signature)
    assert world.market.balance_of(dt, a.outsider.address) == 0


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 17, 40])
def test_proofs_of_any_tree_size_verify_on_chain(world: World, size: int) -> None:
    a = world.accounts
    members = [*filler(size - 1), a.consumer.address]
    tree = Allowlist.of(members)
    dt = world.publish(free=True, dispenser_limit=2, allowlist_root=tree.root).datatoken
    consumer = world.as_(a.consumer)
    quote, signature = world.quote(dt)
    order = consumer.buy_and_order(quote, signature, tree.proof(a.consumer.address)).event(OrderStarted)
    assert order.quote_nonce == quote.nonce
    if size > 1:
        other = members[0]
        quote, signature = world.quote(dt, consumer=a.consumer.address)
        wrong = tree.proof(other)
        if wrong != tree.proof(a.consumer.address):
            world.expect_revert("MarketNotAllowlisted", consumer.buy_and_order, quote, signature, wrong)
