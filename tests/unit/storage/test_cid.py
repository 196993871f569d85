import pytest

from datamarket.storage.cid import CHUNK_SIZE, raw_leaf_cid


def test_raw_leaf_cid_matches_ipfs_add_cid_version_1():
    # `echo "hello world" | ipfs add --cid-version 1 -Q`
    assert raw_leaf_cid(b"hello world\n") == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_raw_leaf_cid_of_empty_file():
    # `ipfs add --cid-version 1 -Q /dev/null`
    assert raw_leaf_cid(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_more_than_one_chunk_is_refused():
    with pytest.raises(ValueError, match="more than one"):
        raw_leaf_cid(b"\0" * (CHUNK_SIZE + 1))
