"""Provider settings: environment over TOML, validation naming the setting, secrets never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datamarket.chain.devchain import dev_account
from datamarket.errors import ConfigError
from provider.settings import ProviderSettings, Secret, mask_url

KEY = dev_account(2).key.hex()
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def env(**extra: str) -> dict[str, str]:
    values = {
        "DATAMARKET_PROVIDER_RPC_URL": "http://127.0.0.1:8545",
        "DATAMARKET_PROVIDER_MARKET": MARKET,
        "DATAMARKET_PROVIDER_PRIVATE_KEY": KEY,
    }
    values.update({f"DATAMARKET_PROVIDER_{k.upper()}": v for k, v in extra.items()})
    return values


def test_from_environment_with_defaults(tmp_path: Path) -> None:
    s = ProviderSettings.load(env=env(data_dir=str(tmp_path), fee_download="10", services="download,compute"))
    assert (s.rpc_url, s.market, s.chain_id) == ("http://127.0.0.1:8545", MARKET, None)
    assert s.provider_address == dev_account(2).address
    assert s.keys_dir == tmp_path / "keys"
    assert s.nonces_url == f"sqlite:///{tmp_path / 'nonces.db'}"
    assert s.store == str(tmp_path / "store")
    assert (s.fee_download, s.services, s.service_ids) == (10, ("download", "compute"), (0, 1))
    assert (s.min_confirmations, s.nonce_window_ms, s.quote_validity_s) == (1, 60_000, 3600)


def test_the_stack_environment_is_understood(tmp_path: Path) -> None:
    """The names ``datamarket up`` sets (datamarket/stack.py)."""
    s = ProviderSettings.load(
        env=env(
            keys_dir=str(tmp_path / "k"),
            nonces_url="sqlite:////tmp/x.db",
            store=str(tmp_path / "s"),
            fee_token=MARKET,
        )
    )
    assert (s.keys_dir, s.nonces_url, s.store, s.fee_token) == (
        tmp_path / "k",
        "sqlite:////tmp/x.db",
        str(tmp_path / "s"),
        MARKET,
    )


def test_toml_file_under_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "provider.toml"
    config.write_text(
        f'rpc_url = "http://file:1"\nmarket = "{MARKET}"\nchain_id = 5\nmin_confirmations = 3\n'
        'services = ["download"]\n'
    )
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    s = ProviderSettings.load(
        env={
            "DATAMARKET_PROVIDER_CONFIG": str(config),
            "DATAMARKET_PROVIDER_PRIVATE_KEY_FILE": str(key_file),
            "DATAMARKET_PROVIDER_MIN_CONFIRMATIONS": "2",
        }
    )
    assert (s.rpc_url, s.chain_id, s.min_confirmations) == ("http://file:1", 5, 2)
    assert s.private_key.reveal() == KEY


def test_a_config_file_may_not_hold_the_key(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text(f'private_key = "{KEY}"\n')
    with pytest.raises(ConfigError, match="private_key_file") as caught:
        ProviderSettings.load(env={}, config_file=config)
    assert KEY not in str(caught.value)


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="0600"):
        ProviderSettings.load(
            env={
                **env(),
                "DATAMARKET_PROVIDER_PRIVATE_KEY": "",
                "DATAMARKET_PROVIDER_PRIVATE_KEY_FILE": str(key_file),
            }
        )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("rpc_url", "ftp://x"),
        ("market", MARKET.lower()),
        ("chain_id", "0"),
        ("chain_id", "x"),
        ("private_key", "0x1234"),
        ("private_key", "0x" + "00" * 32),
        ("nonces_url", "mysql://x"),
        ("services", "download,teleport"),
        ("services", " , "),
        ("min_confirmations", "0"),
        ("quote_validity_s", "5"),
        ("fee_token", "0x123"),
        ("log_level", "LOUD"),
        ("metrics_token", "short-token"),
    ],
)
def test_each_bad_setting_is_named_and_its_value_never_shown(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ProviderSettings.load(env=env(**{name: value}))
    problems = caught.value.details["problems"]
    assert any(p.startswith(name + ":") for p in problems), problems
    assert KEY not in str(caught.value)
    if len(value) > 3:
        assert value not in str(caught.value)


def test_missing_required_settings_are_listed() -> None:
    with pytest.raises(ConfigError) as caught:
        ProviderSettings.load(env={})
    assert caught.value.details["problems"] == [
        "rpc_url: required",
        "market: required",
        "private_key: required",
    ]


def test_repr_masks_the_key_and_url_passwords(tmp_path: Path) -> None:
    s = ProviderSettings.load(
        env=env(nonces_url="postgresql://user:hunter2@db/x", metrics_token="scrape-" * 3)
    )
    text = repr(s) + str(s)
    assert KEY not in text and KEY.removeprefix("0x") not in text and "hunter2" not in text
    assert s.metrics_token.reveal() == "scrape-" * 3 and "scrape-" not in text
    assert "***" in text and "postgresql://user:***@db/x" in text
    assert repr(Secret("abc")) == "Secret('***')" and "abc" not in f"{Secret('abc')}"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_settings_are_frozen() -> None:
    s = ProviderSettings.load(env=env())
    with pytest.raises(AttributeError):
        s.min_confirmations = 0  # type: ignore[misc]


def test_load_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in env(chain_id="31337").items():
        monkeypatch.setenv(k, v)
    assert ProviderSettings.load().chain_id == 31337
    assert "DATAMARKET_PROVIDER_RPC_URL" in os.environ


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "p.toml"
    config.write_text("min_confirmation = 3\n")  # a typo
    with pytest.raises(ConfigError) as caught:
        ProviderSettings.load(env=env(), config_file=config)
    assert "min_confirmation: unknown setting" in caught.value.details["problems"]
