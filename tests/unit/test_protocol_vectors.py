"""The protocol's test vectors (docs/protocol/*.json) against the production code: each file is what
scripts/protocol_vectors.py writes today, and every answer in it is computed again here from its inputs,
as a client in another language would check itself, with the code that serves and signs."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from datamarket import protocol_vectors
from datamarket.auth import (
    AccessRequest,
    ComputeRequest,
    InvalidRequest,
    InvalidSignature,
    SignedRequest,
    domain,
    parse_address,
    parse_uint,
)
from datamarket.canonical import canonical_json
from datamarket.chain import quotes
from datamarket.chain.market import dataset_id, epsilon_units
from datamarket.crypto import contexts, keys, stream
from datamarket.jobs.spec import job_hash, output_hash, parse_job_spec

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "protocol"


def vectors(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))


def test_the_files_are_what_the_script_writes() -> None:
    built = protocol_vectors.build()
    assert sorted(p.stem for p in VECTORS.glob("*.json")) == sorted(built)
    for name, content in built.items():
        text = (VECTORS / f"{name}.json").read_text(encoding="utf-8")
        assert text == protocol_vectors.render(content), (
            f"{name}.json is stale: run scripts/protocol_vectors.py"
        )


# ---------------------------------------------------------------------------------------- canonical


def test_canonical_json() -> None:
    v = vectors("canonical-json")
    assert len(v["cases"]) >= 8
    for case in v["cases"]:
        raw = canonical_json(json.loads(case["input"]))
        assert raw == case["canonical"].encode(), case["name"]
        assert hashlib.sha256(raw).hexdigest() == case["sha256"]
    for case in v["refused"]:
        with pytest.raises(InvalidRequest) as caught:
            canonical_json(json.loads(case["input"]))
        assert caught.value.details["field"] == case["field"]


# ---------------------------------------------------------------------------------------- identifiers


def test_dataset_ids_and_contexts() -> None:
    v = vectors("dataset-id")
    for case in v["dataset_ids"]:
        assert dataset_id(case["chain_id"], case["datatoken"]) == case["dataset_id"]
    c = v["contexts"]
    chain, market, datatoken = c["chain_id"], c["market"], c["datatoken"]
    assert contexts.content_context(chain, market, datatoken, offer="download") == c["content_download"]
    assert contexts.content_context(chain, market, datatoken, offer="compute") == c["content_compute"]
    assert contexts.access_context(chain, datatoken, c["order_tx"]) == c["access"]
    assert contexts.result_context(chain, market, datatoken, c["job_id"]) == c["result"]
    assert c["access"].startswith(f"access:{dataset_id(chain, datatoken)}:")


# ---------------------------------------------------------------------------------------- EIP-712


def _separator(domain_data: dict[str, Any]) -> str:
    signable = encode_typed_data(domain_data=domain_data, message_types={"T": []}, message_data={})
    return "0x" + bytes(signable.header).hex()


def test_eip712_domains_and_types() -> None:
    v = vectors("eip712")
    assert "0x" + keccak(text=v["domain_type"]).hex() == v["domain_typehash"]
    provider, market = v["domains"]["provider"], v["domains"]["market"]
    assert {
        **domain(provider["chainId"], provider["verifyingContract"]),
        "separator": provider["separator"],
    } == (provider)
    assert {
        **quotes.domain(market["chainId"], market["verifyingContract"]),
        "separator": market["separator"],
    } == (market)
    assert _separator(domain(provider["chainId"], provider["verifyingContract"])) == provider["separator"]
    assert _separator(quotes.domain(market["chainId"], market["verifyingContract"])) == market["separator"]
    production = {
        "AccessRequest": AccessRequest.TYPES,
        "ComputeRequest": ComputeRequest.TYPES,
        "ProviderFee": quotes.QUOTE_TYPES,
    }
    for name, t in v["types"].items():
        assert t["fields"] == production[name][name]
        fields = ",".join(f"{f['type']} {f['name']}" for f in t["fields"])
        assert t["type_string"] == f"{name}({fields})"
        assert "0x" + keccak(text=t["type_string"]).hex() == t["typehash"]


@pytest.mark.parametrize("kind", [AccessRequest, ComputeRequest])
def test_eip712_signed_requests(kind: type[SignedRequest]) -> None:
    v = vectors("eip712")
    case = v["signed"][kind.PRIMARY_TYPE]
    d = v["domains"][case["domain"]]
    chain_id, market = d["chainId"], d["verifyingContract"]
    from_wallet = kind.from_json(case["wallet_message"])
    assert kind.from_json(case["message"]) == from_wallet
    assert "0x" + from_wallet.digest(chain_id, market).hex() == case["digest"]
    struct = encode_typed_data(
        domain_data=domain(chain_id, market), message_types=kind.TYPES, message_data=from_wallet.message()
    )
    assert "0x" + bytes(struct.body).hex() == case["struct_hash"]
    assert (
        keccak(b"\x19\x01" + bytes.fromhex(d["separator"][2:]) + bytes(struct.body)).hex()
        == case["digest"][2:]
    )
    assert from_wallet.consumer == case["signer"]
    for signature in (case["signature"], case["signature_v01"]):
        from_wallet.verify(signature, chain_id, market)
    assert "0x" + from_wallet.sign(case["signer_private_key"], chain_id, market).hex() == case["signature"]
    with pytest.raises(InvalidSignature):
        from_wallet.verify(case["refused_high_s"], chain_id, market)
    if kind is ComputeRequest:
        assert job_hash(parse_job_spec(case["job"])) == from_wallet.job_hash


def test_eip712_provider_fee() -> None:
    v = vectors("eip712")
    case = v["signed"]["ProviderFee"]
    d = v["domains"]["market"]
    quote = quotes.ProviderFee.from_json(case["wallet_message"])
    assert quote == quotes.ProviderFee.from_json(case["message"])
    signature = bytes.fromhex(case["signature"][2:])
    assert (
        quotes.recover_quote_signer(quote, signature, chain_id=d["chainId"], market=d["verifyingContract"])
        == (case["signer"])
    )
    signed = quotes.sign_quote(
        quote, case["signer_private_key"], chain_id=d["chainId"], market=d["verifyingContract"]
    )
    assert "0x" + signed.hex() == case["signature"]
    assert "signature_v01" not in case  # the market's ECDSA takes v 27/28 only


def test_addresses_and_uints_on_the_wire() -> None:
    v = vectors("eip712")
    for case in v["addresses"]["accepted"]:
        assert parse_address(case["input"], "consumer") == case["parsed"]
    for refused in v["addresses"]["refused"]:
        with pytest.raises(InvalidRequest):
            parse_address(refused, "consumer")
    for case in v["uints"]["accepted"]:
        bits = int(case.get("type", "uint256").removeprefix("uint"))
        assert parse_uint(case["input"], "nonce", bits) == int(case["parsed"])
    for refused in v["uints"]["refused"]:
        with pytest.raises(InvalidRequest):
            parse_uint(refused, "nonce", 256)


# ---------------------------------------------------------------------------------------- key wrap


def test_key_wrap() -> None:
    v = vectors("key-wrap")
    assert (v["scheme"], v["info_prefix"].encode()) == (keys.SCHEME, keys.INFO_PREFIX)
    for case in v["wrap"]:
        recipient = bytes.fromhex(case["recipient_private_key"])
        ephemeral = bytes.fromhex(case["ephemeral_private_key"])
        assert (
            keys.public_bytes(X25519PrivateKey.from_private_bytes(recipient)).hex()
            == case["recipient_public_key"]
        )
        assert (
            keys.public_bytes(X25519PrivateKey.from_private_bytes(ephemeral)).hex()
            == case["ephemeral_public_key"]
        )
        assert keys.key_id(bytes.fromhex(case["recipient_public_key"])) == case["key_id"]
        shared = X25519PrivateKey.from_private_bytes(recipient).exchange(
            X25519PublicKey.from_public_bytes(bytes.fromhex(case["ephemeral_public_key"]))
        )
        assert shared.hex() == case["shared_secret"]
        assert case["hkdf_salt"] == case["ephemeral_public_key"] + case["recipient_public_key"]
        assert bytes.fromhex(case["hkdf_info"]) == keys.INFO_PREFIX + case["context"].encode()
        # The wrap, sealed by the production code from the same inputs, and opened by AES-GCM alone.
        wrapped = keys.seal_key(
            bytes.fromhex(case["content_key"]),
            bytes.fromhex(case["recipient_public_key"]),
            context=case["context"],
            ephemeral=ephemeral,
            nonce=bytes.fromhex(case["nonce"]),
        )
        assert wrapped == case["wrapped"]
        assert keys.b64url_decode(wrapped["ct"]).hex() == case["ciphertext_and_tag"]
        assert len(bytes.fromhex(case["ciphertext_and_tag"])) == 32 + 16
        opened = AESGCM(bytes.fromhex(case["wrapping_key"])).decrypt(
            bytes.fromhex(case["nonce"]),
            bytes.fromhex(case["ciphertext_and_tag"]),
            bytes.fromhex(case["aad"]),
        )
        assert opened.hex() == case["content_key"]
    for case in v["unwrap"]:
        key = keys.unwrap_key(
            case["wrapped"], bytes.fromhex(case["recipient_private_key"]), context=case["context"]
        )
        assert key.hex() == case["content_key"]
    assert len(v["unwrap_refused"]) >= 2
    for case in v["unwrap_refused"]:
        with pytest.raises(keys.KeyUnwrapError):
            keys.unwrap_key(
                case["wrapped"], bytes.fromhex(case["recipient_private_key"]), context=case["context"]
            )


# ---------------------------------------------------------------------------------------- stream


def test_stream() -> None:
    v = vectors("stream")
    assert v["algorithm"] == stream.ALGORITHM
    assert [len(c["chunks"]) for c in v["cases"]] == [3, 2, 1]
    for case in v["cases"]:
        key, plaintext = bytes.fromhex(case["key"]), bytes.fromhex(case["plaintext"])
        ciphertext = stream.encrypt_bytes(
            plaintext, key, chunk_size=case["chunk_size"], nonce_prefix=bytes.fromhex(case["nonce_prefix"])
        )
        assert ciphertext.hex() == case["ciphertext"]
        assert stream.decrypt_bytes(ciphertext, key) == plaintext
        header = bytes.fromhex(case["header"])
        assert header == b"DMENC\x01" + case["chunk_size"].to_bytes(4, "big") + bytes.fromhex(
            case["nonce_prefix"]
        )
        sealed = b""
        for chunk in case["chunks"]:
            nonce = (
                bytes.fromhex(case["nonce_prefix"])
                + chunk["index"].to_bytes(4, "big")
                + bytes([chunk["last"]])
            )
            assert nonce.hex() == chunk["nonce"]
            opened = AESGCM(key).decrypt(nonce, bytes.fromhex(chunk["sealed"]), header)
            assert opened.hex() == chunk["plaintext"]
            sealed += bytes.fromhex(chunk["sealed"])
        assert header + sealed == ciphertext
        assert [c["last"] for c in case["chunks"]] == [False] * (len(case["chunks"]) - 1) + [True]
    for case in v["refused"]:
        with pytest.raises(stream.DecryptionError):
            stream.decrypt_bytes(bytes.fromhex(case["ciphertext"]), bytes.fromhex(case["key"]))


# ---------------------------------------------------------------------------------------- jobs and units


def test_job_hashes() -> None:
    cases = vectors("job-hash")["cases"]
    assert {"delta 1e-5", "delta 1e-7"} <= {c["name"] for c in cases}
    for case in cases:
        assert canonical_json(case["job"]).decode() == case["canonical"]
        assert "0x" + hashlib.sha256(case["canonical"].encode()).hexdigest() == case["job_hash"]
        assert job_hash(parse_job_spec(case["job"])) == case["job_hash"]
    by_name = {c["name"]: c["canonical"] for c in cases}
    assert '"delta":0.00001' in by_name["delta 1e-5"] and '"delta":1e-7' in by_name["delta 1e-7"]


def test_output_hashes() -> None:
    for case in vectors("output-hash")["cases"]:
        manifest = {"outputs": case["outputs"], "salt": case["salt"]}
        assert canonical_json(manifest).decode() == case["canonical"]
        assert hashlib.sha256(case["canonical"].encode()).hexdigest() == case["output_hash"]
        assert output_hash(case["outputs"], case["salt"]) == case["output_hash"]


def test_units() -> None:
    v = vectors("units")
    for case in v["epsilon"]:
        assert epsilon_units(case["epsilon"]) == case["micro_epsilon"]
    for refused in v["epsilon_refused"]:
        with pytest.raises(ValueError):
            epsilon_units(refused)
    for case in v["amounts"]:
        whole = case.get("tokens", case.get("datatokens"))
        assert Decimal(str(whole)) * 10 ** case["decimals"] == int(case["smallest_units"])
    job = v["receipt_job_id"]
    assert (
        job["bytes32"] == "0x" + job["job_id"].rjust(64, "0") and len(bytes.fromhex(job["bytes32"][2:])) == 32
    )
