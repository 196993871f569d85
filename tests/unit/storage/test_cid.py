import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamarket.storage.base import InvalidCID, UnsupportedContent
from datamarket.storage.cid import CHUNK_SIZE, CID, DAG_PB, RAW, raw_leaf_cid


def test_raw_leaf_cid_matches_ipfs_add_cid_version_1():
    # `echo "hello world" | ipfs add --cid-version 1 -Q`
    assert raw_leaf_cid(b"hello world\n") == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_raw_leaf_cid_of_empty_file():
    # `ipfs add --cid-version 1 -Q /dev/null`
    assert raw_leaf_cid(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_more_than_one_chunk_is_refused():
    with pytest.raises(ValueError, match="more than one"):
        raw_leaf_cid(b"\0" * (CHUNK_SIZE + 1))


# The same block in three spellings, as js-ipfs printed them (v1 in base58btc by default).
V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
V1_RAW_BASE32 = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
V1_RAW_BASE58 = "zb2rhmy65F3REf8SZp7De11gxtECBGgUKaLdiDj7MCGCHxbDW"


def test_cidv0_parses_and_prints_back():
    cid = CID.parse(V0)
    assert (cid.version, cid.codec, cid.hash_code) == (0, DAG_PB, 0x12)
    assert bytes(cid) == cid.multihash and len(cid.multihash) == 34
    assert str(cid) == V0


def test_cidv1_in_base58btc_is_printed_in_base32():
    cid = CID.parse(V1_RAW_BASE58)
    assert (cid.version, cid.codec) == (1, RAW)
    assert str(cid) == V1_RAW_BASE32
    assert CID.parse(V1_RAW_BASE32) == cid == CID.parse(V1_RAW_BASE32.upper())
    assert CID.parse("f" + bytes(cid).hex()) == cid


def test_cid_checks_blocks_against_its_hash():
    cid = CID.parse(V1_RAW_BASE32)
    assert cid.matches(b"")
    assert not cid.matches(b"\0")


def test_identity_multihash_is_the_data_itself():
    cid = CID(1, RAW, b"\x00\x03abc")
    assert cid.matches(b"abc") and not cid.matches(b"abd")
    assert CID.parse(str(cid)) == cid


def test_other_hash_functions_are_unsupported_not_accepted():
    blake3 = CID(1, RAW, b"\x1e\x20" + bytes(32))
    with pytest.raises(UnsupportedContent):
        blake3.matches(b"")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nonsense",
        "Qm" + "1" * 44,  # base58 of a value that is not a sha2-256 multihash
        "Qm0000000000000000000000000000000000000000000",  # 0 is not base58
        "b" + "8" * 10,  # not base32
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvy",  # truncated digest
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykuaa",  # trailing bytes
        "f1220" + "00" * 32,  # a v0 CID behind a multibase prefix
        "f02551220" + "00" * 32,  # version 2
    ],
)
def test_invalid_cids_are_refused(text):
    with pytest.raises(InvalidCID):
        CID.parse(text)


@given(
    version=st.sampled_from([0, 1]),
    codec=st.sampled_from([DAG_PB, RAW, 0x71, 0x0129]),
    digest=st.binary(min_size=32, max_size=32),
)
def test_cid_string_and_bytes_round_trip(version, codec, digest):
    if version == 0:
        codec = DAG_PB
    cid = CID.from_digest(digest, version=version, codec=codec)
    assert CID.parse(str(cid)) == cid
    assert CID.from_bytes(bytes(cid)) == cid
    assert cid.digest == digest


def test_cidv0_is_always_dag_pb():
    with pytest.raises(InvalidCID):
        CID.from_digest(bytes(32), version=0, codec=RAW)
