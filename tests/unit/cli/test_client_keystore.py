"""The client's key from an encrypted keystore: DATAMARKET_KEYSTORE with DATAMARKET_KEYSTORE_PASSWORD or
DATAMARKET_KEYSTORE_PASSWORD_FILE, never alongside DATAMARKET_PRIVATE_KEY."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from datamarket.cli.context import on_local_market
from datamarket.errors import ConfigError
from datamarket.settings import load_settings
from tests.unit.config.keystores import PASSWORD, encrypted, write_keystore, write_secret


@pytest.fixture
def account():
    return Account.create()


@pytest.fixture
def keystore(tmp_path: Path, account) -> Path:
    return write_keystore(tmp_path / "me.json", encrypted(account))


def test_the_keystore_signs_with_a_password_from_the_environment(tmp_path, keystore, account) -> None:
    settings = load_settings(
        tmp_path, environ={"DATAMARKET_KEYSTORE": str(keystore), "DATAMARKET_KEYSTORE_PASSWORD": PASSWORD}
    )
    assert settings.has_key and settings.account().address == account.address
    assert PASSWORD not in repr(settings) and account.key.hex().removeprefix("0x") not in repr(settings)


def test_the_keystore_signs_with_a_password_file_named_in_the_toml_file(tmp_path, keystore, account) -> None:
    password_file = write_secret(tmp_path / "password", PASSWORD + "\n")
    config = tmp_path / "client.toml"
    config.write_text(f'keystore = "{keystore}"\nkeystore_password_file = "{password_file}"\n')
    settings = load_settings(tmp_path, environ={"DATAMARKET_CONFIG": str(config)})
    assert settings.account().address == account.address


def test_a_wrong_password_is_refused_when_signing_and_not_shown(tmp_path, keystore, account) -> None:
    settings = load_settings(
        tmp_path, environ={"DATAMARKET_KEYSTORE": str(keystore), "DATAMARKET_KEYSTORE_PASSWORD": "guess"}
    )
    with pytest.raises(ConfigError) as caught:
        settings.account()
    assert caught.value.message == "DATAMARKET_KEYSTORE: wrong password"


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"DATAMARKET_PRIVATE_KEY": "KEY", "DATAMARKET_KEYSTORE": "KS",
          "DATAMARKET_KEYSTORE_PASSWORD": PASSWORD},
         "set one key source: DATAMARKET_PRIVATE_KEY or DATAMARKET_KEYSTORE, not both"),
        ({"DATAMARKET_KEYSTORE": "KS"}, "DATAMARKET_KEYSTORE needs its password in one of"),
        ({"DATAMARKET_KEYSTORE": "KS", "DATAMARKET_KEYSTORE_PASSWORD": PASSWORD,
          "DATAMARKET_KEYSTORE_PASSWORD_FILE": "PW"}, "DATAMARKET_KEYSTORE needs its password in one of"),
        ({"DATAMARKET_PRIVATE_KEY": "KEY", "DATAMARKET_KEYSTORE_PASSWORD": PASSWORD},
         "DATAMARKET_KEYSTORE_PASSWORD is set without DATAMARKET_KEYSTORE"),
    ],
)  # fmt: skip
def test_key_sources_that_do_not_add_up_are_refused_by_name(
    tmp_path, keystore, account, environ, problem
) -> None:
    password_file = write_secret(tmp_path / "pw", PASSWORD)
    values = {"KEY": account.key.hex(), "KS": str(keystore), "PW": str(password_file)}
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={k: values.get(v, v) for k, v in environ.items()})
    assert caught.value.message.startswith(problem)
    assert PASSWORD not in caught.value.message and account.key.hex()[2:] not in caught.value.message


@pytest.mark.parametrize(
    ("mode", "document", "problem"),
    [
        (0o644, None, "DATAMARKET_KEYSTORE: readable by group or others; set its mode to 0600"),
        (0o600, "[]", "DATAMARKET_KEYSTORE: not a Web3 Secret Storage keystore (not a JSON object)"),
    ],
)
def test_a_keystore_others_may_read_or_that_is_none_is_refused(tmp_path, account, mode, document, problem):
    path = write_keystore(tmp_path / "ks.json", document or encrypted(account), mode=mode)
    settings = load_settings(
        tmp_path, environ={"DATAMARKET_KEYSTORE": str(path), "DATAMARKET_KEYSTORE_PASSWORD": PASSWORD}
    )
    with pytest.raises(ConfigError) as caught:
        settings.account()
    assert caught.value.message == problem


def test_a_password_file_others_may_read_is_refused(tmp_path, keystore) -> None:
    open_file = write_secret(tmp_path / "pw", PASSWORD, mode=0o640)
    settings = load_settings(
        tmp_path,
        environ={"DATAMARKET_KEYSTORE": str(keystore), "DATAMARKET_KEYSTORE_PASSWORD_FILE": str(open_file)},
    )
    with pytest.raises(ConfigError, match="DATAMARKET_KEYSTORE_PASSWORD_FILE: readable by group or others"):
        settings.account()


def test_the_settings_file_may_not_hold_the_password(tmp_path, keystore) -> None:
    config = tmp_path / "client.toml"
    config.write_text(f'keystore = "{keystore}"\nkeystore_password = "{PASSWORD}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"DATAMARKET_CONFIG": str(config)})
    assert caught.value.message.startswith("keystore_password: not allowed in the settings file")
    assert PASSWORD not in caught.value.message


def test_a_keystore_on_the_local_market_signs_instead_of_the_dev_accounts(
    tmp_path, keystore, monkeypatch
) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"chain_id": 31337}))
    monkeypatch.setenv("DATAMARKET_HOME", str(tmp_path))
    for name in (
        "DATAMARKET_PRIVATE_KEY",
        "DATAMARKET_KEYSTORE",
        "DATAMARKET_KEYSTORE_PASSWORD",
        "DATAMARKET_KEYSTORE_PASSWORD_FILE",
        "DATAMARKET_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    assert on_local_market()
    monkeypatch.setenv("DATAMARKET_KEYSTORE", str(keystore))
    monkeypatch.setenv("DATAMARKET_KEYSTORE_PASSWORD", PASSWORD)
    assert not on_local_market()
