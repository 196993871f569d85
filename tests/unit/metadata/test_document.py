"""The datamarket/dataset@1 document: schema, canonical form, hash and loading."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from datamarket.crypto.stream import encrypt_bytes
from datamarket.metadata.document import (
    MAX_DOCUMENT_BYTES,
    InvalidMetadata,
    MetadataError,
    MetadataHashMismatch,
    build_document,
    canonical_bytes,
    document_sha256,
    file_entry,
    load,
    schema,
    validate,
)
from tests.fakes import ALGORITHM_HASH, CID, PUBLISHER, SHA, WRAPPED_KEY, full_document


def invalid(document: Any) -> InvalidMetadata:
    with pytest.raises(InvalidMetadata) as caught:
        validate(document)
    assert caught.value.code == "invalid_metadata"
    assert isinstance(caught.value, ValueError)
    return caught.value


# --- schema ---------------------------------------------------------------------------------------


def test_the_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_a_full_document_is_valid_and_has_the_documented_shape():
    document = full_document()
    validate(document)
    assert document["schema"] == "datamarket/dataset@1"
    assert document["publisher"] == PUBLISHER  # normalized to its checksum
    assert document["created"] == "2026-11-28T12:00:00Z"
    assert document["files"][0]["size"] == 17 + 1200 + 16
    assert document["files"][0]["encryption"] == {
        "algorithm": "AES-256-GCM-STREAM-1",
        "chunk_size": 65536,
        "wrapped_key": WRAPPED_KEY,
    }
    assert document["services"][1]["compute"] == {
        "trusted_algorithms": [ALGORITHM_HASH],
        "allow_any_algorithm": False,
        "require_dp": False,
        "privacy": {"epsilon_budget": 10, "delta": 1e-5, "max_epsilon_per_job": 1},
    }


def test_file_entry_size_is_the_real_ciphertext_size():
    plaintext = b"a,b\n" * 50_000
    entry = file_entry(
        cid=CID,
        plaintext_size=len(plaintext),
        plaintext_sha256=hashlib.sha256(plaintext).hexdigest(),
        content_type="text/csv",
        wrapped_key=WRAPPED_KEY,
        chunk_size=4096,
    )
    assert entry["size"] == len(encrypt_bytes(plaintext, b"k" * 32, chunk_size=4096))


def test_profile_and_compute_only_documents_are_valid():
    document = full_document()
    del document["profile"]
    document["services"] = document["services"][1:]
    validate(document)


def test_created_defaults_to_now_in_utc_and_other_zones_are_converted():
    document = full_document()
    fields = {k: document[k] for k in ("name", "description", "tags", "license", "publisher", "files")}
    fields.update(profile=None, services=document["services"])
    before = datetime.now(UTC).replace(microsecond=0)
    created = build_document(**fields)["created"]
    parsed = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= parsed <= datetime.now(UTC)
    paris = timezone(timedelta(hours=1))
    assert build_document(**fields, created=datetime(2026, 1, 1, 13, 0, tzinfo=paris))["created"] == (
        "2026-01-01T12:00:00Z"
    )
    with pytest.raises(InvalidMetadata, match=r"\$\.created"):
        build_document(**fields, created=datetime(2026, 1, 1))


def test_build_document_refuses_a_non_address():
    document = full_document()
    with pytest.raises(InvalidMetadata, match=r"\$\.publisher: 'alice' is not an address"):
        build_document(
            **{k: document[k] for k in ("name", "description", "tags", "license", "files", "services")},
            publisher="alice",
            profile=None,
        )


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return edit


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return edit


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("missing name", _delete(("name",)), "$", "'name' is a required property"),
    ("missing created", _delete(("created",)), "$", "'created' is a required property"),
    (
        "missing file hash",
        _delete(("files", 0, "plaintext_sha256")),
        "$.files[0]",
        "'plaintext_sha256' is a required property",
    ),
    ("no files", _set(("files",), []), "$.files", "should be non-empty"),
    ("no services", _set(("services",), []), "$.services", "should be non-empty"),
    ("short publisher", _set(("publisher",), "0x1234"), "$.publisher", "'0x1234' does not match"),
    ("publisher without 0x", _set(("publisher",), "ab" * 20), "$.publisher", "does not match"),
    (
        "publisher not checksummed",
        _set(("publisher",), PUBLISHER.lower()),
        "$.publisher",
        "is not an EIP-55 checksum address",
    ),
    (
        "bad provider address",
        _set(("services", 1, "provider_address"), "0x" + "zz" * 20),
        "$.services[1].provider_address",
        "does not match",
    ),
    ("sha256 too short", _set(("files", 0, "plaintext_sha256"), SHA[:63]), "$.files[0].plaintext_sha256", ""),
    (
        "sha256 uppercase",
        _set(("files", 0, "plaintext_sha256"), SHA.upper()),
        "$.files[0].plaintext_sha256",
        "",
    ),
    (
        "sha256 with 0x",
        _set(("files", 0, "plaintext_sha256"), "0x" + SHA[2:]),
        "$.files[0].plaintext_sha256",
        "",
    ),
    (
        "bad algorithm hash",
        _set(("services", 1, "compute", "trusted_algorithms"), ["abc"]),
        "$.services[1].compute.trusted_algorithms[0]",
        "'abc' does not match",
    ),
    (
        "wrong service type",
        _set(("services", 0, "type"), "stream"),
        "$.services[0].type",
        "'stream' is not one of ['download', 'compute']",
    ),
    (
        "compute without its section",
        _delete(("services", 1, "compute")),
        "$.services[1]",
        "'compute' is a required property",
    ),
    (
        "download with a compute section",
        lambda d: d["services"][0].update(compute=d["services"][1]["compute"]),
        "$.services[0]",
        "'compute' is not allowed here",
    ),
    (
        "extra top-level property",
        _set(("price",), 5),
        "$",
        "Additional properties are not allowed ('price' was unexpected)",
    ),
    (
        "extra property in encryption",
        _set(("files", 0, "encryption", "mode"), "ctr"),
        "$.files[0].encryption",
        "Additional properties are not allowed ('mode' was unexpected)",
    ),
    (
        "extra property in a service",
        _set(("services", 0, "price"), 1),
        "$.services[0]",
        "Additional properties are not allowed ('price' was unexpected)",
    ),
    (
        "wrong schema id",
        _set(("schema",), "datamarket/dataset@2"),
        "$.schema",
        "'datamarket/dataset@1' was expected",
    ),
    (
        "unknown encryption algorithm",
        _set(("files", 0, "encryption", "algorithm"), "AES-128-CBC"),
        "$.files[0].encryption.algorithm",
        "was expected",
    ),
    (
        "bad key id",
        _set(("files", 0, "encryption", "wrapped_key", "key_id"), "XYZ"),
        "$.files[0].encryption.wrapped_key.key_id",
        "'XYZ' does not match '^[0-9a-f]{16}$'",
    ),
    (
        "negative timeout",
        _set(("services", 0, "timeout"), -1),
        "$.services[0].timeout",
        "less than the minimum",
    ),
    ("service id above u8", _set(("services", 1, "id"), 256), "$.services[1].id", "greater than the maximum"),
    ("created not in UTC", _set(("created",), "2026-11-28T12:00:00+01:00"), "$.created", "does not match"),
    ("created not a date", _set(("created",), "2026-02-30T12:00:00Z"), "$.created", "is not a real date"),
    ("tags not unique", _set(("tags",), ["a", "a"]), "$.tags", "non-unique"),
    ("empty name", _set(("name",), ""), "$.name", "should be non-empty"),
    (
        "provider url not http",
        _set(("services", 0, "provider_url"), "ftp://x"),
        "$.services[0].provider_url",
        "",
    ),
    (
        "size disagrees",
        _set(("files", 0, "size"), 5000),
        "$.files[0].size",
        "does not match plaintext_size 1200",
    ),
    (
        "duplicate service id",
        _set(("services", 1, "id"), 0),
        "$.services[1].id",
        "service id 0 is used twice",
    ),
    (
        "per-job epsilon above budget",
        _set(("services", 1, "compute", "privacy", "max_epsilon_per_job"), 11),
        "$.services[1].compute.privacy.max_epsilon_per_job",
        "11 is more than the epsilon budget 10",
    ),
    (
        "zero epsilon budget",
        _set(("services", 1, "compute", "privacy", "epsilon_budget"), 0),
        "$.services[1]",
        "",
    ),
    (
        "rows not an integer",
        _set(("profile", "rows"), "many"),
        "$.profile.rows",
        "'many' is not of type 'integer'",
    ),
    (
        "synthetic row with a nested value",
        _set(("profile", "synthetic_rows"), [{"a": [1]}]),
        "$.profile.synthetic_rows[0].a",
        "",
    ),
    (
        "NaN in a statistic",
        _set(("profile", "columns", 0, "stats", "mean"), float("nan")),
        "$.profile.columns[0].stats.mean",
        "not serializable as canonical JSON: is not a finite number",
    ),
]


@pytest.mark.parametrize(("edit", "path", "reason"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_each_kind_of_broken_document_is_refused_with_its_path(edit, path: str, reason: str):
    document = copy.deepcopy(full_document())
    edit(document)
    error = invalid(document)
    first = error.details["errors"][0]
    assert first["path"].startswith(path)
    assert reason in first["reason"]
    assert f"{first['path']}: " in str(error)
    assert reason in str(error)


def test_the_first_errors_are_all_reported():
    document = full_document()
    del document["name"]
    document["publisher"] = "nope"
    document["services"][0]["type"] = "stream"
    error = invalid(document)
    paths = [e["path"] for e in error.details["errors"]]
    assert paths == ["$", "$.publisher", "$.services[0].type"]
    assert error.details["count"] == 3


def test_non_objects_are_refused():
    assert invalid([]).details["errors"][0]["path"] == "$"
    assert "is not of type 'object'" in str(invalid("document"))


# --- canonical form and hash ----------------------------------------------------------------------


def test_canonical_bytes_exact_form():
    document = {"b": 1, "a": "é ☃", "c": [1, {"y": 2.5, "x": None}], "d": True}
    assert canonical_bytes(document) == '{"a":"é ☃","b":1,"c":[1,{"x":null,"y":2.5}],"d":true}'.encode()
    assert document_sha256(document) == hashlib.sha256(canonical_bytes(document)).hexdigest()


def test_canonical_bytes_are_rfc_8785():
    # Numbers as JavaScript writes them, keys in UTF-16 order (U+1F600 is D83D DE00, before U+FB01).
    document = {"delta": 1e-7, "b": 1e-5, "c": 1.0, "d": 1e21, "\ufb01": 1, "\U0001f600": 2}
    assert canonical_bytes(document) == (
        '{"b":0.00001,"c":1,"d":1e+21,"delta":1e-7,"\U0001f600":2,"\ufb01":1}'.encode()
    )


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: _shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@given(st.randoms(use_true_random=False))
def test_canonical_bytes_do_not_depend_on_key_order(rng: random.Random):
    document = full_document()
    shuffled = _shuffled(document, rng)
    assert shuffled == document
    assert canonical_bytes(shuffled) == canonical_bytes(document)
    assert document_sha256(shuffled) == document_sha256(document)


def test_canonical_bytes_of_a_reversed_document_are_equal():
    document = full_document()

    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    reversed_document = reverse(document)
    assert list(reversed_document) != list(document)
    assert canonical_bytes(reversed_document) == canonical_bytes(document)


def test_canonical_bytes_refuse_what_json_cannot_hold():
    with pytest.raises(InvalidMetadata, match="not serializable"):
        canonical_bytes({"x": float("inf")})
    with pytest.raises(InvalidMetadata, match="not serializable"):
        canonical_bytes({"x": object()})
    with pytest.raises(InvalidMetadata, match="beyond") as caught:
        canonical_bytes({"x": {"size": 2**53}})
    assert caught.value.details["errors"][0]["path"] == "$.x.size"


# --- load -----------------------------------------------------------------------------------------


def test_load_round_trip_with_the_hash_in_any_spelling():
    document = full_document()
    raw = canonical_bytes(document)
    digest = document_sha256(document)
    assert load(raw, expected_sha256=digest) == document
    assert load(raw, expected_sha256="0x" + digest.upper()) == document
    assert load(raw, expected_sha256=None) == document


def test_load_refuses_a_hash_mismatch():
    document = full_document()
    raw = canonical_bytes(document)
    other = hashlib.sha256(raw + b" ").hexdigest()
    with pytest.raises(MetadataHashMismatch) as caught:
        load(raw, expected_sha256=other)
    assert caught.value.code == "metadata_hash_mismatch"
    assert isinstance(caught.value, MetadataError)
    assert caught.value.details == {"expected": other, "actual": hashlib.sha256(raw).hexdigest()}


def test_load_checks_the_hash_of_the_bytes_as_fetched():
    """A re-serialized document has other bytes, so its hash is not the one on chain."""
    document = full_document()
    pretty = json.dumps(document, indent=2).encode()
    with pytest.raises(MetadataHashMismatch):
        load(pretty, expected_sha256=document_sha256(document))
    assert load(pretty, expected_sha256=hashlib.sha256(pretty).hexdigest()) == document


def test_load_accepts_exactly_one_mib_and_refuses_one_byte_more():
    raw = canonical_bytes(full_document())
    padded = raw + b" " * (MAX_DOCUMENT_BYTES - len(raw))
    assert len(padded) == MAX_DOCUMENT_BYTES
    assert (
        load(padded, expected_sha256=hashlib.sha256(padded).hexdigest())["name"]
        == "Breast cancer (Wisconsin)"
    )
    oversize = padded + b" "
    with pytest.raises(
        InvalidMetadata, match=r"\$: document is 1048577 bytes, more than the 1048576 allowed"
    ):
        load(oversize, expected_sha256=hashlib.sha256(oversize).hexdigest())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not a JSON document"),
        (b"not json", "not a JSON document"),
        (b'{"name": ', "not a JSON document"),
        (b"\xff\xfe{}", "not a JSON document"),
        (b'{"x": NaN}', "NaN is not JSON"),
        (b'{"name": "a", "name": "b"}', "duplicate key 'name'"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
        (b'{"a":' * 33 + b"1" + b"}" * 33, "nested deeper than 32 levels"),
    ],
)
def test_load_refuses_what_is_not_json(raw: bytes, reason: str):
    with pytest.raises(InvalidMetadata) as caught:
        load(raw, expected_sha256=None)
    assert reason in str(caught.value)
    assert caught.value.details["errors"][0]["path"] == "$"


def test_load_validates_the_schema():
    document = full_document()
    document["services"][0]["type"] = "stream"
    raw = canonical_bytes(document)
    with pytest.raises(InvalidMetadata, match=r"\$\.services\[0\]\.type"):
        load(raw, expected_sha256=hashlib.sha256(raw).hexdigest())


def test_brackets_and_escaped_quotes_inside_strings_do_not_count_as_nesting():
    document = full_document()
    document["description"] = '[[[[{{{{ \\" "' * 40 + "]]"
    raw = canonical_bytes(document)
    assert raw.count(b"[") > 100
    assert load(raw, expected_sha256=document_sha256(document))["description"] == document["description"]


def test_many_keys_with_a_duplicate_are_refused_quickly():
    keys = ",".join(f'"k{i}":0' for i in range(50_000))
    with pytest.raises(InvalidMetadata, match="duplicate key 'k0'"):
        load(f'{{{keys},"k0":1}}'.encode(), expected_sha256=None)
