"""ONNX outputs: parsed and checked with the onnx package, self-contained, their strings and tensors
scanned for raw rows; refused when the worker cannot parse them."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

from compute_to_data.policy import PolicyLimits, RawIndex, Verdict, check_outputs


def check(out: Path, index: RawIndex) -> Verdict:
    return check_outputs(out, "", index, epsilon=None, dp_required=False, limits=PolicyLimits())


def linear_model(weight: np.ndarray, *, doc: str = "", extra: list[Any] | None = None) -> onnx.ModelProto:
    """y = x @ W, with W an initializer (float32 or float64)."""
    elem = TensorProto.DOUBLE if weight.dtype == np.float64 else TensorProto.FLOAT
    x = helper.make_tensor_value_info("x", elem, [1, weight.shape[0]])
    y = helper.make_tensor_value_info("y", elem, [1, weight.shape[1]])
    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="linear")
    graph = helper.make_graph(
        [node], "model", [x], [y], [numpy_helper.from_array(weight, "W"), *(extra or [])], doc_string=doc
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save(out: Path, model: onnx.ModelProto, name: str = "model.onnx") -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(model.SerializeToString())


def test_a_real_model_passes(tmp_path: Path, index: RawIndex) -> None:
    weights = np.random.default_rng(3).normal(size=(5, 2)).astype(np.float32)
    save(tmp_path, linear_model(weights, doc="logistic regression, 5 features"))
    assert check(tmp_path, index) == Verdict(ok=True)


@pytest.mark.parametrize(
    "content",
    [
        b"\x08" + bytes(range(1, 200)),  # the right first byte, then anything
        b"\x08\x07" + b"\xff" * 64,
        b"\x08\x08\x12\x07pytorch",  # a header with no graph: the checker refuses it
    ],
)
def test_bytes_named_onnx_are_refused(tmp_path: Path, index: RawIndex, content: bytes) -> None:
    (tmp_path / "model.onnx").write_bytes(content)
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code, verdict.file) == (False, "file_type_not_allowed", "model.onnx")


def test_external_data_is_refused(tmp_path: Path, index: RawIndex) -> None:
    model = linear_model(np.ones((5, 2), np.float32))
    tensor = model.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    tensor.ClearField("raw_data")
    save(tmp_path, model)
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "file_type_not_allowed")
    assert "external data" in (verdict.message or "")


def test_a_row_in_the_doc_string_is_found(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    row = " ".join(str(v) for v in frame.iloc[17].tolist())
    save(tmp_path, linear_model(np.ones((5, 2), np.float32), doc=row))
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "raw_rows_in_output")


def test_names_in_a_string_tensor_are_found(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    rows = np.array([" ".join(str(v) for v in frame.iloc[i].tolist()) for i in range(5)], dtype=object)
    extra = [numpy_helper.from_array(rows, "labels")]
    save(tmp_path, linear_model(np.ones((5, 2), np.float32), extra=extra))
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "raw_rows_in_output")


def test_a_column_in_a_double_tensor_is_found(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    """float64 data is stored as packed doubles, which the byte-level float32 scan cannot read."""
    column = frame["income"].to_numpy(np.float64)[:40].reshape(20, 2)
    model = linear_model(column)
    model.graph.initializer[0].ClearField("raw_data")
    model.graph.initializer[0].double_data.extend(column.ravel().tolist())
    save(tmp_path, model)
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "raw_rows_in_output")


def test_without_the_onnx_package_onnx_is_refused(
    tmp_path: Path, index: RawIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(tmp_path, linear_model(np.ones((5, 2), np.float32)))
    real_import = builtins.__import__

    def no_onnx(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "file_type_not_allowed")


def test_fields_onnx_does_not_define_are_refused(
    tmp_path: Path, index: RawIndex, frame: pd.DataFrame
) -> None:
    """Protobuf keeps unknown fields and writes them back: rows hidden there would leave unread."""
    row = " ".join(str(v) for v in frame.iloc[3].tolist()).encode()
    hidden = bytes([0xC2, 0x3E]) + bytes([len(row)]) + row  # field 1000, length-delimited
    (tmp_path / "model.onnx").write_bytes(
        linear_model(np.ones((5, 2), np.float32)).SerializeToString() + hidden
    )
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "file_type_not_allowed")
    assert "does not define" in (verdict.message or "")


def test_a_column_under_training_info_is_found(tmp_path: Path, index: RawIndex, frame: pd.DataFrame) -> None:
    model = linear_model(np.ones((5, 2), np.float32))
    info = model.training_info.add()
    column = frame["income"].to_numpy(np.float64)[:40]
    info.initialization.CopyFrom(
        helper.make_graph([], "init", [], [], [numpy_helper.from_array(column, "stolen")])
    )
    save(tmp_path, model)
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "raw_rows_in_output"), verdict
    assert verdict.details.get("tensor") == "stolen"


def test_too_much_text_is_refused(tmp_path: Path, index: RawIndex) -> None:
    save(tmp_path, linear_model(np.ones((5, 2), np.float32), doc="word " * 300_000))
    verdict = check(tmp_path, index)
    assert (verdict.ok, verdict.code) == (False, "file_type_not_allowed")
    assert "text" in (verdict.message or "")


def test_an_onnx_model_over_its_cap_is_refused(tmp_path: Path, index: RawIndex) -> None:
    save(tmp_path, linear_model(np.ones((64, 64), np.float32)))
    verdict = check_outputs(
        tmp_path, "", index, epsilon=None, dp_required=False, limits=PolicyLimits(onnx_bytes=4096)
    )
    assert (verdict.ok, verdict.code) == (False, "output_too_large")
