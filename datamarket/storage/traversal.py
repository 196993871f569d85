"""A DAG walked block by block, depth first: the blocks a CAR of it holds, in the order they are sent.

Depth first, parents before children, children in link order: the order ``ipfs dag export`` writes
and what the Trustless Gateway calls ``order=dfs``. With ``dups`` a block is sent every time the walk
meets it (a client can then forget each block once read); without, only the first time (the walk
remembers the CIDs it sent, one small entry per block). Blocks named by identity CIDs are never sent:
their bytes are in the CID itself. Only one path of the DAG is held at a time (a stack of the links
still to visit at each depth), so memory does not grow with the size of a file.

The walk stops with :class:`DagTooLarge` once it would send more than ``max_blocks`` blocks or
``max_bytes`` bytes of blocks, and with ContentNotFound, ContentCorrupted or UnsupportedContent as
the block source raises them or as a block cannot be read (codecs other than dag-pb and raw).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from datamarket.storage import dagpb
from datamarket.storage.base import ContentCorrupted, StorageError, UnsupportedContent
from datamarket.storage.cid import CID, DAG_PB, IDENTITY, RAW

#: The bytes of a block, verified against its CID (``BlockStore.get_block``, or a test's dict).
BlockGetter = Callable[[CID], bytes]


class DagTooLarge(StorageError, ValueError):
    code = "dag_too_large"


@dataclass(frozen=True, slots=True)
class WalkLimits:
    max_blocks: int
    max_bytes: int


def links(cid: CID, block: bytes) -> tuple[CID, ...]:
    """The CIDs ``block`` links to, in order: none for raw, the links of a dag-pb node."""
    if cid.codec == RAW:
        return ()
    if cid.codec != DAG_PB:
        raise UnsupportedContent(f"{cid}: codec 0x{cid.codec:x} is not supported", details={"cid": str(cid)})
    try:
        return tuple(link.cid for link in dagpb.decode_node(block).links)
    except ValueError as exc:
        raise ContentCorrupted(f"block {cid} is not dag-pb: {exc}", details={"cid": str(cid)}) from None


def walk_dfs(
    get: BlockGetter,
    root: CID,
    *,
    dups: bool,
    limits: WalkLimits,
    root_block: bytes | None = None,
) -> Iterator[tuple[CID, bytes]]:
    """Every block of the DAG ``root`` (see the module's docstring). ``root_block``: the root's
    bytes, already read and verified by the caller."""
    sent: set[bytes] = set()
    blocks = size = 0
    stack: list[Iterator[CID]] = [iter((root,))]
    while stack:
        cid = next(stack[-1], None)
        if cid is None:
            stack.pop()
            continue
        key = bytes(cid)
        if not dups and key in sent:
            continue
        if cid.hash_code == IDENTITY:
            block = cid.digest
        elif cid is root and root_block is not None:
            block = root_block
        else:
            block = get(cid)
        if cid.hash_code != IDENTITY:
            blocks += 1
            size += len(block)
            if blocks > limits.max_blocks or size > limits.max_bytes:
                raise DagTooLarge(
                    f"the DAG of {root} is larger than {limits.max_blocks} blocks "
                    f"or {limits.max_bytes} bytes",
                    details={"cid": str(root)},
                )
            if not dups:
                sent.add(key)
            yield cid, block
        children = links(cid, block)
        if children:
            stack.append(iter(children))
