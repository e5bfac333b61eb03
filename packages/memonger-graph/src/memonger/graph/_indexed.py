"""Shared plumbing: a graph's nodes as dense integers, Kahn's algorithm, cycles.

Every ordering works on an :class:`Indexed` view of the graph: node ``k`` of
the view is the ``k``-th node in *tie-break order* (the nodes sorted, when they
are comparable, as the integer op indices of
:func:`~memonger.graph.compute_interference_graph` are; insertion order
otherwise).  Nothing here recurses, so graph depth is never limited by
Python's stack.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, NamedTuple

import networkx as nx

from memonger.graph.errors import CycleError

__all__ = ["Indexed", "describe_op", "index_graph", "kahn", "paused_gc", "raise_cycle"]


class Indexed(NamedTuple):
    """A graph as dense integers: ``nodes[k]`` and its predecessor/successor lists."""

    graph: nx.DiGraph[Any]
    nodes: list[Hashable]
    preds: list[list[int]]
    succs: list[list[int]]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building big, acyclic structures.

    Building graphs of 10^5 ops allocates millions of containers; each full
    collection would scan them all, for nothing (none of them form reference
    cycles), and can triple the running time.  The collector's previous state
    is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def index_graph(g: nx.DiGraph[Any]) -> Indexed:
    """Number the nodes of ``g`` in tie-break order and list their neighbours."""
    nodes: list[Hashable] = list(g)
    n = len(nodes)
    with contextlib.suppress(TypeError):
        nodes = sorted(nodes)  # type: ignore[type-var]
    succ = g.succ
    pred = g.pred
    if n and nodes[0] == 0 and nodes[-1] == n - 1 and all(type(v) is int for v in nodes):
        # the usual case, op positions 0..n-1: node k is k
        succs = [sorted(succ[v]) for v in nodes]
        preds = [sorted(pred[v]) for v in nodes]
    else:
        pos = {v: k for k, v in enumerate(nodes)}
        succs = [sorted([pos[w] for w in succ[v]]) for v in nodes]
        preds = [sorted([pos[u] for u in pred[v]]) for v in nodes]
    return Indexed(g, nodes, preds, succs)


def describe_op(g: nx.DiGraph[Any], node: Hashable) -> str:
    """``"op 3 (Conv 'conv1')"``: the node, with its op's type and name when known."""
    op = g.nodes[node].get("op") if node in g else None
    details = []
    op_type = getattr(op, "type", None)
    op_name = getattr(op, "name", None)
    if op_type:
        details.append(str(op_type))
    if op_name:
        details.append(repr(str(op_name)))
    suffix = f" ({' '.join(details)})" if details else ""
    return f"op {node!r}{suffix}"


def raise_cycle(ix: Indexed, done: Sequence[bool]) -> None:
    """Raise :class:`CycleError` naming a cycle among the nodes not ``done``.

    After Kahn's algorithm stops early, every node it could not place has a
    predecessor it could not place either; walking backwards along such
    predecessors must revisit a node, which closes a cycle.
    """
    start = next(k for k, d in enumerate(done) if not d)
    seen: dict[int, int] = {}
    path: list[int] = []
    k = start
    while k not in seen:
        seen[k] = len(path)
        path.append(k)
        k = next(u for u in ix.preds[k] if not done[u])
    loop = path[seen[k] :]
    loop.reverse()  # walked backwards: put it in edge order
    first = loop.index(min(loop))
    loop = loop[first:] + loop[:first]
    cycle = [ix.nodes[j] for j in loop]
    names = " -> ".join(describe_op(ix.graph, v) for v in [*cycle, cycle[0]])
    raise CycleError(f"the dependency graph has a cycle: {names}", cycle)


def kahn(ix: Indexed, priority: Sequence[Any] | None = None) -> list[int]:
    """Kahn's algorithm: always place the ready node of least priority.

    ``priority[k]`` orders ready nodes (ties, and ``priority=None``, by
    index).  Returns node indices; raises :class:`CycleError` on a cycle.
    """
    n = len(ix.nodes)
    indeg = [len(p) for p in ix.preds]
    succs = ix.succs
    order: list[int] = []
    if priority is None:
        heap: list[Any] = [k for k in range(n) if indeg[k] == 0]
        heapq.heapify(heap)
        while heap:
            k = heapq.heappop(heap)
            order.append(k)
            for w in succs[k]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(heap, w)
    else:
        heap = [(priority[k], k) for k in range(n) if indeg[k] == 0]
        heapq.heapify(heap)
        while heap:
            _, k = heapq.heappop(heap)
            order.append(k)
            for w in succs[k]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(heap, (priority[w], w))
    if len(order) < n:
        done = [False] * n
        for k in order:
            done[k] = True
        raise_cycle(ix, done)
    return order
