"""The provider's and its workers' key from an encrypted keystore: DATAMARKET_PROVIDER_PRIVATE_KEY_KEYSTORE
and its password (variable or file) or the same names in the TOML file; exactly one key source."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from compute_to_data.settings import WorkerSettings
from datamarket.errors import ConfigError
from provider.settings import ProviderSettings
from tests.unit.config.keystores import PASSWORD, encrypted, write_keystore, write_secret

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PREFIX = "DATAMARKET_PROVIDER_"


@pytest.fixture
def account():
    return Account.create()


@pytest.fixture
def keystore(tmp_path: Path, account) -> Path:
    return write_keystore(tmp_path / "provider.json", encrypted(account))


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    values = {"RPC_URL": "http://127.0.0.1:8545", "MARKET": MARKET, "DATA_DIR": str(tmp_path / "data")}
    values.update({k.upper(): v for k, v in extra.items()})
    return {PREFIX + k: v for k, v in values.items()}


def refusal(settings_class, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_class.load(env=environ)
    return caught.value.details["problems"]


@pytest.mark.parametrize("settings_class", [ProviderSettings, WorkerSettings])
def test_the_key_comes_from_a_keystore_and_its_password(settings_class, tmp_path, keystore, account) -> None:
    s = settings_class.load(
        env=env(tmp_path, private_key_keystore=str(keystore), private_key_keystore_password=PASSWORD)
    )
    assert s.provider_address == account.address
    assert account.key.hex().removeprefix("0x") not in repr(s) and PASSWORD not in repr(s)
    assert not any("password" in name for name in vars(s))  # the password is not kept


@pytest.mark.parametrize("settings_class", [ProviderSettings, WorkerSettings])
def test_a_password_file_and_the_toml_file_serve_the_provider_and_its_workers(
    settings_class, tmp_path, keystore, account
) -> None:
    password_file = write_secret(tmp_path / "password", PASSWORD + "\n")
    config = tmp_path / "provider.toml"
    config.write_text(
        f'rpc_url = "http://127.0.0.1:8545"\nmarket = "{MARKET}"\nprivate_key_keystore = "{keystore}"\n'
        f'private_key_keystore_password_file = "{password_file}"\n[worker]\njob_wall_time_s = 60\n'
    )
    s = settings_class.load(env={PREFIX + "CONFIG": str(config), PREFIX + "DATA_DIR": str(tmp_path)})
    assert s.provider_address == account.address


def test_the_workers_read_the_key_sources_under_the_providers_names(tmp_path, account) -> None:
    key_file = write_secret(tmp_path / "key", account.key.hex())
    s = WorkerSettings.load(env=env(tmp_path, private_key_file=str(key_file)))
    assert s.provider_address == account.address
    worker_named = {"DATAMARKET_WORKER_PRIVATE_KEY_FILE": str(key_file), **env(tmp_path)}
    assert refusal(WorkerSettings, worker_named) == ["private_key: required"]


@pytest.mark.parametrize(
    ("sources", "named"),
    [
        (("private_key", "private_key_keystore"), "private_key, private_key_keystore"),
        (("private_key_file", "private_key_keystore"), "private_key_file, private_key_keystore"),
        (("private_key", "private_key_file"), "private_key, private_key_file"),
    ],
)
def test_two_key_sources_are_refused_by_name(tmp_path, keystore, account, sources, named) -> None:
    key = account.key.hex()
    given = {
        "private_key": key,
        "private_key_file": str(write_secret(tmp_path / "key", key)),
        "private_key_keystore": str(keystore),
    }
    extra = {name: given[name] for name in sources}
    if "private_key_keystore" in sources:
        extra["private_key_keystore_password"] = PASSWORD
    problems = refusal(ProviderSettings, env(tmp_path, **extra))
    assert problems == [f"{named}: set one key source, not 2"]
    assert key.removeprefix("0x") not in str(problems) and PASSWORD not in str(problems)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"private_key_keystore": "KS"}, "private_key_keystore: needs one of private_key_keystore_password"),
        (
            {"private_key_keystore": "KS", "private_key_keystore_password": PASSWORD,
             "private_key_keystore_password_file": "PW"},
            "private_key_keystore: needs one of",
        ),
        ({"private_key": "KEY", "private_key_keystore_password": PASSWORD},
         "private_key_keystore_password: set without private_key_keystore"),
        ({"private_key_keystore": "KS", "private_key_keystore_password": "wrong"},
         "private_key_keystore: wrong password"),
        ({"private_key_keystore": "KS", "private_key_keystore_password_file": "OPEN"},
         "private_key_keystore_password_file: readable by group or others; set its mode to 0600"),
    ],
)  # fmt: skip
def test_each_keystore_problem_is_the_one_problem_named(tmp_path, keystore, account, extra, problem) -> None:
    files = {
        "KS": str(keystore),
        "KEY": account.key.hex(),
        "PW": str(write_secret(tmp_path / "pw", PASSWORD)),
        "OPEN": str(write_secret(tmp_path / "open", PASSWORD, mode=0o644)),
    }
    problems = refusal(ProviderSettings, env(tmp_path, **{k: files.get(v, v) for k, v in extra.items()}))
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    assert PASSWORD not in str(problems) and account.key.hex().removeprefix("0x") not in str(problems)


def test_a_keystore_others_may_read_is_refused(tmp_path, account) -> None:
    open_keystore = write_keystore(tmp_path / "open.json", encrypted(account), mode=0o644)
    problems = refusal(
        ProviderSettings,
        env(tmp_path, private_key_keystore=str(open_keystore), private_key_keystore_password=PASSWORD),
    )
    assert problems == ["private_key_keystore: readable by group or others; set its mode to 0600"]


def test_a_malformed_keystore_is_refused(tmp_path) -> None:
    broken = write_keystore(tmp_path / "broken.json", '{"version": 3}')
    environ = env(tmp_path, private_key_keystore=str(broken), private_key_keystore_password=PASSWORD)
    problems = refusal(ProviderSettings, environ)
    assert problems == ["private_key_keystore: not a Web3 Secret Storage keystore (no crypto object)"]


def test_a_toml_file_may_not_hold_the_password(tmp_path, keystore) -> None:
    config = tmp_path / "provider.toml"
    config.write_text(f'private_key_keystore = "{keystore}"\nprivate_key_keystore_password = "{PASSWORD}"\n')
    with pytest.raises(ConfigError) as caught:
        ProviderSettings.load(env={}, config_file=config)
    assert "private_key_keystore_password: not allowed in the config file" in caught.value.message
    assert PASSWORD not in str(caught.value)
