"""Starting and following compute jobs against a fake provider: the signed request, the job file."""

from __future__ import annotations

import json
import os
import stat
import time
from types import SimpleNamespace

import pytest

from datamarket import auth
from datamarket.chain.devchain import dev_account
from datamarket.chain.events import LogMeta, OrderFunding, OrderStarted
from datamarket.chain.quotes import ZERO_ADDRESS, ZERO_HASH
from datamarket.crypto import keys
from datamarket.sdk import compute
from datamarket.sdk.provider_client import ProviderError, ProviderUnavailable

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DATATOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
ORDER = "0x" + "ab" * 32
JOB = "0123456789abcdef0123456789abcdef"


class FakeProvider:
    """Answers like a provider's compute API, keeping what it was sent."""

    base_url = "http://provider.test"

    def __init__(self, states=(), job_id: str = JOB) -> None:
        self.job_id = job_id
        self.started: list[dict] = []
        self.states = list(states)
        self.calls: list[tuple[str, str, str]] = []
        self.result: dict | None = None
        self.archive: bytes = b""
        self.remaining = 10.0

    def compute_start(self, request, signature, job, proof=None):
        self.started.append({"request": request, "signature": signature, "job": job, "proof": proof})
        return {"job_id": self.job_id, "token": "tok-" + self.job_id, "state": "queued"}

    def compute_status(self, job_id, token):
        self.calls.append(("status", job_id, token))
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if isinstance(state, Exception):
            raise state
        return {"job_id": job_id, **state}

    def compute_logs(self, job_id, token):
        self.calls.append(("logs", job_id, token))
        return {"job_id": job_id, "state": "succeeded", "logs": "progress: 1\ndone\n", "truncated": False}

    def compute_cancel(self, job_id, token):
        self.calls.append(("cancel", job_id, token))
        return {"job_id": job_id, "state": "cancelled"}

    def compute_result(self, job_id, token):
        self.calls.append(("result", job_id, token))
        return self.result

    def compute_archive(self, job_id, token):
        self.calls.append(("archive", job_id, token))
        return iter([self.archive[i : i + 1000] for i in range(0, len(self.archive), 1000)])

    def privacy(self, datatoken):
        return {"datatoken": datatoken, "remaining": self.remaining}


ORDER_ID = 7


def order_event(order_id: int = ORDER_ID, consumer: str | None = None, service_id: int = 1) -> OrderStarted:
    meta = LogMeta(MARKET, 5, "0x" + "cd" * 32, ORDER, 0)
    consumer = consumer or dev_account(4).address
    return OrderStarted(meta, DATATOKEN, consumer, MARKET, order_id, consumer, OrderFunding.BOUGHT,
                        service_id, ZERO_ADDRESS, 0, 1, ZERO_HASH)  # fmt: skip


def fake_market(events=None):
    """A market whose ``ORDER`` transaction holds ``events`` (default: one compute order of account 4)."""
    events = [order_event()] if events is None else events
    return SimpleNamespace(
        account=dev_account(4), chain_id=31337, address=MARKET, tx_events=lambda tx: list(events)
    )


def start(tmp_path, provider=None, **overrides):
    provider = provider or FakeProvider()
    args = {
        "algorithm": "train_tabular",
        "params": {"target": "label"},
        "epsilon": 1,
        "order_tx": ORDER,
        "jobs_dir": tmp_path / "jobs",
    }
    args.update(overrides)
    handle = compute.start_job(fake_market(), provider, None, DATATOKEN, **args)
    return handle, provider


def test_start_signs_a_compute_request_for_the_job(tmp_path) -> None:
    handle, provider = start(tmp_path, environment="gpu", proof=["0x" + "11" * 32])
    sent = provider.started[0]
    request = auth.ComputeRequest.from_json(sent["request"])
    auth.verify_compute_signature(request, sent["signature"], 31337, MARKET)
    assert auth.parse_job_spec(sent["job"]) == sent["job"]
    auth.verify_job_hash(request, sent["job"])
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


def test_the_job_file_is_private_and_loads_back(tmp_path) -> None:
    handle, _ = start(tmp_path)
    path = tmp_path / "jobs" / f"{JOB}.json"
    assert handle.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert set(saved) >= {"job_id", "token", "provider_url", "datatoken", "order_tx", "x25519_private_key"}
    assert saved["provider_url"] == "http://provider.test" and saved["created_at"].endswith("Z")
    loaded = compute.load_job(tmp_path / "jobs", JOB)
    assert (loaded.job_id, loaded.token, loaded.private_key) == (
        handle.job_id,
        handle.token,
        handle.private_key,
    )
    assert loaded.job == handle.job
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_secrets_stay_out_of_the_repr(tmp_path) -> None:
    handle, _ = start(tmp_path)
    shown = repr(handle)
    assert handle.token not in shown and handle.private_key not in shown


def test_load_job_refusals(tmp_path) -> None:
    with pytest.raises(compute.JobNotFound):
        compute.load_job(tmp_path, JOB)
    with pytest.raises(compute.JobNotFound):
        compute.load_job(tmp_path, "../" + JOB)
    handle, _ = start(tmp_path)
    os.chmod(handle.path, 0o644)
    with pytest.raises(compute.ComputeError, match="readable by others"):
        compute.load_job(tmp_path / "jobs", JOB)
    os.chmod(handle.path, 0o600)
    handle.path.write_text("[]")
    with pytest.raises(compute.ComputeError, match="not a job file"):
        compute.load_job(tmp_path / "jobs", JOB)


def test_a_bad_job_id_from_the_provider_is_not_used_as_a_file_name(tmp_path) -> None:
    with pytest.raises(compute.ComputeError, match="job_id"):
        start(tmp_path, FakeProvider(job_id="../../evil"))
    assert list((tmp_path / "jobs").iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"algorithm": "Not A Name"}, compute.ComputeError),
        ({"algorithm": "no/such/file.py"}, compute.ComputeError),
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
            raise ProviderError("no_worker", "no worker serves this environment now", status=503)

    monkeypatch.setattr(compute.download, "order", order)
    with pytest.raises(ProviderError) as caught:
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
    handle = compute.start_job(market, FakeProvider(), None, DATATOKEN, algorithm="train_tabular",
                               params={}, epsilon=1, order_tx=ORDER, jobs_dir=tmp_path / "a")  # fmt: skip
    assert handle.order_id == 9

    market = fake_market([mine, order_event(11)])
    with pytest.raises(compute.download.DownloadError, match="2 orders") as caught:
        compute.start_job(market, FakeProvider(), None, DATATOKEN, algorithm="train_tabular", params={},
                          epsilon=1, order_tx=ORDER, jobs_dir=tmp_path / "b")  # fmt: skip
    assert caught.value.details == {"order_ids": [9, 11]}
    provider = FakeProvider()
    handle = compute.start_job(market, provider, None, DATATOKEN, algorithm="train_tabular", params={},
                               epsilon=1, order_tx=ORDER, order_id=11, jobs_dir=tmp_path / "c")  # fmt: skip
    assert handle.order_id == 11 and provider.started[0]["request"]["orderId"] == 11
    with pytest.raises(compute.download.DownloadError, match="no order 8"):
        compute.start_job(market, FakeProvider(), None, DATATOKEN, algorithm="train_tabular", params={},
                          epsilon=1, order_tx=ORDER, order_id=8, jobs_dir=tmp_path / "d")  # fmt: skip


def test_an_epsilon_over_the_remaining_budget_is_refused_before_ordering(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(compute.download, "order", lambda *a: pytest.fail("ordered"))
    provider = FakeProvider()
    provider.remaining = 0.5
    with pytest.raises(compute.ComputeError, match="privacy budget"):
        start(tmp_path, provider, order_tx=None, epsilon=1.0)


def test_a_bundle_is_published_to_the_store(tmp_path) -> None:
    bundle = pytest.importorskip("datamarket.bundle")
    from datamarket.storage.embedded import EmbeddedStore

    folder = tmp_path / "algo"
    folder.mkdir()
    (folder / "main.py").write_text("print('progress: 1')\n")
    store = EmbeddedStore(tmp_path / "store")
    provider = FakeProvider()
    handle = compute.start_job(
        fake_market(), provider, store, DATATOKEN, algorithm=folder, params={}, epsilon=None,
        order_tx=ORDER, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    algorithm = provider.started[0]["job"]["algorithm"]
    data = b"".join(store.cat(algorithm["bundle"]))
    assert algorithm["sha256"] == bundle.bundle_hash(data) == compute.pack_bundle(folder)[1]
    assert handle.job["algorithm"] == algorithm
    with pytest.raises(compute.ComputeError, match="content store"):
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
    final = compute.wait(handle, on_update=seen.append, poll_s=0, provider=provider)
    assert final["state"] == "succeeded"
    assert [s["state"] for s in seen] == ["queued", "running", "succeeded"]
    assert all(call[2] == handle.token for call in provider.calls)


def test_wait_times_out(tmp_path) -> None:
    handle, provider = start(tmp_path, FakeProvider([{"state": "running", "progress": 0.1}]))
    with pytest.raises(compute.JobTimeout):
        compute.wait(handle, poll_s=0.01, timeout=0.05, provider=provider)


def test_wait_gives_up_on_a_provider_that_stays_away(tmp_path) -> None:
    down = ProviderUnavailable("provider_unavailable", "down", status=0)
    handle, provider = start(tmp_path, FakeProvider([down]))
    with pytest.raises(ProviderUnavailable):
        compute.wait(handle, poll_s=0, provider=provider)
    assert len(provider.calls) == compute.MAX_POLL_FAILURES


def test_status_logs_and_cancel_use_the_jobs_token(tmp_path, monkeypatch) -> None:
    handle, provider = start(tmp_path, FakeProvider([{"state": "running"}]))
    monkeypatch.setattr(compute, "ProviderClient", lambda url: provider)
    assert compute.status(handle)["state"] == "running"
    assert compute.logs(handle)["logs"].endswith("done\n")
    assert compute.cancel(handle)["state"] == "cancelled"
    assert [c[0] for c in provider.calls] == ["status", "logs", "cancel"]
    assert {c[2] for c in provider.calls} == {"tok-" + JOB}
