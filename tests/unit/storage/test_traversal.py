from __future__ import annotations

import io
import random

import pytest

from datamarket.storage import unixfs
from datamarket.storage.base import ContentNotFound
from datamarket.storage.cid import CHUNK_SIZE, CID, DAG_PB, RAW
from datamarket.storage.dagpb import file_node
from datamarket.storage.traversal import DagTooLarge, WalkLimits, walk_dfs

LIMITLESS = WalkLimits(max_blocks=10**9, max_bytes=10**12)


def imported(data: bytes, version: int = 1) -> tuple[CID, dict[bytes, bytes]]:
    blocks: dict[bytes, bytes] = {}
    root = unixfs.import_file(
        io.BytesIO(data), cid_version=version, put=lambda c, b: blocks.setdefault(bytes(c), b)
    )
    return root.cid, blocks


def getter(blocks: dict[bytes, bytes]):
    def get(cid: CID) -> bytes:
        if bytes(cid) not in blocks:
            raise ContentNotFound(f"{cid} absent")
        return blocks[bytes(cid)]

    return get


@pytest.mark.parametrize("version", [0, 1])
def test_the_walk_is_what_unixfs_walk_blocks_gives(version):
    data = random.Random(version).randbytes((unixfs.MAX_LINKS + 2) * CHUNK_SIZE)
    root, blocks = imported(data, version)
    walked = list(walk_dfs(getter(blocks), root, dups=False, limits=LIMITLESS))
    assert walked == list(unixfs.walk_blocks(getter(blocks), root))
    assert len(walked) == len(blocks)


def test_dups_repeats_each_block_as_often_as_it_is_linked():
    root, blocks = imported(b"\x01" * (3 * CHUNK_SIZE))
    assert len(list(walk_dfs(getter(blocks), root, dups=True, limits=LIMITLESS))) == 4
    assert len(list(walk_dfs(getter(blocks), root, dups=False, limits=LIMITLESS))) == 2


def test_identity_blocks_are_followed_but_never_sent():
    leaf = b"inline"
    inline = CID(1, RAW, bytes((0x00, len(leaf))) + leaf)
    stored = b"stored leaf"
    stored_cid = CID.of_block(stored, version=1, codec=RAW)
    node = file_node([(inline, len(leaf)), (stored_cid, len(stored))], [len(leaf), len(stored)])
    root = CID.of_block(node, version=1, codec=DAG_PB)
    blocks = {bytes(root): node, bytes(stored_cid): stored}
    walked = [cid for cid, _ in walk_dfs(getter(blocks), root, dups=False, limits=LIMITLESS)]
    assert walked == [root, stored_cid]


def test_limits_stop_the_walk():
    root, blocks = imported(random.Random(1).randbytes(4 * CHUNK_SIZE))
    walk = walk_dfs(getter(blocks), root, dups=False, limits=WalkLimits(max_blocks=3, max_bytes=10**9))
    with pytest.raises(DagTooLarge):
        list(walk)
    walk = walk_dfs(getter(blocks), root, dups=False, limits=WalkLimits(max_blocks=99, max_bytes=CHUNK_SIZE))
    with pytest.raises(DagTooLarge):
        list(walk)
    assert len(list(walk_dfs(getter(blocks), root, dups=False, limits=WalkLimits(5, 5 * CHUNK_SIZE)))) == 5


def test_a_missing_block_ends_the_walk():
    root, blocks = imported(random.Random(2).randbytes(2 * CHUNK_SIZE))
    del blocks[next(key for key in blocks if key != bytes(root))]
    with pytest.raises(ContentNotFound):
        list(walk_dfs(getter(blocks), root, dups=False, limits=LIMITLESS))
