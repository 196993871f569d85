"""Encrypted keystores: the right password gives the key, once per process; anything else is a
ConfigError that names the setting and shows no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from datamarket import keystore
from datamarket.config import Secret
from datamarket.errors import ConfigError
from datamarket.keystore import decrypt_keystore, read_password_file
from tests.unit.config.keystores import PASSWORD, encrypted, write_keystore, write_secret

NAME = "DATAMARKET_KEYSTORE"


@pytest.fixture
def account():
    return Account.create()


def _refusal(path: Path, password: str = PASSWORD) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        decrypt_keystore(path, Secret(password), NAME)
    return caught.value


def _shows_no_secret(error: ConfigError, account, password: str = PASSWORD) -> None:
    shown = f"{error} {error.details!r} {error!r}"
    assert password not in shown
    assert account.key.hex().removeprefix("0x") not in shown
    # No library error travels with it (a traceback would show its message).
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_the_right_password_gives_the_key(tmp_path: Path, account, kdf: str) -> None:
    path = write_keystore(tmp_path / "ks.json", encrypted(account, kdf=kdf))
    key = decrypt_keystore(path, Secret(PASSWORD), NAME)
    assert isinstance(key, Secret) and "***" in repr(key)
    assert Account.from_key(key.reveal()).address == account.address


def test_a_keystore_with_capitalised_keys_as_geth_once_wrote_is_read(tmp_path: Path, account) -> None:
    document = encrypted(account)
    document["Crypto"] = document.pop("crypto")
    path = write_keystore(tmp_path / "ks.json", document)
    assert Account.from_key(decrypt_keystore(path, Secret(PASSWORD), NAME).reveal()) == account


def test_a_wrong_password_is_named_and_not_shown(tmp_path: Path, account) -> None:
    path = write_keystore(tmp_path / "ks.json", encrypted(account))
    error = _refusal(path, "not the password at all")
    assert error.message == f"{NAME}: wrong password"
    _shows_no_secret(error, account, "not the password at all")


def test_a_keystore_others_may_read_is_refused_before_it_is_read(tmp_path: Path, account) -> None:
    path = write_keystore(tmp_path / "ks.json", encrypted(account), mode=0o640)
    error = _refusal(path)
    assert "readable by group or others" in error.message and "0600" in error.message
    _shows_no_secret(error, account)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: "{not json", "not JSON"),
        (lambda d: [d], "not a JSON object"),
        (lambda d: {**d, "version": 1}, "version must be 3"),
        (lambda d: {**d, "crypto": "x"}, "no crypto object"),
        (lambda d: {**d, "crypto": {**d["crypto"], "cipher": "aes-256-gcm"}}, "cipher must be aes-128-ctr"),
        (lambda d: {**d, "crypto": {**d["crypto"], "kdf": "argon2"}}, "kdf must be scrypt or pbkdf2"),
        (lambda d: {**d, "crypto": {**d["crypto"], "mac": "zz"}}, "mac must be hex"),
        (lambda d: {**d, "address": "nope"}, "address must be an address"),
    ],
)
def test_a_malformed_keystore_says_what_is_wrong(tmp_path: Path, account, mutate, problem: str) -> None:
    path = write_keystore(tmp_path / "ks.json", mutate(encrypted(account)))
    error = _refusal(path)
    assert error.message.startswith(f"{NAME}: not a ") and problem in error.message
    _shows_no_secret(error, account)


def test_a_keystore_that_names_another_address_is_refused(tmp_path: Path, account) -> None:
    document = {**encrypted(account), "address": Account.create().address[2:].lower()}
    error = _refusal(write_keystore(tmp_path / "ks.json", document))
    assert "not the one of the address it names" in error.message
    _shows_no_secret(error, account)


def test_scrypt_parameters_beyond_the_limit_are_refused_without_deriving(
    tmp_path: Path, account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Account, "decrypt", lambda *a: pytest.fail("derived a key"))
    document = encrypted(account)
    document["crypto"]["kdfparams"]["n"] = 2**30  # 128 GiB with r=8
    error = _refusal(write_keystore(tmp_path / "ks.json", document))
    assert "scrypt parameters beyond 1024 MiB" in error.message
    document["crypto"]["kdfparams"]["n"] = 1000  # not a power of 2
    assert "power of 2" in _refusal(write_keystore(tmp_path / "ks.json", document)).message


def test_something_that_is_no_keystore_file_is_refused(tmp_path: Path) -> None:
    large = write_keystore(tmp_path / "large.json", " " * (keystore.MAX_KEYSTORE_BYTES + 1))
    assert "larger than 64 KiB" in _refusal(large).message
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    assert _refusal(folder).message == f"{NAME}: not a file"
    assert _refusal(tmp_path / "missing.json").message == f"{NAME}: cannot be read"


def test_a_keystore_is_decrypted_once_per_process(tmp_path: Path, account, monkeypatch) -> None:
    calls = []
    real = Account.decrypt

    def counting(document, password):
        calls.append(1)
        return real(document, password)

    monkeypatch.setattr(keystore, "_decrypted", {})
    monkeypatch.setattr(Account, "decrypt", staticmethod(counting))
    path = write_keystore(tmp_path / "ks.json", encrypted(account))
    keys = {decrypt_keystore(path, Secret(PASSWORD), NAME).reveal() for _ in range(3)}
    assert len(keys) == 1 and len(calls) == 1
    with pytest.raises(ConfigError, match="wrong password"):  # another password is not the cached one
        decrypt_keystore(path, Secret("another"), NAME)
    write_keystore(path, encrypted(Account.create()))  # nor is another file at the same path
    assert decrypt_keystore(path, Secret(PASSWORD), NAME).reveal() not in keys
    assert len(calls) == 3


def test_a_password_file_loses_one_line_break_and_must_be_private(tmp_path: Path) -> None:
    path = write_secret(tmp_path / "pw", " spaced pass \n")
    assert read_password_file(path, "pw_file").reveal() == " spaced pass "
    write_secret(path, "windows\r\n")
    assert read_password_file(path, "pw_file").reveal() == "windows"
    path.chmod(0o604)
    with pytest.raises(ConfigError, match="pw_file: readable by group or others"):
        read_password_file(path, "pw_file")


def test_an_empty_password_is_a_password(tmp_path: Path, account) -> None:
    path = write_keystore(tmp_path / "ks.json", encrypted(account, ""))
    password = read_password_file(write_secret(tmp_path / "pw", "\n"), "pw_file")
    assert Account.from_key(decrypt_keystore(path, password, NAME).reveal()) == account


def test_the_decrypted_key_is_the_one_a_keystore_written_by_hand_holds(tmp_path: Path) -> None:
    """The Web3 Secret Storage definition's pbkdf2 test vector (password "testpassword")."""
    vector = {
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
            "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
            "kdf": "pbkdf2",
            "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
                          "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
            "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3,
    }  # fmt: skip
    path = write_keystore(tmp_path / "vector.json", json.dumps(vector))
    key = decrypt_keystore(path, Secret("testpassword"), NAME)
    assert key.reveal() == "0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
