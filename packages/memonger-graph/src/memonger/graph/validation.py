"""Checks for graphs and op orders built elsewhere.

:func:`check_acyclic` (and :func:`find_cycle`) vet a dependency graph a user
built or edited; :func:`check_order` vets an op order against a graph and
names the first dependency it breaks.  Both run in linear time without
recursion.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

import networkx as nx

from memonger.graph._indexed import describe_op, index_graph, kahn, paused_gc
from memonger.graph.errors import CycleError, OrderError

__all__ = ["check_acyclic", "check_order", "find_cycle"]


def check_acyclic(g: nx.DiGraph[Any]) -> None:
    """Raise :class:`CycleError` if ``g`` has a cycle.

    Parameters
    ----------
    g : networkx.DiGraph
        A dependency graph (an edge ``u -> v``: ``u`` runs before ``v``).

    Raises
    ------
    CycleError
        ``g`` has a cycle; the message and the ``cycle`` attribute name one.

    Examples
    --------
    >>> import networkx as nx
    >>> check_acyclic(nx.DiGraph([(0, 1), (1, 2)]))
    >>> check_acyclic(nx.DiGraph([(0, 1), (1, 2), (2, 1)]))
    Traceback (most recent call last):
        ...
    memonger.graph.errors.CycleError: the dependency graph has a cycle: op 1 -> op 2 -> op 1
    """
    kahn(index_graph(g))


def find_cycle(g: nx.DiGraph[Any]) -> list[Hashable] | None:
    """Return the nodes of one cycle of ``g`` in edge order, or ``None``.

    Examples
    --------
    >>> import networkx as nx
    >>> find_cycle(nx.DiGraph([(0, 1), (1, 0)]))
    [0, 1]
    >>> find_cycle(nx.DiGraph([(0, 1)])) is None
    True
    """
    try:
        check_acyclic(g)
    except CycleError as exc:
        return exc.cycle
    return None


def _dependency_reason(g: nx.DiGraph[Any], u: Hashable, v: Hashable) -> tuple[str, str | None]:
    """Why ``v`` depends on ``u``: the kind of dependency and its blob (if known)."""
    deps = g.edges[u, v].get("deps")
    if deps:
        return "read-after-write", sorted(deps)[0]
    op_u = g.nodes[u].get("op")
    op_v = g.nodes[v].get("op")
    if op_u is None or op_v is None:
        return "", None
    out_u = list(getattr(op_u, "output", ()))
    in_u = list(getattr(op_u, "input", ()))
    ctl_u = list(getattr(op_u, "control_input", None) or ())
    in_v = set(getattr(op_v, "input", ()))
    out_v = set(getattr(op_v, "output", ()))
    ctl_v = set(getattr(op_v, "control_input", None) or ())
    for kind, mine, theirs in (
        ("read-after-write", out_u, in_v),
        ("write-after-read", in_u, out_v),
        ("write-after-write", out_u, out_v),
        ("control input", out_u, ctl_v),
        ("write-after-control-input", ctl_u, out_v),
    ):
        for blob in mine:
            if blob in theirs:
                return kind, blob
    return "", None


@paused_gc()
def check_order(g: nx.DiGraph[Any], order: Iterable[Hashable]) -> None:
    """Raise :class:`OrderError` unless ``order`` is a valid order of ``g``.

    A valid order lists every node of ``g`` exactly once and puts each node
    after all its predecessors.

    Parameters
    ----------
    g : networkx.DiGraph
        A dependency graph, e.g. from
        :func:`~memonger.graph.compute_interference_graph`.
    order : iterable of nodes
        The op order to check.

    Raises
    ------
    OrderError
        ``order`` repeats, lacks or invents a node, or runs an op before one it
        depends on.  For the latter, the first op of ``order`` that runs too
        early is named, with the dependency (and its blob) it breaks.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> from memonger.graph import compute_interference_graph
    >>> ops = [Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"])]
    >>> g = compute_interference_graph(ops)
    >>> check_order(g, [0, 1])
    >>> check_order(g, [1, 0])
    Traceback (most recent call last):
        ...
    memonger.graph.errors.OrderError: op 1 runs before op 0: read-after-write of blob 'a'
    """
    order = list(order)
    pos: dict[Hashable, int] = {}
    for p, v in enumerate(order):
        if v not in g:
            raise OrderError(f"the order names {v!r}, which is not an op of the graph")
        if v in pos:
            raise OrderError(f"the order lists {describe_op(g, v)} twice")
        pos[v] = p
    if len(pos) != len(g):
        missing = next(v for v in index_graph(g).nodes if v not in pos)
        raise OrderError(f"the order lacks {describe_op(g, missing)}")
    pred = g.pred
    for p, v in enumerate(order):
        late = [u for u in pred[v] if pos[u] >= p]
        if late:
            u = min(late, key=pos.__getitem__)
            kind, blob = _dependency_reason(g, u, v)
            what = f": {kind} of blob {blob!r}" if blob is not None else ", its predecessor"
            raise OrderError(
                f"{describe_op(g, v)} runs before {describe_op(g, u)}{what}",
                before=u,
                after=v,
                blob=blob,
            )
