"""An ONNX model as memonger's op list, with the bytes of every tensor.

:func:`model_graph` turns a model into :class:`OnnxOp` records in the
model's node order: duck-typed ops with ``input``/``output`` name sequences
(and ``views``) that every part of memonger accepts, plus the size in bytes
of each tensor from onnx's shape inference (with data propagation).  The
rules:

Static tensors
    Initializers are static (never planned), also when ``graph.input``
    lists them.  So are the outputs of ``Constant`` nodes and of nodes of
    the default domain whose inputs are all static (``ConstantOfShape`` of a
    static shape, ``Shape`` of a static tensor, arithmetic on weights...):
    a runtime folds them.  Random ops (:data:`RANDOM_OPS`) and nodes owning
    subgraphs are never folded.

Inputs and outputs
    Graph inputs that are no initializers are planned and live from the
    start; graph outputs live to the end (:mod:`memonger.onnx.ranges`).

Subgraphs
    ``If``, ``Loop``, ``Scan`` and any attribute of type GRAPH or GRAPHS: a
    tensor of an enclosing scope read inside a subgraph (by a node, or named
    as a subgraph output) counts as read by the node owning the subgraph,
    recursively, so it lives at least until that node.  The subgraph's own
    tensors (its inputs and node outputs, not its constants) are the owning
    node's *workspace*: planned as live exactly while the owning node runs.
    With ``subgraphs=True`` they are left out of the outer graph and each
    subgraph becomes a :class:`ModelGraph` of its own
    (:attr:`ModelGraph.subgraphs`), which the caller may plan separately.
    A workspace name that clashes with another tensor of the outer plan is
    qualified as ``name@node.attribute``.

Sizes
    From each tensor's element type (:mod:`memonger.onnx.sizes`) and shape
    after ``onnx.shape_inference.infer_shapes(..., data_prop=True)``;
    subgraphs, whose intermediates onnx does not annotate, are inferred as
    models of their own with the outer tensors they read as inputs.
    Symbolic dimensions (``dim_param``) take their values from
    ``dims={"batch": 1}``, bound before inference so that they propagate.  A
    planned tensor without a static size is listed in
    :attr:`ModelGraph.unknown` with the reason, never guessed.

Unused outputs
    Empty optional outputs (``""``) are not tensors.  A node output that no
    node reads and that is no graph output (a ``Dropout`` mask nobody
    consumes) is reported in :attr:`ModelGraph.unused` and planned as the
    node's workspace: an ONNX runtime cannot hand it to anyone, so it dies
    with the node.  When onnx's shape inference leaves such an output
    without a static size (older ``Dropout`` versions do not type their
    mask), it is not planned either, and its entry in ``unused`` says so:
    nothing reads it, and runtimes skip or drop it.

Views
    ``views=True`` marks output 0 of :data:`VIEW_OPS` (``Reshape``,
    ``Flatten``, ``Squeeze``, ``Unsqueeze``, ``Identity``) as a view of input
    0, as runtimes that alias them without copying do; the view then shares
    its input's storage (:mod:`memonger.alloc.liveness`) and is no
    allocation of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import onnx

from memonger.onnx.errors import (
    InvalidModelError,
    ShapeInferenceError,
    UnknownDimensionError,
)
from memonger.onnx.load import ModelSource, load_model, model_label
from memonger.onnx.sizes import element_bits, tensor_nbytes

__all__ = ["RANDOM_OPS", "VIEW_OPS", "ModelGraph", "OnnxOp", "model_graph"]

VIEW_OPS: frozenset[str] = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
"""Op types whose output 0 ``views=True`` marks as a view of input 0."""

RANDOM_OPS: frozenset[str] = frozenset(
    {
        "Bernoulli",
        "Dropout",
        "Multinomial",
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
    }
)
"""Op types never folded into constants, whatever their inputs."""

_DEFAULT_DOMAINS = ("", "ai.onnx")
_KIND_NAMES = {
    "sequence_type": "a sequence",
    "map_type": "a map",
    "optional_type": "an optional",
    "sparse_tensor_type": "a sparse tensor",
    "opaque_type": "an opaque value",
}


@dataclass(frozen=True)
class OnnxOp:
    """One node of the model in memonger's duck-typed op form.

    Attributes
    ----------
    name : str
        The node's name (may be empty: ONNX does not require one).
    type : str
        The node's ``op_type``.
    domain : str
        The node's domain (``""`` for the default one).
    index : int
        Position of the node in its graph.
    input : tuple of str
        The node's non-empty inputs in order, then the tensors of enclosing
        scopes its subgraphs read (each once).
    output : tuple of str
        The node's non-empty outputs that some node reads or that are graph
        outputs.
    views : tuple of (int, int)
        ``(output_index, input_index)`` pairs: outputs that view an input's
        storage (only with ``views=True``).
    workspace : tuple of str
        Planned tensors live only while this node runs: outputs nobody reads
        and, unless subgraphs are planned separately, its subgraphs' tensors.
    static : bool
        The node makes constants (its outputs are never planned).
    """

    name: str
    type: str
    domain: str
    index: int
    input: tuple[str, ...]
    output: tuple[str, ...]
    views: tuple[tuple[int, int], ...] = ()
    workspace: tuple[str, ...] = ()
    static: bool = False

    @property
    def label(self) -> str:
        """How messages name the node: ``'conv1' (Conv)`` or ``#3 (Conv)``.

        Examples
        --------
        >>> OnnxOp("", "Relu", "", 3, ("x",), ("y",)).label
        '#3 (Relu)'
        """
        return f"{self.name!r} ({self.type})" if self.name else f"#{self.index} ({self.type})"


@dataclass(frozen=True)
class ModelGraph:
    """What :func:`model_graph` found.

    Attributes
    ----------
    name : str
        The graph's name.
    source : str
        How messages name the model (its path, ``<bytes>``...).
    ops : tuple of OnnxOp
        Every node, in the model's order.
    planned : tuple of str
        The tensors to plan, in order of first appearance: graph inputs that
        are no initializers, outputs of non-static nodes (views excluded:
        they allocate nothing) and workspace tensors.
    sizes : mapping of str to int
        Bytes of every tensor whose size is static, static ones included.
    unknown : mapping of str to str
        Planned tensors without a static size -> the reason.
    static : frozenset of str
        Initializers and the outputs of constant-making nodes.
    inputs : tuple of str
        Graph inputs that are no initializers.
    outputs : tuple of str
        Graph outputs.
    unused : mapping of str to str
        Node outputs nobody reads (and no graph output) -> which node makes them.
    dims : mapping of str to int
        The symbolic dimensions bound.
    subgraphs : mapping of str to ModelGraph
        With ``subgraphs=True``: ``"node.attribute"`` (``"node.attribute[i]"``
        for GRAPHS) -> the subgraph.  Tensors of enclosing scopes it reads are
        in its ``static``: the outer plan holds them.
    """

    name: str
    source: str
    ops: tuple[OnnxOp, ...]
    planned: tuple[str, ...]
    sizes: Mapping[str, int]
    unknown: Mapping[str, str]
    static: frozenset[str]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    unused: Mapping[str, str] = field(default_factory=dict)
    dims: Mapping[str, int] = field(default_factory=dict)
    subgraphs: Mapping[str, ModelGraph] = field(default_factory=dict)

    @property
    def static_bytes(self) -> int:
        """Bytes of the static tensors whose size is known (weights and constants)."""
        return sum(self.sizes.get(name, 0) for name in self.static)

    @property
    def workspace(self) -> dict[str, OnnxOp]:
        """Every workspace tensor -> the op it belongs to."""
        return {name: op for op in self.ops for name in op.workspace}


# --------------------------------------------------------------------------- types


def _value_infos(graph: onnx.GraphProto) -> Iterator[onnx.ValueInfoProto]:
    """Every ValueInfoProto of ``graph`` and its subgraphs."""
    yield from graph.input
    yield from graph.output
    yield from graph.value_info
    for node in graph.node:
        for sub in _subgraphs(node):
            yield from _value_infos(sub[1])


def _tensor_types(tp: onnx.TypeProto) -> Iterator[onnx.TypeProto.Tensor]:
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        yield tp.tensor_type
    elif kind == "sequence_type":
        yield from _tensor_types(tp.sequence_type.elem_type)
    elif kind == "optional_type":
        yield from _tensor_types(tp.optional_type.elem_type)
    elif kind == "map_type":
        yield from _tensor_types(tp.map_type.value_type)


def _symbols(graph: onnx.GraphProto) -> set[str]:
    found: set[str] = set()
    for vi in _value_infos(graph):
        for tt in _tensor_types(vi.type):
            found.update(d.dim_param for d in tt.shape.dim if d.HasField("dim_param"))
    return found


def _bind_dims(model: onnx.ModelProto, dims: Mapping[str, int], label: str) -> onnx.ModelProto:
    for key, value in dims.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UnknownDimensionError(
                f"{label}: dimension {key!r} must be a non-negative integer, not {value!r}"
            )
    if not dims:
        return model
    known = _symbols(model.graph)
    for key in dims:
        if key not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise UnknownDimensionError(
                f"{label}: no tensor has a symbolic dimension {key!r} "
                f"(symbolic dimensions of the model: {listed})"
            )
    bound = onnx.ModelProto()
    bound.CopyFrom(model)
    for vi in _value_infos(bound.graph):
        for tt in _tensor_types(vi.type):
            for d in tt.shape.dim:
                if d.HasField("dim_param") and d.dim_param in dims:
                    d.dim_value = dims[d.dim_param]
    return bound


def _infer(model: onnx.ModelProto, label: str) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(
            model, check_type=False, strict_mode=False, data_prop=True
        )
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeInferenceError(f"{label}: shape inference failed: {first}") from exc


def _types_of(graph: onnx.GraphProto) -> dict[str, onnx.TypeProto]:
    types: dict[str, onnx.TypeProto] = {}
    for vi in (*graph.input, *graph.value_info, *graph.output):
        if vi.HasField("type") and vi.name not in types:
            types[vi.name] = vi.type
    return types


def _size(
    tp: onnx.TypeProto | None, dims: Mapping[str, int]
) -> tuple[int, None] | tuple[None, str]:
    """``(bytes, None)`` or ``(None, reason)``."""
    if tp is None:
        return None, "no type after shape inference"
    kind = tp.WhichOneof("value")
    if kind != "tensor_type":
        what = _KIND_NAMES.get(kind or "", "an untyped value")
        return None, f"{what}, not a dense tensor"
    tt = tp.tensor_type
    if tt.elem_type == 0:
        return None, "no element type after shape inference"
    try:
        element_bits(tt.elem_type)
    except ValueError as exc:
        return None, str(exc)
    if not tt.HasField("shape"):
        return None, "rank unknown after shape inference"
    shape: list[int] = []
    for index, d in enumerate(tt.shape.dim):
        which = d.WhichOneof("value")
        if which == "dim_value":
            if d.dim_value < 0:
                return None, f"dimension {index} is negative ({d.dim_value})"
            shape.append(d.dim_value)
        elif which == "dim_param" and d.dim_param in dims:
            shape.append(dims[d.dim_param])
        elif which == "dim_param":
            return None, (
                f"dimension {index} is symbolic ({d.dim_param!r}); bind it with "
                f"dims={{{d.dim_param!r}: ...}} (--dim {d.dim_param}=N)"
            )
        else:
            return None, f"dimension {index} is unknown after shape inference"
    return tensor_nbytes(shape, tt.elem_type), None


def _initializer_size(t: onnx.TensorProto) -> int | None:
    try:
        return tensor_nbytes(list(t.dims), t.data_type)
    except ValueError:
        return None


# ----------------------------------------------------------------------- structure


def _subgraphs(node: onnx.NodeProto) -> list[tuple[str, onnx.GraphProto]]:
    subs: list[tuple[str, onnx.GraphProto]] = []
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH or attr.HasField("g"):
            subs.append((attr.name, attr.g))
        elif attr.type == onnx.AttributeProto.GRAPHS or len(attr.graphs):
            subs.extend((f"{attr.name}[{i}]", g) for i, g in enumerate(attr.graphs))
    return subs


def _initializer_names(graph: onnx.GraphProto) -> list[str]:
    return [t.name for t in graph.initializer] + [s.values.name for s in graph.sparse_initializer]


def _outer_reads(graph: onnx.GraphProto) -> list[str]:
    """Names ``graph`` (or a subgraph of it) reads that it does not define, in order."""
    local = set(_initializer_names(graph)) | {vi.name for vi in graph.input}
    for node in graph.node:
        local.update(x for x in node.output if x)
    reads: dict[str, None] = {}
    for node in graph.node:
        for x in node.input:
            if x and x not in local:
                reads[x] = None
        for _, sub in _subgraphs(node):
            for x in _outer_reads(sub):
                if x not in local:
                    reads[x] = None
    for vi in graph.output:
        if vi.name not in local:
            reads[vi.name] = None
    return list(reads)


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"#{index} ({node.op_type})"


def _folds(node: onnx.NodeProto, inputs: list[str], static: set[str], has_subgraphs: bool) -> bool:
    if has_subgraphs or node.domain not in _DEFAULT_DOMAINS:
        return False
    if node.op_type == "Constant":
        return True
    return bool(inputs) and node.op_type not in RANDOM_OPS and all(x in static for x in inputs)


def _subgraph_types(
    sub: onnx.GraphProto,
    outer_reads: Iterable[str],
    types: Mapping[str, onnx.TypeProto],
    model: onnx.ModelProto,
) -> dict[str, onnx.TypeProto]:
    """Types inside ``sub``: it is inferred as a model whose inputs include the outer reads."""
    standalone = onnx.GraphProto()
    standalone.CopyFrom(sub)
    declared = {vi.name for vi in sub.input}
    for name in outer_reads:
        if name not in declared and name in types:
            vi = standalone.input.add()
            vi.name = name
            vi.type.CopyFrom(types[name])
    wrapper = onnx.ModelProto()
    wrapper.ir_version = model.ir_version
    wrapper.opset_import.extend(model.opset_import)
    wrapper.functions.extend(model.functions)
    wrapper.graph.CopyFrom(standalone)
    try:
        inferred = onnx.shape_inference.infer_shapes(
            wrapper, check_type=False, strict_mode=False, data_prop=True
        )
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError):
        inferred = wrapper
    found = dict(types)
    found.update(_types_of(inferred.graph))
    return found


@dataclass
class _Scope:
    """State shared by the graphs of one model while they are built."""

    model: onnx.ModelProto
    label: str
    dims: Mapping[str, int]
    views: bool
    separate: bool


def _build(
    graph: onnx.GraphProto,
    scope: _Scope,
    types: Mapping[str, onnx.TypeProto],
    *,
    outer: Iterable[str] = (),
    outer_static: Iterable[str] = (),
    where: str = "",
) -> ModelGraph:
    label = scope.label + (f", subgraph {where}" if where else "")
    initializers = _initializer_names(graph)
    static: set[str] = set(initializers) | set(outer_static)
    outer_names = set(outer)
    sizes: dict[str, int] = {}
    for t in graph.initializer:
        size = _initializer_size(t)
        if size is not None:
            sizes[t.name] = size
    init_set = set(initializers)
    inputs = tuple(vi.name for vi in graph.input if vi.name not in init_set)
    defined: set[str] = init_set | set(inputs) | outer_names
    outputs = tuple(vi.name for vi in graph.output)

    # First pass: inputs (with subgraph reads), static nodes, every read.
    node_inputs: list[list[str]] = []
    node_outputs: list[list[str]] = []
    node_static: list[bool] = []
    reads: set[str] = set(outputs)
    for index, node in enumerate(graph.node):
        ins = [x for x in node.input if x]
        subs = _subgraphs(node)
        for _, sub in subs:
            for x in _outer_reads(sub):
                if x not in ins:
                    ins.append(x)
        for x in ins:
            if x not in defined:
                raise InvalidModelError(
                    f"{label}: node {_node_label(node, index)} reads tensor {x!r}, which no "
                    "earlier node, graph input or initializer defines (nodes must be in "
                    "topological order)"
                )
        outs = [x for x in node.output if x]
        for x in outs:
            if x in defined:
                raise InvalidModelError(
                    f"{label}: tensor {x!r} is defined twice (again by node "
                    f"{_node_label(node, index)})"
                )
        defined.update(outs)
        folds = _folds(node, ins, static, bool(subs))
        if folds:
            static.update(outs)
        reads.update(ins)
        node_inputs.append(ins)
        node_outputs.append(outs)
        node_static.append(folds)
    for name in outputs:
        if name not in defined:
            raise InvalidModelError(
                f"{label}: graph output {name!r} is defined by no node, graph input or initializer"
            )

    # Second pass: sizes, kept outputs, workspace, views.
    unknown: dict[str, str] = {}
    unused: dict[str, str] = {}
    planned: list[str] = []
    ops: list[OnnxOp] = []
    subgraphs: dict[str, ModelGraph] = {}

    def plan(name: str, tp: onnx.TypeProto | None) -> None:
        size, reason = _size(tp, scope.dims)
        if size is not None:
            sizes[name] = size
        elif reason is not None:
            unknown[name] = reason
        planned.append(name)

    for name in inputs:
        if name not in outer_names:
            plan(name, types.get(name))
    taken = set(defined)  # workspace names merged below must not clash with these
    for index, node in enumerate(graph.node):
        ins, outs, folds = node_inputs[index], node_outputs[index], node_static[index]
        label_n = _node_label(node, index)
        if folds:
            for x in outs:
                size, _ = _size(types.get(x), scope.dims)
                if size is not None:
                    sizes[x] = size
            ops.append(OnnxOp(node.name, node.op_type, node.domain, index, tuple(ins),
                              tuple(outs), static=True))  # fmt: skip
            continue
        kept = [x for x in outs if x in reads]
        workspace: list[str] = []
        for position, x in enumerate(node.output):
            if x and x not in reads:
                what = (
                    f"the mask (output {position}) of Dropout node {label_n}"
                    if node.op_type == "Dropout" and position == 1
                    else f"output {position} of node {label_n}"
                )
                size, reason = _size(types.get(x), scope.dims)
                if size is None:
                    unused[x] = (
                        f"{what}, read by no node and no graph output; not planned: "
                        f"its size is unknown ({reason})"
                    )
                    continue
                unused[x] = f"{what}, read by no node and no graph output"
                workspace.append(x)
        views: tuple[tuple[int, int], ...] = ()
        if (
            scope.views
            and node.op_type in VIEW_OPS
            and node.domain in _DEFAULT_DOMAINS
            and node.input
            and node.input[0]
            and kept
            and kept[0] == node.output[0]
        ):
            views = ((0, 0),)
        for x in kept[1:] if views else kept:
            plan(x, types.get(x))
        if views:
            size, _ = _size(types.get(kept[0]), scope.dims)
            if size is not None:
                sizes[kept[0]] = size
        for x in workspace:
            plan(x, types.get(x))
        subs = _subgraphs(node)
        for attr, sub in subs:
            sub_reads = _outer_reads(sub)
            sub_types = _subgraph_types(sub, sub_reads, types, scope.model)
            key = f"{node.name or '#' + str(index)}.{attr}"
            nested = _build(
                sub,
                scope,
                sub_types,
                outer=sub_reads,
                outer_static=[x for x in sub_reads if x in static],
                where=f"{where}/{key}" if where else key,
            )
            if scope.separate:
                subgraphs[key] = nested
                continue
            for name in nested.planned:
                qualified = name
                if qualified in taken:
                    qualified = f"{name}@{key}"
                taken.add(qualified)
                workspace.append(qualified)
                planned.append(qualified)
                if name in nested.sizes:
                    sizes[qualified] = nested.sizes[name]
                if name in nested.unknown:
                    unknown[qualified] = f"{nested.unknown[name]} (in subgraph {key})"
            for name in nested.unused:
                unused.setdefault(name, nested.unused[name])
        ops.append(
            OnnxOp(
                node.name,
                node.op_type,
                node.domain,
                index,
                tuple(ins),
                tuple(kept),
                views,
                tuple(workspace),
            )
        )
    return ModelGraph(
        name=graph.name,
        source=scope.label,
        ops=tuple(ops),
        planned=tuple(dict.fromkeys(planned)),
        sizes=sizes,
        unknown=unknown,
        static=frozenset(static),
        inputs=inputs,
        outputs=outputs,
        unused=unused,
        dims=dict(scope.dims),
        subgraphs=subgraphs,
    )


def model_graph(
    model: ModelSource,
    *,
    dims: Mapping[str, int] | None = None,
    views: bool = False,
    subgraphs: bool = False,
) -> ModelGraph:
    """The model's ops in memonger's IR, its static tensors and the bytes of each tensor.

    Parameters
    ----------
    model : ModelProto, path or bytes
        The model (read by :func:`~memonger.onnx.load_model`).
    dims : mapping of str to int, optional
        Values of symbolic dimensions (``dim_param``), e.g. ``{"batch": 1}``.
    views : bool, optional
        Mark the outputs of :data:`VIEW_OPS` as views of their input 0.
    subgraphs : bool, optional
        Build each subgraph as a graph of its own instead of planning its
        tensors as the owning node's workspace.

    Returns
    -------
    ModelGraph

    Raises
    ------
    OnnxError
        The model cannot be read (see :func:`~memonger.onnx.load_model`).
    UnknownDimensionError
        ``dims`` names a dimension the model lacks, or a value is not a
        non-negative integer.
    InvalidModelError
        A node reads a tensor nothing defined before it, or a tensor is
        defined twice.
    ShapeInferenceError
        onnx's shape inference raised.

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> info = helper.make_tensor_value_info
    >>> nodes = [helper.make_node("Constant", [], ["k"], value_float=2.0),
    ...          helper.make_node("Mul", ["x", "k"], ["y"]),
    ...          helper.make_node("Relu", ["y"], ["z"])]
    >>> g = helper.make_graph(nodes, "g", [info("x", TensorProto.FLOAT, ["batch", 8])],
    ...                       [info("z", TensorProto.FLOAT, None)])
    >>> graph = model_graph(helper.make_model(g), dims={"batch": 2})
    >>> for op in graph.ops:
    ...     print(op.type, op.input, op.output, op.static)
    Constant () ('k',) True
    Mul ('x', 'k') ('y',) False
    Relu ('y',) ('z',) False
    >>> graph.planned, graph.sizes["y"], dict(graph.unknown)
    (('x', 'y', 'z'), 64, {})
    >>> dict(model_graph(helper.make_model(g)).unknown)["x"]
    "dimension 0 is symbolic ('batch'); bind it with dims={'batch': ...} (--dim batch=N)"
    """
    label = model_label(model)
    proto = load_model(model)
    bound_dims = dict(dims or {})
    bound = _bind_dims(proto, bound_dims, label)
    inferred = _infer(bound, label)
    scope = _Scope(proto, label, bound_dims, views, subgraphs)
    return _build(inferred.graph, scope, _types_of(inferred.graph))
