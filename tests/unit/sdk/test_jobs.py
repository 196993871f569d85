"""Starting and following compute jobs against a fake provider: the signed request, the order."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from datamarket import auth
from datamarket.chain.devchain import dev_account
from datamarket.crypto import keys
from datamarket.jobs import spec as job_spec
from datamarket.sdk import job_files, jobs, orders
from datamarket.sdk.provider_client import ProviderRefused, ProviderUnavailable
from tests.fakes import (
    DATATOKEN,
    JOB,
    MARKET,
    ORDER,
    ORDER_ID,
    FakeProvider,
    fake_market,
    order_event,
    start,
)


def test_start_signs_a_compute_request_for_the_job(tmp_path) -> None:
    handle, provider = start(tmp_path, environment="gpu", proof=["0x" + "11" * 32])
    sent = provider.started[0]
    request = auth.ComputeRequest.from_json(sent["request"])
    auth.verify_compute_signature(request, sent["signature"], 31337, MARKET)
    assert job_spec.parse_job_spec(sent["job"]) == sent["job"]
    job_spec.verify_job_hash(request, sent["job"])
    assert sent["job"] == {
        "algorithm": "train_tabular",
        "params": {"target": "label"},
        "epsilon": 1.0,
        "environment": "gpu",
    }
    assert sent["proof"] == ["0x" + "11" * 32]
    assert request.service_id == 1 and request.order_tx == ORDER
    assert request.consumer == dev_account(4).address
    assert abs(request.nonce / 1000 - time.time()) < 60
    # The result is wrapped to the one-time key the job file keeps.
    assert keys.public_bytes(handle.x25519()) == request.consumer_key_bytes
    assert (handle.job_id, handle.token, handle.state) == (JOB, "tok-" + JOB, "queued")
    assert handle.dataset == f"eip155:31337/{DATATOKEN}"


def test_a_bad_job_id_from_the_provider_is_not_used_as_a_file_name(tmp_path) -> None:
    with pytest.raises(job_files.ComputeError, match="job_id"):
        start(tmp_path, FakeProvider(job_id="../../evil"))
    assert list((tmp_path / "jobs").iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"algorithm": "Not A Name"}, job_files.ComputeError),
        ({"algorithm": "no/such/file.py"}, job_files.ComputeError),
        ({"params": {"x": float("nan")}}, auth.InvalidRequest),
        ({"epsilon": -1}, auth.InvalidRequest),
        ({"environment": "tpu"}, auth.InvalidRequest),
    ],
)
def test_a_bad_job_is_refused_before_anything_is_sent(tmp_path, overrides, error) -> None:
    provider = FakeProvider()
    with pytest.raises(error):
        start(tmp_path, provider, **overrides)
    assert provider.started == []


def test_ordering_and_the_hint_when_the_provider_refuses(tmp_path, monkeypatch) -> None:
    ordered = []

    def order(market, provider, datatoken, service_id):
        ordered.append((datatoken, service_id))
        return SimpleNamespace(tx_hash=ORDER, event=lambda cls: order_event())

    class Refusing(FakeProvider):
        def compute_start(self, request, signature, job, proof=None):
            raise ProviderRefused("no_worker", "no worker serves this environment now", status=503)

    monkeypatch.setattr(orders, "order", order)
    with pytest.raises(ProviderRefused) as caught:
        start(tmp_path, Refusing(), order_tx=None)
    assert ordered == [(DATATOKEN, 1)]
    assert caught.value.code == "no_worker" and caught.value.details["order_tx"] == ORDER
    assert caught.value.details["order_id"] == ORDER_ID
    assert "--order-tx" in caught.value.message and "--order-id" in caught.value.message


def test_an_existing_order_is_found_in_its_transaction(tmp_path) -> None:
    """One transaction may hold several orders: the one of this account and service is used; among
    several of them, only the one named."""
    mine, other = order_event(9), order_event(8, consumer=dev_account(5).address)
    download_order = order_event(10, service_id=0)
    market = fake_market([other, download_order, mine])
    handle = jobs.start_job(market, FakeProvider(), None, DATATOKEN, algorithm="train_tabular",
                               params={}, epsilon=1, order_tx=ORDER, jobs_dir=tmp_path / "a")  # fmt: skip
    assert handle.order_id == 9

    market = fake_market([mine, order_event(11)])
    with pytest.raises(orders.OrderNotFound, match="2 orders") as caught:
        jobs.start_job(market, FakeProvider(), None, DATATOKEN, algorithm="train_tabular", params={},
                          epsilon=1, order_tx=ORDER, jobs_dir=tmp_path / "b")  # fmt: skip
    assert caught.value.details == {"order_ids": [9, 11]}
    provider = FakeProvider()
    handle = jobs.start_job(market, provider, None, DATATOKEN, algorithm="train_tabular", params={},
                               epsilon=1, order_tx=ORDER, order_id=11, jobs_dir=tmp_path / "c")  # fmt: skip
    assert handle.order_id == 11 and provider.started[0]["request"]["orderId"] == 11
    with pytest.raises(orders.OrderNotFound, match="no order 8"):
        jobs.start_job(market, FakeProvider(), None, DATATOKEN, algorithm="train_tabular", params={},
                          epsilon=1, order_tx=ORDER, order_id=8, jobs_dir=tmp_path / "d")  # fmt: skip


def test_an_epsilon_over_the_remaining_budget_is_refused_before_ordering(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(orders, "order", lambda *a: pytest.fail("ordered"))
    provider = FakeProvider()
    provider.remaining = 0.5
    with pytest.raises(job_files.ComputeError, match="privacy budget"):
        start(tmp_path, provider, order_tx=None, epsilon=1.0)


def test_a_bundle_is_published_to_the_store(tmp_path) -> None:
    bundle = pytest.importorskip("datamarket.bundle")
    from datamarket.storage.embedded import EmbeddedStore

    folder = tmp_path / "algo"
    folder.mkdir()
    (folder / "main.py").write_text("print('progress: 1')\n")
    store = EmbeddedStore(tmp_path / "store")
    provider = FakeProvider()
    handle = jobs.start_job(
        fake_market(), provider, store, DATATOKEN, algorithm=folder, params={}, epsilon=None,
        order_tx=ORDER, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    algorithm = provider.started[0]["job"]["algorithm"]
    data = b"".join(store.cat(algorithm["bundle"]))
    assert algorithm["sha256"] == bundle.bundle_hash(data) == jobs.pack_bundle(folder)[1]
    assert handle.job["algorithm"] == algorithm
    with pytest.raises(job_files.ComputeError, match="content store"):
        start(tmp_path, algorithm=str(folder))


# ------------------------------------------------------------------------------------------ wait


def test_wait_reports_every_status_until_a_final_state(tmp_path) -> None:
    states = [
        {"state": "queued", "progress": 0},
        ProviderUnavailable("provider_unavailable", "down", status=0),
        {"state": "running", "progress": 0.5},
        {"state": "succeeded", "progress": 1.0, "receipt": None},
    ]
    handle, provider = start(tmp_path, FakeProvider(states))
    seen = []
    final = jobs.wait(handle, on_update=seen.append, poll_s=0, provider=provider)
    assert final["state"] == "succeeded"
    assert [s["state"] for s in seen] == ["queued", "running", "succeeded"]
    assert all(call[2] == handle.token for call in provider.calls)


def test_wait_times_out(tmp_path) -> None:
    handle, provider = start(tmp_path, FakeProvider([{"state": "running", "progress": 0.1}]))
    with pytest.raises(jobs.JobTimeout):
        jobs.wait(handle, poll_s=0.01, timeout=0.05, provider=provider)


def test_wait_gives_up_on_a_provider_that_stays_away(tmp_path) -> None:
    down = ProviderUnavailable("provider_unavailable", "down", status=0)
    handle, provider = start(tmp_path, FakeProvider([down]))
    with pytest.raises(ProviderUnavailable):
        jobs.wait(handle, poll_s=0, provider=provider)
    assert len(provider.calls) == jobs.MAX_POLL_FAILURES


def test_status_logs_and_cancel_use_the_jobs_token(tmp_path, monkeypatch) -> None:
    handle, provider = start(tmp_path, FakeProvider([{"state": "running"}]))
    monkeypatch.setattr(job_files, "ProviderClient", lambda url: provider)
    assert jobs.status(handle)["state"] == "running"
    assert jobs.logs(handle)["logs"].endswith("done\n")
    assert jobs.cancel(handle)["state"] == "cancelled"
    assert [c[0] for c in provider.calls] == ["status", "logs", "cancel"]
    assert {c[2] for c in provider.calls} == {"tok-" + JOB}
