"""The JavaScript client (clients/js) against the Python kernel: vectors made here with fixed keys
are checked by clients/js/test/python/vectors.test.js (hashes, contexts, key wraps, streams, EIP-712
signatures, UnixFS DAGs, a worker's result), and what the client makes is opened here."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

from compute_to_data.runner import tar_outputs
from datamarket import auth
from datamarket.chain.quotes import ProviderFee, sign_quote
from datamarket.crypto import keys, stream
from datamarket.crypto.contexts import access_context, result_context
from datamarket.jobs.spec import job_hash, output_hash
from datamarket.storage import unixfs
from tests.js_client import run_node_tests

#: anvil's public dev account 2 (never funded on a live chain).
DEV_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DATATOKEN = "0xa16E02E87b7454126E5E10d957A927A7F5B5d2be"
CHAIN_ID = 31337
ORDER_TX = "0x" + "ab" * 32
JOB_ID = "0123456789abcdef" * 2


def _b64(data: bytes) -> str:
    return keys.b64url(data)


def _private(seed: int) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(hashlib.sha256(b"js-client-%d" % seed).digest())


def _jobs() -> list[dict]:
    base = {"algorithm": "dp_stats", "epsilon": 1.5, "environment": "cpu"}
    params = [
        {"tol": 1e-7},
        {"tol": 1e-5, "lr": 0.001, "n": 3},
        {"nested": {"b": [1e-7, 2.5e-8, 1e21 / 1e21], "a": "\u00e9\u20ac\U0001f600"}, "big": 2**53 - 1},
        {},
    ]
    return [{**base, "params": p} for p in params] + [{**base, "epsilon": None, "params": {"x": 1e-6}}]


def _vectors(tmp_path: Path) -> tuple[dict, dict]:
    rng = random.Random(7)
    jobs = _jobs()
    outputs = [
        {"path": "metrics.json", "size": 12, "sha256": "0" * 64},
        {"path": "m/w.bin", "size": 0, "sha256": "f" * 64},
    ]
    salt = "5a" * 32

    recipient = _private(1)
    content_key = bytes(rng.randrange(256) for _ in range(32))
    context = access_context(CHAIN_ID, DATATOKEN.lower(), ORDER_TX)

    streams = []
    for size, chunk in ((0, 16), (1, 16), (32, 16), (70_000, stream.DEFAULT_CHUNK_SIZE)):
        plaintext = bytes(rng.randrange(256) for _ in range(size))
        key = bytes(rng.randrange(256) for _ in range(32))
        ciphertext = stream.encrypt_bytes(plaintext, key, chunk_size=chunk)
        streams.append({"key": key.hex(), "plaintext": plaintext.hex(), "ciphertext": _b64(ciphertext)})

    access = auth.AccessRequest(
        datatoken=DATATOKEN, consumer=Account.from_key(DEV_KEY).address, service_id=0, order_tx=ORDER_TX,
        order_id=7, consumer_key="0x" + keys.public_bytes(recipient).hex(), nonce=1_733_000_000_000,
    )  # fmt: skip
    compute = auth.ComputeRequest(
        datatoken=DATATOKEN, consumer=access.consumer, service_id=1, order_tx=ORDER_TX, order_id=8,
        consumer_key=access.consumer_key, job_hash=job_hash(jobs[0]), nonce=1_733_000_000_001,
    )  # fmt: skip
    quote = ProviderFee(
        datatoken=DATATOKEN, consumer=access.consumer, service_id=0, fee_token=MARKET, amount=10**18 + 1,
        valid_until=2**40, nonce=2**60, environment="0x" + "00" * 32,
    )  # fmt: skip
    provider = Account.from_key("0x" + "11" * 32)
    quote_json = {
        "datatoken": quote.datatoken, "consumer": quote.consumer, "serviceId": 0, "feeToken": quote.fee_token,
        "amount": str(quote.amount), "validUntil": str(quote.valid_until), "nonce": str(quote.nonce),
        "environment": quote.environment,
    }  # fmt: skip

    dags = []
    for version, size in ((0, 600_000), (1, 600_000), (1, 100)):
        data = bytes(rng.randrange(256) for _ in range(size))
        blocks: dict[str, str] = {}
        imported = unixfs.import_file(io.BytesIO(data), cid_version=version, put=_collect(blocks))
        dags.append({"cid": str(imported.cid), "size": size, "head": data[:32].hex(),
                     "sha256": hashlib.sha256(data).hexdigest(), "blocks": blocks})  # fmt: skip

    out_dir = tmp_path / "out"
    (out_dir / "model").mkdir(parents=True)
    files = {"metrics.json": b'{"auc": 0.97}', "model/weights.bin": bytes(range(256)) * 5}
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    manifest = [
        {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in files.items()
    ]
    archive = tmp_path / "result.tar"
    digest = tar_outputs(out_dir, manifest, archive)
    result_key = stream.new_content_key()
    ciphertext = stream.encrypt_bytes(archive.read_bytes(), result_key)
    consumer = _private(2)
    rcontext = result_context(CHAIN_ID, MARKET, DATATOKEN, JOB_ID)
    result_salt = "c3" * 32
    wrapped = keys.wrap_key(result_key, keys.public_bytes(consumer), context=rcontext)
    result = {
        "job_id": JOB_ID, "cid": "bafy", "size": len(ciphertext), "plaintext_size": archive.stat().st_size,
        "plaintext_sha256": digest, "wrapped_key": wrapped, "outputs": manifest,
        "output_salt": result_salt, "output_hash": output_hash(manifest, result_salt),
    }  # fmt: skip

    vectors = {
        "job_hashes": [{"job": j, "hash": job_hash(j)} for j in jobs],
        "output_hashes": [{"outputs": outputs, "salt": salt, "hash": output_hash(outputs, salt)}],
        "contexts": {
            "chain_id": CHAIN_ID,
            "datatoken": DATATOKEN.lower(),
            "market": MARKET.upper().replace("0X", "0x"),
            "order_tx": ORDER_TX,
            "job_id": JOB_ID,
            "dataset_id": f"eip155:{CHAIN_ID}/{DATATOKEN}",
            "access": context,
            "result": result_context(CHAIN_ID, MARKET, DATATOKEN, JOB_ID),
        },
        "key_wrap": {
            "private_key": _raw(recipient).hex(),
            "public_key": _b64(keys.public_bytes(recipient)),
            "key": content_key.hex(),
            "context": context,
            "wrapped": keys.wrap_key(content_key, keys.public_bytes(recipient), context=context),
        },
        "streams": streams,
        "eip712": {
            "private_key": DEV_KEY,
            "chain_id": CHAIN_ID,
            "market": MARKET,
            "access": {
                "fields": _fields(access),
                "signature": "0x" + access.sign(DEV_KEY, CHAIN_ID, MARKET).hex(),
            },
            "compute": {
                "fields": _fields(compute),
                "signature": "0x" + compute.sign(DEV_KEY, CHAIN_ID, MARKET).hex(),
            },
            "quote": {
                "json": quote_json,
                "signer": provider.address,
                "signature": "0x" + sign_quote(quote, provider.key, chain_id=CHAIN_ID, market=MARKET).hex(),
            },
        },
        "unixfs": dags,
        "result": {
            "result": result,
            "ciphertext": _b64(ciphertext),
            "private_key": _raw(consumer).hex(),
            "context": rcontext,
            "files": {p: d.hex() for p, d in files.items()},
        },
    }
    return vectors, {"access": access, "content_key": content_key, "context": context, "streams": streams}


def _collect(blocks: dict[str, str]):
    def put(cid, raw: bytes) -> None:
        blocks[str(cid)] = _b64(raw)

    return put


def _raw(key: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _fields(request: auth.SignedRequest) -> dict:
    """The request's fields as the JavaScript client takes them (addresses in lower case)."""
    fields = request.to_json()
    fields["datatoken"] = fields["datatoken"].lower()
    return fields


def test_the_javascript_client_agrees_with_the_python_kernel(tmp_path: Path) -> None:
    vectors, kept = _vectors(tmp_path)
    (tmp_path / "vectors.json").write_text(json.dumps(vectors))
    answers_path = tmp_path / "answers.json"
    env = {
        "DATAMARKET_JS_VECTORS": str(tmp_path / "vectors.json"),
        "DATAMARKET_JS_ANSWERS": str(answers_path),
    }
    done = run_node_tests(["test/python/vectors.test.js"], env, timeout=120)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "# skipped 0" in done.stdout and "# pass 8" in done.stdout, done.stdout[-3000:]

    answers = json.loads(answers_path.read_text())
    # What the client wrapped and encrypted opens with the Python kernel.
    assert keys.unwrap_key(answers["key_wrap"], _private(1), context=kept["context"]) == kept["content_key"]
    last = kept["streams"][-1]
    assert stream.decrypt_bytes(
        keys.b64url_decode(answers["stream"]), bytes.fromhex(last["key"])
    ) == bytes.fromhex(last["plaintext"])
    # The request the client sends (the message it signed) is what the provider parses and verifies.
    sent = answers["access_request"]
    request = auth.AccessRequest.from_json(sent["request"])
    request.verify(sent["signature"], CHAIN_ID, MARKET)
    assert request == kept["access"]
