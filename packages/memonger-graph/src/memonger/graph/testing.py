"""Hypothesis strategies for nets, dependency graphs and their valid orders.

Needs the ``testing`` extra (``pip install "memonger-graph[testing]"``), which
installs Hypothesis.  The strategies follow Hypothesis's API style and agree
with :mod:`memonger.alloc.testing`: plural nouns, keyword-only arguments,
``min_*``/``max_*`` for counts (``max_ops=None``: no upper bound), ``sizes=``
taking a strategy of blob sizes in bytes, and arguments checked when the
strategy is created (:class:`hypothesis.errors.InvalidArgument`), before
anything is drawn.  A strategy's repr is the call that made it, and what it
draws prints readably in a failing example.

- :func:`nets` draws a :class:`RandomNet`: ops in program order, as plain
  frozen dataclasses (:class:`Op`) that any package accepting op-like objects
  takes, with the awkward cases real nets have -- in-place ops, blobs written
  more than once (also after their last read, and external inputs updated in
  place), control inputs, ops without inputs or with several outputs, wide
  fan-out, long chains and several sinks; with ``views=True`` also ops whose
  output is a view of an input's storage (``Alias``/``Reshape``-like, chains
  of views, views of external inputs, views read after their base is
  rewritten).
- :func:`dags` draws a :class:`RandomDAG`, an acyclic
  :class:`networkx.DiGraph` whose node labels are in random order (neither
  the labels nor the insertion order need be a valid order).
- :func:`topological_orders` draws a valid order of a given graph; it shrinks
  towards the order of least node index first.
- :func:`assert_valid_order` is the oracle for orders: it raises
  :class:`~memonger.alloc.testing.OracleError` (an ``AssertionError``, raised
  explicitly) and shares no code with :mod:`memonger.graph`.

``st.from_type(RandomNet)`` draws :func:`nets` once this module is imported.

Examples
--------
>>> from hypothesis import given, settings
>>> from memonger.graph import compute_interference_graph, order_ops
>>> @settings(max_examples=20)
... @given(nets())
... def test_program_order_is_valid(net):
...     g = compute_interference_graph(net.op)
...     assert_valid_order(g, order_ops(g, "memory"))
>>> test_program_order_is_valid()
>>> nets(max_ops=5)
nets(max_ops=5)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as _exc:  # pragma: no cover - tested in a subprocess
    raise ModuleNotFoundError(
        "memonger.graph.testing needs Hypothesis; install the testing extra: "
        'pip install "memonger-graph[testing]"',
        name=_exc.name,
    ) from _exc

import networkx as nx

from memonger.alloc.testing import OracleError
from memonger.graph._indexed import index_graph
from memonger.graph.errors import CycleError
from memonger.graph.validation import check_acyclic

__all__ = [
    "Op",
    "OracleError",
    "RandomDAG",
    "RandomNet",
    "assert_valid_order",
    "dags",
    "nets",
    "topological_orders",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Node = TypeVar("_Node", bound=Hashable)


def _drawn_as(
    name: str,
) -> Callable[[Callable[Concatenate[st.DrawFn, _P], _T]], Callable[_P, st.SearchStrategy[_T]]]:
    """``st.composite``, its strategies' repr being a call of ``name``."""

    def decorate(
        draw_value: Callable[Concatenate[st.DrawFn, _P], _T],
    ) -> Callable[_P, st.SearchStrategy[_T]]:
        draw_value.__name__ = draw_value.__qualname__ = name
        return st.composite(draw_value)

    return decorate


@dataclass(frozen=True)
class Op:
    """One operator of a :class:`RandomNet` (duck-types a Caffe2 ``OperatorDef``).

    Attributes
    ----------
    type : str
        An op type name, e.g. ``"Relu"`` (informative only).
    name : str
        ``"op<i>"`` for the op at program position ``i``.
    input, output : tuple of str
        Blob names read and written, in order.  ``output`` never repeats a
        name; ``input`` may.
    control_input : tuple of str
        Names of blobs whose latest writer before this op must run first
        (Caffe2 semantics); they are not read.
    views : tuple of (int, int)
        ``(output_index, input_index)`` pairs: that output is a view of that
        input's storage (memonger.alloc's ``views``; empty for most ops).

    Examples
    --------
    The repr leaves out empty control inputs and views:

    >>> Op("Relu", "op0", ("in0",), ("b0",))
    Op('Relu', 'op0', input=('in0',), output=('b0',))
    """

    type: str
    name: str
    input: tuple[str, ...]
    output: tuple[str, ...]
    control_input: tuple[str, ...] = ()
    views: tuple[tuple[int, int], ...] = ()

    def __repr__(self) -> str:
        parts = [repr(self.type), repr(self.name), f"input={self.input!r}"]
        parts.append(f"output={self.output!r}")
        if self.control_input:
            parts.append(f"control_input={self.control_input!r}")
        if self.views:
            parts.append(f"views={self.views!r}")
        return f"Op({', '.join(parts)})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # Hypothesis prints dataclasses field by field; print the short repr instead
        p.text(repr(self))


@dataclass(frozen=True)
class RandomNet:
    """A net drawn by :func:`nets`.

    Attributes
    ----------
    op : list of Op
        The ops in program order.  Every blob an op reads (or names as a
        control input) is an external input or written by an earlier op.
    external_input : list of str
        Blobs given from outside (named ``in<k>``); ops may read them before
        any op writes them, and may overwrite them.
    external_output : list of str
        Some blobs written by ops, which a caller fetches after the run.
    blob_sizes : dict of str to int or None
        With ``sizes=``, a size in bytes for every blob of the net; ``None``
        otherwise.

    Examples
    --------
    The repr leaves out ``blob_sizes`` when None; a failing Hypothesis
    example prints one op a line.

    >>> RandomNet([Op("Relu", "op0", ("in0",), ("b0",))], ["in0"], ["b0"])
    ... # doctest: +NORMALIZE_WHITESPACE
    RandomNet(op=[Op('Relu', 'op0', input=('in0',), output=('b0',))],
              external_input=['in0'], external_output=['b0'])
    """

    op: list[Op]
    external_input: list[str]
    external_output: list[str]
    blob_sizes: dict[str, int] | None = None

    def __repr__(self) -> str:
        fields = [f"op={self.op!r}"]
        fields.append(f"external_input={self.external_input!r}")
        fields.append(f"external_output={self.external_output!r}")
        if self.blob_sizes is not None:
            fields.append(f"blob_sizes={self.blob_sizes!r}")
        return f"RandomNet({', '.join(fields)})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # Hypothesis's printer, for a failing example: one op a line
        lines = ["RandomNet(", "    op=["]
        lines.extend(f"        {op!r}," for op in self.op)
        lines.append("    ],")
        lines.append(f"    external_input={self.external_input!r},")
        lines.append(f"    external_output={self.external_output!r},")
        if self.blob_sizes is not None:
            lines.append(f"    blob_sizes={self.blob_sizes!r},")
        lines.append(")")
        for i, line in enumerate(lines):
            if i:
                p.break_()
            p.text(line)


if TYPE_CHECKING:
    _IntDiGraph = nx.DiGraph[int]
else:
    _IntDiGraph = nx.DiGraph


class RandomDAG(_IntDiGraph):
    """An acyclic :class:`networkx.DiGraph` drawn by :func:`dags`, printed as its nodes and edges.

    A plain ``DiGraph`` in every other respect.  The repr is a call that
    rebuilds the graph, nodes in insertion order.

    Parameters
    ----------
    incoming_graph_data : optional
        As for :class:`networkx.DiGraph`.
    nodes : iterable of int, optional
        Nodes to add, in order.
    edges : iterable of (int, int), optional
        Edges to add.
    **attr
        Graph attributes, as for :class:`networkx.DiGraph`.

    Examples
    --------
    >>> RandomDAG(nodes=[0, 1, 2], edges=[(2, 0), (0, 1)])
    RandomDAG(nodes=[0, 1, 2], edges=[(0, 1), (2, 0)])
    """

    def __init__(
        self,
        incoming_graph_data: Any = None,
        *,
        nodes: Iterable[int] = (),
        edges: Iterable[tuple[int, int]] = (),
        **attr: Any,
    ) -> None:
        super().__init__(incoming_graph_data, **attr)
        self.add_nodes_from(nodes)
        self.add_edges_from(edges)

    def __repr__(self) -> str:
        return f"RandomDAG(nodes={list(self)!r}, edges={list(self.edges)!r})"


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}")
    return value


def _check_bound(name: str, value: object, minimum: int) -> int | None:
    """A ``max_*`` count, where None means no upper bound."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer or None")
    return _check_int(name, value, minimum)


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be True or False")


def _check_range(min_ops: object, max_ops: object) -> None:
    lo = _check_int("min_ops", min_ops, 0)
    hi = _check_bound("max_ops", max_ops, 0)
    if hi is not None and hi < lo:
        raise InvalidArgument(f"max_ops={hi} must be at least min_ops={lo}")


def _draw_count(draw: st.DrawFn, min_size: int, max_size: int | None) -> int:
    """A count in ``[min_size, max_size]``; with no upper bound, sized as Hypothesis sizes lists."""
    if max_size is None:
        return len(draw(st.lists(st.none(), min_size=min_size)))
    return draw(st.integers(min_size, max_size))


_TYPES_BY_ARITY = {0: "ConstantFill", 1: "Relu", 2: "Add", 3: "Conv"}


def _size_strategy(sizes: object, max_size: object) -> st.SearchStrategy[int] | None:
    """The strategy of sizes :func:`nets` draws; ``sizes=True/False``, ``max_size`` warned."""
    if not isinstance(sizes, bool) and max_size is None:
        if sizes is not None and not isinstance(sizes, st.SearchStrategy):
            raise InvalidArgument(f"sizes={sizes!r} must be a strategy or None")
        return sizes
    biggest = 1000
    if max_size is not None:
        biggest = _check_int("max_size", max_size, 1)
        if not isinstance(sizes, bool) and sizes is not None:
            raise InvalidArgument(f"max_size={max_size!r} is deprecated; leave it out with sizes=")
    if sizes:
        call = f"sizes=True, max_size={max_size!r}" if max_size is not None else "sizes=True"
        message = f"nets({call}) is deprecated; pass sizes=st.integers(1, {biggest})"
        strategy: st.SearchStrategy[int] | None = st.integers(1, biggest)
    else:
        given = [f"sizes={sizes!r}"] if isinstance(sizes, bool) else []
        given += [] if max_size is None else [f"max_size={max_size!r}"]
        message = f"nets({', '.join(given)}) is deprecated; leave it out (no sizes are drawn)"
        strategy = None
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    return strategy


def nets(
    *,
    min_ops: int = 1,
    max_ops: int | None = 12,
    max_inputs: int = 3,
    max_outputs: int = 2,
    max_external_inputs: int = 3,
    in_place: bool = True,
    rewrites: bool = True,
    control_inputs: bool = True,
    views: bool = False,
    sizes: st.SearchStrategy[int] | bool | None = None,
    max_size: int | None = None,
) -> st.SearchStrategy[RandomNet]:
    """Strategy drawing :class:`RandomNet` nets of ``min_ops`` to ``max_ops`` ops.

    Parameters
    ----------
    min_ops, max_ops : int
        Bounds on the number of ops; ``max_ops=None`` sets no upper bound.
    max_inputs, max_outputs : int
        Bounds on each op's inputs (0 allowed) and outputs (at least 1).
    max_external_inputs : int
        At most this many external inputs ``in0, in1, ...``.
    in_place : bool
        Allow ops that write the blob they read.
    rewrites : bool
        Allow ops that write a blob already written (or an external input).
    control_inputs : bool
        Allow ``control_input`` entries.
    views : bool
        Allow ops declaring views (``Alias``: output 0 views input 0;
        ``Reshape``: the same, with a second, shape input).  Off by default:
        an oracle that follows values by blob name, not by storage, would
        misjudge them.
    sizes : strategy of int, optional
        The strategy each blob's size in bytes (an int ``>= 0``) is drawn
        from, for every blob of the net (``blob_sizes``); ``None`` (the
        default) draws no sizes.  ``True`` and ``False`` are deprecated
        spellings of ``st.integers(1, 1000)`` and ``None``.
    max_size : int, optional
        Deprecated: with ``sizes=True``, the largest size; pass
        ``sizes=st.integers(1, max_size)`` instead.

    Returns
    -------
    SearchStrategy of RandomNet

    Raises
    ------
    hypothesis.errors.InvalidArgument
        At call time, for a bad argument; at draw time, when ``sizes`` draws
        something other than an int ``>= 0``.

    Warns
    -----
    DeprecationWarning
        For ``sizes=True``/``False`` and for ``max_size``.

    Examples
    --------
    >>> from hypothesis import given, settings, strategies as st
    >>> @settings(max_examples=10)
    ... @given(nets(min_ops=3, max_ops=3, sizes=st.integers(1, 64)))
    ... def test_nets(net):
    ...     assert len(net.op) == 3
    ...     assert all(1 <= size <= 64 for size in net.blob_sizes.values())
    >>> test_nets()
    >>> nets(max_ops=None, views=True)
    nets(max_ops=None, views=True)
    """
    _check_range(min_ops, max_ops)
    _check_int("max_inputs", max_inputs, 0)
    _check_int("max_outputs", max_outputs, 1)
    _check_int("max_external_inputs", max_external_inputs, 0)
    for flag, value in [
        ("in_place", in_place),
        ("rewrites", rewrites),
        ("control_inputs", control_inputs),
        ("views", views),
    ]:
        _check_bool(flag, value)
    size_strategy = _size_strategy(sizes, max_size)
    return _nets(
        min_ops=min_ops,
        max_ops=max_ops,
        max_inputs=max_inputs,
        max_outputs=max_outputs,
        max_external_inputs=max_external_inputs,
        in_place=in_place,
        rewrites=rewrites,
        control_inputs=control_inputs,
        views=views,
        sizes=size_strategy,
    )


@_drawn_as("nets")
def _nets(
    draw: st.DrawFn,
    *,
    min_ops: int = 1,
    max_ops: int | None = 12,
    max_inputs: int = 3,
    max_outputs: int = 2,
    max_external_inputs: int = 3,
    in_place: bool = True,
    rewrites: bool = True,
    control_inputs: bool = True,
    views: bool = False,
    sizes: st.SearchStrategy[int] | None = None,
) -> RandomNet:
    externals = [f"in{k}" for k in range(draw(st.integers(0, max_external_inputs)))]
    available = list(externals)  # readable blobs: external or written, oldest first
    produced: list[str] = []
    hub = draw(st.booleans())  # wide fan-out: every op reads the oldest blob
    ops: list[Op] = []

    def pick() -> str:
        # shrinks to the newest blob (long chains); may reach back anywhere
        if draw(st.booleans()):
            return available[-1]
        return available[-1 - draw(st.integers(0, len(available) - 1))]

    for i in range(_draw_count(draw, min_ops, max_ops)):
        if views and available and draw(st.integers(0, 3)) == 0:
            # a view of any readable blob: an external input, a view (a chain), a base
            # that later ops may rewrite while the view is still read
            sources = [pick()]
            if max_inputs >= 2 and draw(st.booleans()):
                sources.append(pick())  # Reshape's shape input
            view = f"b{len(produced)}"
            while view in available:  # pragma: no cover - names are fresh
                view += "_"
            ordered = [pick()] if control_inputs and draw(st.booleans()) else []
            available.append(view)
            produced.append(view)
            kind = "Alias" if len(sources) == 1 else "Reshape"
            ops.append(Op(kind, f"op{i}", tuple(sources), (view,), tuple(ordered), ((0, 0),)))
            continue
        inputs: list[str] = []
        if available and max_inputs:
            if hub and max_inputs:
                inputs.append(available[0])
            for _ in range(draw(st.integers(0, max_inputs - len(inputs)))):
                inputs.append(pick())
        outputs: list[str] = []
        if in_place and inputs and draw(st.booleans()):
            outputs.append(inputs[0])
        for _ in range(draw(st.integers(1, max_outputs)) - len(outputs)):
            if rewrites and available and draw(st.booleans()):
                blob = pick()
                if blob not in outputs:
                    outputs.append(blob)
                    continue
            blob = f"b{len(produced)}"
            while blob in available or blob in outputs:  # pragma: no cover - names are fresh
                blob += "_"
            outputs.append(blob)
        controls: list[str] = []
        if control_inputs and available and draw(st.booleans()):
            controls.append(pick())
        for blob in outputs:
            if blob not in available:
                available.append(blob)
            if blob not in produced:
                produced.append(blob)
        op_type = _TYPES_BY_ARITY.get(len(inputs), "Sum")
        if outputs[0] in inputs:
            op_type += "InPlace"
        ops.append(Op(op_type, f"op{i}", tuple(inputs), tuple(outputs), tuple(controls)))
    external_output = draw(st.lists(st.sampled_from(produced), unique=True)) if produced else []
    blob_sizes = None
    if sizes is not None:
        blob_sizes = {}
        for blob in externals + [b for b in produced if b not in externals]:
            size = draw(sizes)
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise InvalidArgument(f"sizes drew {size!r}, not an int >= 0")
            blob_sizes[blob] = size
    return RandomNet(ops, externals, external_output, blob_sizes)


def dags(
    *, min_ops: int = 0, max_ops: int | None = 20, max_in_degree: int | None = 3
) -> st.SearchStrategy[RandomDAG]:
    """Strategy drawing acyclic graphs (:class:`RandomDAG`, a :class:`networkx.DiGraph`).

    Nodes are ``0 .. n-1``, added in that order, but labelled in random
    order: an edge may go from a higher to a lower number, so neither
    ``range(n)`` nor the graph's own node order need be valid.  The number of
    nodes is drawn as Hypothesis draws a list's length; examples shrink to
    fewer nodes and edges, and to labels that are a valid order where that
    does not matter.

    Parameters
    ----------
    min_ops, max_ops : int
        Bounds on the number of nodes; ``max_ops=None`` sets no upper bound.
    max_in_degree : int or None
        The most predecessors a node gets (``None``: no limit).

    Returns
    -------
    SearchStrategy of RandomDAG

    Raises
    ------
    hypothesis.errors.InvalidArgument
        At call time, for a bad argument.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(dags(min_ops=4, max_ops=4))
    ... def test_dags(g):
    ...     assert sorted(g) == [0, 1, 2, 3]
    ...     assert_valid_order(g, list(nx.topological_sort(g)))
    >>> test_dags()
    >>> dags(max_ops=4, max_in_degree=None)
    dags(max_ops=4, max_in_degree=None)
    """
    _check_range(min_ops, max_ops)
    _check_bound("max_in_degree", max_in_degree, 0)
    return _dags(min_ops=min_ops, max_ops=max_ops, max_in_degree=max_in_degree)


@_drawn_as("dags")
def _dags(
    draw: st.DrawFn,
    *,
    min_ops: int = 0,
    max_ops: int | None = 20,
    max_in_degree: int | None = 3,
) -> RandomDAG:
    # Node p (in a valid order) draws a sort key for its label and its parents as
    # offsets back from p; as list elements, whole nodes shrink away, and keys
    # shrink to equal, where labels follow the valid order.
    drawn = draw(
        st.lists(
            st.tuples(st.integers(0, 255), st.lists(st.integers(0, 255), max_size=max_in_degree)),
            min_size=min_ops,
            max_size=max_ops,
        )
    )
    n = len(drawn)
    label = [0] * n
    for rank, p in enumerate(sorted(range(n), key=lambda p: (drawn[p][0], p))):
        label[p] = rank
    g = RandomDAG(nodes=range(n))
    for p, (_, offsets) in enumerate(drawn):
        if p:
            g.add_edges_from((label[p - 1 - off % p], label[p]) for off in offsets)
    return g


def topological_orders(graph: nx.DiGraph[_Node]) -> st.SearchStrategy[list[_Node]]:
    """Strategy drawing valid orders (topological sorts) of ``graph``.

    Every valid order can be drawn; shrinking leads to the order that always
    takes the ready node of least index.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        ``graph`` is not a directed graph, or has a cycle.

    Examples
    --------
    >>> import networkx as nx
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(topological_orders(nx.DiGraph([(0, 2), (1, 2)])))
    ... def test_orders(order):
    ...     assert order in ([0, 1, 2], [1, 0, 2])
    >>> test_orders()
    >>> topological_orders(RandomDAG(nodes=[0, 1], edges=[(1, 0)]))
    topological_orders(RandomDAG(nodes=[0, 1], edges=[(1, 0)]))
    """
    if not isinstance(graph, nx.DiGraph):
        raise InvalidArgument(f"graph={graph!r} must be a networkx.DiGraph")
    try:
        check_acyclic(graph)
    except CycleError as exc:
        raise InvalidArgument(f"graph has no valid order: {exc}") from exc
    return _topological_orders(graph)


@_drawn_as("topological_orders")
def _topological_orders(draw: st.DrawFn, graph: nx.DiGraph[Any]) -> list[Any]:
    ix = index_graph(graph)
    indeg = [len(p) for p in ix.preds]
    ready = [k for k, d in enumerate(indeg) if d == 0]
    order: list[Hashable] = []
    while ready:
        k = ready.pop(draw(st.integers(0, len(ready) - 1)))
        order.append(ix.nodes[k])
        for w in ix.succs[k]:
            indeg[w] -= 1
            if indeg[w] == 0:
                ready.append(w)
        ready.sort()
    return order


def assert_valid_order(graph: nx.DiGraph[Any], order: Iterable[Hashable]) -> None:
    """Raise :class:`~memonger.alloc.testing.OracleError` unless ``order`` is a valid order.

    A valid order lists every node of ``graph`` exactly once, each after all
    its predecessors (an edge ``u -> v``: ``u`` runs before ``v``).  Checked
    edge by edge, independently of :mod:`memonger.graph`
    (:func:`~memonger.graph.check_order` is the library's own check).

    Parameters
    ----------
    graph : networkx.DiGraph
        The dependency graph.
    order : iterable of nodes
        The order to check, e.g. what an ordering returned.

    Raises
    ------
    OracleError
        Describing the first violation found (an ``AssertionError``).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph([(0, 1), (2, 1)])
    >>> assert_valid_order(g, [2, 0, 1])
    >>> assert_valid_order(g, [0, 1, 2])
    Traceback (most recent call last):
    ...
    memonger.alloc.testing.OracleError: node 1 runs before its predecessor 2 (positions 1, 2)
    """
    __tracebackhide__ = True
    order = list(order)
    position: dict[Hashable, int] = {}
    for p, v in enumerate(order):
        if v not in graph:
            raise OracleError(f"position {p}: {v!r} is not a node of the graph")
        if v in position:
            raise OracleError(f"node {v!r} is at positions {position[v]} and {p}")
        position[v] = p
    for v in graph:
        if v not in position:
            raise OracleError(f"node {v!r} is missing from the order")
    for v in order:
        for u in graph.predecessors(v):
            if position[u] >= position[v]:
                raise OracleError(
                    f"node {v!r} runs before its predecessor {u!r} "
                    f"(positions {position[v]}, {position[u]})"
                )


# What ``st.from_type`` draws.  RandomDAG is not registered: it would make
# ``st.from_type(networkx.DiGraph)`` draw DAGs everywhere this module is imported.
st.register_type_strategy(RandomNet, nets())
