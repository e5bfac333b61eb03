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
  producer);
- **views**: when ops declare views (memonger.alloc's ``views``: an output
  that is a view of an input's storage, as Caffe2's ``Alias``), the same
  three rules also hold for each *storage* (the blobs joined by views, see
  :mod:`memonger.alloc.liveness`): a read of a view reads its storage and a
  write through it writes the storage, so reading a view after its base is
  rewritten stays after the rewrite.  Creating a view reads the storage.

The graph is built in one pass over the blob accesses: per blob it keeps the
last writer and the readers since that write, so the cost is proportional to
the number of ops plus blob accesses, with no pairwise comparison of ops.
Edges implied by others (transitive ones) may or may not be present;
reachability is what counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import networkx as nx

from memonger.alloc import ViewsOf, compute_liveness, declared_views
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
def compute_interference_graph(
    ops: Iterable[OpLike], *, views: ViewsOf | None = None
) -> nx.DiGraph[int]:
    """Build the dependency graph of ops given in program order.

    Parameters
    ----------
    ops : iterable of op-like objects
        Ops in program order, each with ``input`` and ``output`` sequences of
        blob names and optionally ``control_input`` (blob names) and
        ``views`` (``(output_index, input_index)`` pairs).
    views : callable, optional
        ``op -> (output_index, input_index)`` view pairs, as for
        :func:`memonger.alloc.compute_liveness`; default: each op's own
        ``views`` attribute (none when absent).

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

    A view read after its base is rewritten must stay after the rewrite:

    >>> ops = [Op(input=[], output=["a"]), Op(input=["a"], output=["v"], views=[(0, 0)]),
    ...        Op(input=[], output=["a"]), Op(input=["v"], output=["y"])]
    >>> compute_interference_graph(ops).has_edge(2, 3)
    True
    """
    ops = list(ops)
    views_of = declared_views if views is None else views
    g: nx.DiGraph[int] = nx.DiGraph()
    edges: dict[tuple[int, int], set[str]] = {}
    _add_edges(edges, ops, lambda name: name, lambda op: ())
    if any(views_of(op) for op in ops):
        storage = compute_liveness(ops, views=views).storage
        _add_edges(edges, ops, lambda name: storage.get(name, name), views_of)
    g.add_nodes_from((j, {"op": op}) for j, op in enumerate(ops))
    g.add_edges_from((u, v, {"deps": deps}) for (u, v), deps in edges.items())
    return g


def _add_edges(
    edges: dict[tuple[int, int], set[str]],
    ops: list[OpLike],
    key: Callable[[str], str],
    views_of: ViewsOf,
) -> None:
    """Add the dependency edges of the accesses to ``key(blob)`` (a blob or its storage).

    Outputs ``views_of`` declares (creations of views) write nothing here.
    """
    last_writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    for j, op in enumerate(ops):
        for name in op.input:
            blob = key(name)
            w = last_writer.get(blob)
            if w is not None and w != j:
                deps = edges.setdefault((w, j), set())
                deps.add(name)
            rs = readers.get(blob)
            if not rs:
                readers[blob] = [j]
            elif rs[-1] != j:
                rs.append(j)
        for name in getattr(op, "control_input", None) or ():
            blob = key(name)
            w = last_writer.get(blob)
            if w is not None and w != j and (w, j) not in edges:
                edges[(w, j)] = set()
            rs = readers.get(blob)
            if not rs:
                readers[blob] = [j]
            elif rs[-1] != j:
                rs.append(j)
        created = {index for index, _ in views_of(op)}
        for index, name in enumerate(op.output):
            if index in created:
                continue
            blob = key(name)
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
