"""The UnixFS importer against CIDs that a real IPFS node gave the same bytes, and the DAG reader."""

from __future__ import annotations

import io
import itertools
import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.storage import dagpb
from datamarket.storage.base import ContentCorrupted, ContentNotFound, UnsupportedContent
from datamarket.storage.cid import CHUNK_SIZE, CID, DAG_PB, RAW
from datamarket.storage.unixfs import FileImporter, import_bytes, import_file, read_file, walk_blocks

KIB = 1024


def sample(size: int) -> bytes:
    """The test file of ``size`` bytes (the same bytes were added to js-ipfs for the values below)."""
    return random.Random(size).randbytes(size)


# `ipfs add --only-hash --cid-version 0|1` of sample(size) on js-ipfs 0.66.1 (kubo's defaults: 256 KiB
# chunks, balanced layout, 174 links; raw leaves with CIDv1): root CID and DAG size ("Size").
KNOWN = [
    (0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", 6,
     "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", 0),
    (1, "QmcHFYKzbGeJYtDtcHEjgpKas4wZm8M25hjRusVLjou6Kx", 9,
     "bafkreiekgmp53zydf4z2ohq3fysx3aawny2i4ah4wf4rj5el3nl2drrqa4", 1),
    (1000, "QmY4GjLmSepnduArkf7RFMzoE7pj9LypVS5pbBEF9QAaVh", 1011,
     "bafkreihufkneco7t5mm5gbxgwk7uzjpzxjak7wkw5a3u5yd3iauuqgvc4a", 1000),
    (CHUNK_SIZE - 1, "QmPdFsTSn1n7xDXVvvVqYcVgkzwbH1dKBZUR9DQWopFYr9", 262157,
     "bafkreih2hom5mdt3hxznampdzj6ksv6o36vafqqctcrkoz5rfhpw3eodwu", 262143),
    (CHUNK_SIZE, "Qmbd9VNLTfpBW2arj1AkAJnVRYBq1WEY6Uu6wLEiemGipi", 262158,
     "bafkreih2bk74eu5axngebs6vftmmkcaqboysjjy726xzy5hksnqmfgw5fy", 262144),
    (CHUNK_SIZE + 1, "QmdkAszdeWKht9nXSzPKGUYvUqpMfm325GuCn1pZnTa9ja", 262267,
     "bafybeidbbs6ocod3v27jtr4uhvc6n55y3gbrtur3bvjsnraudtbxkozi2y", 262249),
    (2 * CHUNK_SIZE, "QmcrKT9HFrWNLjMYoa23MBZ6bPfcgPeKLXJttFSrC7yWAu", 524420,
     "bafybeibuvqq37phlhefrdmacc7uyxcxte2nrginrt6dkl33nuoxwt37o5a", 524396),
    (1024 * KIB, "QmcZSDJuXeCkUq2BQyEwNZW5F4x5FxzQNUuav8XyceEBsS", 1048832,
     "bafybeigxrbq7fuchvgd6onff4gbsw5a2p2723maltvtkbglz3l5sak37gm", 1048784),
]  # fmt: skip

# The same with `--chunker size-N`: small chunks give two- and three-level trees from small inputs
# (174 x 16 B leaves fill one node; 174 x 174 x 16 B two levels).
KNOWN_SMALL_CHUNKS = [
    (1024, 174 * 1024, "QmZP4jm3f5e136466pqFQPwfbS1Pew1szuamCAknpZ9cxP", 188103,
     "bafybeibcinkukqkrsweibcydwjdrn4vtrcwbbhj2jh5wcb5h6nbrrs2noe", 186537),
    (1024, 174 * 1024 + 1, "Qmc33QZgTY3c2F86VFUBwy7MM7xWeoPPzkCPsAEjjBbb8W", 188262,
     "bafybeibru7duhx6op4vhwp4yiwgm4viwvzcqsbevdbyiqifj2ve65445i4", 186694),
    (16, 174 * 174 * 16, "QmPKxXd8wyyqYz6DshbnF8xePP7qovTSbsdt2WNPM7CMoM", 2068173,
     "bafybeihjbjsct56yz7rma4mhsrxddmw2a7tmrwwp2wwoy5zvxkwfv4b6qe", 1886865),
    (16, 174 * 174 * 16 + 1, "QmSs58upqFgvxHPqFsxLY8zLU9yv2ttN3j8EtFskVgUTFE", 2068382,
     "bafybeifhziltu3aobsvz5wdotcplexp552mu2pqhan3lohktd7mq6k4ufm", 1887074),
    (16, 2 * 174 * 174 * 16 + 5, "QmSHCCfeTSymaYd3QrBJ8eCXUaEiGKz6wCntdWkAomJumU", 4136607,
     "bafybeibrqhqxh5subtxyk5oldy43f2v7ajxqozjysddnydwjqr4finoo3q", 3773993),
]  # fmt: skip


@pytest.mark.parametrize(("size", "v0", "v0_dag_size", "v1", "v1_dag_size"), KNOWN)
def test_cids_match_ipfs_add(size, v0, v0_dag_size, v1, v1_dag_size):
    data = sample(size)
    for version, cid, dag_size in ((0, v0, v0_dag_size), (1, v1, v1_dag_size)):
        imported = import_file(io.BytesIO(data), cid_version=version)
        assert (str(imported.cid), imported.size, imported.dag_size) == (cid, size, dag_size)


@pytest.mark.parametrize(("chunk", "size", "v0", "v0_dag_size", "v1", "v1_dag_size"), KNOWN_SMALL_CHUNKS)
def test_multi_level_trees_match_ipfs_add(chunk, size, v0, v0_dag_size, v1, v1_dag_size):
    data = sample(size)
    for version, cid, dag_size in ((0, v0, v0_dag_size), (1, v1, v1_dag_size)):
        importer = FileImporter(cid_version=version, chunk_size=chunk)
        importer.write(data)
        imported = importer.finish()
        assert (str(imported.cid), imported.dag_size) == (cid, dag_size)


def test_hello_world_as_cidv0():
    # `echo "hello world" | ipfs add -Q`
    assert (
        str(import_bytes(b"hello world\n", cid_version=0).cid)
        == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    )


def blocks_of(data: bytes, **options) -> tuple[CID, dict[CID, bytes], list[CID]]:
    blocks: dict[CID, bytes] = {}
    order: list[CID] = []

    def put(cid: CID, block: bytes) -> None:
        blocks[cid] = block
        order.append(cid)

    importer = FileImporter(put=put, **options)
    importer.write(data)
    return importer.finish().cid, blocks, order


def test_one_chunk_is_a_single_leaf_and_one_byte_more_makes_a_parent():
    root, blocks, _ = blocks_of(sample(CHUNK_SIZE))
    assert root.codec == RAW and list(blocks) == [root] and blocks[root] == sample(CHUNK_SIZE)

    data = sample(CHUNK_SIZE + 1)
    root, blocks, order = blocks_of(data)
    assert root.codec == DAG_PB and order[-1] == root and len(blocks) == 3
    node = dagpb.decode_node(blocks[root])
    unixfs = dagpb.decode_unixfs(node.data)
    assert (unixfs.type, unixfs.filesize, unixfs.blocksizes) == (
        dagpb.TYPE_FILE,
        CHUNK_SIZE + 1,
        (CHUNK_SIZE, 1),
    )
    assert [blocks[link.cid] for link in node.links] == [data[:CHUNK_SIZE], data[CHUNK_SIZE:]]
    assert [(link.name, link.tsize) for link in node.links] == [("", CHUNK_SIZE), ("", 1)]


def test_cidv0_leaves_wrap_their_chunk_in_unixfs_file_data():
    data = sample(1000)
    root, blocks, _ = blocks_of(data, cid_version=0)
    node = dagpb.decode_node(blocks[root])
    unixfs = dagpb.decode_unixfs(node.data)
    assert node.links == () and (unixfs.type, unixfs.data, unixfs.filesize) == (dagpb.TYPE_FILE, data, 1000)


def test_a_full_node_has_174_links_and_one_more_leaf_adds_a_level():
    root, blocks, _ = blocks_of(bytes(174 * 16), chunk_size=16)
    assert len(dagpb.decode_node(blocks[root]).links) == 174

    # The balanced layout wraps the lone 175th leaf in a node of its own: root -> [174 leaves], [1 leaf].
    root, blocks, _ = blocks_of(sample(175 * 16), chunk_size=16)
    first, second = dagpb.decode_node(blocks[root]).links
    assert len(dagpb.decode_node(blocks[first.cid]).links) == 174
    assert len(dagpb.decode_node(blocks[second.cid]).links) == 1


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=8),
    version=st.sampled_from([0, 1]),
    chunk=st.integers(min_value=1, max_value=200),
    links=st.integers(min_value=2, max_value=5),
)
def test_pieces_of_any_size_give_the_same_dag(data, cuts, version, chunk, links):
    options = {"cid_version": version, "chunk_size": chunk, "max_links": links}
    whole = FileImporter(**options)
    whole.write(data)
    expected = whole.finish()

    pieces = FileImporter(**options)
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut <= len(data))})
    for start, end in itertools.pairwise(bounds):
        pieces.write(data[start:end])
    assert pieces.finish() == expected

    class Trickling(io.RawIOBase):
        """A pipe-like stream: short reads of at most 7 bytes."""

        def __init__(self) -> None:
            self.source = io.BytesIO(data)

        def readinto(self, buffer) -> int:
            piece = self.source.read(min(7, len(buffer)))
            buffer[: len(piece)] = piece
            return len(piece)

    streamed = FileImporter(**options)
    streamed.write_from(Trickling())
    assert streamed.finish() == expected


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5000),
    version=st.sampled_from([0, 1]),
    chunk=st.integers(min_value=1, max_value=300),
    links=st.integers(min_value=2, max_value=6),
)
def test_read_file_returns_what_was_imported_and_only_hash_gives_the_same_cid(data, version, chunk, links):
    options = {"cid_version": version, "chunk_size": chunk, "max_links": links}
    root, blocks, _ = blocks_of(data, **options)
    assert b"".join(read_file(blocks.__getitem__, root)) == data
    hashed = FileImporter(**options)
    hashed.write(data)
    assert hashed.finish().cid == root


class Zeros(io.RawIOBase):
    """``size`` zero bytes, produced on demand."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


@pytest.mark.parametrize("version", [0, 1])
def test_memory_stays_flat_while_importing_a_large_stream(version):
    size = 96 * 1024 * KIB  # 384 leaves under 3 nodes (174 + 174 + 36) under the root
    kept: list[int] = []
    tracemalloc.start()
    try:
        imported = import_file(
            Zeros(size), cid_version=version, put=lambda _cid, block: kept.append(len(block))
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert imported.size == size and len(kept) == 384 + 3 + 1
    assert peak < 3 * CHUNK_SIZE + 256 * KIB, f"peak {peak} bytes while importing {size}"


def test_read_file_refuses_a_block_that_does_not_match_its_cid():
    data = sample(3 * 100)
    root, blocks, order = blocks_of(data, chunk_size=100)
    blocks[order[1]] = b"x" + blocks[order[1]][1:]
    pieces = read_file(blocks.__getitem__, root)
    assert next(pieces) == data[:100]  # blocks before the bad one are fine
    with pytest.raises(ContentCorrupted, match=str(order[1])):
        next(pieces)


def test_read_file_reports_a_missing_block():
    root, blocks, order = blocks_of(sample(300), chunk_size=100)
    del blocks[order[2]]

    def get(cid: CID) -> bytes:
        if cid not in blocks:
            raise ContentNotFound(str(cid))
        return blocks[cid]

    with pytest.raises(ContentNotFound):
        b"".join(read_file(get, root))


def test_read_file_refuses_directories_and_non_unixfs_blocks():
    directory = b"\x0a\x02\x08\x01"  # PBNode{Data: UnixFS{Type: Directory}}
    cid = CID.of_block(directory, version=1, codec=DAG_PB)
    with pytest.raises(UnsupportedContent, match="not a file"):
        list(read_file({cid: directory}.__getitem__, cid))

    garbage = b"\x0a\x03\xff\xff\xff"  # Data is not a UnixFS message
    cid = CID.of_block(garbage, version=1, codec=DAG_PB)
    with pytest.raises(ContentCorrupted, match="not a UnixFS node"):
        list(read_file({cid: garbage}.__getitem__, cid))


def test_walk_blocks_goes_parents_first_and_yields_repeated_blocks_once():
    root, blocks, _ = blocks_of(bytes(3 * CHUNK_SIZE))  # three identical leaves
    walked = list(walk_blocks(blocks.__getitem__, root))
    assert [cid for cid, _ in walked] == [root, CID.of_block(bytes(CHUNK_SIZE), version=1, codec=RAW)]


def test_an_importer_is_used_once():
    importer = FileImporter()
    importer.finish()
    with pytest.raises(ValueError):
        importer.write(b"x")
    with pytest.raises(ValueError):
        importer.finish()
    with pytest.raises(ValueError):
        FileImporter(cid_version=2)
