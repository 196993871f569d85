"""ONNX outputs, parsed: what the output policy checks in a ``.onnx`` file.

An ONNX model is a protobuf ``ModelProto``. Without parsing it, any bytes named ``.onnx`` would pass
(bytes the raw-row scan only reads as printable runs and float32 words). So a model is loaded with
the ``onnx`` package and checked by its checker; the worker refuses ONNX outputs outright when the
package is missing (fail closed). A model whose tensors point at external data is refused: only the
file itself is released. What the scan then reads: every string the model holds (names, doc
strings, metadata, string attributes and string tensors) and every tensor's values, by type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class OnnxInvalid(ValueError):
    """The bytes are not a valid, self-contained ONNX model; the message says why (no content)."""


@dataclass
class OnnxContents:
    """The strings and the tensors (name, values) of one model."""

    strings: list[str] = field(default_factory=list)
    tensors: list[tuple[str, np.ndarray]] = field(default_factory=list)


def parse(data: bytes) -> OnnxContents:
    """Load, check and take apart an ONNX model; OnnxInvalid if any of it fails."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise OnnxInvalid("the worker cannot check ONNX models (the onnx package is missing)") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # a protobuf decode error of any kind
        raise OnnxInvalid("not an ONNX model") from None
    contents = OnnxContents()
    for tensor in _tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            raise OnnxInvalid("a tensor refers to external data; a model must be self-contained")
    try:
        onnx.checker.check_model(model)
    except Exception:  # any failure of the checker refuses the file
        raise OnnxInvalid("not a valid ONNX model") from None
    _collect_strings(model, contents.strings)
    for tensor in _tensors(model):
        try:
            values = numpy_helper.to_array(tensor)
        except Exception:
            raise OnnxInvalid("a tensor does not decode") from None
        if values.dtype.kind in "SUO":
            contents.strings.extend(_as_text(v) for v in values.ravel())
        else:
            contents.tensors.append((tensor.name, values))
    return contents


def _as_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _graphs(graph: Any) -> Iterator[Any]:
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for sub in attribute.graphs:
                yield from _graphs(sub)


def _all_graphs(model: Any) -> Iterator[Any]:
    yield from _graphs(model.graph)
    yield from model.functions  # functions hold nodes like a graph's


def _tensors(model: Any) -> Iterator[Any]:
    for graph in _all_graphs(model):
        yield from getattr(graph, "initializer", ())
        for sparse in getattr(graph, "sparse_initializer", ()):
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors


def _collect_strings(model: Any, out: list[str]) -> None:
    out += [model.producer_name, model.producer_version, model.domain, model.doc_string]
    for prop in model.metadata_props:
        out += [prop.key, prop.value]
    for graph in _all_graphs(model):
        out += [graph.name, graph.doc_string]
        for info in (
            *getattr(graph, "input", ()),
            *getattr(graph, "output", ()),
            *getattr(graph, "value_info", ()),
        ):
            out += [info.name, info.doc_string]
        for name in (*getattr(graph, "input", ()), *getattr(graph, "output", ())):
            if isinstance(name, str):  # a function's inputs and outputs are plain names
                out.append(name)
        for node in graph.node:
            out += [node.name, node.op_type, node.domain, node.doc_string, *node.input, *node.output]
            for attribute in node.attribute:
                out += [attribute.name, attribute.doc_string, _as_text(attribute.s)]
                out += [_as_text(s) for s in attribute.strings]
        for tensor in getattr(graph, "initializer", ()):
            out += [tensor.name, tensor.doc_string]


__all__ = ["OnnxContents", "OnnxInvalid", "parse"]
