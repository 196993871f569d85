"""Encrypted key files: the Web3 Secret Storage (version 3) JSON that geth, clef, foundry's ``cast wallet``
and eth-account's ``Account.encrypt`` write, and that wallets such as MetaMask import.

A keystore is read like a key file: it must be a regular file that only its owner may read or write
(mode 0600), of at most :data:`MAX_KEYSTORE_BYTES`. Its key derivation must be scrypt or PBKDF2 within
:data:`MAX_SCRYPT_MEMORY` and :data:`MAX_PBKDF2_ROUNDS`, so that a hostile or mistaken file cannot hold a
process for minutes or take all its memory. Decryption is slow on purpose (geth's default scrypt takes
about a second and 256 MiB), so a process decrypts a given keystore with a given password once and keeps
the key: a provider's gunicorn workers, forked from a master that loaded its settings, inherit it.

Every error names the setting (``DATAMARKET_KEYSTORE``, ``private_key_keystore``), never the file's
content, the password or the key; the key is returned as a :class:`~datamarket.config.Secret`.
"""

from __future__ import annotations

import hashlib
import json
import stat
import threading
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import is_hex_address, to_checksum_address

from datamarket.config import Secret, read_owner_only
from datamarket.errors import ConfigError

#: A keystore is a few hundred bytes; anything much larger is not one.
MAX_KEYSTORE_BYTES = 64 * 1024
#: The most memory scrypt may ask for (128 * n * r bytes): four times geth's default (n=2^18, r=8).
MAX_SCRYPT_MEMORY = 1 << 30
MAX_SCRYPT_P = 16
#: Ten times eth-account's default PBKDF2 rounds.
MAX_PBKDF2_ROUNDS = 10_000_000

_decrypted: dict[bytes, Secret] = {}
_lock = threading.Lock()


def read_password_file(path: Path, name: str) -> Secret:
    """A keystore's password from a file that only its owner may read; one line break at its end is not
    part of the password (``echo secret > file`` writes one)."""
    return Secret(read_owner_only(path, name).removesuffix("\n").removesuffix("\r"))


def decrypt_keystore(path: Path, password: Secret, name: str) -> Secret:
    """The private key (``0x`` and 64 hex digits) held by the keystore at ``path``, named ``name`` in
    errors. The same file and password decrypt once per process."""
    raw = _read(path, name)
    document = _parse(raw, name)
    fingerprint = hashlib.sha256(raw + b"\0" + password.reveal().encode("utf-8", "surrogatepass")).digest()
    with _lock:
        key = _decrypted.get(fingerprint)
        if key is None:
            key = _decrypt(document, password, name)
            _decrypted[fingerprint] = key
    return key


def _read(path: Path, name: str) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{name}: not a file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{name}: readable by group or others; set its mode to 0600")
        with path.open("rb") as f:
            raw = f.read(MAX_KEYSTORE_BYTES + 1)
    except OSError:
        raise ConfigError(f"{name}: cannot be read") from None
    if len(raw) > MAX_KEYSTORE_BYTES:
        raise ConfigError(f"{name}: not a keystore (larger than {MAX_KEYSTORE_BYTES // 1024} KiB)")
    return raw


def _parse(raw: bytes, name: str) -> dict[str, Any]:
    """The keystore's JSON with lower-case keys (geth once wrote ``Crypto``), its form checked."""
    try:
        document = _lower_keys(json.loads(raw))
    except (ValueError, RecursionError):
        raise ConfigError(f"{name}: not a keystore (not JSON)") from None
    problem = _form_problem(document)
    if problem:
        raise ConfigError(f"{name}: not a Web3 Secret Storage keystore ({problem})")
    return document


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


def _form_problem(document: Any) -> str | None:
    if not isinstance(document, dict):
        return "not a JSON object"
    if document.get("version") != 3:
        return "version must be 3"
    crypto = document.get("crypto")
    if not isinstance(crypto, dict):
        return "no crypto object"
    if crypto.get("cipher") != "aes-128-ctr":
        return "cipher must be aes-128-ctr"
    params = crypto.get("kdfparams")
    if not isinstance(params, dict):
        return "no kdfparams"
    for field in ("ciphertext", "mac"):
        if not _is_hex(crypto.get(field)):
            return f"{field} must be hex"
    iv = crypto.get("cipherparams", {}).get("iv") if isinstance(crypto.get("cipherparams"), dict) else None
    if not _is_hex(iv):
        return "cipherparams.iv must be hex"
    if not _is_hex(params.get("salt")) or params.get("dklen") != 32:
        return "kdfparams need a hex salt and dklen 32"
    address = document.get("address")
    if address is not None and not (isinstance(address, str) and is_hex_address(_prefixed(address))):
        return "address must be an address"
    if crypto.get("kdf") == "scrypt":
        return _scrypt_problem(params)
    if crypto.get("kdf") == "pbkdf2":
        rounds = params.get("c")
        if params.get("prf") != "hmac-sha256" or not _int_in(rounds, 1, MAX_PBKDF2_ROUNDS):
            return f"pbkdf2 needs prf hmac-sha256 and 1 to {MAX_PBKDF2_ROUNDS} rounds"
        return None
    return "kdf must be scrypt or pbkdf2"


def _scrypt_problem(params: dict[str, Any]) -> str | None:
    n, r, p = params.get("n"), params.get("r"), params.get("p")
    if not (
        _int_in(n, 2, 1 << 40) and n & (n - 1) == 0 and _int_in(r, 1, 1 << 20) and _int_in(p, 1, 1 << 20)
    ):
        return "scrypt needs n a power of 2, and r and p positive integers"
    if 128 * n * r > MAX_SCRYPT_MEMORY or p > MAX_SCRYPT_P:
        limit = MAX_SCRYPT_MEMORY >> 20
        return f"scrypt parameters beyond {limit} MiB (128 * n * r) or p {MAX_SCRYPT_P}"
    return None


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_hex(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        return False
    return True


def _prefixed(address: str) -> str:
    return address if address.startswith(("0x", "0X")) else "0x" + address


def _decrypt(document: dict[str, Any], password: Secret, name: str) -> Secret:
    try:
        raw_key = Account.decrypt(document, password.reveal())
    except ValueError as exc:
        if "mismatch" in str(exc).lower():
            raise ConfigError(f"{name}: wrong password") from None
        raise ConfigError(f"{name}: not a Web3 Secret Storage keystore (cannot be decrypted)") from None
    except Exception:  # eth-keyfile raises several types on a malformed file
        raise ConfigError(f"{name}: not a Web3 Secret Storage keystore (cannot be decrypted)") from None
    try:
        account = Account.from_key(raw_key)
    except (ValueError, TypeError):
        raise ConfigError(f"{name}: the keystore does not hold a valid secp256k1 key") from None
    named = document.get("address")
    if named is not None and to_checksum_address(_prefixed(named)) != account.address:
        raise ConfigError(f"{name}: the keystore's key is not the one of the address it names")
    return Secret("0x" + bytes(raw_key).hex())


__all__ = [
    "MAX_KEYSTORE_BYTES",
    "MAX_PBKDF2_ROUNDS",
    "MAX_SCRYPT_MEMORY",
    "MAX_SCRYPT_P",
    "decrypt_keystore",
    "read_password_file",
]
