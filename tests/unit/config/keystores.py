"""Keystore files for the tests: written by eth-account with a low work factor, so that they decrypt in
milliseconds (a real one takes about a second)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

#: scrypt's n for the tests (geth's default is 2**18).
LOW_SCRYPT_N = 2**4
PASSWORD = "correct horse battery staple"


def encrypted(account: LocalAccount, password: str = PASSWORD, *, kdf: str = "scrypt") -> dict[str, Any]:
    iterations = LOW_SCRYPT_N if kdf == "scrypt" else 1000
    return Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)


def write_keystore(path: Path, document: Any, mode: int = 0o600) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    path.chmod(mode)
    return path


def write_secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path
