"""What of a run reaches the buyer's view of the job: tenth-step, rising, rate-limited progress;
failure reasons from a fixed list with fixed messages; whole-second timings."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compute_to_data import failures
from compute_to_data.runner import PROGRESS_INTERVAL_S, ProgressGate
from provider.jobs import coarse_timings


def feed(lines: list[str], step_s: float) -> list[float]:
    gate, released = ProgressGate(), []
    for i, line in enumerate(lines):
        value = gate.offer(line, i * step_s)
        if value is not None:
            released.append(value)
    return released


def test_exact_floats_become_rising_tenths() -> None:
    lines = [f"progress: {v}" for v in (0.1234567891, 0.05, 0.333333, 0.3999, 0.41, 0.9999, 1.0, 7.0)]
    assert feed(lines, PROGRESS_INTERVAL_S) == [0.1, 0.3, 0.4, 0.9]


def test_progress_is_rate_limited() -> None:
    lines = [f"progress: {i / 100}" for i in range(100)]
    released = feed(lines, 0.01)  # 100 lines in one second
    assert len(released) == 1


@pytest.mark.parametrize(
    "line", ["progress: nan", "progress: inf", "progress: -inf", "progress: x", "hello 0.5"]
)
def test_non_values_are_ignored(line: str) -> None:
    assert ProgressGate().offer(line, 100.0) is None


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=200))
def test_any_stream_releases_at_most_nine_rising_tenths(values: list[float]) -> None:
    released = feed([f"progress: {v!r}" for v in values], PROGRESS_INTERVAL_S)
    assert released == sorted(set(released))
    assert len(released) <= 9
    assert all(round(v * 10) == v * 10 and 0.1 <= v <= 0.9 for v in released)


def test_an_exit_status_never_reaches_the_message() -> None:
    code, message = failures.sandbox_reason("exited")
    assert code == "algorithm_failed" and not any(ch.isdigit() for ch in message)
    for stop, expected in failures.SANDBOX_REASONS.items():
        assert failures.sandbox_reason(stop) == (expected, failures.REASONS[expected])


def test_policy_codes_map_to_fixed_messages_and_unknown_ones_to_the_generic() -> None:
    assert failures.reason("raw_rows_in_output") == (
        "raw_rows_in_output",
        failures.REASONS["raw_rows_in_output"],
    )
    assert failures.reason("made up: row 1, alice") == ("rejected", failures.REASONS["rejected"])
    assert failures.reason(None) == ("rejected", failures.REASONS["rejected"])


def test_every_policy_verdict_code_has_a_fixed_message() -> None:
    import compute_to_data.policy as policy

    sources = "".join(p.read_text() for p in Path(policy.__file__).parent.glob("*.py"))
    codes = set(re.findall(r'_reject\(\s*"([a-z_]+)"', sources))
    assert len(codes) >= 8
    assert codes <= set(failures.REASONS), codes - set(failures.REASONS)


def test_timings_are_whole_seconds_rounded_up() -> None:
    timings = coarse_timings({"queued": 0.004, "staging": 0.089, "running": 3.2, "checking": 0.0})
    assert timings == {"queued": 1.0, "staging": 1.0, "running": 4.0, "checking": 0.0}
    assert all(math.isclose(v, round(v)) for v in timings.values())
