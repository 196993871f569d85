"""The protocol's known-answer test vectors (``docs/protocol/*.json``), computed by the production code
from fixed inputs: anvil's public development keys, fixed X25519 keys, nonces and content keys. A
client in another language checks itself against these files (docs/protocol.md);
``scripts/protocol_vectors.py`` writes them and ``tests/unit/test_protocol_vectors.py`` checks that they
are current and that the code still gives every answer.

Nothing here is secret: every private key is a published test key or a fixed byte string.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.constants import SECPK1_N
from eth_utils import keccak

from datamarket.auth import (
    ACCESS_TYPES,
    COMPUTE_TYPES,
    AccessRequest,
    ComputeRequest,
    SignedRequest,
    domain,
)
from datamarket.canonical import canonical_json
from datamarket.chain import quotes
from datamarket.chain.devchain import dev_account
from datamarket.chain.market import dataset_id, epsilon_units
from datamarket.crypto import contexts, keys, stream
from datamarket.jobs.spec import job_hash, output_hash

#: anvil's and Hardhat's development mnemonic, account 0..9 (public: never hold value with them).
ANVIL_KEYS = {i: "0x" + bytes(dev_account(i).key).hex() for i in (0, 2, 3, 4)}
CHAIN_ID = 31337
#: The market anvil's first deployment lands at (deployer: account 0, nonce 0).
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DATATOKEN = "0xa16E02E87b7454126E5E10d957A927A7F5B5d2be"
ORDER_TX = "0x" + "5e" * 32
JOB_ID = "00112233445566778899aabbccddeeff"


def _fixed(label: str) -> bytes:
    """32 fixed bytes named by ``label``: sha256 of ``datamarket protocol vector: <label>``."""
    return hashlib.sha256(b"datamarket protocol vector: " + label.encode()).digest()


def _x25519_public(private: bytes) -> bytes:
    return keys.public_bytes(X25519PrivateKey.from_private_bytes(private))


# ---------------------------------------------------------------------------------------- canonical


#: (name, input JSON text, expected RFC 8785 text), the expected text written by hand.
CANONICAL_CASES = [
    ("small numbers as JavaScript writes them", '{"delta": 1e-5, "d7": 1e-7}', '{"d7":1e-7,"delta":0.00001}'),
    ("integral doubles lose their fraction", "[1.0, -0.0, 2.50, 100]", "[1,0,2.5,100]"),
    ("exponent form from 1e21", "[1e20, 1e21, 123456789.125]", "[100000000000000000000,1e+21,123456789.125]"),
    ("shortest round trip", "[0.1, 0.30000000000000004, 5e-324]", "[0.1,0.30000000000000004,5e-324]"),
    ("the safe integer range", "[9007199254740991, -9007199254740991]",
     "[9007199254740991,-9007199254740991]"),
    ("keys sorted by UTF-16 code units", '{"b": 1, "a": 2, "\\ufb01": 3, "\\ud83d\\ude00": 4, "Z": 5}',
     '{"Z":5,"a":2,"b":1,"\U0001f600":4,"\ufb01":3}'),
    ("minimal string escapes", '["\\u0001\\b\\f\\n\\r\\t", "\\"\\\\/", "\\u00e9\\u2028"]',
     '["\\u0001\\b\\f\\n\\r\\t","\\"\\\\/","\u00e9\u2028"]'),
    ("literals and empty containers", '{"t": true, "f": false, "n": null, "o": {}, "l": []}',
     '{"f":false,"l":[],"n":null,"o":{},"t":true}'),
]  # fmt: skip

#: Input JSON a client must refuse to hash: JCS (or a double) cannot carry it exactly.
CANONICAL_REFUSED = [
    ("an integer beyond 2^53 - 1", '{"seed": 9007199254740993}', "$.seed"),
    ("a number beyond the doubles", '{"x": 1e400}', "$.x"),
]


def canonical_vectors() -> dict[str, Any]:
    cases = []
    for name, text, expected in CANONICAL_CASES:
        raw = canonical_json(json.loads(text))
        if raw != expected.encode():
            raise AssertionError(f"canonical JSON of {name}: {raw!r}")
        cases.append(
            {"name": name, "input": text, "canonical": expected, "sha256": hashlib.sha256(raw).hexdigest()}
        )
    return {
        "description": "RFC 8785 (JCS): parse `input` as JSON, canonicalize, UTF-8: `canonical`; its sha256.",
        "cases": cases,
        "refused": [{"name": n, "input": t, "field": f} for n, t, f in CANONICAL_REFUSED],
    }


# ---------------------------------------------------------------------------------------- identifiers


def identifier_vectors() -> dict[str, Any]:
    spellings = [DATATOKEN, DATATOKEN.lower(), "0x" + DATATOKEN[2:].upper()]
    return {
        "description": "A dataset is eip155:<chainId>/<EIP-55 checksummed datatoken>; the key-wrap contexts.",
        "dataset_ids": [
            {"chain_id": CHAIN_ID, "datatoken": s, "dataset_id": dataset_id(CHAIN_ID, s)} for s in spellings
        ],
        "contexts": {
            "chain_id": CHAIN_ID,
            "market": MARKET.lower(),
            "datatoken": DATATOKEN.lower(),
            "order_tx": ORDER_TX,
            "job_id": JOB_ID,
            "content_download": contexts.content_context(
                CHAIN_ID, MARKET, DATATOKEN, offer=contexts.DOWNLOAD
            ),
            "content_compute": contexts.content_context(CHAIN_ID, MARKET, DATATOKEN, offer=contexts.COMPUTE),
            "access": contexts.access_context(CHAIN_ID, DATATOKEN, ORDER_TX),
            "result": contexts.result_context(CHAIN_ID, MARKET, DATATOKEN, JOB_ID),
        },
    }


# ---------------------------------------------------------------------------------------- EIP-712


EIP712_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


def type_string(types: dict[str, list[dict[str, str]]], primary: str) -> str:
    fields = ",".join(f"{f['type']} {f['name']}" for f in types[primary])
    return f"{primary}({fields})"


def _wallet_message(message: dict[str, Any], fields: list[dict[str, str]]) -> dict[str, Any]:
    """The message as a page hands it to eth_signTypedData_v4: lower-case addresses, decimal strings."""
    out = {}
    for f in fields:
        value = message[f["name"]]
        if f["type"] == "address":
            value = value.lower()
        elif f["type"].startswith("uint"):
            value = str(value)
        out[f["name"]] = value
    return out


def _signed(
    types: dict[str, list[dict[str, str]]],
    primary: str,
    domain_data: dict[str, Any],
    message: dict[str, Any],
    private_key: str,
) -> dict[str, Any]:
    encodable = {
        name: bytes.fromhex(v[2:]) if f["type"] == "bytes32" else v
        for f in types[primary]
        for name, v in [(f["name"], message[f["name"]])]
    }
    signable = encode_typed_data(domain_data=domain_data, message_types=types, message_data=encodable)
    signed = Account.sign_message(signable, private_key)
    raw = bytes(signed.signature)
    s = int.from_bytes(raw[32:64], "big")
    high_s = raw[:32] + (SECPK1_N - s).to_bytes(32, "big") + bytes([55 - raw[64]])
    return {
        "signer_private_key": private_key,
        "signer": Account.from_key(private_key).address,
        "message": {k: str(v) if isinstance(v, int) else v for k, v in message.items()},
        "wallet_message": _wallet_message(message, types[primary]),
        "struct_hash": "0x" + bytes(signable.body).hex(),
        "digest": "0x" + bytes(signed.message_hash).hex(),
        "signature": "0x" + raw.hex(),
        "signature_v01": "0x" + (raw[:64] + bytes([raw[64] - 27])).hex(),
        "refused_high_s": "0x" + high_s.hex(),
    }


def _request_vector(request: SignedRequest, private_key: str) -> dict[str, Any]:
    vector = _signed(
        type(request).TYPES,
        type(request).PRIMARY_TYPE,
        domain(CHAIN_ID, MARKET),
        request.to_json(),
        private_key,
    )
    if "0x" + request.digest(CHAIN_ID, MARKET).hex() != vector["digest"]:
        raise AssertionError(f"{type(request).PRIMARY_TYPE}: eth-account and the request disagree")
    return vector


def eip712_vectors() -> dict[str, Any]:
    consumer = Account.from_key(ANVIL_KEYS[3]).address
    provider_key = ANVIL_KEYS[2]
    access = AccessRequest(
        datatoken=DATATOKEN, consumer=consumer, service_id=0, order_tx=ORDER_TX, order_id=7,
        consumer_key="0x" + _x25519_public(_fixed("consumer one-time key")).hex(), nonce=1_800_000_000_123,
    )  # fmt: skip
    compute = ComputeRequest(
        datatoken=DATATOKEN, consumer=consumer, service_id=1, order_tx=ORDER_TX, order_id=8,
        consumer_key=access.consumer_key, job_hash=job_hash(JOB), nonce=1_800_000_000_456,
    )  # fmt: skip
    quote = quotes.ProviderFee(
        datatoken=DATATOKEN, consumer=consumer, service_id=1, fee_token=MARKET, amount=3 * 10**18,
        valid_until=1_800_003_600, nonce=42, environment="0x" + "00" * 32,
    )  # fmt: skip
    quote_vector = _signed(
        quotes.QUOTE_TYPES, "ProviderFee", quotes.domain(CHAIN_ID, MARKET), _quote_json(quote), provider_key
    )
    provider_domain = domain(CHAIN_ID, MARKET)
    market_domain = quotes.domain(CHAIN_ID, MARKET)
    return {
        "description": (
            "EIP-712 (eth_signTypedData_v4). digest = keccak256(0x1901 || domain_separator || struct_hash);"
            " signature = r || s || v (65 bytes), v 27/28; signature_v01 is the same with v 0/1 (the"
            " provider accepts it; the market's ProviderFee check does not); refused_high_s has s' = n - s"
            " (valid for ecrecover, refused: EIP-2 low s)."
        ),
        "domain_type": EIP712_DOMAIN_TYPE,
        "domain_typehash": "0x" + _keccak(EIP712_DOMAIN_TYPE.encode()).hex(),
        "domains": {
            "provider": {**provider_domain, "separator": "0x" + _separator(provider_domain).hex()},
            "market": {**market_domain, "separator": "0x" + _separator(market_domain).hex()},
        },
        "types": {
            name: {
                "fields": types[name],
                "type_string": type_string(types, name),
                "typehash": "0x" + _keccak(type_string(types, name).encode()).hex(),
            }
            for types, name in (
                (ACCESS_TYPES, "AccessRequest"),
                (COMPUTE_TYPES, "ComputeRequest"),
                (quotes.QUOTE_TYPES, "ProviderFee"),
            )
        },
        "signed": {
            "AccessRequest": {"domain": "provider", **_request_vector(access, ANVIL_KEYS[3])},
            "ComputeRequest": {"domain": "provider", "job": JOB, **_request_vector(compute, ANVIL_KEYS[3])},
            # The quote's signature goes to the market as the provider made it: the contract's
            # ECDSA takes v 27 or 28 only.
            "ProviderFee": {
                "domain": "market",
                **{k: v for k, v in quote_vector.items() if k != "signature_v01"},
            },
        },
        "addresses": {
            "accepted": [
                {"input": s, "parsed": consumer}
                for s in (consumer, consumer.lower(), "0x" + consumer[2:].upper())
            ],
            "refused": ["0x" + consumer[2:].swapcase(), consumer[:-1], consumer + "0", "0X" + consumer[2:]],
        },
        "uints": {
            "accepted": [
                {"input": 0, "parsed": "0"},
                {"input": "0", "parsed": "0"},
                {"input": "1800000000123", "parsed": "1800000000123"},
                {"input": str(2**256 - 1), "parsed": str(2**256 - 1), "type": "uint256"},
            ],
            "refused": ["01", "-1", "+1", "1.0", "1e3", " 1", "0x1", "", 1.5, True, None],
        },
    }


def _quote_json(quote: quotes.ProviderFee) -> dict[str, Any]:
    """The quote's EIP-712 message with its bytes32 as 0x hex (as the provider's /fees answers it)."""
    return {**quote.message(), "environment": quote.environment}


def _keccak(data: bytes) -> bytes:
    return keccak(data)


def _separator(domain_data: dict[str, Any]) -> bytes:
    """keccak256(abi.encode(typehash, keccak(name), keccak(version), chainId, verifyingContract))."""
    return _keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                _keccak(EIP712_DOMAIN_TYPE.encode()),
                _keccak(domain_data["name"].encode()),
                _keccak(domain_data["version"].encode()),
                domain_data["chainId"],
                domain_data["verifyingContract"],
            ],
        )
    )


# ---------------------------------------------------------------------------------------- key wrap


def _wrap_vector(name: str, context: str) -> dict[str, Any]:
    recipient = _fixed("recipient " + name)
    ephemeral = _fixed("ephemeral " + name)
    nonce = _fixed("nonce " + name)[:12]
    content_key = _fixed("content key " + name)
    recipient_public = _x25519_public(recipient)
    ephemeral_public = _x25519_public(ephemeral)
    shared = X25519PrivateKey.from_private_bytes(ephemeral).exchange(
        X25519PublicKey.from_public_bytes(recipient_public)
    )
    info = keys.INFO_PREFIX + context.encode()
    salt = ephemeral_public + recipient_public
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(shared)
    wrapped = keys.seal_key(content_key, recipient_public, context=context, ephemeral=ephemeral, nonce=nonce)
    return {
        "name": name,
        "recipient_private_key": recipient.hex(),
        "recipient_public_key": recipient_public.hex(),
        "key_id": keys.key_id(recipient_public),
        "ephemeral_private_key": ephemeral.hex(),
        "ephemeral_public_key": ephemeral_public.hex(),
        "content_key": content_key.hex(),
        "context": context,
        "shared_secret": shared.hex(),
        "hkdf_salt": salt.hex(),
        "hkdf_info": info.hex(),
        "wrapping_key": derived.hex(),
        "nonce": nonce.hex(),
        "aad": context.encode().hex(),
        "ciphertext_and_tag": keys.b64url_decode(wrapped["ct"]).hex(),
        "wrapped": wrapped,
    }


def key_wrap_vectors() -> dict[str, Any]:
    cases = [
        _wrap_vector("access", contexts.access_context(CHAIN_ID, DATATOKEN, ORDER_TX)),
        _wrap_vector(
            "content", contexts.content_context(CHAIN_ID, MARKET, DATATOKEN, offer=contexts.DOWNLOAD)
        ),
        _wrap_vector("result", contexts.result_context(CHAIN_ID, MARKET, DATATOKEN, JOB_ID)),
    ]
    first = cases[0]
    return {
        "description": (
            "X25519 + HKDF-SHA256 + AES-256-GCM. shared = X25519(ephemeral, recipient public); wrapping_key ="
            " HKDF-SHA256(ikm shared, salt = ephemeral public || recipient public,"
            " info = 'datamarket/wrap/v1|'"
            " + context, 32 bytes); ciphertext_and_tag = AES-256-GCM(wrapping_key, nonce, content_key, aad ="
            " context): 32 bytes of ciphertext then the 16-byte tag. JSON form: base64url without padding."
        ),
        "scheme": keys.SCHEME,
        "info_prefix": keys.INFO_PREFIX.decode(),
        "wrap": cases,
        "unwrap": [
            {
                "wrapped": c["wrapped"],
                "recipient_private_key": c["recipient_private_key"],
                "context": c["context"],
                "content_key": c["content_key"],
            }
            for c in cases
        ],
        "unwrap_refused": [
            {
                "why": "another context",
                "wrapped": first["wrapped"],
                "recipient_private_key": first["recipient_private_key"],
                "context": cases[1]["context"],
            },
            {
                "why": "another recipient",
                "wrapped": first["wrapped"],
                "recipient_private_key": cases[1]["recipient_private_key"],
                "context": first["context"],
            },
        ],
    }


# ---------------------------------------------------------------------------------------- stream


def _stream_vector(name: str, plaintext: bytes, chunk_size: int) -> dict[str, Any]:
    key = _fixed("stream key " + name)
    prefix = _fixed("stream nonce prefix " + name)[: stream.NONCE_PREFIX_SIZE]
    ciphertext = stream.encrypt_bytes(plaintext, key, chunk_size=chunk_size, nonce_prefix=prefix)
    header = ciphertext[: stream.HEADER_SIZE]
    sealed_size = chunk_size + stream.TAG_SIZE
    body = ciphertext[stream.HEADER_SIZE :]
    pieces = [body[i : i + sealed_size] for i in range(0, len(body), sealed_size)] or [b""]
    chunks = []
    for i, sealed in enumerate(pieces):
        last = i == len(pieces) - 1
        chunks.append(
            {
                "index": i,
                "last": last,
                "nonce": (prefix + i.to_bytes(4, "big") + bytes([last])).hex(),
                "plaintext": plaintext[i * chunk_size : (i + 1) * chunk_size].hex(),
                "sealed": sealed.hex(),
            }
        )
    return {
        "name": name,
        "key": key.hex(),
        "nonce_prefix": prefix.hex(),
        "chunk_size": chunk_size,
        "plaintext": plaintext.hex(),
        "header": header.hex(),
        "chunks": chunks,
        "ciphertext": ciphertext.hex(),
    }


def stream_vectors() -> dict[str, Any]:
    text = b"datamarket stream vector: three chunks, the last short."
    cases = [
        _stream_vector("three chunks, the last short", text, 24),
        _stream_vector("two full chunks", bytes(range(32)), 16),
        _stream_vector("empty plaintext", b"", 16),
    ]
    whole = bytes.fromhex(cases[0]["ciphertext"])
    header, chunks = stream.HEADER_SIZE, [bytes.fromhex(c["sealed"]) for c in cases[0]["chunks"]]
    return {
        "description": (
            "header = 'DMENC' | version u8 (1) | chunk_size u32 BE | nonce_prefix (7 bytes); each chunk ="
            " AES-256-GCM(key, nonce = nonce_prefix | index u32 BE | last u8, aad = the 17-byte header,"
            " plaintext chunk) = ciphertext || 16-byte tag. ciphertext = header || sealed chunks."
        ),
        "algorithm": stream.ALGORITHM,
        "cases": cases,
        "refused": [
            {
                "why": "the last chunk dropped",
                "key": cases[0]["key"],
                "ciphertext": (whole[:header] + chunks[0] + chunks[1]).hex(),
            },
            {
                "why": "two chunks swapped",
                "key": cases[0]["key"],
                "ciphertext": (whole[:header] + chunks[1] + chunks[0] + chunks[2]).hex(),
            },
            {
                "why": "the header's chunk size changed",
                "key": cases[0]["key"],
                "ciphertext": (whole[:8] + bytes([whole[8] ^ 1]) + whole[9:]).hex(),
            },
        ],
    }


# ---------------------------------------------------------------------------------------- jobs


BUNDLE = "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe"
JOB = {
    "algorithm": "dp_stats",
    "params": {"columns": ["age"], "bins": 10},
    "epsilon": 0.5,
    "environment": "cpu",
}
JOBS = [
    ("a built-in", JOB),
    ("delta 1e-5", {"algorithm": "train_tabular", "params": {"target": "label", "delta": 1e-5, "lr": 1.0},
                    "epsilon": 2, "environment": "gpu"}),
    ("delta 1e-7", {"algorithm": "train_tabular", "params": {"target": "label", "delta": 1e-7},
                    "epsilon": 1.5, "environment": "cpu"}),
    ("a bundle, no epsilon", {
        "algorithm": {"bundle": BUNDLE, "sha256": "ab" * 32},
        "params": {"note": "caf\u00e9 \u2603"}, "epsilon": None, "environment": "cpu"}),
    ("an output spec", {
        "algorithm": {"bundle": BUNDLE, "sha256": "cd" * 32},
        "params": {}, "epsilon": 1, "environment": "cpu",
        "output": {"format": "json", "shape": [2], "lower": 0, "upper": [1, 10.5]}}),
]  # fmt: skip


def job_hash_vectors() -> dict[str, Any]:
    return {
        "description": "jobHash = 0x + hex(sha256(RFC 8785 canonical JSON of the job)).",
        "cases": [
            {"name": name, "job": job, "canonical": canonical_json(job).decode(), "job_hash": job_hash(job)}
            for name, job in JOBS
        ],
    }


def output_hash_vectors() -> dict[str, Any]:
    outputs = [
        {"path": "metrics.json", "size": 42, "sha256": hashlib.sha256(b"metrics").hexdigest()},
        {
            "path": "model/weights.safetensors",
            "size": 123456,
            "sha256": hashlib.sha256(b"weights").hexdigest(),
        },
    ]
    salt = _fixed("output salt").hex()
    manifest = {"outputs": outputs, "salt": salt}
    return {
        "description": (
            "output_hash = hex(sha256(RFC 8785 canonical JSON of {outputs, salt})), no 0x; outputs sorted by"
            " path; the receipt's outputHash on chain is 0x + output_hash."
        ),
        "cases": [
            {
                "outputs": outputs,
                "salt": salt,
                "canonical": canonical_json(manifest).decode(),
                "output_hash": output_hash(outputs, salt),
            },
            {
                "outputs": [],
                "salt": salt,
                "canonical": canonical_json({"outputs": [], "salt": salt}).decode(),
                "output_hash": output_hash([], salt),
            },
        ],
    }


# ---------------------------------------------------------------------------------------- units


def unit_vectors() -> dict[str, Any]:
    return {
        "description": "Epsilon on chain is micro-epsilon (uint48); amounts are the token's smallest unit.",
        "epsilon": [
            {"epsilon": e, "micro_epsilon": epsilon_units(e)} for e in ("0", "0.5", "1", "1.234567", "10")
        ],
        "epsilon_refused": ["0.0000001", "-1", "NaN"],
        "amounts": [
            {"tokens": "5", "decimals": 18, "smallest_units": str(5 * 10**18)},
            {"tokens": "0.25", "decimals": 6, "smallest_units": str(250_000)},
            {"datatokens": 1, "decimals": 0, "smallest_units": "1", "note": "one datatoken is one order"},
        ],
        "receipt_job_id": {"job_id": JOB_ID, "bytes32": "0x" + JOB_ID.rjust(64, "0")},
    }  # fmt: skip


def build() -> dict[str, dict[str, Any]]:
    """Every vector file: name (without ``.json``) -> content."""
    for index, key in ANVIL_KEYS.items():
        if "0x" + dev_account(index).key.hex().removeprefix("0x") != key:
            raise AssertionError(f"anvil account {index} has another key")
    return {
        "canonical-json": canonical_vectors(),
        "dataset-id": identifier_vectors(),
        "eip712": eip712_vectors(),
        "key-wrap": key_wrap_vectors(),
        "stream": stream_vectors(),
        "job-hash": job_hash_vectors(),
        "output-hash": output_hash_vectors(),
        "units": unit_vectors(),
    }


def render(content: dict[str, Any]) -> str:
    """A vector file's text: indented JSON, non-ASCII kept, newline at the end."""
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


__all__ = ["build", "render"]
