"""Reading ONNX models, with typed errors that name the file.

:func:`load_model` accepts a path, the serialized bytes or a ``ModelProto``.
Before handing bytes to protobuf, the top level of the message is walked
field by field: protobuf's own parser silently skips unknown fields, so
arbitrary bytes often "parse" as an empty model.  The walk tells three cases
apart:

- every top-level field is a ``ModelProto`` field with the right wire type
  and the data ends on a field boundary: an ONNX model (it must still carry
  an IR version and a graph);
- the data starts with the IR version (every ONNX writer puts field 1
  first) but stops inside a field: a truncated model
  (:class:`TruncatedModelError`);
- anything else: not ONNX (:class:`NotOnnxError`).

:func:`looks_like_onnx` exposes the decision, so that a command can send ONNX
files one way and other files (Caffe2 NetDefs) another.
"""

from __future__ import annotations

import os

import onnx

from memonger.onnx.detect import classify, looks_like_onnx
from memonger.onnx.errors import (
    NotOnnxError,
    OnnxError,
    TruncatedModelError,
    UnsupportedModelError,
)

__all__ = ["ModelSource", "load_model", "looks_like_onnx", "model_label"]

ModelSource = onnx.ModelProto | str | os.PathLike[str] | bytes
"""What :func:`load_model` accepts: a model, a path or serialized bytes."""

_DEFAULT_DOMAINS = ("", "ai.onnx")


def model_label(source: object) -> str:
    """How messages name a model source: its path, ``<bytes>`` or ``<ModelProto>``.

    Examples
    --------
    >>> model_label("models/a.onnx"), model_label(b"x")
    ('models/a.onnx', '<bytes>')
    """
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(source, onnx.ModelProto):
        name = source.graph.name if source.HasField("graph") else ""
        return f"<ModelProto {name!r}>" if name else "<ModelProto>"
    return repr(source)


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    kind = classify(data)
    if not data:
        raise NotOnnxError(f"{label}: not an ONNX model (empty)")
    if kind == "truncated":
        raise TruncatedModelError(
            f"{label}: truncated ONNX model (the data ends inside a field after {len(data)} bytes)"
        )
    if kind == "foreign":
        raise NotOnnxError(f"{label}: not an ONNX model (not a serialized ModelProto)")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError; its module has no type stubs
        raise TruncatedModelError(
            f"{label}: corrupt or truncated ONNX model (a nested message does not parse)"
        ) from exc
    return model


def _check(model: onnx.ModelProto, label: str) -> None:
    if not model.HasField("graph"):
        raise NotOnnxError(f"{label}: not an ONNX model (no graph)")
    if model.ir_version <= 0:
        raise NotOnnxError(f"{label}: not an ONNX model (no IR version)")
    if model.ir_version > onnx.IR_VERSION:
        raise UnsupportedModelError(
            f"{label}: IR version {model.ir_version} is newer than the installed onnx "
            f"{onnx.__version__} supports (IR version {onnx.IR_VERSION}); upgrade onnx"
        )
    if model.ir_version < 3:
        raise UnsupportedModelError(
            f"{label}: IR version {model.ir_version} predates opset imports (3); "
            "convert the model with onnx.version_converter"
        )
    newest = onnx.defs.onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain in _DEFAULT_DOMAINS and opset.version > newest:
            raise UnsupportedModelError(
                f"{label}: opset {opset.version} of the default domain is newer than the "
                f"installed onnx {onnx.__version__} supports ({newest}); upgrade onnx"
            )


def load_model(source: ModelSource, *, load_external_data: bool = False) -> onnx.ModelProto:
    """Read an ONNX model and check that memonger can plan it.

    Parameters
    ----------
    source : ModelProto, path or bytes
        A model (returned as it is after the checks, never modified), the
        path of a ``.onnx`` file, or its serialized bytes.
    load_external_data : bool, optional
        Also read tensors stored in external files (next to the model file).
        Planning needs only their shapes, so the default leaves them out.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    NotOnnxError
        Not a serialized ``ModelProto``, or one without a graph or IR version.
    TruncatedModelError
        The data ends inside a field.
    UnsupportedModelError
        The IR version or the default-domain opset is newer than the
        installed onnx supports, or the IR version predates opsets.
    OnnxError
        External data requested but unavailable.
    OSError
        The file cannot be read.

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> node = helper.make_node("Relu", ["x"], ["y"])
    >>> info = helper.make_tensor_value_info
    >>> g = helper.make_graph([node], "tiny", [info("x", TensorProto.FLOAT, [4])],
    ...                       [info("y", TensorProto.FLOAT, [4])])
    >>> model = load_model(helper.make_model(g).SerializeToString())
    >>> model.graph.node[0].op_type
    'Relu'
    >>> try:
    ...     load_model(b"\\x08\\x07\\x12\\x40abc")
    ... except TruncatedModelError as exc:
    ...     print(exc)
    <bytes>: truncated ONNX model (the data ends inside a field after 7 bytes)
    """
    label = model_label(source)
    base_dir: str | None = None
    if isinstance(source, onnx.ModelProto):
        model = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        model = _parse(bytes(source), label)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as f:
            data = f.read()
        model = _parse(data, label)
        base_dir = os.path.dirname(os.path.abspath(path))
    else:
        raise TypeError(
            f"load_model takes a path, bytes or an onnx.ModelProto, not {type(source).__name__}"
        )
    _check(model, label)
    if load_external_data and _has_external_data(model):
        if base_dir is None:
            raise OnnxError(
                f"{label}: the model stores tensors in external files; pass its path to load them"
            )
        if model is source:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)
            model = copy
        try:
            onnx.external_data_helper.load_external_data_for_model(model, base_dir)
        except Exception as exc:  # OSError, or onnx's checker.ValidationError
            raise OnnxError(f"{label}: cannot load external data: {exc}") from exc
    return model


def _graph_tensors(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    tensors = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
            tensors.extend(attr.tensors)
            subgraphs = [attr.g] if attr.HasField("g") else []
            for sub in [*subgraphs, *attr.graphs]:
                tensors.extend(_graph_tensors(sub))
    return tensors


def _has_external_data(model: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in _graph_tensors(model.graph))
