"""Key wrapping: a content key encrypted to an X25519 public key, and the provider's key store.

The construction (see ``docs/data-path.md``) is ECIES over X25519: the sender makes an ephemeral
X25519 key, derives a 32-byte key with HKDF-SHA256 (salt = ephemeral public || recipient public,
info = ``datamarket/wrap/v1|`` + context) and encrypts the 32-byte content key with AES-256-GCM
(random 12-byte nonce, associated data = context). Its JSON form carries every byte string in
base64url without padding::

    {"scheme": "X25519-HKDF-SHA256-A256GCM", "key_id": "<16 hex>", "epk": "...", "nonce": "...", "ct": "..."}

``key_id`` is the first 8 bytes of sha256(recipient public key), hex. The context binds a wrap to
one use (``dataset:<id>`` for the publisher's wrap, ``access:<id>:<order tx>`` for a consumer's),
so a wrap cannot be replayed for another dataset or order: unwrapping with another context fails.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from datamarket.atomic_files import write_atomically
from datamarket.errors import ConfigError, DatamarketError

SCHEME = "X25519-HKDF-SHA256-A256GCM"
INFO_PREFIX = b"datamarket/wrap/v1|"
CONTENT_KEY_SIZE = 32
_FIELDS = frozenset({"scheme", "key_id", "epk", "nonce", "ct"})
_SIZES = {"epk": 32, "nonce": 12, "ct": CONTENT_KEY_SIZE + 16}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


class KeyMaterialError(DatamarketError):
    """Root of the key-wrapping and key-store errors."""

    code = "key_error"


class KeyUnwrapError(KeyMaterialError, ValueError):
    """A wrapped key that this private key and context cannot open: wrong key, wrong context, a
    tampered or malformed field. The message never says which, so it is no oracle."""

    code = "key_unwrap_failed"


class InvalidPublicKey(KeyMaterialError, ValueError):
    """Bytes that are not a usable X25519 public key (wrong length, or a low-order point)."""

    code = "invalid_public_key"


class UnknownKey(KeyMaterialError, LookupError):
    code = "unknown_key"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: Any) -> bytes:
    """Strict base64url without padding: other characters, padding or non-canonical trailing bits
    raise ValueError, so one byte string has exactly one text form."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url without padding") from None
    if b64url(raw) != text:
        raise ValueError("non-canonical base64url")
    return raw


def public_bytes(key: X25519PublicKey | X25519PrivateKey | bytes) -> bytes:
    """The raw 32-byte public key of a public key, a private key or raw bytes (checked)."""
    if isinstance(key, X25519PrivateKey):
        key = key.public_key()
    if isinstance(key, X25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if isinstance(key, bytes | bytearray) and len(key) == 32:
        return bytes(key)
    raise InvalidPublicKey("an X25519 public key is 32 bytes")


def key_id(public: X25519PublicKey | X25519PrivateKey | bytes) -> str:
    """First 8 bytes of sha256(raw public key), as 16 hex digits."""
    return hashlib.sha256(public_bytes(public)).digest()[:8].hex()


def _private(key: X25519PrivateKey | bytes) -> X25519PrivateKey:
    if isinstance(key, X25519PrivateKey):
        return key
    if isinstance(key, bytes | bytearray) and len(key) == 32:
        return X25519PrivateKey.from_private_bytes(bytes(key))
    raise TypeError("an X25519 private key or its 32 raw bytes")


def _derive(shared: bytes, epk: bytes, recipient: bytes, context: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=epk + recipient, info=INFO_PREFIX + context.encode()
    )
    return hkdf.derive(shared)


def _check_context(context: Any) -> bytes:
    if not isinstance(context, str) or not context:
        raise TypeError("the context is a non-empty string")
    return context.encode()


def wrap_key(
    content_key: bytes, recipient_public: X25519PublicKey | bytes, *, context: str
) -> dict[str, str]:
    """Encrypt a 32-byte content key to ``recipient_public`` for the use named by ``context``, with a
    fresh ephemeral key and a fresh nonce."""
    return seal_key(
        content_key,
        recipient_public,
        context=context,
        ephemeral=X25519PrivateKey.generate(),
        nonce=secrets.token_bytes(12),
    )


def seal_key(
    content_key: bytes,
    recipient_public: X25519PublicKey | bytes,
    *,
    context: str,
    ephemeral: X25519PrivateKey | bytes,
    nonce: bytes,
) -> dict[str, str]:
    """:func:`wrap_key` with its ephemeral key and nonce given, so that its output is a known answer
    (the protocol's test vectors, docs/protocol/key-wrap.json). Anything else calls :func:`wrap_key`:
    an ephemeral key is used for one wrap only."""
    aad = _check_context(context)
    if not isinstance(content_key, bytes | bytearray) or len(content_key) != CONTENT_KEY_SIZE:
        raise ValueError(f"a content key is {CONTENT_KEY_SIZE} bytes")
    if not isinstance(nonce, bytes) or len(nonce) != 12:
        raise ValueError("a wrap's nonce is 12 bytes")
    recipient = public_bytes(recipient_public)
    ephemeral = _private(ephemeral)
    epk = public_bytes(ephemeral)
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    except ValueError:
        # cryptography refuses an all-zero shared secret: the recipient is a low-order point.
        raise InvalidPublicKey("the recipient key is a low-order X25519 point") from None
    ct = AESGCM(_derive(shared, epk, recipient, context)).encrypt(nonce, bytes(content_key), aad)
    return {
        "scheme": SCHEME,
        "key_id": key_id(recipient),
        "epk": b64url(epk),
        "nonce": b64url(nonce),
        "ct": b64url(ct),
    }


def unwrap_key(wrapped: Mapping[str, Any], private_key: X25519PrivateKey | bytes, *, context: str) -> bytes:
    """The content key inside ``wrapped``; :class:`KeyUnwrapError` for anything that does not open."""
    aad = _check_context(context)
    private = _private(private_key)
    recipient = public_bytes(private)
    if not isinstance(wrapped, Mapping) or set(wrapped) != _FIELDS or wrapped.get("scheme") != SCHEME:
        raise KeyUnwrapError("not a wrapped key of scheme " + SCHEME)
    if wrapped["key_id"] != key_id(recipient):
        raise KeyUnwrapError("the key was not wrapped to this key")
    try:
        raw = {name: b64url_decode(wrapped[name]) for name in _SIZES}
    except ValueError:
        raise KeyUnwrapError("a wrapped-key field is not base64url") from None
    if any(len(raw[name]) != size for name, size in _SIZES.items()):
        raise KeyUnwrapError("a wrapped-key field has the wrong length")
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(raw["epk"]))
        return AESGCM(_derive(shared, raw["epk"], recipient, context)).decrypt(raw["nonce"], raw["ct"], aad)
    except (InvalidTag, ValueError):
        raise KeyUnwrapError("the wrapped key does not open with this key and context") from None


def rewrap(
    wrapped: Mapping[str, Any],
    private_key: X25519PrivateKey | bytes,
    recipient_public: X25519PublicKey | bytes,
    *,
    context: str,
    new_context: str,
) -> dict[str, str]:
    """Unwrap with ``private_key`` under ``context`` and wrap again to ``recipient_public`` under
    ``new_context``; the content key exists only in this call."""
    return wrap_key(unwrap_key(wrapped, private_key, context=context), recipient_public, context=new_context)


@dataclass(frozen=True)
class PublicKeyInfo:
    """A public encryption key and its id, as the provider publishes it."""

    key_id: str
    public_key: bytes

    def to_json(self) -> dict[str, str]:
        """As the provider's ``/info`` lists it: the raw public key in base64url without padding."""
        return {"key_id": self.key_id, "scheme": "X25519", "public_key": b64url(self.public_key)}


class KeyStore:
    """The provider's X25519 private keys, one file per key in ``directory``.

    Each file is named ``<key id>.x25519`` and holds the 32 raw private-key bytes, mode 0600, in a
    directory of mode 0700. Files are written to a temporary name and renamed, so a reader never
    sees half a key; a key file readable by group or others is refused rather than used.
    """

    SUFFIX = ".x25519"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"KeyStore({len(self._files())} keys)"

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(self.SUFFIX))

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the directory, so two processes starting together make one key."""
        self._ensure_directory()
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def add(self, private_key: X25519PrivateKey | bytes) -> PublicKeyInfo:
        """Store a private key (atomically, mode 0600) and return its public half."""
        private = _private(private_key)
        raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        info = PublicKeyInfo(key_id(private), public_bytes(private))
        self._ensure_directory()
        write_atomically(self.directory / (info.key_id + self.SUFFIX), raw)
        return info

    def generate(self) -> PublicKeyInfo:
        return self.add(X25519PrivateKey.generate())

    def ensure_key(self) -> PublicKeyInfo:
        """The first stored key by id; one is generated when the store is empty."""
        with self._locked():
            keys = self.public_keys()
            return keys[0] if keys else self.generate()

    def _load(self, path: Path) -> X25519PrivateKey:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"key file {path.name} is readable by others: set its mode to 0600")
        raw = path.read_bytes()
        if len(raw) != 32:
            raise ConfigError(f"key file {path.name} is not a 32-byte X25519 private key")
        private = X25519PrivateKey.from_private_bytes(raw)
        if key_id(private) + self.SUFFIX != path.name:
            raise ConfigError(f"key file {path.name} holds another key than its name says")
        return private

    def public_keys(self) -> list[PublicKeyInfo]:
        """Every stored key's public half with its id, ordered by id."""
        out = []
        for path in self._files():
            private = self._load(path)
            out.append(PublicKeyInfo(key_id(private), public_bytes(private)))
        return out

    def private_key(self, kid: str) -> X25519PrivateKey:
        if not isinstance(kid, str) or _KEY_ID.fullmatch(kid) is None:
            raise UnknownKey("no such encryption key")
        path = self.directory / (kid + self.SUFFIX)
        if not path.is_file():
            raise UnknownKey("no such encryption key", details={"key_id": kid})
        return self._load(path)

    def unwrap(self, wrapped: Mapping[str, Any], *, context: str) -> bytes:
        """Unwrap with the stored key that ``wrapped`` names."""
        if not isinstance(wrapped, Mapping):
            raise KeyUnwrapError("not a wrapped key")
        return unwrap_key(wrapped, self.private_key(wrapped.get("key_id")), context=context)


__all__ = [
    "SCHEME",
    "InvalidPublicKey",
    "KeyMaterialError",
    "KeyStore",
    "KeyUnwrapError",
    "PublicKeyInfo",
    "UnknownKey",
    "key_id",
    "public_bytes",
    "rewrap",
    "seal_key",
    "unwrap_key",
    "wrap_key",
]
