"""The raw-row index built in a capped child process: the same index as built in the worker, and a
fixed failure (never the worker's death, a hang, or the data in the error) at the caps."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compute_to_data.policy import RawIndex, index_file
from compute_to_data.policy.hashing import _HashTable
from compute_to_data.policy.index_process import (
    FAILURES,
    IndexBuildCancelled,
    IndexBuildError,
    IndexLimits,
    build_index,
)
from compute_to_data.policy.raw_index import _NumericTable

MIB = 1024 * 1024
#: Enough for the child's interpreter and libraries and a small dataset, far from enough for the
#: token-dense one below.
SMALL_CAP = IndexLimits(memory_bytes=640 * MIB)


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, _HashTable | _NumericTable):
        return type(a) is type(b) and same(vars(a), vars(b))
    return type(a) is type(b) and a == b


def assert_same_index(built: RawIndex, expected: RawIndex) -> None:
    assert list(vars(built)) == list(vars(expected))
    for name, value in vars(expected).items():
        assert same(getattr(built, name), value), name


@pytest.fixture(scope="module")
def inputs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> list[Path]:
    folder = tmp_path_factory.mktemp("inputs")
    notes = folder / "notes.txt"
    notes.write_text(
        "\n".join(f"patient {n} reported a mild headache after the second visit" for n in frame.name)
    )
    records = folder / "records.jsonl"
    frame.head(50).to_json(records, orient="records", lines=True)
    pairs = folder / "pairs.csv"  # rows of two tokens: anchors of two
    pairs.write_text(
        "code,place\n" + "".join(f"c{i * 7919 % 1000},p{i * 104729 % 997}\n" for i in range(100))
    )
    return [data_dir / "train.csv", notes, records, pairs]


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 MiB of token-dense text: lines of thirty distinct three-letter words."""
    rng = np.random.default_rng(3)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    words = letters[rng.integers(0, 26, size=(24 * MIB // 4, 3))]
    cells = np.concatenate([words, np.full((len(words), 1), ord(" "), dtype=np.uint8)], axis=1)
    cells[29::30, 3] = ord("\n")
    path = tmp_path_factory.mktemp("dense") / "dense.txt"
    path.write_bytes(cells.tobytes())
    return path


def test_the_child_builds_the_index_the_worker_would(inputs: list[Path], tmp_path: Path) -> None:
    expected = RawIndex.from_files(inputs)
    assert expected._npatterns > 0 and expected._numeric and len(expected._anchors) >= 2
    built = build_index(inputs, tmp_path)
    assert_same_index(built, expected)
    text = (inputs[0]).read_text().splitlines()[5].replace(",", " ")
    assert built.match_text(text) == expected.match_text(text) is not None
    assert list(tmp_path.iterdir()) == []  # the file is gone once loaded


def test_an_empty_index_round_trips(tmp_path: Path) -> None:
    expected = RawIndex.from_files([])
    index_file.save(expected, tmp_path / "empty.npz")
    assert_same_index(index_file.load(tmp_path / "empty.npz"), expected)


def test_a_file_of_another_format_does_not_load(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", meta=np.frombuffer(b'{"format": 0}', dtype=np.uint8))
    with pytest.raises(ValueError):
        index_file.load(tmp_path / "other.npz")


def test_token_dense_input_hits_the_memory_cap(
    dense: Path, inputs: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    build_index(inputs, tmp_path, limits=SMALL_CAP)  # the cap itself leaves room for a dataset
    caplog.set_level(logging.DEBUG)
    with pytest.raises(IndexBuildError) as caught:
        build_index([dense], tmp_path, limits=SMALL_CAP)
    assert caught.value.code == "raw_index_memory_exceeded"
    assert caught.value.message == FAILURES["raw_index_memory_exceeded"]
    first_words = dense.read_bytes()[:40].decode().split()
    assert not any(word in caplog.text or word in str(caught.value) for word in first_words)
    assert list(tmp_path.iterdir()) == []


def test_cpu_time_is_capped(dense: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexBuildError) as caught:
        build_index([dense], tmp_path, limits=IndexLimits(cpu_s=1))
    assert caught.value.code == "raw_index_time_exceeded"


@dataclass(frozen=True)
class ShortWall(IndexLimits):
    @property
    def wall_s(self) -> float:
        return 0.0


def test_a_child_past_the_wall_clock_is_killed(inputs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(IndexBuildError) as caught:
        build_index(inputs, tmp_path, limits=ShortWall())
    assert caught.value.code == "raw_index_time_exceeded"


def test_cancelling_the_job_stops_the_child(inputs: list[Path], tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(IndexBuildCancelled):
        build_index(inputs, tmp_path, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_any_other_error_is_a_fixed_failure_naming_only_its_type(
    inputs: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with pytest.raises(IndexBuildError) as caught:
        build_index(inputs, tmp_path / "no-such-folder")  # the child cannot write its file
    assert caught.value.code == "raw_index_failed"
    assert "FileNotFoundError" in caplog.text and "no-such-folder" not in caplog.text


def test_a_table_that_does_not_fit_fails_the_build_rather_than_being_read_as_text(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(pd, "read_csv", out_of_memory)
    with pytest.raises(MemoryError):
        RawIndex.from_files([data_dir / "train.csv"])
