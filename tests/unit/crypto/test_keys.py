"""Key wrapping (X25519 + HKDF-SHA256 + AES-256-GCM) and the provider's key store."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.crypto.keys import (
    SCHEME,
    InvalidPublicKey,
    KeyStore,
    KeyUnwrapError,
    UnknownKey,
    b64url,
    b64url_decode,
    key_id,
    public_bytes,
    rewrap,
    unwrap_key,
    wrap_key,
)
from datamarket.errors import ConfigError

keys32 = st.binary(min_size=32, max_size=32)
contexts = st.text(min_size=1, max_size=80)
private_keys = keys32.map(X25519PrivateKey.from_private_bytes)


@settings(max_examples=50, deadline=None)
@given(content=keys32, recipient=private_keys, context=contexts)
def test_round_trip(content: bytes, recipient: X25519PrivateKey, context: str) -> None:
    wrapped = wrap_key(content, recipient.public_key(), context=context)
    assert set(wrapped) == {"scheme", "key_id", "epk", "nonce", "ct"}
    assert wrapped["scheme"] == SCHEME and wrapped["key_id"] == key_id(recipient)
    assert json.loads(json.dumps(wrapped)) == wrapped
    assert unwrap_key(wrapped, recipient, context=context) == content


@settings(max_examples=50, deadline=None)
@given(content=keys32, recipient=private_keys, other=private_keys, context=contexts, other_context=contexts)
def test_wrong_key_or_context_fails(content, recipient, other, context, other_context) -> None:
    wrapped = wrap_key(content, public_bytes(recipient), context=context)
    if public_bytes(other) != public_bytes(recipient):
        with pytest.raises(KeyUnwrapError):
            unwrap_key(wrapped, other, context=context)
        # Even claiming the other key's id, the AEAD does not open.
        with pytest.raises(KeyUnwrapError):
            unwrap_key({**wrapped, "key_id": key_id(other)}, other, context=context)
    if other_context != context:
        with pytest.raises(KeyUnwrapError):
            unwrap_key(wrapped, recipient, context=other_context)


@settings(max_examples=100, deadline=None)
@given(
    content=keys32,
    field=st.sampled_from(["epk", "nonce", "ct"]),
    position=st.integers(0, 47),
    bit=st.integers(0, 7),
)
def test_any_flipped_bit_fails(content, field, position, bit) -> None:
    recipient = X25519PrivateKey.generate()
    wrapped = wrap_key(content, recipient.public_key(), context="dataset:x")
    raw = bytearray(b64url_decode(wrapped[field]))
    raw[position % len(raw)] ^= 1 << bit
    with pytest.raises(KeyUnwrapError):
        unwrap_key({**wrapped, field: b64url(bytes(raw))}, recipient, context="dataset:x")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda w: w.update(scheme="X25519-HKDF-SHA256-A128GCM"),
        lambda w: w.update(key_id="00" * 8),
        lambda w: w.update(epk=w["epk"] + "A"),
        lambda w: w.update(epk=w["epk"][:-1]),
        lambda w: w.update(nonce=w["nonce"] + "=="),
        lambda w: w.update(ct=w["ct"].replace(w["ct"][0], "+")),
        lambda w: w.update(ct=""),
        lambda w: w.update(ct=5),
        lambda w: w.pop("nonce"),
        lambda w: w.update(extra="x"),
        lambda w: w.update(epk=b64url(b"\x00" * 32)),  # low-order point: all-zero shared secret
    ],
)
def test_malformed_wraps_fail_as_unwrap_errors(tamper) -> None:
    recipient = X25519PrivateKey.generate()
    wrapped = wrap_key(os.urandom(32), recipient.public_key(), context="c")
    tamper(wrapped)
    with pytest.raises(KeyUnwrapError) as caught:
        unwrap_key(wrapped, recipient, context="c")
    assert caught.value.code == "key_unwrap_failed"


def test_the_construction_is_the_documented_one() -> None:
    """An independent decryption from docs/data-path.md's description."""
    recipient = X25519PrivateKey.generate()
    content = os.urandom(32)
    wrapped = wrap_key(content, recipient.public_key(), context="access:eip155:1/0xabc:0x01")
    epk = b64url_decode(wrapped["epk"])
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    shared = recipient.exchange(X25519PublicKey.from_public_bytes(epk))
    rpk = public_bytes(recipient)
    kek = HKDF(
        hashes.SHA256(), 32, salt=epk + rpk, info=b"datamarket/wrap/v1|access:eip155:1/0xabc:0x01"
    ).derive(shared)
    nonce, ct = b64url_decode(wrapped["nonce"]), b64url_decode(wrapped["ct"])
    assert AESGCM(kek).decrypt(nonce, ct, b"access:eip155:1/0xabc:0x01") == content
    assert wrapped["key_id"] == hashlib.sha256(rpk).digest()[:8].hex()
    assert "=" not in wrapped["epk"] + wrapped["nonce"] + wrapped["ct"]


def test_rewrap_moves_the_key_to_a_new_recipient_and_context() -> None:
    provider, consumer = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    content = os.urandom(32)
    first = wrap_key(content, provider.public_key(), context="content:cid")
    second = rewrap(first, provider, consumer.public_key(), context="content:cid", new_context="access:d:tx")
    assert unwrap_key(second, consumer, context="access:d:tx") == content
    with pytest.raises(KeyUnwrapError):
        rewrap(first, provider, consumer.public_key(), context="content:other", new_context="x")


def test_wrap_input_checks() -> None:
    recipient = X25519PrivateKey.generate().public_key()
    with pytest.raises(ValueError):
        wrap_key(b"short", recipient, context="c")
    with pytest.raises(TypeError):
        wrap_key(os.urandom(32), recipient, context="")
    with pytest.raises(InvalidPublicKey):
        wrap_key(os.urandom(32), b"\x00" * 32, context="c")
    with pytest.raises(InvalidPublicKey):
        wrap_key(os.urandom(32), b"\x01" * 31, context="c")


@pytest.mark.parametrize("text", ["a+b", "ab==", "a", "ab c", "YQ=", "YR"])
def test_b64url_is_strict(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)
    assert b64url_decode("YQ") == b"a" and b64url(b"a") == "YQ"
    assert base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("=") == b64url(b"\xfb\xff")


# ---------------------------------------------------------------------------------------- KeyStore


def test_keystore_files_are_private_and_named_by_key_id(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    assert store.public_keys() == []
    info = store.ensure_key()
    assert store.ensure_key() == info, "an existing key is reused"
    path = tmp_path / "keys" / f"{info.key_id}.x25519"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "keys").iterdir() if p.name.endswith(".tmp")] == []
    assert key_id(store.private_key(info.key_id)) == info.key_id
    assert info.to_json() == {
        "key_id": info.key_id,
        "scheme": "X25519",
        "public_key": b64url(info.public_key),
    }
    second = store.generate()
    assert sorted(k.key_id for k in store.public_keys()) == sorted([info.key_id, second.key_id])
    assert "x25519" not in repr(store) and str(tmp_path) not in repr(store)


def test_keystore_unwraps_with_the_named_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    info = store.generate()
    content = os.urandom(32)
    assert store.unwrap(wrap_key(content, info.public_key, context="c"), context="c") == content
    with pytest.raises(UnknownKey):
        store.unwrap(wrap_key(content, X25519PrivateKey.generate().public_key(), context="c"), context="c")
    with pytest.raises(UnknownKey):
        store.private_key("../../etc/passwd")


def test_keystore_refuses_unsafe_or_wrong_files(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    info = store.generate()
    path = tmp_path / f"{info.key_id}.x25519"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="0600"):
        store.private_key(info.key_id)
    path.chmod(0o600)
    other = X25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="another key"):
        store.public_keys()


def test_concurrent_first_starts_make_one_key(tmp_path: Path) -> None:
    stores = [KeyStore(tmp_path / "k") for _ in range(6)]
    made: list[str] = []
    barrier = threading.Barrier(len(stores))

    def start(s: KeyStore) -> None:
        barrier.wait()
        made.append(s.ensure_key().key_id)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 1
    assert len(stores[0].public_keys()) == 1
