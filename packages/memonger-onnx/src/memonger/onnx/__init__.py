"""Static memory plans for ONNX models.

``memonger.onnx`` reads an ONNX model (:func:`load_model`), turns it into
memonger's op form with the bytes of every tensor (:func:`model_graph`:
initializers and folded constants static, symbolic dimensions bound from
``dims``, subgraph reads charged to their owning node), computes the live
ranges of the tensors to plan (:func:`tensor_ranges`) and plans them as
shared objects and as an arena with offsets (:func:`plan_model`).  The
``memonger plan`` / ``memonger stats`` commands (:mod:`memonger.onnx.cli`)
do the same from a shell.

Examples
--------
>>> from onnx import helper, TensorProto
>>> from memonger.onnx import plan_model
>>> info = helper.make_tensor_value_info
>>> nodes = [helper.make_node("Relu", ["x"], ["a"]),
...          helper.make_node("Sigmoid", ["a"], ["b"]),
...          helper.make_node("Add", ["a", "b"], ["c"]),
...          helper.make_node("Relu", ["c"], ["y"])]
>>> g = helper.make_graph(nodes, "g", [info("x", TensorProto.FLOAT, ["batch", 64])],
...                       [info("y", TensorProto.FLOAT, ["batch", 64])])
>>> plan = plan_model(helper.make_model(g), dims={"batch": 4}, offsets=False)
>>> plan.naive_bytes, plan.peak_bytes
(5120, 3072)
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memonger.onnx.errors import (
        InvalidModelError,
        MissingDependencyError,
        NotOnnxError,
        OnnxError,
        ShapeInferenceError,
        TruncatedModelError,
        UnknownDimensionError,
        UnknownSizeError,
        UnsupportedModelError,
    )
    from memonger.onnx.graph import RANDOM_OPS, VIEW_OPS, ModelGraph, OnnxOp, model_graph
    from memonger.onnx.load import ModelSource, load_model, looks_like_onnx
    from memonger.onnx.plan import ModelPlan, plan_model
    from memonger.onnx.ranges import ORDERS, ModelRanges, model_ranges, tensor_ranges
    from memonger.onnx.sizes import ELEMENT_BITS, element_bits, tensor_nbytes

_LAZY: dict[str, tuple[str, str | None]] = {
    "ELEMENT_BITS": ("memonger.onnx.sizes", "ELEMENT_BITS"),
    "InvalidModelError": ("memonger.onnx.errors", "InvalidModelError"),
    "MissingDependencyError": ("memonger.onnx.errors", "MissingDependencyError"),
    "ModelGraph": ("memonger.onnx.graph", "ModelGraph"),
    "ModelPlan": ("memonger.onnx.plan", "ModelPlan"),
    "ModelRanges": ("memonger.onnx.ranges", "ModelRanges"),
    "ModelSource": ("memonger.onnx.load", "ModelSource"),
    "NotOnnxError": ("memonger.onnx.errors", "NotOnnxError"),
    "ORDERS": ("memonger.onnx.ranges", "ORDERS"),
    "OnnxError": ("memonger.onnx.errors", "OnnxError"),
    "OnnxOp": ("memonger.onnx.graph", "OnnxOp"),
    "RANDOM_OPS": ("memonger.onnx.graph", "RANDOM_OPS"),
    "ShapeInferenceError": ("memonger.onnx.errors", "ShapeInferenceError"),
    "TruncatedModelError": ("memonger.onnx.errors", "TruncatedModelError"),
    "UnknownDimensionError": ("memonger.onnx.errors", "UnknownDimensionError"),
    "UnknownSizeError": ("memonger.onnx.errors", "UnknownSizeError"),
    "UnsupportedModelError": ("memonger.onnx.errors", "UnsupportedModelError"),
    "VIEW_OPS": ("memonger.onnx.graph", "VIEW_OPS"),
    "element_bits": ("memonger.onnx.sizes", "element_bits"),
    "load_model": ("memonger.onnx.load", "load_model"),
    "looks_like_onnx": ("memonger.onnx.load", "looks_like_onnx"),
    "model_graph": ("memonger.onnx.graph", "model_graph"),
    "model_ranges": ("memonger.onnx.ranges", "model_ranges"),
    "plan_model": ("memonger.onnx.plan", "plan_model"),
    "tensor_nbytes": ("memonger.onnx.sizes", "tensor_nbytes"),
    "tensor_ranges": ("memonger.onnx.ranges", "tensor_ranges"),
}


def __getattr__(name: str) -> Any:
    # Submodules are imported on first use, so that importing one of them (or
    # running the command's --help) does not import every dependency.
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "ELEMENT_BITS",
    "ORDERS",
    "RANDOM_OPS",
    "VIEW_OPS",
    "InvalidModelError",
    "MissingDependencyError",
    "ModelGraph",
    "ModelPlan",
    "ModelRanges",
    "ModelSource",
    "NotOnnxError",
    "OnnxError",
    "OnnxOp",
    "ShapeInferenceError",
    "TruncatedModelError",
    "UnknownDimensionError",
    "UnknownSizeError",
    "UnsupportedModelError",
    "__version__",
    "element_bits",
    "load_model",
    "looks_like_onnx",
    "model_graph",
    "model_ranges",
    "plan_model",
    "tensor_nbytes",
    "tensor_ranges",
]
