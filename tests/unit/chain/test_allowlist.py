from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.chain.allowlist import Allowlist, leaf, verify
from tests.strategies import addresses

member_sets = st.lists(addresses, min_size=1, max_size=40, unique_by=str.lower)


@settings(max_examples=60)
@given(members=member_sets)
def test_every_member_has_a_proof_that_verifies(members: list[str]) -> None:
    tree = Allowlist.of(members)
    for member in members:
        proof = tree.proof(member)
        assert verify(proof, tree.root, member)
        # A balanced-enough tree: no proof is longer than the tree is deep.
        assert len(proof) <= len(tree.levels) - 1


@pytest.mark.parametrize("size", range(1, 41))
def test_every_size_from_1_to_40_proves_each_member_and_no_one_else(size: int) -> None:
    members = [
        to_checksum_address(keccak(size.to_bytes(2, "big") + i.to_bytes(2, "big"))[:20]) for i in range(size)
    ]
    outsider = to_checksum_address("0x" + "ee" * 20)
    tree = Allowlist.of(members)
    assert len(tree.levels[0]) == size
    for member in members:
        assert verify(tree.proof(member), tree.root, member)
        assert not verify(tree.proof(member), tree.root, outsider)


@settings(max_examples=60)
@given(members=member_sets, outsider=addresses)
def test_non_members_are_rejected_with_any_members_proof(members: list[str], outsider: str) -> None:
    if outsider.lower() in {m.lower() for m in members}:
        return
    tree = Allowlist.of(members)
    with pytest.raises(KeyError, match=outsider):
        tree.proof(outsider)
    for member in members:
        assert not verify(tree.proof(member), tree.root, outsider)
    assert not verify([], tree.root, outsider)


@settings(max_examples=40)
@given(members=member_sets, data=st.data())
def test_root_depends_on_the_set_not_its_order_or_spelling(members: list[str], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(members))
    spelled = [m.lower() if i % 2 else m for i, m in enumerate(shuffled)]
    assert Allowlist.of(spelled + spelled[:1]).root == Allowlist.of(members).root


@settings(max_examples=40)
@given(members=st.lists(addresses, min_size=2, max_size=40, unique_by=str.lower), data=st.data())
def test_a_tampered_proof_or_root_fails(members: list[str], data: st.DataObject) -> None:
    tree = Allowlist.of(members)
    member = data.draw(st.sampled_from(members))
    proof = tree.proof(member)
    assert proof, "with two or more members every proof has a sibling"
    index = data.draw(st.integers(0, len(proof) - 1))
    flipped = "0x" + bytes(b ^ 0xFF for b in bytes.fromhex(proof[index][2:])).hex()
    assert not verify([*proof[:index], flipped, *proof[index + 1 :]], tree.root, member)
    assert not verify(proof, "0x" + "00" * 32, member)


def test_leaf_is_the_standard_merkle_tree_double_hash() -> None:
    address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert leaf(address) == keccak(keccak(b"\x00" * 12 + bytes.fromhex(address[2:])))
    assert leaf(address.lower()) == leaf(address)
    assert leaf(address) == keccak(keccak(encode(["address"], [address])))


def test_single_member_tree_is_its_leaf() -> None:
    address = to_checksum_address("0x" + "42" * 20)
    tree = Allowlist.of([address])
    assert tree.root == "0x" + leaf(address).hex()
    assert tree.proof(address) == []
    assert verify([], tree.root, address)


def test_two_members_hash_in_sorted_order() -> None:
    a, b = "0x" + "01" * 20, "0x" + "02" * 20
    low, high = sorted([leaf(a), leaf(b)])
    assert Allowlist.of([a, b]).root == "0x" + keccak(low + high).hex()
    assert Allowlist.of([a, b]).proof(a) == ["0x" + leaf(b).hex()]


def test_verify_accepts_an_upper_case_root() -> None:
    members = ["0x" + f"{i:02x}" * 20 for i in range(1, 6)]
    tree = Allowlist.of(members)
    assert verify(tree.proof(members[3]), "0x" + tree.root[2:].upper(), members[3])


def test_missing_address_is_a_key_error() -> None:
    tree = Allowlist.of(["0x" + "01" * 20])
    with pytest.raises(KeyError, match=to_checksum_address("0x" + "03" * 20)):
        tree.proof("0x" + "03" * 20)


def test_empty_allowlist_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Allowlist.of([])
