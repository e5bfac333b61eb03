"""Hypothesis strategies for nets, dependency graphs and their valid orders.

Needs the ``testing`` extra (``pip install memonger-graph[testing]``), which
installs Hypothesis.  The strategies follow Hypothesis's API style: plural
names, keyword-only options, and arguments validated when the strategy is
created (:class:`hypothesis.errors.InvalidArgument`), before anything is drawn.

- :func:`nets` draws a :class:`RandomNet`: ops in program order, as plain
  frozen dataclasses (:class:`Op`) that any package accepting op-like objects
  takes, with the awkward cases real nets have -- in-place ops, blobs written
  more than once (also after their last read, and external inputs updated in
  place), control inputs, ops without inputs or with several outputs, wide
  fan-out, long chains and several sinks; with ``views=True`` also ops whose
  output is a view of an input's storage (``Alias``/``Reshape``-like, chains
  of views, views of external inputs, views read after their base is
  rewritten).
- :func:`dags` draws a :class:`networkx.DiGraph` whose edges go from lower to
  higher node numbers.
- :func:`topological_orders` draws a valid order of a given graph; it shrinks
  towards the order of least node index first.

Examples
--------
>>> from hypothesis import given, settings
>>> from memonger.graph import compute_interference_graph, check_order
>>> @settings(max_examples=20)
... @given(nets())
... def test_program_order_is_valid(net):
...     check_order(compute_interference_graph(net.op), range(len(net.op)))
>>> test_program_order_is_valid()
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import networkx as nx
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from memonger.graph._indexed import index_graph
from memonger.graph.errors import CycleError
from memonger.graph.validation import check_acyclic

__all__ = ["Op", "RandomNet", "dags", "nets", "topological_orders"]


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
    """

    type: str
    name: str
    input: tuple[str, ...]
    output: tuple[str, ...]
    control_input: tuple[str, ...] = ()
    views: tuple[tuple[int, int], ...] = ()


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
        With ``sizes=True``, a size in bytes for every blob of the net;
        ``None`` otherwise.
    """

    op: list[Op]
    external_input: list[str]
    external_output: list[str]
    blob_sizes: dict[str, int] | None = None


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}")
    return value


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be True or False")
    return value


def _check_range(min_ops: object, max_ops: object) -> tuple[int, int]:
    lo = _check_int("min_ops", min_ops, 0)
    hi = _check_int("max_ops", max_ops, 0)
    if hi < lo:
        raise InvalidArgument(f"max_ops={hi} must be at least min_ops={lo}")
    return lo, hi


_TYPES_BY_ARITY = {0: "ConstantFill", 1: "Relu", 2: "Add", 3: "Conv"}


def nets(
    *,
    min_ops: int = 1,
    max_ops: int = 12,
    max_inputs: int = 3,
    max_outputs: int = 2,
    max_external_inputs: int = 3,
    in_place: bool = True,
    rewrites: bool = True,
    control_inputs: bool = True,
    views: bool = False,
    sizes: bool = False,
    max_size: int = 1000,
) -> st.SearchStrategy[RandomNet]:
    """Strategy drawing :class:`RandomNet` nets of ``min_ops`` to ``max_ops`` ops.

    Parameters
    ----------
    min_ops, max_ops : int
        Bounds on the number of ops.
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
    sizes : bool
        Draw ``blob_sizes`` (1 to ``max_size`` bytes) for every blob.
    max_size : int
        The largest blob size drawn.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(nets(min_ops=3, max_ops=3, sizes=True))
    ... def test_nets(net):
    ...     assert len(net.op) == 3
    ...     assert net.blob_sizes is not None
    >>> test_nets()
    """
    lo, hi = _check_range(min_ops, max_ops)
    max_in = _check_int("max_inputs", max_inputs, 0)
    max_out = _check_int("max_outputs", max_outputs, 1)
    max_ext = _check_int("max_external_inputs", max_external_inputs, 0)
    flags = {
        "in_place": _check_bool("in_place", in_place),
        "rewrites": _check_bool("rewrites", rewrites),
        "control_inputs": _check_bool("control_inputs", control_inputs),
        "views": _check_bool("views", views),
        "sizes": _check_bool("sizes", sizes),
    }
    biggest = _check_int("max_size", max_size, 1)
    return _nets(lo, hi, max_in, max_out, max_ext, biggest, **flags)


@st.composite
def _nets(
    draw: st.DrawFn,
    min_ops: int,
    max_ops: int,
    max_inputs: int,
    max_outputs: int,
    max_external_inputs: int,
    max_size: int,
    *,
    in_place: bool,
    rewrites: bool,
    control_inputs: bool,
    views: bool,
    sizes: bool,
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

    for i in range(draw(st.integers(min_ops, max_ops))):
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
    if sizes:
        blob_sizes = {}
        for blob in externals + [b for b in produced if b not in externals]:
            blob_sizes[blob] = draw(st.integers(1, max_size))
    return RandomNet(ops, externals, external_output, blob_sizes)


def dags(
    *, min_ops: int = 0, max_ops: int = 20, max_in_degree: int = 3
) -> st.SearchStrategy[nx.DiGraph[int]]:
    """Strategy drawing acyclic :class:`networkx.DiGraph` graphs.

    Nodes are ``0 .. n-1``; every edge goes from a lower to a higher number,
    so ``range(n)`` is always a valid order.

    Parameters
    ----------
    min_ops, max_ops : int
        Bounds on the number of nodes.
    max_in_degree : int
        The most predecessors a node gets.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(dags(min_ops=4, max_ops=4))
    ... def test_dags(g):
    ...     assert sorted(g) == [0, 1, 2, 3]
    ...     assert all(u < v for u, v in g.edges)
    >>> test_dags()
    """
    lo, hi = _check_range(min_ops, max_ops)
    degree = _check_int("max_in_degree", max_in_degree, 0)
    return _dags(lo, hi, degree)


@st.composite
def _dags(draw: st.DrawFn, min_ops: int, max_ops: int, max_in_degree: int) -> nx.DiGraph[int]:
    n = draw(st.integers(min_ops, max_ops))
    g: nx.DiGraph[int] = nx.DiGraph()
    g.add_nodes_from(range(n))
    for v in range(1, n):
        parents = draw(st.lists(st.integers(0, v - 1), unique=True, max_size=min(max_in_degree, v)))
        g.add_edges_from((u, v) for u in parents)
    return g


def topological_orders(graph: nx.DiGraph[Any]) -> st.SearchStrategy[list[Hashable]]:
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
    """
    if not isinstance(graph, nx.DiGraph):
        raise InvalidArgument(f"graph={graph!r} must be a networkx.DiGraph")
    try:
        check_acyclic(graph)
    except CycleError as exc:
        raise InvalidArgument(f"graph has no valid order: {exc}") from exc
    return _topological_orders(graph)


@st.composite
def _topological_orders(draw: st.DrawFn, graph: nx.DiGraph[Any]) -> list[Hashable]:
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
