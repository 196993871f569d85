"""Compute-to-data end to end on a local market with a Redis-backed worker: a DP training job
from order to decrypted model and on-chain receipt, the privacy budget, refusals before running,
cancellation, and a worker killed with SIGKILL in the middle of a job."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from safetensors.numpy import load_file

from datamarket.auth import ComputeRequest
from datamarket.chain.devchain import dev_account
from datamarket.chain.events import ComputeReceiptPosted
from datamarket.chain.quotes import SERVICE_COMPUTE
from datamarket.crypto.keys import public_bytes
from datamarket.jobs.spec import job_hash
from datamarket.sdk import job_files, jobs, orders, results
from datamarket.sdk.provider_client import ProviderRefused
from tests.integration.compute.market import CONSUMER, JOBS, ComputeMarket, start, wait_for
from tests.wallet import typed_data_v4, wallet_signature

pytestmark = pytest.mark.integration


def test_dp_training_job_from_order_to_model_and_receipt(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    m = compute_market
    before = m.provider.privacy(m.datatoken)
    # The bounds are the publisher's (conftest declares breast_cancer's documented ranges), never the job's.
    params = {"target": "target", "epochs": 10, "model": "logreg"}
    handle = start(m, tmp_path, "train_tabular", params, epsilon=2.0)
    seen: list[str] = []
    final = jobs.wait(handle, on_update=lambda s: seen.append(s["state"]), poll_s=0.1, timeout=120)
    assert final["state"] == "succeeded", final
    assert seen[0] in ("queued", "staging", "running") and seen[-1] == "succeeded"
    assert set(final["timings"]) >= {"queued", "staging", "running", "checking", "publishing"}
    assert final["epsilon"] == {"requested": 2.0, "charged": 2.0}
    # Reserved while the receipt is not mined.
    files = results.fetch_result(handle, m.store, tmp_path / "result")
    names = sorted(p.name for p in files)
    assert names == ["metrics.json", "model.safetensors"]
    metrics = json.loads((tmp_path / "result" / "metrics.json").read_text())
    assert metrics["dp"] is True and 0 < metrics["epsilon_spent"] <= 2.0
    assert 0.6 < metrics["accuracy"] <= 1.0  # about 0.9 (DP-noised, as released)
    assert load_file(str(tmp_path / "result" / "model.safetensors"))
    logs = jobs.logs(handle)
    assert logs["logs"] and "progress" in logs["logs"]
    # The receipt is posted on chain in a batch; the chain then counts the epsilon.
    status = wait_for(lambda: (s := jobs.status(handle))["receipt"] and s, what="receipt")
    receipt = m.market.w3.eth.get_transaction_receipt(status["receipt"]["tx"])
    posted = [e for e in m.market._own_events(receipt["logs"]) if isinstance(e, ComputeReceiptPosted)]
    mine = [e for e in posted if e.job_id.endswith(handle.job_id)]
    assert len(mine) == 1 and mine[0].epsilon == 2_000_000 and mine[0].order_id == handle.order_id
    assert mine[0].output_hash.removeprefix("0x") == final["output_hash"]
    after = m.provider.privacy(m.datatoken)
    assert after["spent"] == pytest.approx(before["spent"] + 2.0)
    assert after["remaining"] == pytest.approx(before["remaining"] - 2.0)


def test_epsilon_over_the_remaining_budget_is_refused_before_running(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    m = compute_market
    # Over the per-job maximum (5): refused by the provider, with an order already paid for.
    order = orders.order(m.consumer, m.provider, m.datatoken, SERVICE_COMPUTE).tx_hash
    with pytest.raises(ProviderRefused) as info:
        start(m, tmp_path, "train_tabular", {"target": "target"}, epsilon=6.0, order_tx=order)
    assert info.value.code == "epsilon_exceeds_per_job" and info.value.status == 422
    # The same order still starts a job that asks for less (nothing was used up).
    handle = start(m, tmp_path, JOBS / "slow.py", {"seconds": 0.2}, order_tx=order)
    assert jobs.wait(handle, poll_s=0.1, timeout=60)["state"] == "succeeded"
    # One order, one job.
    with pytest.raises(ProviderRefused) as again:
        start(m, tmp_path, JOBS / "slow.py", {"seconds": 0.2}, order_tx=order)
    assert again.value.code == "order_already_used" and again.value.status == 409


def test_an_untrusted_algorithm_is_refused(compute_market: ComputeMarket, tmp_path: Path) -> None:
    m = compute_market
    other = tmp_path / "other.py"
    other.write_text("print('not trusted')\n")
    with pytest.raises(ProviderRefused) as info:
        start(m, tmp_path, other)
    assert info.value.code == "algorithm_not_trusted" and info.value.status == 403


def test_cancel_kills_the_sandbox(compute_market: ComputeMarket, tmp_path: Path) -> None:
    m = compute_market
    handle = start(m, tmp_path, JOBS / "slow.py", {"seconds": 20})
    wait_for(lambda: jobs.status(handle)["state"] == "running", what="running")
    jobs.cancel(handle)
    final = jobs.wait(handle, poll_s=0.1, timeout=30)
    assert final["state"] == "cancelled" and final["epsilon"]["charged"] == 0
    with pytest.raises(ProviderRefused) as info:
        results.fetch_result(handle, m.store, tmp_path / "result")
    assert info.value.code == "job_not_finished"
    assert not list((m.home / "provider" / "jobs").glob(handle.job_id + "*"))


def test_a_worker_killed_mid_job_does_not_lose_the_job(compute_market: ComputeMarket, tmp_path: Path) -> None:
    m = compute_market
    from datamarket import stack

    handle = start(m, tmp_path, JOBS / "slow.py", {"seconds": 4})
    wait_for(lambda: jobs.status(handle)["state"] == "running", what="running")
    worker = m.local.services["worker"]
    os.killpg(worker.pid, signal.SIGKILL)
    wait_for(lambda: not worker.alive(), what="worker gone")
    assert jobs.status(handle)["state"] == "running"  # nobody has noticed yet
    restarted = stack.up(m.home)  # starts what is not running: the worker
    m.local.services["worker"] = restarted.services["worker"]
    final = jobs.wait(handle, poll_s=0.2, timeout=90)
    assert final["state"] == "succeeded" and final["attempts"] == 2, final
    # Nothing of the killed attempt is left: no folder, no tmpfs mount.
    assert not list((m.home / "provider" / "jobs").glob(handle.job_id + "*"))
    assert handle.job_id not in Path("/proc/self/mountinfo").read_text()
    files = results.fetch_result(handle, m.store, tmp_path / "result")
    assert [p.name for p in files] == ["metrics.json"]


def test_every_compute_answer_matches_the_openapi_document(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    import requests

    from tests.provider_api import check_response

    m = compute_market
    handle = start(m, tmp_path, JOBS / "slow.py", {"seconds": 0.1})
    assert jobs.wait(handle, poll_s=0.1, timeout=60)["state"] == "succeeded"
    base = m.provider.base_url
    auth = {"Authorization": f"Bearer {handle.token}"}
    job = f"/api/v1/compute/{handle.job_id}"
    calls = [
        ("GET", job, auth, 200),
        ("GET", job + "/logs", auth, 200),
        ("GET", job + "/result", auth, 200),
        ("GET", job + "/result/archive", auth, 200),
        ("GET", job, {"Authorization": "Bearer wrong"}, 404),
        ("GET", job, {}, 404),
        ("GET", "/api/v1/compute/" + "0" * 32 + "/result", auth, 404),
        ("DELETE", job, auth, 200),
        ("GET", f"/api/v1/privacy/{m.datatoken}", {}, 200),
        ("GET", "/api/v1/privacy/0xnot", {}, 400),
        ("POST", "/api/v1/compute", {}, 400),
    ]
    for method, path, headers, status in calls:
        response = requests.request(
            method, base + path, headers=headers, json={} if method == "POST" else None
        )
        assert response.status_code == status, (method, path, response.text)
        check_response(path, method, status, response.headers["Content-Type"], response.content)
    # Cancelling a finished job changes nothing.
    assert jobs.status(handle)["state"] == "succeeded"


def test_a_dataset_that_requires_dp_refuses_jobs_without_epsilon(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    from dataclasses import replace

    m = replace(compute_market, datatoken=compute_market.publish(budget=5.0, per_job=2.0, require_dp=True))
    with pytest.raises(job_files.ComputeError):  # refused before anything is paid
        start(m, tmp_path, JOBS / "slow.py", {"seconds": 0.1})
    order = orders.order(m.consumer, m.provider, m.datatoken, SERVICE_COMPUTE).tx_hash
    with pytest.raises(ProviderRefused) as info:  # and by the provider, for a client that skips the check
        start(m, tmp_path, JOBS / "slow.py", {"seconds": 0.1}, order_tx=order)
    assert info.value.code == "dp_required" and info.value.status == 403
    params = {"columns": ["mean radius"]}
    handle = start(m, tmp_path, "dp_stats", params, epsilon=1.0, order_tx=order)
    assert jobs.wait(handle, poll_s=0.1, timeout=60)["state"] == "succeeded"


@pytest.mark.parametrize("v_base", [27, 0])
def test_a_wallets_typed_data_message_starts_a_job(compute_market: ComputeMarket, v_base: int) -> None:
    """What a web page posts: the ``message`` its wallet signed with eth_signTypedData_v4 (lower-case
    addresses, integers as decimal strings), the wallet's signature (v 27/28 or 0/1) and the job."""
    m = compute_market
    order_tx, order_id = orders.order_of(orders.order(m.consumer, m.provider, m.datatoken, SERVICE_COMPUTE))
    bundle_cid, digest, _ = jobs.publish_bundle(m.store, JOBS / "slow.py")
    # delta 1e-7: JCS writes it as JavaScript does ("1e-7"), so the page's jobHash is the provider's.
    job = {
        "algorithm": {"bundle": bundle_cid, "sha256": digest},
        "params": {"seconds": 0.1, "delta": 1e-7},
        "epsilon": None,
        "environment": "cpu",
    }
    one_time = "0x" + public_bytes(X25519PrivateKey.generate()).hex()
    request = ComputeRequest(
        datatoken=m.datatoken, consumer=m.consumer.account.address, service_id=SERVICE_COMPUTE,
        order_tx=order_tx, order_id=order_id, consumer_key=one_time, job_hash=job_hash(job),
        nonce=time.time_ns() // 1_000_000,
    )  # fmt: skip
    payload = typed_data_v4(request, m.market.chain_id, m.market.address)
    assert payload["message"]["consumer"] == m.consumer.account.address.lower()
    signature = wallet_signature(dev_account(CONSUMER).key, payload, v_base=v_base)
    answer = m.provider.compute_start(payload["message"], bytes.fromhex(signature[2:]), job)
    assert answer["state"] == "queued"
    final = wait_for(
        lambda: (
            (s := m.provider.compute_status(answer["job_id"], answer["token"]))["state"] == "succeeded" and s
        ),
        timeout=60,
        what="the job's success",
    )
    assert final["dataset"] == m.datatoken
