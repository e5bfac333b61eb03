"""Live ranges of the planned tensors of an ONNX model.

The ranges come from memonger's one liveness model,
:func:`memonger.alloc.compute_liveness`, run over the ops of
:func:`~memonger.onnx.model_graph` in the chosen order (views resolved to
their storage, closed ranges ``[defined, used]`` over op positions
``0 .. n - 1``).  Three ONNX facts are then applied to its result, by
post-processing rather than by inventing ops:

- graph inputs are defined before the first op (``defined = -1``, as the
  liveness model gives any tensor read before it is written; an input that
  no op reads still gets a range ``[-1, -1]``, or ``[-1, n]`` when it is
  also a graph output);
- graph outputs live to the end: the range of a graph output's storage is
  extended to ``used = n``, the position the liveness model gives to a value
  a caller may fetch, also when an op reads the output after it is made;
- workspace tensors (:attr:`memonger.onnx.OnnxOp.workspace`: outputs no node
  reads, subgraph tensors) live exactly while their op runs: ``[p, p]``.

Static tensors (initializers, constants) and tensors of enclosing scopes are
left out; only the storages of :attr:`memonger.onnx.ModelGraph.planned`
tensors appear.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from memonger.alloc import LiveRange, compute_liveness
from memonger.graph import STRATEGIES, compute_interference_graph, order_ops
from memonger.onnx.errors import OnnxError, UnknownSizeError
from memonger.onnx.graph import ModelGraph, OnnxOp, model_graph
from memonger.onnx.load import ModelSource

__all__ = ["ORDERS", "ModelRanges", "model_ranges", "tensor_ranges"]

ORDERS: tuple[str, ...] = tuple(STRATEGIES)
"""Accepted op orders: ``"program"`` (the model's node order), ``"memory"``
(memonger.graph's memory-aware order) and ``"longest-path"``."""

UnknownPolicy = Literal["raise", "skip"]


@dataclass(frozen=True)
class ModelRanges:
    """Ranges with the order and graph they belong to.

    Attributes
    ----------
    graph : ModelGraph
    ranges : dict of str to LiveRange
        One range per planned storage (its root tensor), sizes in bytes.
    ops : tuple of OnnxOp
        The ops in the order the positions refer to.
    num_positions : int
        Number of ops (``n``; graph outputs have ``used = n``).
    skipped : dict of str to str
        Planned tensors left out because their size is unknown (with
        ``unknown="skip"``) -> the reason.
    """

    graph: ModelGraph
    ranges: dict[str, LiveRange]
    ops: tuple[OnnxOp, ...]
    num_positions: int
    skipped: dict[str, str]


def _ordered(graph: ModelGraph, order: str) -> list[OnnxOp]:
    ops = list(graph.ops)
    if order == "program":
        return ops
    g = compute_interference_graph(ops)
    if order == "memory":
        sizes: dict[str, int | None] = {}
        for op in ops:
            for name in (*op.input, *op.output):
                sizes[name] = 0 if name in graph.static else graph.sizes.get(name)
        positions = order_ops(g, order, blob_sizes=sizes)
    else:
        positions = order_ops(g, order)
    return [ops[int(i)] for i in positions]


def _unknown_message(graph: ModelGraph, unknown: Mapping[str, str]) -> str:
    shown = "; ".join(f"{name!r}: {why}" for name, why in list(unknown.items())[:3])
    more = f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else ""
    return (
        f"{graph.source}: {len(unknown)} tensor{'s' if len(unknown) != 1 else ''} to plan "
        f"{'have' if len(unknown) != 1 else 'has'} no static size: {shown}{more}; bind "
        "symbolic dimensions (dims= / --dim NAME=VALUE) or skip them (unknown='skip' / "
        "--skip-unknown)"
    )


def model_ranges(
    model: ModelSource | ModelGraph,
    *,
    dims: Mapping[str, int] | None = None,
    order: str = "program",
    views: bool = False,
    unknown: UnknownPolicy = "raise",
) -> ModelRanges:
    """Like :func:`tensor_ranges`, with the order, positions and graph kept.

    A :class:`~memonger.onnx.ModelGraph` may be given instead of a model;
    ``dims`` and ``views`` must then be left at their defaults (the graph
    already fixed them).

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> info = helper.make_tensor_value_info
    >>> nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    >>> g = helper.make_graph(nodes, "g", [info("x", TensorProto.FLOAT, [2])],
    ...                       [info("y", TensorProto.FLOAT, [2])])
    >>> r = model_ranges(helper.make_model(g))
    >>> r.num_positions, [op.type for op in r.ops], r.ranges["y"]
    (2, ['Relu', 'Relu'], LiveRange(defined=1, used=2, size=8))
    """
    if order not in ORDERS:
        raise OnnxError(f"unknown order {order!r}; known: {', '.join(ORDERS)}")
    if unknown not in ("raise", "skip"):
        raise OnnxError(f"unknown must be 'raise' or 'skip', not {unknown!r}")
    if isinstance(model, ModelGraph):
        if dims is not None or views:
            raise OnnxError(
                "dims and views are fixed by model_graph; pass them there, not with a ModelGraph"
            )
        graph = model
    else:
        graph = model_graph(model, dims=dims, views=views)
    if graph.unknown and unknown == "raise":
        raise UnknownSizeError(_unknown_message(graph, graph.unknown), dict(graph.unknown))
    ops = _ordered(graph, order)
    blob_sizes: dict[str, int | None] = {}
    for op in ops:
        for name in (*op.input, *op.output):
            blob_sizes[name] = graph.sizes.get(name)
    live = compute_liveness(ops, blob_sizes)
    n = live.num_positions
    planned = set(graph.planned)
    excluded = live.roots(graph.static)
    ranges: dict[str, LiveRange] = {}
    for name in graph.inputs:
        root = live.root(name)
        if root in live.ranges or root in excluded:
            continue
        ranges[name] = LiveRange(-1, -1, graph.sizes.get(name))
    for root, r in live.ranges.items():
        if root in planned and root not in excluded:
            ranges[root] = r
    for name in graph.outputs:
        root = live.root(name)
        if root in ranges:
            ranges[root] = ranges[root]._replace(used=n)
    for position, op in enumerate(ops):
        for name in op.workspace:
            ranges[name] = LiveRange(position, position, graph.sizes.get(name))
    skipped: dict[str, str] = {}
    if graph.unknown:
        for root in [root for root, r in ranges.items() if r.size is None]:
            skipped[root] = graph.unknown.get(root, "no static size")
            del ranges[root]
    return ModelRanges(graph, ranges, tuple(ops), n, skipped)


def tensor_ranges(
    model: ModelSource | ModelGraph,
    *,
    dims: Mapping[str, int] | None = None,
    order: str = "program",
    views: bool = False,
    unknown: UnknownPolicy = "raise",
) -> dict[str, LiveRange]:
    """Live range of every planned (non-static) tensor of an ONNX model.

    Parameters
    ----------
    model : ModelProto, path, bytes or ModelGraph
        The model, or what :func:`~memonger.onnx.model_graph` made of it.
    dims : mapping of str to int, optional
        Values of symbolic dimensions.
    order : {"program", "memory", "longest-path"}, optional
        The op order the positions refer to.
    views : bool, optional
        Reshape-like outputs share their input's storage (see
        :mod:`memonger.onnx.graph`).
    unknown : {"raise", "skip"}, optional
        What to do with planned tensors without a static size: raise
        :class:`~memonger.onnx.UnknownSizeError` naming them (default), or
        leave them out of the ranges.

    Returns
    -------
    dict of str to LiveRange
        One entry per planned storage, ready for :func:`memonger.alloc.allocate`
        and :func:`memonger.alloc.plan_offsets` (no static blob to exclude).

    Raises
    ------
    UnknownSizeError
        A planned tensor has no static size and ``unknown="raise"``.
    OnnxError
        The model cannot be read or sized, or an option is not known.

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> info = helper.make_tensor_value_info
    >>> nodes = [helper.make_node("Relu", ["x"], ["a"]),
    ...          helper.make_node("Relu", ["a"], ["b"]),
    ...          helper.make_node("Add", ["a", "b"], ["y"])]
    >>> g = helper.make_graph(nodes, "g", [info("x", TensorProto.FLOAT, [4])],
    ...                       [info("y", TensorProto.FLOAT, [4])])
    >>> for name, r in tensor_ranges(helper.make_model(g)).items():
    ...     print(name, r)
    x LiveRange(defined=-1, used=0, size=16)
    a LiveRange(defined=0, used=2, size=16)
    b LiveRange(defined=1, used=2, size=16)
    y LiveRange(defined=2, used=3, size=16)
    """
    return model_ranges(model, dims=dims, order=order, views=views, unknown=unknown).ranges
