"""fetch_result with real crypto: unwrap, decrypt, check every hash, extract safely or not at all."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from datamarket.crypto import keys, stream
from datamarket.sdk import job_files, results
from datamarket.storage.embedded import EmbeddedStore
from tests.fakes import (
    FILES,
    JOB,
    FakeProvider,
    file_member,
    manifest_of,
    output_hash,
    sealed,
    standard,
    tar_of,
)

CHAIN_ID = 31337
MARKET = "0x" + "4d" * 20
OTHER_MARKET = "0x" + "4e" * 20


def handle_for(job_id: str = JOB) -> job_files.JobHandle:
    private = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return job_files.JobHandle(
        job_id=job_id, token="tok", provider_url="http://provider.test", datatoken="0x" + "00" * 20,
        order_tx="0x" + "ab" * 32, private_key=private.hex(), created_at="2026-01-01T00:00:00Z",
        chain_id=CHAIN_ID, market=MARKET,
    )  # fmt: skip


def provider_with(result: dict, ciphertext: bytes) -> FakeProvider:
    provider = FakeProvider()
    provider.result, provider.archive = result, ciphertext
    return provider


def test_the_result_comes_from_the_store_and_is_extracted(tmp_path) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    store = EmbeddedStore(tmp_path / "store")
    result["cid"] = store.add(io.BytesIO(ciphertext))
    provider = provider_with(result, ciphertext)
    out = tmp_path / "out"
    written = results.fetch_result(handle, store, out, provider=provider)
    assert written == [out / "metrics.json", out / "model" / "weights.safetensors"]
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in written} == FILES
    assert "archive" not in [c[0] for c in provider.calls]
    # No staging left; beside the outputs, the record that ties them to their receipt.
    assert sorted(p.name for p in out.iterdir()) == [".datamarket-result.json", "metrics.json", "model"]
    record = json.loads((out / ".datamarket-result.json").read_text())
    assert record == {"job_id": handle.job_id, "output_hash": result["output_hash"],
                      "output_salt": result["output_salt"]}  # fmt: skip


def test_the_archive_endpoint_is_the_fallback(tmp_path) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    result["cid"] = "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe"  # not in this store
    provider = provider_with(result, ciphertext)
    written = results.fetch_result(
        handle, EmbeddedStore(tmp_path / "store"), tmp_path / "out", provider=provider
    )
    assert len(written) == 2 and ("archive", JOB, "tok") in provider.calls
    provider = provider_with(result, ciphertext)
    assert len(results.fetch_result(handle, None, tmp_path / "out2", provider=provider)) == 2


def assert_refused(tmp_path, handle, result, ciphertext, error=results.ResultError, match=None) -> None:
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        results.fetch_result(handle, None, out, provider=provider_with(result, ciphertext))
    assert list(out.iterdir()) == [] if out.exists() else True


def test_an_output_hash_that_is_not_the_manifests_is_refused(tmp_path) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    result["output_hash"] = "ab" * 32
    assert_refused(tmp_path, handle, result, ciphertext, match="output_hash")


def test_a_wrong_plaintext_sha256_is_refused(tmp_path) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    result["plaintext_sha256"] = "ab" * 32
    assert_refused(tmp_path, handle, result, ciphertext, match="plaintext_sha256")


def test_a_file_whose_sha256_differs_from_the_manifest_is_refused(tmp_path) -> None:
    handle = handle_for()
    manifest = manifest_of(FILES)
    manifest[0]["sha256"] = "cd" * 32
    archive = tar_of([file_member(p, d) for p, d in sorted(FILES.items())])
    result, ciphertext = sealed(handle, archive, manifest)
    result["output_hash"] = output_hash(manifest)
    assert_refused(tmp_path, handle, result, ciphertext, match="sha256")


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt", "a//b.txt", "a\\b.txt"])
def test_unsafe_member_paths_are_refused(tmp_path, name: str) -> None:
    handle = handle_for()
    data = b"owned"
    archive = tar_of([file_member(name, data)])
    result, ciphertext = sealed(handle, archive, manifest_of({"fine.txt": data}))
    assert_refused(tmp_path, handle, result, ciphertext)
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs.txt", "", ".", "a/./b"])
def test_unsafe_manifest_paths_are_refused(tmp_path, name: str) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    result["outputs"] = [{"path": name, "size": 1, "sha256": "00" * 32}]
    assert_refused(tmp_path, handle, result, ciphertext)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE])
def test_links_and_special_files_are_refused(tmp_path, kind) -> None:
    handle = handle_for()
    info = tarfile.TarInfo("metrics.json")
    info.type, info.linkname = kind, "/etc/passwd"
    archive = tar_of([(info, None)])
    result, ciphertext = sealed(handle, archive, manifest_of({"metrics.json": b""}))
    assert_refused(tmp_path, handle, result, ciphertext, match="regular file")


def test_extra_missing_duplicate_and_resized_members_are_refused(tmp_path) -> None:
    handle = handle_for()
    files = dict(FILES)
    extra = tar_of([file_member(p, d) for p, d in sorted(files.items())] + [file_member("extra.txt", b"x")])
    assert_refused(tmp_path, handle, *sealed(handle, extra, manifest_of(files)), match="not among")
    missing = tar_of([file_member("metrics.json", files["metrics.json"])])
    assert_refused(tmp_path, handle, *sealed(handle, missing, manifest_of(files)), match="lacks")
    twice = tar_of([file_member("metrics.json", files["metrics.json"])] * 2)
    assert_refused(
        tmp_path, handle, *sealed(handle, twice, manifest_of({"metrics.json": files["metrics.json"]}))
    )
    manifest = manifest_of({"metrics.json": files["metrics.json"]})
    manifest[0]["size"] += 1
    assert_refused(tmp_path, handle, *sealed(handle, missing, manifest), match="bytes")


@pytest.mark.parametrize(
    "elsewhere",
    [
        pytest.param({"job_id": "f" * 32}, id="another job"),
        pytest.param({"datatoken": "0x" + "11" * 20}, id="another dataset"),
        pytest.param({"market": OTHER_MARKET}, id="another market"),
        pytest.param({"chain_id": 1}, id="another chain"),
    ],
)
def test_a_key_wrapped_for_another_job_does_not_open(tmp_path, elsewhere: dict) -> None:
    handle = handle_for()
    archive = tar_of([file_member(p, d) for p, d in sorted(FILES.items())])
    context = replace(handle, **elsewhere).result_context()
    result, ciphertext = sealed(handle, archive, manifest_of(FILES), context=context)
    assert_refused(tmp_path, handle, result, ciphertext, error=keys.KeyUnwrapError)


def test_a_job_file_without_chain_and_market_is_refused_before_any_fetch(tmp_path) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    bare = replace(handle, chain_id=0, market="")
    assert_refused(tmp_path, bare, result, ciphertext, error=job_files.ComputeError, match="chain and market")


def test_tampered_or_resized_ciphertext_is_refused(tmp_path) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    flipped = bytearray(ciphertext)
    flipped[100] ^= 1
    assert_refused(tmp_path, handle, result, bytes(flipped), error=stream.DecryptionError)
    assert_refused(tmp_path, handle, result, ciphertext + b"more", match="larger")
    result["size"] += 10
    assert_refused(tmp_path, handle, result, ciphertext, match="states")


def test_an_existing_link_in_the_output_folder_is_not_followed(tmp_path) -> None:
    handle = handle_for()
    result, ciphertext = standard(handle)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "model").symlink_to(elsewhere)
    with pytest.raises(results.ResultError, match="link"):
        results.fetch_result(handle, None, out, provider=provider_with(result, ciphertext))
    assert list(elsewhere.iterdir()) == []


def test_a_leading_dot_slash_and_folder_entries_are_fine(tmp_path) -> None:
    handle = handle_for()
    folder = tarfile.TarInfo("./model")
    folder.type = tarfile.DIRTYPE
    root = tarfile.TarInfo(".")
    root.type = tarfile.DIRTYPE
    members = [(root, None), (folder, None)]
    members += [file_member("./" + p, d) for p, d in sorted(FILES.items())]
    result, ciphertext = sealed(handle, tar_of(members), manifest_of(FILES))
    written = results.fetch_result(handle, None, tmp_path / "out", provider=provider_with(result, ciphertext))
    assert [Path(p).read_bytes() for p in written] == [FILES[k] for k in sorted(FILES)]


@pytest.mark.parametrize("salt", [None, "", "zz" * 32, "AB" * 32, "ab" * 31])
def test_a_result_without_a_valid_output_salt_is_refused(tmp_path, salt) -> None:
    handle = handle_for()
    archive = tar_of([file_member(p, d) for p, d in sorted(FILES.items())])
    result, ciphertext = sealed(handle, archive, manifest_of(FILES))
    if salt is None:
        del result["output_salt"]
    else:
        result["output_salt"] = salt
    assert_refused(tmp_path, handle, result, ciphertext, match="output_salt")


def test_an_output_hash_made_with_another_salt_is_refused(tmp_path) -> None:
    handle = handle_for()
    archive = tar_of([file_member(p, d) for p, d in sorted(FILES.items())])
    result, ciphertext = sealed(handle, archive, manifest_of(FILES))
    result["output_hash"] = output_hash(manifest_of(FILES), salt="00" * 32)
    assert_refused(tmp_path, handle, result, ciphertext, match="output_hash")
