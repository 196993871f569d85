"""Sample and aggregate's pure core: the block split, reading a block's output, clipping, the noise,
and the job's output spec."""

from __future__ import annotations

import csv
import json
import math
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from compute_to_data import aggregate
from datamarket.auth import InvalidRequest
from datamarket.jobs.spec import job_hash, parse_job_spec
from datamarket.output_spec import (
    MAX_COORDINATES,
    InvalidOutputSpec,
    OutputSpec,
    blocks_of,
    parse_output_spec,
)

SPEC3 = OutputSpec.from_json({"format": "json", "shape": [3], "lower": [-1, 0, 10], "upper": [1, 4, 20]})


# ------------------------------------------------------------------------------------ the split


def test_blocks_are_disjoint_and_cover_every_row() -> None:
    rows = [[str(i)] for i in range(103)]
    blocks = aggregate.split_rows(rows, 10)
    assert len(blocks) == 10
    seen = [r[0] for b in blocks for r in b]
    assert sorted(seen, key=int) == [str(i) for i in range(103)]
    assert len(set(seen)) == 103


def test_each_row_goes_to_a_uniform_block_on_its_own() -> None:
    """What makes the release DP for adding or removing a row: the same draws put the other rows in
    the same blocks whether one more row is there or not, and every block is equally likely."""
    rows = list(range(1000))
    with_row = aggregate.split_rows([*rows, "x"], 4, random.Random(5))
    without = aggregate.split_rows(rows, 4, random.Random(5))
    assert [[r for r in b if r != "x"] for b in with_row] == without
    counts = [0] * 5
    for seed in range(2000):
        for i, block in enumerate(aggregate.split_rows(range(3), 5, random.Random(seed))):
            counts[i] += len(block)
    assert all(abs(c - 1200) < 5 * (6000 * 0.2 * 0.8) ** 0.5 for c in counts), counts


def test_the_split_is_shuffled() -> None:
    rows = list(range(200))
    first = aggregate.split_rows(rows, 4)[0]
    assert first != list(range(len(first)))  # a prefix by chance: probability below 4**-50
    assert aggregate.split_rows(rows, 4, random.Random(1)) == aggregate.split_rows(rows, 4, random.Random(1))


def test_blocks_keep_the_header_and_quoted_newlines(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    table = [["name", "note"], ["a", "one\nline two"], ["b", 'say "hi", twice'], ["c", "plain"]]
    with source.open("w", newline="") as f:
        csv.writer(f).writerows(table)
    header, rows = aggregate.read_rows(source)
    assert header == ["name", "note"]
    assert rows == table[1:]
    written = []
    for i, block in enumerate(aggregate.split_rows(rows, 2)):
        target = tmp_path / f"block{i}.csv"
        aggregate.write_block(target, header, block)
        with target.open(newline="") as f:
            back = list(csv.reader(f))
        assert back[0] == header
        written += back[1:]
    assert sorted(written) == sorted(table[1:])


def test_a_file_that_is_not_csv_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "data.csv"
    bad.write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(aggregate.UnsupportedData):
        aggregate.read_rows(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(aggregate.UnsupportedData):
        aggregate.read_rows(empty)


# ------------------------------------------------------------------------------- block outputs


def _out(tmp_path: Path, files: dict[str, bytes]) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)
    return out


def test_a_well_formed_json_output_is_read(tmp_path: Path) -> None:
    spec = OutputSpec.from_json({"format": "json", "shape": [2, 2], "lower": -5, "upper": 5})
    out = _out(tmp_path, {"output.json": b"[[1, 2.5], [-3, 4]]"})
    assert aggregate.read_block_output(out, spec).tolist() == [1, 2.5, -3, 4]


def test_a_well_formed_safetensors_output_is_read(tmp_path: Path) -> None:
    spec = OutputSpec.from_json({"format": "safetensors", "shape": [3], "lower": -5, "upper": 5})
    data = save({"w": np.array([1.5, -2.0, 3.25], dtype=np.float32)})
    out = _out(tmp_path, {"output.safetensors": data})
    assert aggregate.read_block_output(out, spec).tolist() == [1.5, -2.0, 3.25]


def _safetensors(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"output.json": b"[1, 2]"},  # wrong length
        {"output.json": b"[1, 2, 3, 4]"},
        {"output.json": b"[[1], [2], [3]]"},  # wrong nesting
        {"output.json": b"[1, 2, NaN]"},
        {"output.json": b"[1, 2, Infinity]"},
        {"output.json": b"[1, 2, 1e999]"},
        {"output.json": b"[1, 2, true]"},
        {"output.json": b'[1, 2, "3"]'},
        {"output.json": b"[1, 2, null]"},
        {"output.json": b"[1, 2, 3"},
        {"output.json": b"\xff[1, 2, 3]"},
        {"output.json": b"[1, 2, " + b"9" * 400 + b"]"},
        {"output.json": b"[1, 2, 3]", "extra.txt": b"rows"},  # an extra file
        {"output.safetensors": save({"w": np.zeros(3, dtype=np.float32)})},  # wrong format
        {"output.json": b"[1, 2, 3]" + b" " * aggregate.MAX_OUTPUT_BYTES},  # too large
    ],
)
def test_every_malformed_json_output_is_none(tmp_path: Path, files: dict[str, bytes]) -> None:
    assert aggregate.read_block_output(_out(tmp_path, files), SPEC3) is None


SAFE3 = OutputSpec.from_json({"format": "safetensors", "shape": [3], "lower": -1, "upper": 1})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 7,
        struct.pack("<Q", 10**6) + b"{}",
        _safetensors({}, b""),
        save({"a": np.zeros(3, dtype=np.float32), "b": np.zeros(3, dtype=np.float32)}),  # two tensors
        save({"a": np.zeros(4, dtype=np.float32)}),  # wrong shape
        save({"a": np.zeros((3, 1), dtype=np.float32)}),
        save({"a": np.array([1, np.nan, 0], dtype=np.float32)}),
        save({"a": np.array([1, np.inf, 0], dtype=np.float64)}),
        save({"a": np.zeros(3, dtype=np.float32)}) + b"trailing",
        save({"a": np.zeros(3, dtype=np.bool_)}),
        _safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [4, 16]}}, b"\x00" * 16),
        _safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12], "x": 1}}, b"\x00" * 12),
        _safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}, b"\x00" * 8),
        _safetensors([1, 2], b""),
    ],
)
def test_every_malformed_safetensors_output_is_none(tmp_path: Path, data: bytes) -> None:
    assert aggregate.read_block_output(_out(tmp_path, {"output.safetensors": data}), SAFE3) is None


def test_a_symlinked_or_folder_output_is_none(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("[0, 1, 15]")
    out = tmp_path / "out"
    out.mkdir()
    (out / "output.json").symlink_to(target)
    assert aggregate.read_block_output(out, SPEC3) is None
    (out / "output.json").unlink()
    (out / "output.json").mkdir()
    assert aggregate.read_block_output(out, SPEC3) is None


# ----------------------------------------------------------------------- clipping and averaging


def test_outputs_are_clipped_and_failures_are_the_midpoint() -> None:
    outputs = [np.array([5.0, -3.0, 15.0]), None, np.array([-9.0, 2.0, 30.0]), None]
    mean = aggregate.combine(outputs, SPEC3)
    expected = (
        np.array([1, 0, 15]) + np.array([0, 2, 15]) + np.array([-1, 2, 20]) + np.array([0, 2, 15])
    ) / 4
    assert mean.tolist() == expected.tolist()


def test_sensitivity_is_the_bounds_range_over_k() -> None:
    assert aggregate.sensitivity(SPEC3, 4) == pytest.approx((2 + 4 + 10) / 4)


def test_the_release_states_its_mechanism_and_keeps_the_shape() -> None:
    spec = OutputSpec.from_json({"format": "json", "shape": [2, 3], "lower": 0, "upper": 1})
    rel = aggregate.release([np.full(6, 0.5)] * 5, spec, 2.0)
    doc = rel.to_json()
    assert np.asarray(doc["values"]).shape == (2, 3)
    assert doc["epsilon"] == 2.0 and doc["blocks"] == 5 and doc["mechanism"] == "laplace"
    assert doc["sensitivity_l1"] == pytest.approx(6 / 5)
    assert doc["noise_scale"] == pytest.approx(6 / 5 / 2.0)
    json.dumps(doc, allow_nan=False)


def test_release_refuses_a_zero_epsilon() -> None:
    with pytest.raises(ValueError):
        aggregate.release([None, None], SPEC3, 0.0)


def test_noise_has_the_stated_laplace_scale_and_no_bias() -> None:
    """A constant algorithm released many times: the mean is the constant and the variance is
    2 b^2 with b = (sum of ranges / k) / epsilon, within a statistical tolerance."""
    spec = OutputSpec.from_json({"format": "json", "shape": [1], "lower": -2, "upper": 2})
    k, epsilon, runs = 8, 1.5, 20_000
    constant = np.array([0.7])
    released = np.array([aggregate.release([constant] * k, spec, epsilon).values[0] for _ in range(runs)])
    b = (4 / k) / epsilon
    # Standard error of the mean is sqrt(2) b / sqrt(n); of the variance about sqrt(20) b^2 / sqrt(n)
    # (the Laplace kurtosis is 6): 5 standard errors make a false failure vanishingly rare.
    assert abs(released.mean() - 0.7) < 5 * math.sqrt(2) * b / math.sqrt(runs)
    assert abs(released.var() - 2 * b * b) < 5 * math.sqrt(20) * b * b / math.sqrt(runs)
    # Laplace, not Gaussian: the mean absolute deviation is b (it is b * sqrt(pi) / 2 ... for a normal
    # of the same variance, about 1.13 b).
    assert abs(np.abs(released - 0.7).mean() - b) < 0.03 * b


def test_two_releases_draw_different_noise() -> None:
    spec = OutputSpec.from_json({"format": "json", "shape": [4], "lower": 0, "upper": 1})
    a = aggregate.release([None] * 3, spec, 1.0).values
    b = aggregate.release([None] * 3, spec, 1.0).values
    assert not np.array_equal(a, b)


# ---------------------------------------------------------------------------------- the spec


def _job(**output) -> dict:
    job = {"algorithm": "train_tabular", "params": {}, "epsilon": 1.0, "environment": "cpu"}
    job.update(output)
    return job


def test_a_job_without_output_hashes_as_before() -> None:
    old = _job()
    assert parse_job_spec(old) == old
    assert "output" not in parse_job_spec(old)
    assert parse_job_spec(_job(output=None)) == _job(output=None)


def test_the_output_spec_round_trips_with_the_same_hash() -> None:
    spec = _job(output={"format": "safetensors", "shape": [2, 3], "lower": [0, 1, 2, 3, 4, 5.5], "upper": 9})
    received = json.loads(json.dumps(spec))
    assert job_hash(parse_job_spec(received)) == job_hash(spec)
    parsed = OutputSpec.from_json(spec["output"])
    assert parsed.size == 6 and parsed.lower[5] == 5.5 and parsed.upper == (9.0,) * 6
    assert parsed.midpoint[0] == 4.5


@pytest.mark.parametrize(
    ("output", "field"),
    [
        ([], "job.output"),
        ({"format": "json", "shape": [1], "lower": 0}, "job.output"),
        ({"format": "json", "shape": [1], "lower": 0, "upper": 1, "x": 1}, "job.output"),
        ({"format": "csv", "shape": [1], "lower": 0, "upper": 1}, "job.output.format"),
        ({"format": "json", "shape": 3, "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [0], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [-2], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [True], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [1.5], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [1, 1, 1, 1, 1], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [MAX_COORDINATES + 1], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [65, 64], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [10**30, 0], "lower": 0, "upper": 1}, "job.output.shape"),
        ({"format": "json", "shape": [2], "lower": [0], "upper": 1}, "job.output.lower"),
        ({"format": "json", "shape": [2], "lower": 0, "upper": [1, 2, 3]}, "job.output.upper"),
        ({"format": "json", "shape": [1], "lower": float("nan"), "upper": 1}, "job.output.lower"),
        ({"format": "json", "shape": [1], "lower": 0, "upper": float("inf")}, "job.output.upper"),
        ({"format": "json", "shape": [1], "lower": 0, "upper": 1e300}, "job.output.upper"),
        ({"format": "json", "shape": [1], "lower": "0", "upper": 1}, "job.output.lower"),
        ({"format": "json", "shape": [1], "lower": True, "upper": 1}, "job.output.lower"),
        ({"format": "json", "shape": [2], "lower": [0, 1], "upper": [1, 1]}, "job.output.lower"),
        ({"format": "json", "shape": [1], "lower": 1, "upper": 0}, "job.output.lower"),
    ],
)
def test_bad_output_specs_are_named(output, field: str) -> None:
    with pytest.raises(InvalidOutputSpec) as caught:
        parse_job_spec(_job(output=output))
    assert caught.value.details["field"] == field
    assert caught.value.code == "invalid_output_spec"


def test_unknown_job_fields_are_still_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_job_spec(_job(outputs={}))


def test_blocks_default_and_minimum() -> None:
    assert blocks_of({}) == 10
    assert blocks_of({"aggregate": {"blocks": 4}}) == 4
    assert blocks_of({"aggregate": {"blocks": 1}}) == 2
    parse_output_spec({"format": "json", "shape": [], "lower": 0, "upper": 1})
