"""check_outputs: every rule and every code, an accepted normal output, manifest and output hash."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file

from compute_to_data.policy import (
    PolicyLimits,
    RawIndex,
    Verdict,
    check_outputs,
    manifest,
    output_hash,
)


def check(
    out: Path,
    index: RawIndex,
    logs: str = "",
    *,
    epsilon: float | None = None,
    dp: bool = False,
    limits: PolicyLimits | None = None,
) -> Verdict:
    return check_outputs(out, logs, index, epsilon=epsilon, dp_required=dp, limits=limits or PolicyLimits())


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def row_values(frame: pd.DataFrame, i: int) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in frame.iloc[i].tolist()]


def safetensors_bytes(header: dict[str, Any], data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def assert_rejected(verdict: Verdict, code: str, file: str | None = None) -> None:
    assert not verdict.ok, "expected a rejection"
    assert verdict.code == code, verdict
    if file is not None:
        assert verdict.file == file, verdict


# -- accepted ---------------------------------------------------------------------------------------


def normal_outputs(out: Path, frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    (out / "model").mkdir(parents=True)
    save_file(
        {
            "linear.weight": rng.normal(size=(2, 4)).astype(np.float32),
            "linear.bias": np.zeros(2, dtype=np.float32),
            "scaler.mean": frame[["age", "income", "score"]].mean().to_numpy(np.float64),
            "steps": np.array([1000], dtype=np.int64),
        },
        str(out / "model" / "weights.safetensors"),
        metadata={"format": "np", "features": "age income score label"},
    )
    counts = frame["label"].value_counts().sort_index()
    metrics = {
        "accuracy": 0.91,
        "n": len(frame),
        "epsilon_spent": 0.5,
        "histogram": {str(k): int(v) for k, v in counts.items()},
        "mean_age": float(frame["age"].mean()),
    }
    write(out / "metrics.json", json.dumps(metrics))
    aggregate = frame.groupby("city").agg(count=("age", "size"), mean_income=("income", "mean")).round(2)
    write(out / "by_city.csv", aggregate.to_csv())
    write(out / "report.md", "# Report\n\n```\n" + frame.describe().to_string() + "\n```\n")
    write(out / "notes.txt", "trained 10 epochs\n")


NORMAL_LOGS = (
    "progress: 0.1\nepoch 1 loss 0.6931 acc 0.55\nprogress: 0.5\nepoch 2 loss 0.5210\nprogress: 1.0\n"
)


def test_normal_output_is_accepted(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    normal_outputs(tmp_path, frame)
    verdict = check(tmp_path, index, NORMAL_LOGS, epsilon=1.0, dp=True)
    assert verdict == Verdict(ok=True)
    assert check(tmp_path, index, NORMAL_LOGS).ok


def test_empty_or_missing_output_folder_is_accepted(tmp_path: Path, index: RawIndex) -> None:
    assert check(tmp_path, index).ok
    assert check(tmp_path / "missing", index).ok


def test_exactly_1000_csv_rows_and_epsilon_at_the_limit(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "t.csv", "k,v\n" + "".join(f"{i},{i % 3}\n" for i in range(1000)))
    write(tmp_path / "metrics.json", '{"epsilon_spent": 1.0000000000001}')
    assert check(tmp_path, index, epsilon=1.0, dp=True).ok


# -- file types and pickles -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.bin", "README", "data.parquet", "x.h5", ".hidden", "script.py"])
def test_other_types_are_refused(tmp_path: Path, index: RawIndex, name: str) -> None:
    write(tmp_path / name, b"hello")
    assert_rejected(check(tmp_path, index), "file_type_not_allowed", name)


def test_plain_npy_is_refused_by_type(tmp_path: Path, index: RawIndex) -> None:
    np.save(tmp_path / "x.npy", np.arange(5.0))
    assert_rejected(check(tmp_path, index), "file_type_not_allowed", "x.npy")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.onnx", b"\x12\x00garbage"),
        ("empty.onnx", b""),
        ("latin.csv", "a,b\ncaf\u00e9,1\n".encode("latin-1")),
        ("latin.txt", "caf\u00e9".encode("latin-1")),
    ],
)
def test_content_not_matching_the_extension(
    tmp_path: Path, index: RawIndex, name: str, content: bytes
) -> None:
    write(tmp_path / name, content)
    assert_rejected(check(tmp_path, index), "file_type_not_allowed", name)


def torch_like_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": [1.0]}))
        archive.writestr("archive/version", "3")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("model.pkl", pickle.dumps({"w": [1, 2]})),
        ("model.pickle", pickle.dumps([1], protocol=2)),
        ("model.joblib", b"not even a pickle"),
        ("model.pt", torch_like_zip()),
        ("model.pth", b"x"),
        ("model.json", pickle.dumps({"w": 1}, protocol=5)),
        ("weights.safetensors", pickle.dumps({"w": 1}, protocol=4)),
        ("weights.bin", torch_like_zip()),
        ("report.txt", pickle.dumps("text", protocol=3)),
    ],
)
def test_pickles_are_refused_whatever_their_name(
    tmp_path: Path, index: RawIndex, name: str, content: bytes
) -> None:
    write(tmp_path / name, content)
    assert_rejected(check(tmp_path, index), "pickle_not_allowed", name)


def test_object_npy_is_a_pickle(tmp_path: Path, index: RawIndex) -> None:
    np.save(tmp_path / "x.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert_rejected(check(tmp_path, index), "pickle_not_allowed", "x.npy")


# -- sizes and counts -------------------------------------------------------------------------------


def test_total_size(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "a.txt", "x" * 600)
    write(tmp_path / "b.txt", "y" * 600)
    assert_rejected(check(tmp_path, index, limits=PolicyLimits(total_bytes=1000)), "output_too_large")
    assert check(tmp_path, index, limits=PolicyLimits(total_bytes=1200)).ok


def test_json_and_text_sizes(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "big.json", json.dumps({"k": "v" * 200}))
    assert_rejected(
        check(tmp_path, index, limits=PolicyLimits(json_bytes=100)), "output_too_large", "big.json"
    )
    (tmp_path / "big.json").unlink()
    write(tmp_path / "big.md", "z" * 300)
    assert_rejected(check(tmp_path, index, limits=PolicyLimits(text_bytes=200)), "output_too_large", "big.md")
    write(tmp_path / "big.md", "z" * (256 * 1024 + 1))
    assert_rejected(check(tmp_path, index), "output_too_large", "big.md")


def test_too_many_files(tmp_path: Path, index: RawIndex) -> None:
    for i in range(4):
        write(tmp_path / f"f{i}.txt", "ok")
    assert_rejected(check(tmp_path, index, limits=PolicyLimits(max_files=3)), "too_many_files")
    assert check(tmp_path, index, limits=PolicyLimits(max_files=4)).ok
    (tmp_path / "sub").mkdir()
    assert_rejected(check(tmp_path, index, limits=PolicyLimits(max_files=4)), "too_many_files")


def test_default_file_count(tmp_path: Path, index: RawIndex) -> None:
    for i in range(65):
        write(tmp_path / f"f{i:02d}.txt", "ok")
    assert_rejected(check(tmp_path, index), "too_many_files")


def test_csv_rows_and_bytes(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "t.csv", "k,v\n" + "".join(f"{i},{i % 3}\n" for i in range(1001)))
    assert_rejected(check(tmp_path, index), "csv_too_large", "t.csv")
    write(tmp_path / "t.csv", "k,v\n" + "1,2\n" * 10)
    assert_rejected(check(tmp_path, index, limits=PolicyLimits(csv_bytes=20)), "csv_too_large", "t.csv")
    write(tmp_path / "t.csv", "k,v\n" + "x" * (1024 * 1024))
    assert_rejected(check(tmp_path, index), "csv_too_large", "t.csv")


# -- special files ----------------------------------------------------------------------------------


def test_symlinks_are_refused(tmp_path: Path, index: RawIndex) -> None:
    out = tmp_path / "out"
    write(out / "real.txt", "ok")
    (out / "link.txt").symlink_to(out / "real.txt")
    assert_rejected(check(out, index), "special_file", "link.txt")
    (out / "link.txt").unlink()
    (out / "etc").symlink_to("/etc")
    assert_rejected(check(out, index), "special_file", "etc")


def test_hard_links_are_refused(tmp_path: Path, index: RawIndex) -> None:
    outside = write(tmp_path / "secret.txt", "raw data")
    out = tmp_path / "out"
    out.mkdir()
    os.link(outside, out / "copy.txt")
    assert_rejected(check(out, index), "special_file", "copy.txt")


def test_fifos_are_refused(tmp_path: Path, index: RawIndex) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    assert_rejected(check(tmp_path, index), "special_file", "pipe.txt")


def test_nested_paths_are_reported_relative(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "a" / "b" / "model.exe", b"MZ")
    assert_rejected(check(tmp_path, index), "file_type_not_allowed", "a/b/model.exe")


def test_first_bad_file_in_path_order_wins(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "b.bin", b"x")
    write(tmp_path / "a.json", "{")
    assert_rejected(check(tmp_path, index), "invalid_json", "a.json")


# -- JSON -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"[-Infinity]",
        b'{"a": 1e999}',
        b'{"a": 1, "a": 2}',
        b'{"x": {"a": 1, "a": 1}}',
        b'{"a": 1} trailing',
        b"{'a': 1}",
        b"",
        b'{"a": "\xff"}',
        b"\xef\xbb\xbf{}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_strict_json(tmp_path: Path, index: RawIndex, content: bytes) -> None:
    write(tmp_path / "out.json", content)
    assert_rejected(check(tmp_path, index), "invalid_json", "out.json")


# -- safetensors ------------------------------------------------------------------------------------

F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "content",
    [
        b"\x01\x02",
        struct.pack("<Q", 10_000) + b"{}",
        struct.pack("<Q", 4) + b"nope",
        safetensors_bytes({"w": {"dtype": "F128", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
        safetensors_bytes({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)),
        safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, bytes(8)),
        safetensors_bytes({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)),
        safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, bytes(16)),
        safetensors_bytes({"w": F32_2}, bytes(12)),
        safetensors_bytes({"w": F32_2, "v": F32_2}, bytes(8)),
        safetensors_bytes({"w": {"dtype": "F32", "shape": [2]}}, bytes(8)),
        safetensors_bytes({"w": [1, 2]}, bytes(8)),
        safetensors_bytes({"w": F32_2, "__metadata__": {"n": 3}}, bytes(8)),
        safetensors_bytes({"w": {**F32_2, "extra": 1}}, bytes(8)),
        safetensors_bytes([1, 2], b""),  # type: ignore[arg-type]
        struct.pack("<Q", 15) + b'{"a":1, "a":2}' + b" ",
    ],
)
def test_invalid_safetensors(tmp_path: Path, index: RawIndex, content: bytes) -> None:
    write(tmp_path / "m.safetensors", content)
    assert_rejected(check(tmp_path, index), "invalid_safetensors", "m.safetensors")


def test_valid_handmade_safetensors(tmp_path: Path, index: RawIndex) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
        "b": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]},
        "empty": {"dtype": "F16", "shape": [0, 3], "data_offsets": [16, 16]},
        "__metadata__": {"format": "pt"},
    }
    write(tmp_path / "m.safetensors", safetensors_bytes(header, bytes(16)))
    assert check(tmp_path, index).ok


# -- raw rows ---------------------------------------------------------------------------------------


def _no_data_in(verdict: Verdict, frame: pd.DataFrame, rows: range) -> None:
    for i in rows:
        for value in frame.iloc[i].tolist():
            text = str(value)
            if len(text) > 3:
                assert text not in (verdict.message or ""), verdict.message


def test_raw_rows_in_csv(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    write(tmp_path / "sample.csv", frame.iloc[20:25].to_csv(index=False))
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "sample.csv")
    assert verdict.details == {"match": "row", "source": "train.csv", "row": 20, "column": None}
    assert "row 20" in verdict.message and "train.csv" in verdict.message
    _no_data_in(verdict, frame, range(20, 25))


@pytest.mark.parametrize("name", ["head.txt", "head.md"])
def test_raw_rows_in_text(tmp_path: Path, index: RawIndex, frame: pd.DataFrame, name: str) -> None:
    write(tmp_path / name, "First rows:\n" + frame.head().to_string() + "\n")
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", name)
    _no_data_in(verdict, frame, range(5))


def test_raw_rows_in_json(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    write(tmp_path / "metrics.json", json.dumps({"accuracy": 0.9, "worst": row_values(frame, 33)}))
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "metrics.json")
    assert verdict.details["row"] == 33


def test_raw_rows_in_json_columns_orient(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    write(tmp_path / "dump.json", frame.iloc[:10].to_json())  # {"name": {"0": ..., "1": ...}, ...}
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "dump.json")
    assert verdict.details["match"] == "run"


def test_run_in_output(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    write(tmp_path / "ids.json", json.dumps({"names": frame["name"].tolist()[70:80]}))
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "ids.json")
    assert verdict.details == {"match": "run", "source": "train.csv", "row": 70, "column": "name"}
    assert "'name'" in verdict.message
    _no_data_in(verdict, frame, range(70, 80))


def test_raw_rows_in_safetensors_metadata(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    note = ",".join(str(v) for v in row_values(frame, 44))
    save_file({"w": np.ones(3, dtype=np.float32)}, str(tmp_path / "m.safetensors"), metadata={"note": note})
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "m.safetensors")
    assert verdict.details["row"] == 44


def test_training_data_saved_as_a_tensor(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    features = np.ascontiguousarray(frame[["age", "income", "score"]].to_numpy(np.float32))
    save_file({"w": np.ones(3, dtype=np.float32), "x_train": features}, str(tmp_path / "m.safetensors"))
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "m.safetensors")
    assert verdict.details["match"] == "tensor_row" and verdict.details["tensor"] == "x_train"
    save_file({"x_train": features.T.copy()}, str(tmp_path / "m.safetensors"))  # column-major
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "m.safetensors")
    assert verdict.details["match"] == "tensor_run"


def test_target_saved_as_a_tensor(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    save_file({"y": frame["income"].to_numpy(np.float64)}, str(tmp_path / "m.safetensors"))
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output", "m.safetensors")
    assert verdict.details["match"] == "tensor_run"


def test_csv_bytes_smuggled_as_u8_tensor(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    raw = np.frombuffer(frame.iloc[:3].to_csv(index=False).encode(), dtype=np.uint8)
    save_file({"blob": raw.copy()}, str(tmp_path / "m.safetensors"))
    assert_rejected(check(tmp_path, index), "raw_rows_in_output", "m.safetensors")


def test_raw_rows_in_logs(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    normal_outputs(tmp_path, frame)
    logs = NORMAL_LOGS + f"debug: {row_values(frame, 150)}\n"
    verdict = check(tmp_path, index, logs)
    assert_rejected(verdict, "raw_rows_in_logs")
    assert verdict.file is None and verdict.details["row"] == 150
    _no_data_in(verdict, frame, range(150, 151))
    logs = NORMAL_LOGS + frame.sample(5, random_state=0).to_string()
    assert_rejected(check(tmp_path, index, logs), "raw_rows_in_logs")


def test_raw_rows_in_file_names(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    name = " ".join(str(v) for v in row_values(frame, 77))
    write(tmp_path / "sub" / f"{name}.txt", "ok")
    verdict = check(tmp_path, index)
    assert_rejected(verdict, "raw_rows_in_output")
    assert verdict.file is None and verdict.details["row"] == 77
    _no_data_in(verdict, frame, range(77, 78))


# -- epsilon ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metrics",
    [
        None,
        {"accuracy": 0.9},
        {"epsilon_spent": "0.5"},
        {"epsilon_spent": True},
        {"epsilon_spent": None},
        {"epsilon_spent": -0.1},
        [0.5],
    ],
)
def test_epsilon_not_declared(tmp_path: Path, index: RawIndex, metrics: Any) -> None:
    if metrics is not None:
        write(tmp_path / "metrics.json", json.dumps(metrics))
    write(tmp_path / "sub" / "metrics.json", '{"epsilon_spent": 0.1}')  # only the top one counts
    assert_rejected(check(tmp_path, index, epsilon=1.0, dp=True), "epsilon_not_declared")


def test_epsilon_exceeded(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "metrics.json", '{"epsilon_spent": 1.5}')
    verdict = check(tmp_path, index, epsilon=1.0, dp=True)
    assert_rejected(verdict, "epsilon_exceeded", "metrics.json")
    assert verdict.details == {"epsilon_spent": 1.5, "epsilon": 1.0}
    write(tmp_path / "metrics.json", '{"epsilon_spent": 1.00001}')
    assert_rejected(check(tmp_path, index, epsilon=1.0, dp=True), "epsilon_exceeded")


def test_epsilon_ignored_without_dp(tmp_path: Path, index: RawIndex) -> None:
    write(tmp_path / "metrics.json", '{"epsilon_spent": 99}')
    assert check(tmp_path, index).ok


def test_dp_without_epsilon_is_a_programming_error(tmp_path: Path, index: RawIndex) -> None:
    with pytest.raises(ValueError):
        check(tmp_path, index, epsilon=None, dp=True)


# -- manifest ---------------------------------------------------------------------------------------


def test_manifest_and_output_hash(tmp_path: Path) -> None:
    write(tmp_path / "b.json", "{}")
    write(tmp_path / "a" / "z.txt", "hello")
    write(tmp_path / "a.txt", "x")
    entries = manifest(tmp_path)
    assert [e["path"] for e in entries] == ["a.txt", "a/z.txt", "b.json"]
    assert entries[1] == {"path": "a/z.txt", "size": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}
    salt = "ab" * 32
    canonical = json.dumps({"outputs": entries, "salt": salt}, sort_keys=True, separators=(",", ":")).encode()
    assert output_hash(entries, salt) == hashlib.sha256(canonical).hexdigest()
    assert output_hash(manifest(tmp_path), salt) == output_hash(entries, salt)
    assert output_hash(entries, "cd" * 32) != output_hash(entries, salt)  # a guess needs the salt
    write(tmp_path / "a.txt", "y")
    assert output_hash(manifest(tmp_path), salt) != output_hash(entries, salt)


def test_manifest_refuses_special_files(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "x")
    (tmp_path / "l.txt").symlink_to(tmp_path / "a.txt")
    with pytest.raises(ValueError):
        manifest(tmp_path)
