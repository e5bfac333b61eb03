"""Memory-aware op orders: a valid order with the lowest peak live bytes found.

The quantity minimized is the *peak live bytes* of an order (design metric):
a blob written by some op is live from the first op that writes it (from the
start of the net if an op reads it before any op writes it) to the last op
that reads or writes it, and to the end of the net if no op reads it after its
last write -- the convention of ``memonger.alloc``'s ``LiveRange``.  The peak
is the largest total size of live blobs at any op position, the least memory
any buffer assignment of that order can use.  :func:`order_peak_bytes`
computes it for any order.

Which op frees or allocates what does not depend on the order: a blob is
allocated by its first writer, and freed once all ops that read its last
value have run (the write-after-write and read-after-write edges fix those
ops).  So the live bytes after running a set ``S`` of ops depend on ``S``
alone, which is what makes the search below work.

Method (:func:`topological_sort_min_memory`)
--------------------------------------------
1. **Candidates that are always there**: program order (the order of
   :func:`~memonger.graph.topological_sort_traversal`) and the longest-path
   order.
2. **Greedy list scheduling** ("free the most, allocate the least"): run the
   ready op with the least net growth ``allocated - freed`` (ties: most freed,
   then op index); a second variant prefers the op that frees the most.
   Priorities change as blobs lose readers, so a lazy heap keeps this at
   ``O((ops + accesses) log ops)``.
3. **Dynamic programming over scheduled sets** (as in Serenity, Ahn et al.,
   MLSys 2020): states are the sets of ops run so far (downward closed), one
   level per op count.  Each state keeps the least peak of any prefix that
   reaches it -- states reached twice are merged, which is where the DP beats
   plain enumeration -- and states whose peak already reaches the best known
   order's are dropped.  A level holding more than ``width`` states keeps the
   ``width`` best (least peak, then least live bytes): a beam search.  Widths
   grow geometrically within a work budget; a run that never had to drop a
   state for width is exact, its result optimal, and the search stops there.
   Graphs with a single op chain between branchy regions (inference nets) stay
   small because such an op leaves one state at its level; wide training graphs
   get the beam.
4. Every candidate is measured with :func:`order_peak_bytes` and the least
   peak wins, ties going to the earlier candidate -- so the result is never
   worse than program order, and equals it when nothing better is found.

The result is deterministic: the budget counts state expansions, not seconds
(``time_limit`` adds an optional wall-clock cap, which makes results depend on
the machine's speed).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from memonger.graph._indexed import Indexed, index_graph, kahn, paused_gc
from memonger.graph.interference import OpLike
from memonger.graph.traversal import longest_path_indices

__all__ = ["order_peak_bytes", "topological_sort_min_memory"]

DEFAULT_BUDGET = 400_000
"""State expansions the search may spend per call (about a second or two)."""

_BEAM_MAX_OPS = 20_000
"""Graphs larger than this get the greedy candidates only."""


def _size(blob_sizes: Mapping[str, int | None] | None, blob: str) -> int:
    if blob_sizes is None:
        return 1
    size = blob_sizes.get(blob)
    return 1 if size is None else int(size)


@paused_gc()
def order_peak_bytes(
    ops: Sequence[OpLike],
    order: Iterable[int] | None = None,
    blob_sizes: Mapping[str, int | None] | None = None,
) -> int:
    """Peak live bytes of the ops run in ``order``.

    Only blobs some op writes count; a blob is live from its first write (the
    start, if it is read before) to its last read or write, and to the end if
    it is never read after its last write.  Blobs without a size count 1.

    Parameters
    ----------
    ops : sequence of op-like objects
        The ops, indexed by program position.
    order : iterable of int, optional
        Positions in ``ops`` in execution order (default: program order).
    blob_sizes : mapping of str to int, optional
        Bytes of each blob; missing blobs (and ``None``) count 1.

    Returns
    -------
    int
        The largest total size of live blobs at any op position (0 for no ops).

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [
    ...     Op(input=["x"], output=["a"]),
    ...     Op(input=["x"], output=["b"]),
    ...     Op(input=["a"], output=["c"]),
    ...     Op(input=["b", "c"], output=["y"]),
    ... ]
    >>> sizes = {"a": 10, "b": 5, "c": 1, "y": 1}
    >>> order_peak_bytes(ops, [0, 1, 2, 3], sizes)  # a, b and c live together
    16
    >>> order_peak_bytes(ops, [0, 2, 1, 3], sizes)  # b is written after a dies
    11
    """
    seq = list(range(len(ops))) if order is None else list(order)
    n = len(seq)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    last_write: dict[str, bool] = {}
    produced: set[str] = set()
    for p, i in enumerate(seq):
        op = ops[i]
        for blob in op.input:
            first.setdefault(blob, -1)
            last[blob] = p
            last_write[blob] = False
        for blob in op.output:
            first.setdefault(blob, p)
            last[blob] = p
            last_write[blob] = True
            produced.add(blob)
    delta = [0] * (n + 1)
    for blob in produced:
        start = max(first[blob], 0)
        end = n - 1 if last_write[blob] else last[blob]
        size = _size(blob_sizes, blob)
        delta[start] += size
        delta[end + 1] -= size
    peak = live = 0
    for p in range(n):
        live += delta[p]
        if live > peak:
            peak = live
    return peak


class _Model:
    """The order-independent memory facts of a graph's ops (see module docs)."""

    def __init__(self, ix: Indexed, blob_sizes: Mapping[str, int | None] | None) -> None:
        n = len(ix.nodes)
        attrs = ix.graph.nodes
        self.ops: list[Any] = [attrs[v].get("op") for v in ix.nodes]
        first_writer: dict[str, int] = {}
        read_first: set[str] = set()
        finals: dict[str, list[int]] = {}
        for k, op in enumerate(self.ops):
            if op is None:
                continue
            for blob in op.input:
                if blob not in first_writer:
                    read_first.add(blob)
                rs = finals.setdefault(blob, [])
                if not rs or rs[-1] != k:
                    rs.append(k)
            for blob in op.output:
                first_writer.setdefault(blob, k)
                finals[blob] = []
        self.init_bytes = 0
        self.alloc = [0] * n
        self.frees: list[list[int]] = [[] for _ in range(n)]  # blob ids finally read
        self.readers: list[list[int]] = []  # blob id -> its final readers
        self.sizes: list[int] = []
        for blob, k in first_writer.items():
            size = _size(blob_sizes, blob)
            if blob in read_first:
                self.init_bytes += size
            else:
                self.alloc[k] += size
            rs = finals[blob]
            if rs and size:
                b = len(self.sizes)
                self.sizes.append(size)
                self.readers.append(rs)
                for r in rs:
                    self.frees[r].append(b)

    def peak(self, order: Sequence[int]) -> int:
        """Peak live bytes of ``order`` under this model (linear time)."""
        if not order:
            return 0
        alloc, frees, sizes = self.alloc, self.frees, self.sizes
        remaining = [len(rs) for rs in self.readers]
        live = peak = self.init_bytes
        for k in order:
            live += alloc[k]
            if live > peak:
                peak = live
            for b in frees[k]:
                remaining[b] -= 1
                if remaining[b] == 0:
                    live -= sizes[b]
        return peak


def _greedy(ix: Indexed, model: _Model, prefer_free: bool) -> list[int]:
    """List scheduling with priorities that follow the blobs' remaining readers."""
    n = len(ix.nodes)
    preds, succs = ix.preds, ix.succs
    alloc, frees, sizes, readers = model.alloc, model.frees, model.sizes, model.readers
    remaining = [len(rs) for rs in readers]
    done = [False] * n
    indeg = [len(p) for p in preds]
    ready = [False] * n
    current: list[tuple[int, ...]] = [()] * n

    def key(k: int) -> tuple[int, ...]:
        freed = 0
        for b in frees[k]:
            if remaining[b] == 1:
                freed += sizes[b]
        if prefer_free:
            return (-freed, alloc[k], k)
        return (alloc[k] - freed, -freed, k)

    heap: list[tuple[int, ...]] = []
    for k in range(n):
        if indeg[k] == 0:
            ready[k] = True
            current[k] = key(k)
            heap.append(current[k])
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        entry = heapq.heappop(heap)
        k = entry[-1]
        if done[k] or entry != current[k]:
            continue
        done[k] = True
        order.append(k)
        for b in frees[k]:
            remaining[b] -= 1
            if remaining[b] == 1:
                for r in readers[b]:
                    if ready[r] and not done[r]:
                        current[r] = key(r)
                        heapq.heappush(heap, current[r])
        for w in succs[k]:
            indeg[w] -= 1
            if indeg[w] == 0:
                ready[w] = True
                current[w] = key(w)
                heapq.heappush(heap, current[w])
    return order


class _OutOfBudget(Exception):
    pass


def _beam(
    ix: Indexed,
    model: _Model,
    width: int,
    bound: int,
    budget: int,
    deadline: float | None,
) -> tuple[list[int] | None, bool, int]:
    """DP over scheduled sets, keeping ``width`` states per level.

    Returns ``(order or None, exact, expansions)``: ``order`` is None when no
    state beat ``bound``; ``exact`` says no state was dropped for width, so
    the result (or its absence) is optimal.  Raises :class:`_OutOfBudget`.
    """
    n = len(ix.nodes)
    preds, succs = ix.preds, ix.succs
    alloc, frees, sizes = model.alloc, model.frees, model.sizes
    fmask = [0] * len(sizes)
    for b, rs in enumerate(model.readers):
        m = 0
        for r in rs:
            m |= 1 << r
        fmask[b] = m
    pmask = [0] * n
    for k in range(n):
        m = 0
        for u in preds[k]:
            m |= 1 << u
        pmask[k] = m
    init = model.init_bytes
    # state: mask -> (peak, live, ready, trail)
    states: dict[int, tuple[int, int, tuple[int, ...], Any]] = {
        0: (init, init, tuple(k for k in range(n) if not preds[k]), None)
    }
    exact = True
    spent = 0
    for _level in range(n):
        nxt: dict[int, tuple[int, int, tuple[int, ...], Any]] = {}
        for mask, (peak, live, ready, trail) in states.items():
            spent += len(ready)
            for v in ready:
                grown = live + alloc[v]
                top = grown if grown > peak else peak
                if top >= bound:
                    continue
                mask2 = mask | (1 << v)
                old = nxt.get(mask2)
                if old is not None and old[0] <= top:
                    continue
                freed = 0
                for b in frees[v]:
                    m = fmask[b]
                    if mask2 & m == m:
                        freed += sizes[b]
                new_ready = [x for x in ready if x != v]
                for w in succs[v]:
                    m = pmask[w]
                    if mask2 & m == m:
                        new_ready.append(w)
                new_ready.sort()
                nxt[mask2] = (top, grown - freed, tuple(new_ready), (v, trail))
        if spent > budget or (deadline is not None and time.perf_counter() > deadline):
            raise _OutOfBudget
        if not nxt:
            return None, exact, spent
        if len(nxt) > width:
            exact = False
            best = sorted(nxt.items(), key=lambda item: (item[1][0], item[1][1]))[:width]
            states = dict(best)
        else:
            states = nxt
    ((_, _, _, trail),) = states.values()
    order: list[int] = []
    while trail is not None:
        v, trail = trail
        order.append(v)
    order.reverse()
    return order, exact, spent


@paused_gc()
def topological_sort_min_memory(
    g: nx.DiGraph[Any],
    blob_sizes: Mapping[str, int | None] | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
    time_limit: float | None = None,
) -> list[Any]:
    """A valid order of ``g`` with as low a peak of live bytes as found.

    The method -- fixed candidates, greedy list scheduling, and a dynamic
    program over scheduled sets that is exact on small or chain-like graphs
    and a beam search on wide ones -- is described in the module docstring.
    The result's peak (:func:`order_peak_bytes`) is never above program
    order's.

    Parameters
    ----------
    g : networkx.DiGraph
        A dependency graph from
        :func:`~memonger.graph.compute_interference_graph` (node attribute
        ``op``; nodes without an op touch no blobs).
    blob_sizes : mapping of str to int, optional
        Bytes of each blob; missing blobs (and ``None``) count 1.
    budget : int, optional
        State expansions the dynamic program may spend in all; 0 keeps to the
        greedy candidates.
    time_limit : float, optional
        Seconds after which the search stops and returns the best order so
        far.  Results then depend on the machine's speed; the default (no
        limit) keeps them deterministic.

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
    Two branches read ``x``; one makes a big blob ``a`` that op 3 reduces.
    Running that branch to its end first keeps ``a`` and ``b`` apart:

    >>> from types import SimpleNamespace as Op
    >>> from memonger.graph import compute_interference_graph
    >>> ops = [
    ...     Op(input=["x"], output=["a"]),
    ...     Op(input=["x"], output=["b"]),
    ...     Op(input=["b"], output=["c"]),
    ...     Op(input=["a"], output=["d"]),
    ...     Op(input=["c", "d"], output=["y"]),
    ... ]
    >>> sizes = {"a": 100, "b": 50, "c": 1, "d": 1, "y": 1}
    >>> g = compute_interference_graph(ops)
    >>> order = topological_sort_min_memory(g, sizes)
    >>> order
    [0, 3, 1, 2, 4]
    >>> order_peak_bytes(ops, order, sizes), order_peak_bytes(ops, None, sizes)
    (101, 151)
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    ix = index_graph(g)
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    base = kahn(ix)  # program order when valid; raises CycleError on a cycle
    n = len(base)
    model = _Model(ix, blob_sizes)

    # candidates are compared under the model; the winner is checked against
    # program order with order_peak_bytes, the definition, before it is returned
    best = base
    best_peak = model.peak(base)

    def consider(order: list[int]) -> None:
        nonlocal best, best_peak
        peak = model.peak(order)
        if peak < best_peak:
            best, best_peak = order, peak

    consider(longest_path_indices(ix))
    consider(_greedy(ix, model, prefer_free=False))
    consider(_greedy(ix, model, prefer_free=True))
    if n <= _BEAM_MAX_OPS and n > 1:
        spent = 0
        width = 1
        while spent < budget:
            try:
                order, exact, used = _beam(ix, model, width, best_peak, budget - spent, deadline)
            except _OutOfBudget:
                break
            spent += used
            if order is not None:
                consider(order)
            if exact:
                break
            width *= 4
    if best is not base:
        ops = [op if op is not None else _NO_OP for op in model.ops]
        if order_peak_bytes(ops, best, blob_sizes) >= order_peak_bytes(ops, base, blob_sizes):
            best = base
    return [ix.nodes[k] for k in best]


class _NoOp:
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()


_NO_OP = _NoOp()
