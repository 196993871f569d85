"""The worker's settings are the worker's: its own under DATAMARKET_WORKER_* and the file's [worker]
table, what it shares with the provider under DATAMARKET_PROVIDER_* and the file's top level."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute_to_data.settings import WorkerSettings
from datamarket.chain.devchain import dev_account
from datamarket.errors import ConfigError
from provider.settings import ProviderSettings

KEY = dev_account(2).key.hex()  # a public anvil dev key
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SHARED = {
    "DATAMARKET_PROVIDER_RPC_URL": "http://127.0.0.1:8545",
    "DATAMARKET_PROVIDER_MARKET": MARKET,
    "DATAMARKET_PROVIDER_PRIVATE_KEY": KEY,
}


def test_shared_and_own_variables(tmp_path: Path) -> None:
    env = {
        **SHARED,
        "DATAMARKET_PROVIDER_DATA_DIR": str(tmp_path),
        "DATAMARKET_WORKER_JOB_MEMORY_MB": "1024",
        "DATAMARKET_PROVIDER_JOB_MEMORY_MB": "4096",  # not the worker's variable
        "DATAMARKET_WORKER_SANDBOX_CGROUP": "/sys/fs/cgroup/delegated",
    }
    s = WorkerSettings.load(env=env)
    assert s.job_memory_mb == 1024 and s.sandbox_cgroup == Path("/sys/fs/cgroup/delegated")
    assert (s.jobs_dir, s.keys_dir, s.jobs_url) == (
        tmp_path / "jobs",
        tmp_path / "keys",
        f"sqlite:///{tmp_path}/jobs.db",
    )
    assert s.provider_address == dev_account(2).address
    assert KEY not in repr(s)


def test_one_file_serves_the_provider_and_its_workers(tmp_path: Path) -> None:
    config = tmp_path / "provider.toml"
    config.write_text(
        f'rpc_url = "http://127.0.0.1:8545"\nmarket = "{MARKET}"\nmin_confirmations = 3\n'
        "job_lease_s = 2.5\n[worker]\njob_wall_time_s = 60\nreceipt_batch_delay_s = 0.5\n"
    )
    env = {"DATAMARKET_PROVIDER_CONFIG": str(config), "DATAMARKET_PROVIDER_PRIVATE_KEY": KEY}
    worker = WorkerSettings.load(env=env)
    provider = ProviderSettings.load(env=env)
    assert (worker.job_wall_time_s, worker.receipt_batch_delay_s, worker.job_lease_s) == (60, 0.5, 2.5)
    assert (provider.min_confirmations, provider.job_lease_s) == (3, 2.5)
    assert not hasattr(provider, "job_wall_time_s") and not hasattr(worker, "min_confirmations")


def test_the_provider_refuses_worker_keys_at_the_top_level(tmp_path: Path) -> None:
    config = tmp_path / "provider.toml"
    config.write_text("job_wall_time_s = 60\n")
    with pytest.raises(ConfigError) as caught:
        ProviderSettings.load(env=SHARED, config_file=config)
    assert "job_wall_time_s: unknown setting" in caught.value.details["problems"]


def test_the_worker_table_is_checked(tmp_path: Path) -> None:
    config = tmp_path / "provider.toml"
    config.write_text("[worker]\njob_wal_time_s = 60\nmin_confirmations = 2\n")
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.load(env=SHARED, config_file=config)
    problems = caught.value.details["problems"]
    assert "job_wal_time_s: unknown setting" in problems and "min_confirmations: unknown setting" in problems
    config.write_text("worker = 3\n")
    with pytest.raises(ConfigError, match=r"\[worker\]: must be a table"):
        WorkerSettings.load(env=SHARED, config_file=config)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("job_wall_time_s", "0"),
        ("job_memory_mb", "10"),
        ("job_max_attempts", "x"),
        ("receipt_batch_delay_s", "-1"),
    ],
)
def test_a_bad_worker_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.load(env={**SHARED, f"DATAMARKET_WORKER_{name.upper()}": value})
    assert any(p.startswith(name + ":") for p in caught.value.details["problems"])
