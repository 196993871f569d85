"""Untrusted code under sample and aggregate (docs/privacy.md): a hostile bundle on a dataset that
allows any algorithm releases only a clipped, averaged, Laplace-noised vector, with no logs, no
progress and no exit status; jobs that do not declare an output spec and an epsilon are refused; a
trusted bundle still runs the ordinary path. The membership test runs in-process, through the
worker's own block split and aggregation core, since it needs thousands of trials."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from compute_to_data import aggregate
from datamarket.chain.devchain import dev_account
from datamarket.chain.quotes import SERVICE_COMPUTE
from datamarket.output_spec import InvalidOutputSpec, OutputSpec
from datamarket.sdk import jobs, orders, results
from datamarket.sdk.job_files import JobHandle
from datamarket.sdk.provider_client import ProviderRefused
from datamarket.sdk.publish import PublishRequest, publish_file
from tests.integration.compute.market import JOBS, LIMITS, ONE, PUBLISHER, ComputeMarket

HERE = Path(__file__).parent / "aggregate_jobs"
K = 2
SLOT_S = float(LIMITS["DATAMARKET_WORKER_JOB_AGGREGATE_SLOT_S"])


@pytest.fixture(scope="module")
def open_dataset(compute_market: ComputeMarket) -> str:
    """breast_cancer for compute, any algorithm allowed (k = 2), the test's slow.py trusted."""
    m = compute_market
    published = publish_file(
        PublishRequest(
            path=m.csv, name="Breast cancer (any algorithm)", price=1 * ONE,
            payment_token=m.local.contracts["payment_token"], download=False, compute=True,
            epsilon_budget=1000.0, max_epsilon_per_job=50.0, trusted_algorithms=(m.trusted["slow.py"],),
            allow_any_algorithm=True, aggregate_blocks=K,
        ),
        market=m.market.as_account(dev_account(PUBLISHER)), store=m.store, provider_info=m.provider.info(),
        provider_url=m.provider.base_url,
    )  # fmt: skip
    return published.datatoken


def _start(m: ComputeMarket, datatoken: str, tmp_path: Path, algorithm: Path, **kw) -> JobHandle:
    kw.setdefault("params", {})
    kw.setdefault("epsilon", None)
    return jobs.start_job(
        m.consumer, m.provider, m.store, datatoken, algorithm=algorithm, jobs_dir=tmp_path / "jobs", **kw
    )


def _run(m: ComputeMarket, datatoken: str, tmp_path: Path, algorithm: Path, **kw) -> tuple[dict, dict]:
    """Run a job to its end; (its final status, the released aggregate)."""
    handle = _start(m, datatoken, tmp_path, algorithm, **kw)
    progress: set[float] = set()
    final = jobs.wait(handle, on_update=lambda s: progress.add(s["progress"]), poll_s=0.1, timeout=120)
    assert final["state"] == "succeeded", final
    # Nothing between 0 and 1, no error, no logs, whatever the blocks printed or how they ended.
    assert progress <= {0.0, 1.0}
    assert final["error"] is None
    assert jobs.logs(handle)["logs"] == ""
    assert final["epsilon"]["charged"] == final["epsilon"]["requested"] == kw["epsilon"]
    # The running phase lasts its k slots whatever the blocks did.
    assert final["timings"]["running"] >= K * SLOT_S - 0.5
    out = tmp_path / "result"
    files = results.fetch_result(handle, m.store, out)
    assert [p.name for p in files] == ["aggregate.json"]
    released = json.loads((out / "aggregate.json").read_text())
    assert set(released) == {
        "values", "shape", "epsilon", "mechanism", "noise_scale", "sensitivity_l1", "blocks", "method"
    }  # fmt: skip
    assert released["blocks"] == K and released["mechanism"] == "laplace"
    assert released["epsilon"] == kw["epsilon"]
    return final, released


def _spec(shape: list[int], lower, upper) -> dict:
    return {"format": "json", "shape": shape, "lower": lower, "upper": upper}


pytestmark = pytest.mark.integration


def test_packed_row_bytes_recover_nothing_beyond_the_noise(
    compute_market: ComputeMarket, open_dataset: str, tmp_path: Path
) -> None:
    m, n, epsilon = compute_market, 64, 1.0
    _, released = _run(
        m, open_dataset, tmp_path, HERE / "pack_bytes.py", params={"n": n}, epsilon=epsilon,
        output=_spec([n], 0, 255),
    )  # fmt: skip
    assert released["sensitivity_l1"] == pytest.approx(n * 255 / K)
    assert released["noise_scale"] == pytest.approx(n * 255 / K / epsilon)
    # A lenient attacker: a coordinate counts as recovered when its rounded value is the byte at
    # that position of ANY real row. Without the noise, the bytes both blocks' rows share (digits,
    # dots, commas in the same places) would all come out; with it, fewer than chance allows.
    rows = m.csv.read_bytes().split(b"\n")[1:]
    seen = [{row[i] for row in rows if len(row) > i} for i in range(n)]
    guesses = [round(v) for v in released["values"]]
    recovered = sum(g in s for g, s in zip(guesses, seen, strict=True))
    # Each coordinate's noise has scale 8160: P(landing on one of <= 16 byte values) < 16 / 8160.
    assert recovered <= 3, recovered


def test_out_of_bound_values_are_clipped(
    compute_market: ComputeMarket, open_dataset: str, tmp_path: Path
) -> None:
    # One coordinate in [0, 1], epsilon 40: the noise scale is 1 / 2 / 40 = 0.0125, so 0.2 is 16
    # scales (a false failure has probability e^-16). Unclipped, the release would be near 1e6.
    _, released = _run(
        compute_market, open_dataset, tmp_path, HERE / "shaped_output.py",
        params={"mode": "out_of_bounds", "value": 1e6}, epsilon=40.0, output=_spec([1], 0, 1),
    )  # fmt: skip
    assert abs(released["values"][0] - 1.0) < 0.2, released


@pytest.mark.parametrize("mode", ["wrong_shape", "extra_file", "crash"])
def test_a_malformed_or_failed_block_counts_as_the_midpoint(
    compute_market: ComputeMarket, open_dataset: str, tmp_path: Path, mode: str
) -> None:
    # Every block writes 1.0 (the upper bound) where it writes anything; a well-formed output would
    # release about 1.0, the midpoint is 0.5.
    _, released = _run(
        compute_market, open_dataset, tmp_path, HERE / "shaped_output.py",
        params={"mode": mode, "value": 1.0}, epsilon=40.0, output=_spec([1], 0, 1),
    )  # fmt: skip
    assert abs(released["values"][0] - 0.5) < 0.2, released


def test_how_long_blocks_run_does_not_show_in_the_job_timing(
    compute_market: ComputeMarket, open_dataset: str, tmp_path: Path
) -> None:
    """Blocks that sleep past their slot and blocks that end at once: the running phase lasts k
    slots either way (the slot's tear-down margin apart), so the time cannot carry a row's value."""
    timings = {}
    for mode, value in (("sleep", 60.0), ("out_of_bounds", 1.0)):
        final, _ = _run(
            compute_market, open_dataset, tmp_path / mode, HERE / "shaped_output.py",
            params={"mode": mode, "value": value}, epsilon=1.0, output=_spec([1], 0, 1),
        )  # fmt: skip
        timings[mode] = final["timings"]["running"]
    # A leak would show a whole slot or more (the sleeper is killed at 80% of each slot, then waits).
    assert abs(timings["sleep"] - timings["out_of_bounds"]) < SLOT_S, timings


def test_a_job_without_output_spec_or_epsilon_is_refused(
    compute_market: ComputeMarket, open_dataset: str, tmp_path: Path
) -> None:
    m = compute_market
    order = orders.order(m.consumer, m.provider, open_dataset, SERVICE_COMPUTE).tx_hash
    bundle = HERE / "pack_bytes.py"
    with pytest.raises(ProviderRefused) as no_spec:
        _start(m, open_dataset, tmp_path, bundle, epsilon=1.0, order_tx=order)
    assert (no_spec.value.status, no_spec.value.code) == (422, "output_spec_required")
    with pytest.raises(ProviderRefused) as no_epsilon:
        _start(m, open_dataset, tmp_path, bundle, output=_spec([2], 0, 1), order_tx=order)
    assert (no_epsilon.value.status, no_epsilon.value.code) == (422, "epsilon_required")
    # The SDK parses the spec as the provider does: a malformed one is refused before it is sent.
    with pytest.raises(InvalidOutputSpec) as bad_spec:
        _start(m, open_dataset, tmp_path, bundle, epsilon=1.0, order_tx=order,
               output={"format": "json", "shape": [2], "lower": 1, "upper": 0})  # fmt: skip
    assert bad_spec.value.code == "invalid_output_spec"


def test_a_trusted_bundle_still_runs_the_ordinary_path(
    compute_market: ComputeMarket, open_dataset: str, tmp_path: Path
) -> None:
    m = compute_market
    order = orders.order(m.consumer, m.provider, open_dataset, SERVICE_COMPUTE).tx_hash
    with pytest.raises(ProviderRefused) as unexpected:
        _start(m, open_dataset, tmp_path, JOBS / "slow.py", params={"seconds": 0.2}, epsilon=1.0,
               output=_spec([1], 0, 1), order_tx=order)  # fmt: skip
    assert (unexpected.value.status, unexpected.value.code) == (422, "output_spec_unexpected")
    handle = _start(m, open_dataset, tmp_path, JOBS / "slow.py", params={"seconds": 0.2}, order_tx=order)
    final = jobs.wait(handle, poll_s=0.1, timeout=60)
    assert final["state"] == "succeeded", final
    assert [p.name for p in results.fetch_result(handle, m.store, tmp_path / "out")] == ["metrics.json"]
    assert "done" in jobs.logs(handle)["logs"]


# ------------------------------------------------------------------------ membership inference


@pytest.mark.parametrize("neighbour", ["replaced", "removed"])
@pytest.mark.parametrize("epsilon", [0.1, 1.0])
def test_membership_inference_advantage_stays_within_the_dp_bound(
    tmp_path: Path, epsilon: float, neighbour: str
) -> None:
    """Neighbouring tables (the target row, or another row in its place, or no row in its place), a
    hostile algorithm that outputs 1 when its block holds the target row, the worker's split and
    release, many trials. The best threshold test's advantage (true minus false positive rate) is
    at most tanh(epsilon / 2) for an epsilon-DP release; it is 1 without the noise."""
    from datamarket.demo import write_breast_cancer_csv

    path = tmp_path / "breast_cancer.csv"
    write_breast_cancer_csv(path)
    _, rows = aggregate.read_rows(path)
    target, others = rows[0], rows[1:]
    k, trials = 10, 3000
    spec = OutputSpec.from_json(_spec([1], 0, 1))
    rng = np.random.default_rng(7)
    member = rng.random(trials) < 0.5
    scores = np.empty(trials)
    for t in range(trials):
        if member[t]:
            table = [*others, target]
        else:
            table = [*others, others[t % len(others)]] if neighbour == "replaced" else list(others)
        blocks = aggregate.split_rows(table, k)
        outputs = [np.array([1.0 if any(r is target for r in block) else 0.0]) for block in blocks]
        scores[t] = aggregate.release(outputs, spec, epsilon).values[0]
    # The likelihood-ratio test's threshold is halfway between 0 and 1/k.
    guess = scores > 0.5 / k
    advantage = guess[member].mean() - guess[~member].mean()
    bound = math.tanh(epsilon / 2)
    # Standard error of a difference of two rates over ~1500 trials each is at most 0.018.
    assert advantage <= bound + 0.06, (advantage, bound)
    if epsilon <= 0.1:
        assert abs(advantage) < 0.11, advantage  # near 0
