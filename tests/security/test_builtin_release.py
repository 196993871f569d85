"""Hostile buyers against the built-in algorithms: what a job may release about the people in the data.

Each test publishes its own small table of patients (a `name` per person, a `diagnosis`) with the
publisher's declarations, then attacks it through the real market: a target the publisher did not
declare (the model's metadata would list every name), a class subset that turns a job into a membership
query, exact counts in a DP job's metrics and logs, a failing job that costs nothing, a one-hot of the
names without DP, more categories than the cap. Every test here failed on the code before the
declarations (docs/compute.md, "Declarations")."""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from safetensors import safe_open

from datamarket.chain.devchain import dev_account
from datamarket.chain.events import ComputeReceiptPosted, JobStatus
from datamarket.sdk import jobs, results
from datamarket.sdk.job_files import JobHandle
from datamarket.sdk.provider_client import ProviderRefused
from datamarket.sdk.publish import PublishRequest, publish_file
from tests.integration.compute.market import ONE, PUBLISHER, ComputeMarket

pytestmark = pytest.mark.integration

ABSENT = "Zygmunt Absent"  # nobody of that name is in any table here


def patients(rows: int, wards: int = 0, seed: int = 11) -> pd.DataFrame:
    """`rows` people, each named once, with an age, a diagnosis (3 values) and, if asked, a ward
    (`wards` values, equally often)."""
    rng = random.Random(seed)
    frame = pd.DataFrame(
        {
            "name": [f"Patient {i:03d} {rng.choice('ABCDEFGH')}." for i in range(rows)],
            "age": [rng.randint(20, 90) for _ in range(rows)],
            "diagnosis": [("flu", "cold", "asthma")[i % 3] for i in range(rows)],
        }
    )
    if wards:
        frame["ward"] = [f"ward {i % wards:02d}" for i in range(rows)]
    return frame


def publish(m: ComputeMarket, tmp_path: Path, frame: pd.DataFrame, **declared: Any) -> ComputeMarket:
    """The table published for compute only, with these declarations; the market pointed at it."""
    csv = tmp_path / "patients.csv"
    frame.to_csv(csv, index=False)
    published = publish_file(
        PublishRequest(
            path=csv, name="Patients (compute only)", price=1 * ONE,
            payment_token=m.local.contracts["payment_token"], download=False, compute=True,
            epsilon_budget=50.0, max_epsilon_per_job=5.0, **declared,
        ),
        market=m.market.as_account(dev_account(PUBLISHER)), store=m.store, provider_info=m.provider.info(),
        provider_url=m.provider.base_url,
    )  # fmt: skip
    return replace(m, datatoken=published.datatoken, csv=csv)


def start(m: ComputeMarket, tmp_path: Path, params: dict, epsilon: float | None = None) -> JobHandle:
    return jobs.start_job(
        m.consumer, m.provider, m.store, m.datatoken, algorithm="train_tabular", params=params,
        epsilon=epsilon, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip


def refusal(m: ComputeMarket, tmp_path: Path, params: dict, epsilon: float | None = None) -> ProviderRefused:
    with pytest.raises(ProviderRefused) as info:
        start(m, tmp_path, params, epsilon)
    return info.value


def finished(handle: JobHandle) -> dict[str, Any]:
    return jobs.wait(handle, poll_s=0.2, timeout=120)


def model_metadata(handle: JobHandle, m: ComputeMarket, out: Path) -> dict[str, Any]:
    results.fetch_result(handle, m.store, out)
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["datamarket"])


def numbers_in(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", text)}


# --- what may be a target, and its classes ---------------------------------------------------------


@pytest.fixture(scope="module")
def ward(compute_market: ComputeMarket, tmp_path_factory: pytest.TempPathFactory) -> ComputeMarket:
    """18 patients. The publisher declares the diagnosis a target and, carelessly, every name as a
    categorical domain: each name occurs once, below min_category_count."""
    frame = patients(18)
    names = {"type": "categorical", "values": sorted(frame["name"])}
    folder = tmp_path_factory.mktemp("ward")
    return publish(compute_market, folder, frame, targets=("diagnosis",), columns={"name": names})


def test_a_target_the_publisher_did_not_declare_is_refused(ward: ComputeMarket, tmp_path: Path) -> None:
    before = ward.provider.privacy(ward.datatoken)
    error = refusal(ward, tmp_path, {"target": "name"}, epsilon=1.0)
    assert error.status == 422 and error.code == "target_not_declared"
    assert error.details["targets"] == ["diagnosis"]
    after = ward.provider.privacy(ward.datatoken)
    assert after["remaining"] == before["remaining"]  # refused before anything was reserved


def test_a_class_subset_is_no_membership_query(ward: ComputeMarket, tmp_path: Path) -> None:
    """classes = [a present person, another] against [an absent person, another]: on the old code the first
    trained and the second failed (one row of each class is needed). Both are refused alike now, as is
    any buyer-chosen subset of the declared classes."""
    present = sorted(patients(18)["name"])[:2]
    answers = []
    for classes in (present, [ABSENT, present[1]]):
        error = refusal(ward, tmp_path, {"target": "name", "classes": classes})
        # The client adds the (fresh) order's hash and id to the message, for reuse: that alone may differ.
        answer = json.dumps([error.status, error.code, error.message, error.details])
        answer = re.sub('"order_id": [0-9]+', '"order_id": <id>', answer)
        answers.append(re.sub(r"order [0-9]+ in 0x[0-9a-f]{64}|0x[0-9a-f]{64}", "<order>", answer))
    assert answers[0] == answers[1] and '"param_not_allowed"' in answers[0]
    error = refusal(ward, tmp_path, {"target": "diagnosis", "classes": ["flu", "cold"]})
    assert error.status == 422 and error.code == "param_not_allowed" and error.details["param"] == "classes"


def test_without_dp_a_one_hot_of_the_names_encodes_none_of_them(ward: ComputeMarket, tmp_path: Path) -> None:
    handle = start(ward, tmp_path, {"target": "diagnosis", "epochs": 2})
    final = finished(handle)
    assert final["state"] == "succeeded", final
    metadata = model_metadata(handle, ward, tmp_path / "result")
    names = set(patients(18)["name"])
    released = json.dumps(metadata)
    assert not [name for name in names if name in released]
    assert all(input_["column"] != "name" for input_ in metadata["inputs"])
    assert metadata["classes"] == ["asthma", "cold", "flu"]


# --- a DP job's counts, and the category cap -------------------------------------------------------


@pytest.fixture(scope="module")
def clinic(compute_market: ComputeMarket, tmp_path_factory: pytest.TempPathFactory) -> ComputeMarket:
    """340 patients in 17 wards of 20 (each ward well above min_category_count in any training split);
    the cap is 8 categories."""
    return publish(
        compute_market, tmp_path_factory.mktemp("clinic"), patients(340, wards=17), targets=("diagnosis",),
        categorical=("ward",), max_categories=8,
    )  # fmt: skip


def test_a_dp_job_releases_no_exact_count(clinic: ComputeMarket, tmp_path: Path) -> None:
    handle = start(clinic, tmp_path, {"target": "diagnosis", "epochs": 3}, epsilon=2.0)
    final = finished(handle)
    assert final["state"] == "succeeded", final
    results.fetch_result(handle, clinic.store, tmp_path / "result")
    metrics = json.loads((tmp_path / "result" / "metrics.json").read_text())
    logs = jobs.logs(handle)["logs"]
    assert logs and not {"n_train", "n_test"} & set(metrics)
    frame = patients(340, wards=17)
    n_test = round(340 * 0.2)
    exact = {340.0, 340.0 - n_test, float(n_test), *map(float, frame["diagnosis"].value_counts())}
    released = numbers_in(json.dumps(metrics)) | numbers_in(logs)
    released.discard(metrics.get("rows_noisy"))
    assert not exact & released, exact & released


def test_the_category_cap_holds(clinic: ComputeMarket, tmp_path: Path) -> None:
    error = refusal(clinic, tmp_path, {"target": "diagnosis", "max_categories": 100})
    assert error.status == 422 and error.code == "param_not_allowed"
    handle = start(clinic, tmp_path, {"target": "diagnosis", "epochs": 2})
    final = finished(handle)
    assert final["state"] == "succeeded", final
    metadata = model_metadata(handle, clinic, tmp_path / "result")
    wards = [f for f in metadata["features"] if f.startswith("ward=")]
    assert 0 < len(wards) <= 8


def test_a_failing_job_is_charged_like_one_that_succeeds(clinic: ComputeMarket, tmp_path: Path) -> None:
    """Two DP jobs that differ by one value: one trains, the other fails inside the algorithm. Both are
    charged the same epsilon, so success or failure is never a free oracle; the failure releases no log."""
    ok = start(clinic, tmp_path, {"target": "diagnosis", "epochs": 2}, epsilon=1.0)
    bad = start(clinic, tmp_path, {"target": "diagnosis", "epochs": 2, "model": "no such model"}, epsilon=1.0)
    done, failed = finished(ok), finished(bad)
    assert done["state"] == "succeeded" and failed["state"] == "failed", (done["error"], failed["error"])
    assert done["epsilon"] == failed["epsilon"] == {"requested": 1.0, "charged": 1.0}
    assert jobs.logs(bad)["logs"] == ""
    # On chain too: the failed job's receipt carries its epsilon, which the market counts as spent.
    deadline = time.monotonic() + 60
    while not (status := jobs.status(bad))["receipt"] and time.monotonic() < deadline:
        time.sleep(0.3)
    assert status["receipt"], "the failed job's receipt was not posted"
    mined = clinic.market.w3.eth.get_transaction_receipt(status["receipt"]["tx"])
    posted = [e for e in clinic.market._own_events(mined["logs"]) if isinstance(e, ComputeReceiptPosted)]
    mine = [e for e in posted if e.job_id.endswith(bad.job_id)]
    assert len(mine) == 1 and mine[0].epsilon == 1_000_000 and mine[0].status == JobStatus.FAILED
