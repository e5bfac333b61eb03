"""The dependency graph of a net's ops.

:func:`compute_interference_graph` (the name comes from Caffe2's memonger)
turns ops in program order into a :class:`networkx.DiGraph` whose topological
orders are exactly the op orders that compute the same values:

- **read-after-write**: an op that reads a blob runs after the op that last
  wrote it before (the edge's ``deps`` attribute names the blobs it carries);
- **write-after-read**: an op that writes a blob runs after every op that read
  the blob's previous value (or, for a blob read before any op writes it, the
  value that came from outside the net);
- **write-after-write**: writes of one blob keep their order;
- **control inputs**: Caffe2 ``control_input`` entries are blob names; the op
  runs after the op that last wrote each of them before it, and before any
  later op that writes the blob again (so it keeps waiting on the same
  producer).

The graph is built in one pass over the blob accesses: per blob it keeps the
last writer and the readers since that write, so the cost is proportional to
the number of ops plus blob accesses, with no pairwise comparison of ops.
Edges implied by others (transitive ones) may or may not be present;
reachability is what counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import networkx as nx

from memonger.graph._indexed import paused_gc

__all__ = ["OpLike", "compute_interference_graph"]


class OpLike(Protocol):
    """Anything with ordered ``input`` and ``output`` blob-name sequences.

    Caffe2 ``OperatorDef`` messages qualify, and so do users' own IR nodes.
    An optional ``control_input`` sequence of blob names orders ops without
    touching buffers; optional ``type`` and ``name`` attributes only make
    error messages clearer.
    """

    @property
    def input(self) -> Sequence[str]: ...

    @property
    def output(self) -> Sequence[str]: ...


@paused_gc()
def compute_interference_graph(ops: Iterable[OpLike]) -> nx.DiGraph[int]:
    """Build the dependency graph of ops given in program order.

    Parameters
    ----------
    ops : iterable of op-like objects
        Ops in program order, each with ``input`` and ``output`` sequences of
        blob names and optionally ``control_input`` (blob names).

    Returns
    -------
    networkx.DiGraph
        Nodes ``0 .. n-1`` (op positions) with the op in node attribute
        ``op``; an edge ``u -> v`` means ``u`` must run before ``v``.  Every
        edge has the attribute ``deps``, the set of blobs ``v`` reads from
        ``u``'s writes (read-after-write); it is empty on edges that only
        order writes and reads (write-after-read, write-after-write) or carry
        control inputs.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [
    ...     Op(input=["x"], output=["a"]),
    ...     Op(input=["a"], output=["b"]),
    ...     Op(input=["x"], output=["a"]),  # rewrites a: after op 1 read it
    ... ]
    >>> g = compute_interference_graph(ops)
    >>> sorted(g.edges(data="deps"))
    [(0, 1, {'a'}), (0, 2, set()), (1, 2, set())]
    """
    g: nx.DiGraph[int] = nx.DiGraph()
    edges: dict[tuple[int, int], set[str]] = {}
    last_writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    nodes: list[tuple[int, dict[str, Any]]] = []
    for j, op in enumerate(ops):
        nodes.append((j, {"op": op}))
        for blob in op.input:
            w = last_writer.get(blob)
            if w is not None and w != j:
                key = (w, j)
                deps = edges.get(key)
                if deps is None:
                    edges[key] = {blob}
                else:
                    deps.add(blob)
            rs = readers.get(blob)
            if not rs:
                readers[blob] = [j]
            elif rs[-1] != j:
                rs.append(j)
        for blob in getattr(op, "control_input", None) or ():
            w = last_writer.get(blob)
            if w is not None and w != j and (w, j) not in edges:
                edges[(w, j)] = set()
            rs = readers.get(blob)
            if not rs:
                readers[blob] = [j]
            elif rs[-1] != j:
                rs.append(j)
        for blob in op.output:
            rs = readers.get(blob)
            if rs:
                for r in rs:
                    if r != j and (r, j) not in edges:
                        edges[(r, j)] = set()
            w = last_writer.get(blob)
            if w is not None and w != j and (w, j) not in edges:
                edges[(w, j)] = set()
            last_writer[blob] = j
            readers[blob] = []
    g.add_nodes_from(nodes)
    g.add_edges_from((u, v, {"deps": deps}) for (u, v), deps in edges.items())
    return g
