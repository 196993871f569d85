"""Nothing but the outputs carries data out (docs/privacy.md): a hostile algorithm, trusted by the
dataset so that it runs, tries the job's status instead — progress values, its exit status, an
output's file name, the epsilon it claims, bytes named .onnx — and an invalid bundle must fail as
``invalid_bundle``, never as an internal error. Each attempt is refused by the fixed-list reasons,
the progress gate or the ONNX parse."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compute_to_data import failures
from compute_to_data.policy import output_hash as policy_output_hash
from datamarket.chain.events import ComputeReceiptPosted
from datamarket.jobs.spec import canonical_json
from datamarket.sdk import jobs, results
from tests.integration.compute.market import ComputeMarket, publish_compute_dataset, wait_for

pytestmark = pytest.mark.integration

CHANNELS = Path(__file__).parent / "algorithms" / "channels.py"
NOT_A_TAR = b"this is not a tar archive at all" * 40


def tar_without_main() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("helper.py")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"x=1"))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def market(compute_market: ComputeMarket) -> Iterator[tuple[ComputeMarket, str, str]]:
    """(the market, a dataset trusting the channels algorithm and the invalid bundles, its first row)."""
    m = compute_market
    invalid = tuple(hashlib.sha256(b).hexdigest() for b in (NOT_A_TAR, tar_without_main()))
    trusted = (jobs.pack_bundle(CHANNELS)[1], *invalid)
    published = publish_compute_dataset(m.local, m.market, m.store, m.provider, m.csv, trusted, per_job=2.0)
    yield m, published.datatoken, m.csv.read_text().splitlines()[1]


def run(
    market: tuple[ComputeMarket, str, str], tmp_path: Path, channel: str, *, epsilon=None, seen=None
) -> dict:
    m, datatoken, _ = market
    handle = jobs.start_job(
        m.consumer, m.provider, m.store, datatoken, algorithm=CHANNELS, params={"channel": channel},
        epsilon=epsilon, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    return jobs.wait(handle, on_update=seen.append if seen is not None else None, poll_s=0.05, timeout=120)


def numbers_of(row: str) -> list[str]:
    """The row's values as the CSV writes them, long enough not to match by chance."""
    return [v for v in row.split(",") if len(v.replace(".", "")) >= 4]


def assert_fixed_reason(final: dict[str, Any], code: str) -> None:
    assert final["error"] == {"code": code, "message": failures.REASONS[code], "details": {}}, final


def test_progress_carries_tenths_only(market, tmp_path: Path) -> None:
    seen: list[dict] = []
    final = run(market, tmp_path, "progress", seen=seen)
    assert final["state"] == "failed"
    assert_fixed_reason(final, "algorithm_failed")
    values = [s["progress"] for s in seen]
    assert values == sorted(values), "progress fell"
    assert all(round(v * 10) == v * 10 and v < 1 for v in values), values
    assert len(set(values)) <= 10
    # The algorithm printed about 30 digits a line: none of them is in anything the buyer read.
    text = json.dumps(seen)
    for value in numbers_of(market[2]):
        assert value not in text


def test_exit_status_is_not_told(market, tmp_path: Path) -> None:
    final = run(market, tmp_path, "exit_status")
    assert final["state"] == "failed"
    assert_fixed_reason(final, "algorithm_failed")
    assert not re.search(r"\d", json.dumps(final["error"]))


def test_an_output_file_name_is_not_told(market, tmp_path: Path) -> None:
    final = run(market, tmp_path, "file_name")
    assert final["state"] == "rejected"
    assert_fixed_reason(final, "file_type_not_allowed")
    for value in numbers_of(market[2]):
        assert value not in json.dumps(final)


def test_a_claimed_epsilon_is_not_told(market, tmp_path: Path) -> None:
    final = run(market, tmp_path, "epsilon_claim", epsilon=1.0)
    assert final["state"] == "rejected"
    assert_fixed_reason(final, "epsilon_exceeded")
    assert not re.search(r"\d", json.dumps(final["error"]))


def test_bytes_named_onnx_are_refused(market, tmp_path: Path) -> None:
    final = run(market, tmp_path, "onnx_bytes")
    assert final["state"] == "rejected"
    assert_fixed_reason(final, "file_type_not_allowed")


def test_a_real_onnx_model_is_released_with_coarse_timings(market, tmp_path: Path) -> None:
    m, datatoken, _ = market
    handle = jobs.start_job(
        m.consumer, m.provider, m.store, datatoken, algorithm=CHANNELS, params={"channel": "onnx_model"},
        epsilon=None, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    final = jobs.wait(handle, poll_s=0.1, timeout=120)
    assert final["state"] == "succeeded", final
    files = results.fetch_result(handle, m.store, tmp_path / "result")
    assert [p.name for p in files] == ["model.onnx"]
    # How long the algorithm took to print or to run is its choice: whole seconds, no first line.
    assert "first_output_s" not in final
    assert final["timings"] and all(float(v).is_integer() for v in final["timings"].values()), final


@pytest.mark.parametrize(
    ("content", "reason"),
    [(NOT_A_TAR, "not an uncompressed tar archive"), (tar_without_main(), "main.py")],
    ids=["not_a_tar", "no_main"],
)
def test_an_invalid_bundle_fails_as_invalid_bundle(
    market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, reason: str
) -> None:
    """The buyer's client is theirs: it sends any bytes as a bundle, with their true hash."""
    m, datatoken, _ = market
    monkeypatch.setattr(jobs, "_bundle", lambda algorithm: (content, hashlib.sha256(content).hexdigest()))
    handle = jobs.start_job(
        m.consumer, m.provider, m.store, datatoken, algorithm="hostile", params={}, epsilon=None,
        jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    final = jobs.wait(handle, poll_s=0.1, timeout=120)
    assert final["state"] == "failed", final
    assert final["error"]["code"] == "invalid_bundle" and reason in final["error"]["message"], final


def test_the_receipts_output_hash_confirms_no_guess(market, tmp_path: Path) -> None:
    """The output hash is public on chain. A guess at a small result (here the row count) hashed as
    the manifest would be must not match it; the buyer, who has the salt, can check it."""
    m, datatoken, _ = market
    handle = jobs.start_job(
        m.consumer, m.provider, m.store, datatoken, algorithm=CHANNELS, params={"channel": "small_result"},
        epsilon=None, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    final = jobs.wait(handle, poll_s=0.1, timeout=120)
    assert final["state"] == "succeeded", final
    status = wait_for(lambda: (s := jobs.status(handle))["receipt"] and s, what="receipt")
    receipt = m.market.w3.eth.get_transaction_receipt(status["receipt"]["tx"])
    posted = [e for e in m.market._own_events(receipt["logs"]) if isinstance(e, ComputeReceiptPosted)]
    (mine,) = [e for e in posted if e.job_id.endswith(handle.job_id)]
    on_chain = mine.output_hash.removeprefix("0x")

    rows = len(m.csv.read_text().splitlines()) - 1
    guess = json.dumps({"rows": rows}).encode()
    manifest = [{"path": "metrics.json", "size": len(guess), "sha256": hashlib.sha256(guess).hexdigest()}]
    assert hashlib.sha256(canonical_json(manifest)).hexdigest() != on_chain  # the unsalted guess fails

    result = m.provider.compute_result(handle.job_id, handle.token)
    assert result["outputs"] == manifest  # the guess was right: only the salt tells it
    assert policy_output_hash(manifest, result["output_salt"]) == on_chain
