"""ONNX outputs, parsed: what the output policy checks in a ``.onnx`` file.

An ONNX model is a protobuf ``ModelProto``. Without parsing it, any bytes named ``.onnx`` would pass
(bytes the raw-row scan only reads as printable runs and float32 words). So a model is loaded with
the ``onnx`` package and checked by its checker; the worker refuses ONNX outputs outright when the
package is missing (fail closed). Refused as well:
- fields that ONNX does not define (protobuf keeps unknown fields and writes them back out, so they
  would leave with the file unread);
- tensors that point at external data: only the file itself is released;
- more text than :data:`MAX_TEXT_BYTES` (real models hold names and a few doc strings; the scan of
  text is the policy's costliest part).
What the scan then reads is found by walking the whole message by its schema, so no part of the
format is left out (sub-graphs, functions, training info, sparse tensors, metadata at every level):
every string field, every bytes field outside a tensor's data, and every tensor's values by type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Text a model may hold, all its strings together.
MAX_TEXT_BYTES = 1 << 20


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
    known = onnx.ModelProto()
    known.CopyFrom(model)
    known.DiscardUnknownFields()
    if known.ByteSize() != model.ByteSize():
        raise OnnxInvalid("the model holds fields that ONNX does not define")
    contents, tensors = OnnxContents(), []
    _walk(model, contents.strings, tensors)
    if sum(len(s) for s in contents.strings) > MAX_TEXT_BYTES:
        raise OnnxInvalid(f"the model holds more than {MAX_TEXT_BYTES} bytes of text")
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            raise OnnxInvalid("a tensor refers to external data; a model must be self-contained")
    try:
        onnx.checker.check_model(model)
    except Exception:  # any failure of the checker refuses the file
        raise OnnxInvalid("not a valid ONNX model") from None
    for tensor in tensors:
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


def _walk(message: Any, strings: list[str], tensors: list[Any]) -> None:
    """Every string, every bytes field outside tensor data, and every TensorProto of ``message``."""
    from google.protobuf.descriptor import FieldDescriptor

    is_tensor = message.DESCRIPTOR.full_name == "onnx.TensorProto"
    if is_tensor:
        tensors.append(message)  # its data (raw_data, *_data) is read by type, as values
    for descriptor, value in message.ListFields():
        values = value if descriptor.is_repeated else (value,)
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            for item in values:
                _walk(item, strings, tensors)
        elif descriptor.type == FieldDescriptor.TYPE_STRING:
            strings.extend(values)
        elif descriptor.type == FieldDescriptor.TYPE_BYTES and not is_tensor:
            strings.extend(_as_text(item) for item in values)


__all__ = ["MAX_TEXT_BYTES", "OnnxContents", "OnnxInvalid", "parse"]
