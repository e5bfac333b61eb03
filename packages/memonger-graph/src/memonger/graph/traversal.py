"""Deterministic topological orders of a dependency graph.

Both orderings run Kahn's algorithm with a heap, so their results depend only
on the graph's nodes and edges, never on the networkx version or on the order
in which edges were added.  Ready ops are taken by op index (nodes sorted when
they are comparable, insertion order otherwise) unless a rank says otherwise.
Neither recurses: graph depth is unlimited.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar, cast

import networkx as nx

from memonger.graph._indexed import Indexed, index_graph, kahn, paused_gc

__all__ = ["topological_sort_traversal", "topological_sort_traversal_longest_path"]

_Node = TypeVar("_Node", bound=Hashable)


@paused_gc()
def topological_sort_traversal(g: nx.DiGraph[_Node]) -> list[_Node]:
    """The valid order that always runs the ready op of least index.

    A net already in a valid order (such as the program order the graph was
    built from) comes back unchanged.

    Parameters
    ----------
    g : networkx.DiGraph
        A dependency graph (an edge ``u -> v``: ``u`` runs before ``v``).

    Returns
    -------
    list
        Every node of ``g`` once, each after its predecessors.

    Raises
    ------
    CycleError
        ``g`` has a cycle (named in the message).

    Examples
    --------
    >>> import networkx as nx
    >>> topological_sort_traversal(nx.DiGraph([(2, 0), (0, 1), (3, 1)]))
    [2, 0, 3, 1]
    """
    ix = index_graph(g)
    return cast("list[_Node]", [ix.nodes[k] for k in kahn(ix)])


@paused_gc()
def topological_sort_traversal_longest_path(g: nx.DiGraph[_Node]) -> list[_Node]:
    """A valid order that starts the source on the longest path first.

    Caffe2's memonger ordered the independent *sources* (ops with no
    predecessor) by the length of their longest path to the end of the graph,
    so that a long chain runs before short side chains start and blobs live
    shorter.  This does the same in linear time, without recursion:

    1. every op gets its height, the number of edges on its longest path to a
       sink;
    2. sources are ranked by height, highest first, ties by op index;
    3. every op inherits the best rank among the sources it descends from;
    4. Kahn's algorithm always runs the ready op of best rank (ties by op
       index), so one source's chain runs before the next source starts.

    Parameters
    ----------
    g : networkx.DiGraph
        A dependency graph (an edge ``u -> v``: ``u`` runs before ``v``).

    Returns
    -------
    list
        Every node of ``g`` once, each after its predecessors.

    Raises
    ------
    CycleError
        ``g`` has a cycle (named in the message).

    Examples
    --------
    Op 0 starts a two-step chain, op 2 a one-step one:

    >>> import networkx as nx
    >>> g = nx.DiGraph([(0, 1), (1, 3), (2, 3), (4, 5)])
    >>> topological_sort_traversal_longest_path(g)
    [0, 1, 2, 3, 4, 5]
    >>> topological_sort_traversal_longest_path(nx.DiGraph([(0, 1), (2, 3), (3, 4)]))
    [2, 3, 4, 0, 1]
    """
    ix = index_graph(g)
    return cast("list[_Node]", [ix.nodes[k] for k in longest_path_indices(ix)])


def longest_path_indices(ix: Indexed) -> list[int]:
    """:func:`topological_sort_traversal_longest_path` on an indexed graph."""
    topo = kahn(ix)  # raises CycleError before any ranking
    n = len(topo)
    succs, preds = ix.succs, ix.preds
    height = [0] * n
    for k in reversed(topo):
        best = -1
        for w in succs[k]:
            if height[w] > best:
                best = height[w]
        height[k] = best + 1
    sources = sorted((k for k in range(n) if not preds[k]), key=lambda k: (-height[k], k))
    rank = [n] * n
    for r, k in enumerate(sources):
        rank[k] = r
    for k in topo:
        if preds[k]:
            rank[k] = min(rank[u] for u in preds[k])
    return kahn(ix, rank)
