"""Consumer allowlists as Merkle trees that OpenZeppelin's ``MerkleProof`` verifies.

Leaves are ``keccak256(keccak256(abi.encode(address)))`` (the StandardMerkleTree leaf, safe against
second-preimage tricks) and inner nodes hash their two children in sorted order.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


def leaf(address: str) -> bytes:
    return keccak(keccak(encode(["address"], [to_checksum_address(address)])))


def _parent(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a <= b else keccak(b + a)


@dataclass(frozen=True)
class Allowlist:
    """A Merkle tree over a set of addresses; ``root`` goes on chain, ``proof`` to each consumer."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def of(cls, addresses: list[str]) -> Allowlist:
        if not addresses:
            raise ValueError("an allowlist needs at least one address")
        level = tuple(sorted({leaf(a) for a in addresses}))
        levels = [level]
        while len(level) > 1:
            nxt = [_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = tuple(nxt)
            levels.append(level)
        return cls(tuple(levels))

    @property
    def root(self) -> str:
        return "0x" + self.levels[-1][0].hex()

    def proof(self, address: str) -> list[str]:
        node = leaf(address)
        try:
            index = self.levels[0].index(node)
        except ValueError:
            raise KeyError(f"{to_checksum_address(address)} is not on the allowlist") from None
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append("0x" + level[sibling].hex())
            index //= 2
        return path


def verify(proof: list[str], root: str, address: str) -> bool:
    node = leaf(address)
    for sibling in proof:
        node = _parent(node, bytes.fromhex(sibling.removeprefix("0x")))
    return "0x" + node.hex() == root.lower()
