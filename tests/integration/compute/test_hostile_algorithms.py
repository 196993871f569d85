"""Hostile algorithms, each published as a bundle the dataset trusts, so that the sandbox and the
output policy (not the allowlist) must stop them. Every job must end in a final state, release
nothing it should not, and leave no process or file behind."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from datamarket.sdk import job_files, jobs, results
from datamarket.sdk.provider_client import ProviderRefused
from tests.integration.compute.market import JOBS, ComputeMarket, start

pytestmark = pytest.mark.integration

ATTACK = JOBS / "attack.py"


def run_attack(m: ComputeMarket, tmp_path: Path, attack: str, epsilon=None, **params) -> tuple[dict, dict]:
    handle = start(m, tmp_path, ATTACK, {"attack": attack, **params}, epsilon=epsilon)
    final = jobs.wait(handle, poll_s=0.2, timeout=120)
    assert final["state"] in ("succeeded", "failed", "rejected"), final
    assert not list((m.home / "provider" / "jobs").glob(handle.job_id + "*")), "the job directory was left"
    metrics = {}
    if final["state"] == "succeeded":
        results.fetch_result(handle, m.store, tmp_path / "out")
        metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    else:
        with pytest.raises(ProviderRefused):
            results.fetch_result(handle, m.store, tmp_path / "out")
    return final, metrics


def contained(m: ComputeMarket, tmp_path: Path, attack: str, **params) -> dict:
    final, metrics = run_attack(m, tmp_path, attack, **params)
    assert final["state"] == "succeeded", final
    assert metrics["attack"] == attack and metrics["breached"] is False, metrics
    return metrics["seen"]


def test_network_host_port_outside_address_and_dns(compute_market: ComputeMarket, tmp_path: Path) -> None:
    port = int(compute_market.provider.base_url.rsplit(":", 1)[1])
    seen = contained(compute_market, tmp_path, "network", host_port=port)
    assert seen["host_port"] != "connected" and seen["outside"] != "connected"


def test_provider_keys_jobs_and_other_datasets_are_invisible(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    home = compute_market.home
    paths = [str(p) for p in sorted((home / "provider" / "keys").iterdir())]
    provider = home / "provider"
    paths += [str(provider / "jobs.db"), str(provider / "nonces.db"), str(home / "stack.json"), "/etc/shadow"]
    paths += [str(compute_market.csv), str(provider / "jobs"), str(Path.home() / ".ssh" / "id_rsa")]
    seen = contained(compute_market, tmp_path, "secrets", paths=paths)
    assert seen["environment"] == []
    assert all(not str(seen[p]).startswith("read") for p in paths), seen


def test_data_is_read_only(compute_market: ComputeMarket, tmp_path: Path) -> None:
    seen = contained(compute_market, tmp_path, "write_data")
    assert set(seen.values()) <= {"OSError", "PermissionError"}


def test_nothing_outside_out_is_writable(compute_market: ComputeMarket, tmp_path: Path) -> None:
    seen = contained(compute_market, tmp_path, "write_outside")
    assert "written" not in seen.values()


def test_filling_the_disk_ends_in_a_rejection(compute_market: ComputeMarket, tmp_path: Path) -> None:
    final, _ = run_attack(compute_market, tmp_path, "fill_disk")
    assert final["state"] in ("rejected", "failed") and final["error"]["code"] in (
        "invalid_json", "output_too_large", "file_too_large"
    ), final  # fmt: skip


def test_allocating_20_gb_is_stopped(compute_market: ComputeMarket, tmp_path: Path) -> None:
    final, _ = run_attack(compute_market, tmp_path, "allocate")
    assert final["state"] == "failed" and final["error"]["code"] in ("memory_exceeded", "algorithm_failed"), (
        final
    )


def test_a_fork_bomb_is_contained(compute_market: ComputeMarket, tmp_path: Path) -> None:
    final, _ = run_attack(compute_market, tmp_path, "fork_bomb")
    # Capped at the process limit, the bomb forks on until the wall time stops the job.
    assert final["state"] == "failed" and final["error"]["code"] == "wall_time_exceeded", final


def test_running_forever_ends_at_the_wall_time(compute_market: ComputeMarket, tmp_path: Path) -> None:
    final, _ = run_attack(compute_market, tmp_path, "forever")
    assert final["state"] == "failed" and final["error"]["code"] == "wall_time_exceeded", final


def test_a_process_that_outlives_the_job_is_killed(compute_market: ComputeMarket, tmp_path: Path) -> None:
    marker = "outlive-" + secrets.token_hex(8)
    contained(compute_market, tmp_path, "outlive", marker=marker)
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert found.stdout.strip() == "", "a process of the job survived it"


@pytest.mark.parametrize(
    ("attack", "code"),
    [
        ("copy_csv", "raw_rows_in_output"),
        ("print_rows", "raw_rows_in_logs"),
        ("json_rows", "raw_rows_in_output"),
        ("pickle", "pickle_not_allowed"),
        ("pickle_renamed", "pickle_not_allowed"),
    ],
)
def test_leaks_are_rejected_and_nothing_is_released(
    compute_market: ComputeMarket, tmp_path: Path, attack: str, code: str
) -> None:
    final, _ = run_attack(compute_market, tmp_path, attack)
    assert final["state"] == "rejected" and final["error"]["code"] == code, final
    assert final["epsilon"]["charged"] == 0 and final["output_hash"] is None
    handle = job_files.load_job(tmp_path / "jobs", final["job_id"])
    assert jobs.logs(handle)["logs"] == ""


def test_a_dp_algorithm_must_not_spend_more_than_it_declared(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    final, _ = run_attack(compute_market, tmp_path, "epsilon_lie", epsilon=1.0)
    assert final["state"] == "rejected" and final["error"]["code"] == "epsilon_exceeded", final
    # It ran on the data: charged its epsilon, released nothing.
    assert final["epsilon"]["charged"] == 1.0 and final["output_hash"] is None


def test_a_job_that_asks_for_epsilon_must_declare_what_it_spent(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    final, _ = run_attack(compute_market, tmp_path, "network", epsilon=1.0, host_port=1)
    assert final["state"] == "rejected" and final["error"]["code"] == "epsilon_not_declared", final
    assert final["epsilon"]["charged"] == 1.0 and final["output_hash"] is None


def test_asking_for_more_epsilon_than_is_left_is_refused_before_running(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    """A dataset with a budget of 3 and at most 2 a job: while a job of 2 holds its reservation, the
    provider refuses a job of 1.5 (the reservation counts before any receipt is mined), with the order
    already paid. The first job takes its time, so that it still holds the reservation when the second
    request comes, however slow the machine; cancelling it releases the reservation."""
    from dataclasses import replace

    from datamarket.chain.quotes import SERVICE_COMPUTE
    from datamarket.sdk import orders

    m = replace(compute_market, datatoken=compute_market.publish(budget=3.0, per_job=2.0))
    first = start(m, tmp_path, JOBS / "slow.py", {"seconds": 120}, epsilon=2.0)
    assert m.provider.privacy(m.datatoken)["remaining"] == pytest.approx(1.0)
    order = orders.order(m.consumer, m.provider, m.datatoken, SERVICE_COMPUTE).tx_hash
    with pytest.raises(ProviderRefused) as info:
        start(m, tmp_path, ATTACK, {"attack": "network", "host_port": 1}, epsilon=1.5, order_tx=order)
    assert info.value.code == "epsilon_exceeds_budget" and info.value.status == 422
    assert info.value.details == {"requested": 1.5, "remaining": 1.0}
    assert jobs.status(first)["state"] in ("queued", "staging", "running"), "the first job ended early"
    # The refused job never existed; the first one, cancelled, is charged its epsilon if it reached
    # running (its algorithm may have read the data), nothing if it was cancelled before.
    jobs.cancel(first)
    final = jobs.wait(first, poll_s=0.2, timeout=60)
    charged = 2.0 if "running" in final["timings"] else 0.0
    assert final["state"] == "cancelled" and final["epsilon"]["charged"] == charged
    assert m.provider.privacy(m.datatoken)["remaining"] == pytest.approx(3.0 - charged)
