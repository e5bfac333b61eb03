"""Memory-aware op orders: a valid order with the lowest peak live bytes found.

The quantity minimized is the *peak live bytes* of an order (design metric
7), with liveness exactly as memonger.alloc defines it for the whole project
(:mod:`memonger.alloc.liveness`): a storage some op writes is live from the
first op that writes it (from the start of the net if an op reads it before
any op writes it) to the last op that reads, writes or names it as a control
input, and to the end of the net if no op reads it after its last write; a
view and the blob it views are one storage.  The peak is the largest total
size of live storages at any op position, the least memory any buffer
assignment of that order can use.  :func:`order_peak_bytes` computes it for
any order with :func:`memonger.alloc.compute_liveness` and
:func:`memonger.alloc.peak_live_bytes`, and the peak :func:`memory_order`
reports is that.  Sizes follow alloc's unknown-size policy: ``None`` counts
one byte, a blob missing from a size mapping is an error.

Which op frees or allocates what does not depend on the order: a storage is
allocated by the first of its blobs' first writers, and freed once all ops
that read (or order on) the last value of one of its blobs have run (the
dependency edges fix those ops).  So the live bytes after running a set
``S`` of ops depend on ``S`` alone, which is what makes the search below
work; the incremental bookkeeping below is this order-free form of alloc's
definition, and its peaks equal :func:`order_peak_bytes` (tested on random
nets with control inputs, in-place ops, rewrites and views).

Method (:func:`memory_order`, :func:`topological_sort_min_memory`)
----------------------------------------------------------------------
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
   grow geometrically within an eighth of the work budget; a run that never
   had to drop a state for width is exact, its result optimal, and the search
   stops there.  Graphs whose branchy regions are joined by single ops
   (inference nets) stay small because such an op leaves one state at its
   level.
4. **Local search** from the best order, for graphs too wide for the exact
   DP (training graphs), until it stops paying or the budget is spent:

   - *stretch re-ordering*: the ops of a stretch of the order around its
     peak (32 ops ending at, centred on, starting at the peak) are re-ordered
     by the DP of step 3 with the ops before the stretch already run; the
     ops outside keep their places, so only the stretch's live bytes change;
   - *single-op moves*: an op is moved towards its first successor (sinking
     an allocation past the peak) or its last predecessor (hoisting a free
     before it).  The change in live bytes over the positions it crosses is
     a few step functions, so a move is scored in time proportional to the
     blobs the op frees, with range maxima from a sparse table.  Moves must
     lower the peak, or keep it and lower the live bytes summed over
     positions while crossing a peak position;
   - *group moves*: an op is moved past the peak together with the ops
     between that depend on it (or, moved earlier, with the ops between
     that it depends on).  A chain -- say ``mm -> t -> weight_grad``, whose
     final blob must live to the end -- crosses the peak as a whole, where
     each of its ops alone would only trade one live blob for another.

5. **A lower bound** that proves the result optimal where it is reached,
   and stops the search early.  While an op ``v`` runs, the ops already run
   form a set ``S`` closed under predecessors, holding ``v``'s ancestors and
   none of its descendants; a blob is live if its writer is in ``S`` (or is
   ``v``) and one of its final readers is not.  The least such total over
   all ``S`` is a minimum cut (an op in ``S`` keeps its predecessors in:
   infinite edges to them; a blob is a node fed by its writer with its
   size, with infinite edges to its readers), so it is computed exactly by
   a max-flow -- it is the least live bytes *any* valid order holds while
   ``v`` runs.  The bound takes the op at the best order's peak; where that
   falls short, the op is paired with ops that may run before or after it
   (those sharing a blob with it first): in either case the peak is at
   least the larger of the two ops' cuts given that case, so it is at
   least the smaller of the two cases.  On training graphs this is where a
   floating op (a transposed weight kept for the backward pass) meets the
   end of the forward pass, and the pair bound settles it.

6. Every candidate is scored under the model and the least peak wins, ties
   going to the earlier candidate; the winner is checked with
   :func:`order_peak_bytes` against program order, so the result is never
   worse than program order, and is program order when nothing better is
   found.

On the corpus training graphs (ResNet-50, MobileNet-v2, BERT, VGG-16)
the orders found reach this bound, so they are optimal: their peaks are set
by what the backward pass must keep (saved activations, transposed weights,
weight gradients that live to the end), not by the order.

The result is deterministic: the budget counts work (state expansions and
scored moves), not seconds (``time_limit`` adds an optional wall-clock cap,
which makes results depend on the machine's speed).
"""

from __future__ import annotations

import heapq
import operator
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import networkx as nx
from networkx.algorithms.flow import boykov_kolmogorov as _FLOW

from memonger.alloc import Liveness, ViewsOf, compute_liveness, nbytes, peak_live_bytes
from memonger.alloc import MissingSizeError as AllocMissingSizeError
from memonger.alloc.liveness import names_of
from memonger.graph._indexed import Indexed, index_graph, kahn, paused_gc
from memonger.graph.errors import InvalidSizeError, MissingSizeError
from memonger.graph.interference import OpLike
from memonger.graph.traversal import longest_path_indices

__all__ = ["MemoryOrder", "memory_order", "order_peak_bytes", "topological_sort_min_memory"]

_Node = TypeVar("_Node", bound=Hashable)

DEFAULT_BUDGET = 1_500_000
"""Work units (state expansions, candidate moves) the search may spend per call
(a few seconds at most)."""

_BEAM_MAX_OPS = 20_000
"""Graphs larger than this get the greedy candidates only."""

_SPAN = 32
"""Ops per stretch re-ordered around the peak."""

_SPAN_WIDTH = 256
"""States kept per level when re-ordering a stretch."""

_BOUND_OPS = 16
"""Ops (those at the highest positions of the best order) whose cut bound is taken."""

_BOUND_PAIRS = 4
"""Ops paired with the op at the peak for a stronger bound."""

_BOUND_USERS = 8
"""Ops per blob considered as partners of the op at the peak."""


def _check_sizes(blob_sizes: Mapping[str, int | None] | None) -> None:
    """Sizes are integers >= 0 or ``None`` (unknown: one byte, as in memonger.alloc)."""
    for blob, size in (blob_sizes or {}).items():
        if size is None:
            continue
        try:
            value = operator.index(size)
        except TypeError:
            value = -1
        if isinstance(size, bool) or value < 0:
            raise InvalidSizeError(f"blob {blob!r} has size {size!r}; sizes are integers >= 0")


def _liveness(
    ops: Sequence[OpLike], blob_sizes: Mapping[str, int | None] | None, views: ViewsOf | None
) -> Liveness:
    """memonger.alloc's liveness of ``ops`` (in the order given), sizes checked."""
    _check_sizes(blob_sizes)
    try:
        return compute_liveness(ops, blob_sizes, views=views)
    except AllocMissingSizeError as exc:
        raise MissingSizeError(str(exc)) from None


@paused_gc()
def order_peak_bytes(
    ops: Sequence[OpLike],
    order: Iterable[int] | None = None,
    blob_sizes: Mapping[str, int | None] | None = None,
    *,
    views: ViewsOf | None = None,
) -> int:
    """Peak live bytes of the ops run in ``order``: memonger.alloc's, exactly.

    :func:`memonger.alloc.peak_live_bytes` of the produced ranges of
    :func:`memonger.alloc.compute_liveness` of the ops in ``order``: only
    storages some op writes count; a control input keeps its blob live up to
    the op naming it; a blob never read after its last write lives to the
    end; a view and the blob it views are one storage.

    Parameters
    ----------
    ops : sequence of op-like objects
        The ops, indexed by program position (optionally with
        ``control_input`` and ``views``).
    order : iterable of int, optional
        Positions in ``ops`` in execution order (default: program order).
    blob_sizes : mapping of str to int, optional
        Bytes of each blob the ops touch; ``None`` (and no mapping at all)
        counts one byte.
    views : callable, optional
        ``op -> (output_index, input_index)`` view pairs, as for
        :func:`memonger.alloc.compute_liveness`; default: each op's own
        ``views`` attribute.

    Returns
    -------
    int
        The largest total size of live storages at any op position (0 for no ops).

    Raises
    ------
    InvalidSizeError
        A blob size is negative or not an integer.
    MissingSizeError
        ``blob_sizes`` lacks a blob the ops touch.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [
    ...     Op(input=["x"], output=["a"]),
    ...     Op(input=["x"], output=["b"]),
    ...     Op(input=["a"], output=["c"]),
    ...     Op(input=["b", "c"], output=["y"]),
    ... ]
    >>> sizes = {"x": 0, "a": 10, "b": 5, "c": 1, "y": 1}
    >>> order_peak_bytes(ops, [0, 1, 2, 3], sizes)  # a, b and c live together
    16
    >>> order_peak_bytes(ops, [0, 2, 1, 3], sizes)  # b is written after a dies
    11
    """
    seq = list(range(len(ops))) if order is None else list(order)
    live = _liveness([ops[i] for i in seq], blob_sizes, views)
    return peak_live_bytes(live.produced_ranges())


class _Model:
    """The order-independent memory facts of a graph's ops (see module docs).

    What is live is memonger.alloc's definition: the storages, their sizes
    and which are produced come from :func:`memonger.alloc.compute_liveness`
    of a valid order, and every valid order gives the same ones.  What this
    adds is the form of that definition that does not depend on the order:
    a storage is live while an op runs when one of its *allocators* (the
    first writers of its blobs) has run (or it is live from the start,
    a blob of it being read first) and one of its *final users* (the ops
    that read, or name as a control input, one of its blobs after that
    blob's last write) has not; or to the end when a blob of it is never
    read after its last write.  The dependency edges fix all of these sets,
    so live bytes after a set of ops depend on the set alone.  The tests
    check ``peak`` against :func:`order_peak_bytes` (alloc) on random nets.
    """

    def __init__(
        self,
        ix: Indexed,
        blob_sizes: Mapping[str, int | None] | None,
        views: ViewsOf | None = None,
    ) -> None:
        n = len(ix.nodes)
        attrs = ix.graph.nodes
        self.ops: list[Any] = [attrs[v].get("op") for v in ix.nodes]
        ops = [op if op is not None else _NO_OP for op in self.ops]
        base = kahn(ix)
        live = _liveness([ops[k] for k in base], blob_sizes, views)
        # the accesses of each blob, in a valid order (the edges fix what counts)
        first_writer: dict[str, int] = {}
        read_first: set[str] = set()
        finals: dict[str, list[int]] = {}  # final users since the last write
        reads_after: dict[str, bool] = {}  # read (not only ordered on) since the last write
        self.users: dict[str, list[int]] = {}  # blob -> the first ops touching it
        for k in base:
            op = ops[k]
            inputs = names_of(op, "input")
            outputs = names_of(op, "output")
            for blob in (*inputs, *outputs):
                us = self.users.setdefault(blob, [])
                if len(us) < _BOUND_USERS and (not us or us[-1] != k):
                    us.append(k)
            for blob in (*inputs, *names_of(op, "control_input")):
                if blob not in first_writer:
                    read_first.add(blob)
                rs = finals.setdefault(blob, [])
                if not rs or rs[-1] != k:
                    rs.append(k)
            for blob in inputs:
                reads_after[blob] = True
            for blob in outputs:
                first_writer.setdefault(blob, k)
                finals[blob] = []
                reads_after[blob] = False
        groups: dict[str, list[str]] = {}
        for blob in finals:
            root = live.root(blob)
            if root in live.produced:
                groups.setdefault(root, []).append(blob)
        self.init_bytes = 0
        self.alloc = [0] * n
        self.kept = [0] * n  # bytes op k allocates that stay live to the end
        self.kept_init = 0  # bytes live from the start to the end
        self.frees: list[list[int]] = [[] for _ in range(n)]  # storage ids finally used
        self.readers: list[list[int]] = []  # storage id -> its final users
        self.writer: list[int] = []  # storage id -> its allocator (-1: from the start)
        self.sizes: list[int] = []
        # storages whose allocators may run in either order: the first one allocates
        self.multi: list[list[int]] = [[] for _ in range(n)]  # op -> storage ids it may allocate
        self.allocators: dict[int, list[int]] = {}  # storage id -> its first writers
        self.amask: dict[int, int] = {}
        self.kept_multi: set[int] = set()
        for root, blobs in groups.items():
            size = nbytes(live.ranges[root].size)
            start = -1 if any(b in read_first for b in blobs) else 0
            kept = any(b in first_writer and not reads_after[b] for b in blobs)
            users = sorted(
                {r for b in blobs if b in first_writer or b in read_first for r in finals[b]}
            )
            writers = [] if start < 0 else _earliest(ix, {first_writer[b] for b in blobs})
            if len(writers) > 1:
                if not size:
                    continue
                b = len(self.sizes)
                self.sizes.append(size)
                self.readers.append([] if kept else users)
                self.writer.append(-2)
                self.allocators[b] = writers
                mask = 0
                for w in writers:
                    mask |= 1 << w
                    self.multi[w].append(b)
                self.amask[b] = mask
                if kept:
                    self.kept_multi.add(b)
                else:
                    for r in users:
                        self.frees[r].append(b)
                continue
            k = writers[0] if writers else -1
            if k < 0:
                self.init_bytes += size
            else:
                self.alloc[k] += size
            if not kept and users and size:
                b = len(self.sizes)
                self.sizes.append(size)
                self.readers.append(users)
                self.writer.append(k)
                for r in users:
                    self.frees[r].append(b)
            elif k < 0:
                self.kept_init += size
            else:
                self.kept[k] += size

    def allocated(self, k: int, done: Sequence[bool] | None = None, mask: int = 0) -> int:
        """Bytes op ``k`` allocates, given the ops already run (``done`` flags or ``mask``)."""
        total = self.alloc[k]
        for b in self.multi[k]:
            if done is not None:
                if not any(done[w] for w in self.allocators[b]):
                    total += self.sizes[b]
            elif not mask & self.amask[b]:
                total += self.sizes[b]
        return total

    def peak(self, order: Sequence[int]) -> int:
        """Peak live bytes of ``order`` under this model (linear time)."""
        if not order:
            return 0
        return max(_profile(self, order)[0])


def _earliest(ix: Indexed, writers: set[int]) -> list[int]:
    """The ops of ``writers`` that no other op of ``writers`` precedes (sorted)."""
    if len(writers) <= 1:
        return sorted(writers)
    later: set[int] = set()
    for w in writers:
        if w in later:
            continue
        reach = _closure(ix.succs, [w])
        later.update(u for u in writers if u != w and reach[u])
    return sorted(writers - later)


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
        grown = model.allocated(k, done) if model.multi[k] else alloc[k]
        if prefer_free:
            return (-freed, grown, k)
        return (grown - freed, -freed, k)

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


class _Search:
    """Dynamic programming over scheduled sets (a beam search when truncated).

    Sets of ops are bit masks over op indices.  A search covers the ops of a
    *window* (all ops, or a stretch of an order) starting from the set of ops
    run before it; the live bytes of a state depend on its set alone, so
    states reached twice are merged keeping the least peak.
    """

    def __init__(self, ix: Indexed, model: _Model) -> None:
        self.ix = ix
        self.model = model
        self.spent = 0
        fmask = []
        for rs in model.readers:
            m = 0
            for r in rs:
                m |= 1 << r
            fmask.append(m)
        self.fmask = fmask
        pmask = []
        for ps in ix.preds:
            m = 0
            for u in ps:
                m |= 1 << u
            pmask.append(m)
        self.pmask = pmask

    def run(
        self,
        window: Sequence[int],
        before: int,
        live: int,
        width: int,
        bound: int,
        budget: int,
        deadline: float | None,
    ) -> tuple[list[int] | None, bool]:
        """Order ``window`` after the ops of mask ``before`` (holding ``live`` bytes).

        Returns ``(order, exact)``: the window's order of least peak found
        below ``bound`` (``None`` if none), and whether no state was dropped
        for ``width`` -- then the answer is optimal.  Raises
        :class:`_OutOfBudget` once ``budget`` expansions are spent.
        """
        succs = self.ix.succs
        model = self.model
        alloc, frees, sizes, multi = model.alloc, model.frees, model.sizes, model.multi
        fmask, pmask = self.fmask, self.pmask
        inside = 0
        for k in window:
            inside |= 1 << k
        ready0 = tuple(k for k in sorted(window) if before & pmask[k] == pmask[k])
        # state: mask -> (peak, live, ready, trail)
        states: dict[int, tuple[int, int, tuple[int, ...], Any]] = {before: (0, live, ready0, None)}
        exact = True
        limit = self.spent + budget
        for _level in range(len(window)):
            nxt: dict[int, tuple[int, int, tuple[int, ...], Any]] = {}
            for mask, (peak, held, ready, trail) in states.items():
                self.spent += len(ready)
                for v in ready:
                    grown = held + (model.allocated(v, mask=mask) if multi[v] else alloc[v])
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
                        if (inside >> w) & 1 and mask2 & m == m:
                            new_ready.append(w)
                    new_ready.sort()
                    nxt[mask2] = (top, grown - freed, tuple(new_ready), (v, trail))
            if self.spent > limit or (deadline is not None and time.perf_counter() > deadline):
                raise _OutOfBudget
            if not nxt:
                return None, exact
            if len(nxt) > width:
                exact = False
                ranked = sorted(nxt.items(), key=lambda item: (item[1][0], item[1][1]))
                states = dict(ranked[:width])
            else:
                states = nxt
        ((_, _, _, trail),) = states.values()
        order: list[int] = []
        while trail is not None:
            v, trail = trail
            order.append(v)
        order.reverse()
        return order, exact


def _profile(model: _Model, order: Sequence[int]) -> tuple[list[int], list[int]]:
    """Live bytes at each position (after its allocation) and before it."""
    alloc, frees, sizes, multi = model.alloc, model.frees, model.sizes, model.multi
    remaining = [len(rs) for rs in model.readers]
    live = model.init_bytes
    at: list[int] = []
    before: list[int] = []
    allocated: set[int] = set()
    for k in order:
        before.append(live)
        live += alloc[k]
        for b in multi[k]:
            if b not in allocated:
                allocated.add(b)
                live += sizes[b]
        at.append(live)
        for b in frees[k]:
            remaining[b] -= 1
            if remaining[b] == 0:
                live -= sizes[b]
    return at, before


def _improve(
    search: _Search,
    order: list[int],
    span: int,
    width: int,
    budget: int,
    deadline: float | None,
) -> list[int]:
    """Re-order stretches of ``order`` around its peak while that lowers it.

    The ops outside a stretch keep their places, so the live bytes outside it
    do not change; the stretch is re-ordered by :class:`_Search` to a lower
    peak when one exists.  Windows of ``span`` ops end at, centre on and
    start at the peak position in turn; the loop stops when none improves.
    """
    model = search.model
    n = len(order)
    limit = search.spent + budget
    failed: set[tuple[int, int]] = set()
    while True:
        at, before = _profile(model, order)
        top = max(at)
        peaks = [p for p in range(n) if at[p] == top]
        improved = False
        for p in peaks:
            for lo in (p - span + 1, p - span // 2, p):
                lo = max(0, min(lo, n - span))
                hi = min(n, lo + span)
                if (lo, hi) in failed or hi - lo < 2:
                    continue
                mask = 0
                for k in order[:lo]:
                    mask |= 1 << k
                local_top = max(at[lo:hi])
                try:
                    found, _ = search.run(
                        order[lo:hi],
                        mask,
                        before[lo],
                        width,
                        local_top,
                        limit - search.spent,
                        deadline,
                    )
                except _OutOfBudget:
                    return order
                if found is None:
                    failed.add((lo, hi))
                    continue
                order = order[:lo] + found + order[hi:]
                failed.clear()
                improved = True
                break
            if improved:
                break
        if not improved:
            return order


class _RangeMax:
    """Sparse table: the largest of ``values[lo..hi]`` in constant time."""

    def __init__(self, values: list[int]) -> None:
        levels = [values]
        step = 1
        while 2 * step <= len(values):
            prev = levels[-1]
            levels.append([a if a > b else b for a, b in zip(prev, prev[step:], strict=False)])
            step *= 2
        self.levels = levels

    def __call__(self, lo: int, hi: int) -> int:
        k = (hi - lo + 1).bit_length() - 1
        level = self.levels[k]
        a, b = level[lo], level[hi - (1 << k) + 1]
        return a if a > b else b


def _shift(
    ix: Indexed,
    model: _Model,
    order: list[int],
    budget: int,
    deadline: float | None,
    verify: bool = False,
) -> tuple[list[int], int]:
    """Move single ops later (sink) or earlier (hoist) while that helps.

    An op that allocates is moved towards its first successor, one that frees
    towards its last predecessor -- at most to the far side of a peak.  The
    change in live bytes of such a move is a few step functions over the
    stretch it crosses, so each candidate move is scored in time
    proportional to the blobs it frees (range maxima come from a sparse
    table).  Moves are taken while they lower ``(peak, total live bytes
    summed over positions)``, which ends the loop.  Returns the order and the
    work spent.  ``verify`` re-computes every move's score from scratch and
    raises ``AssertionError`` on a mismatch (for tests).
    """
    n = len(order)
    alloc, frees, sizes, readers = model.alloc, model.frees, model.sizes, model.readers
    preds, succs = ix.preds, ix.succs
    spent = 0
    while spent < budget:
        if deadline is not None and time.perf_counter() > deadline:
            break
        at, before = _profile(model, order)
        spent += 2 * n
        pos = [0] * n
        for q, k in enumerate(order):
            pos[k] = q
        after = [*before[1:], at[-1] - sum(sizes[b] for b in frees[order[-1]])]
        top = max(at)
        peak_at = [q for q in range(n) if at[q] == top]
        prefix = list(at)
        for q in range(1, n):
            if prefix[q - 1] > prefix[q]:
                prefix[q] = prefix[q - 1]
        suffix = list(at)
        for q in range(n - 2, -1, -1):
            if suffix[q + 1] > suffix[q]:
                suffix[q] = suffix[q + 1]
        rmq = _RangeMax(at)
        moves: list[tuple[int, int, int, int]] = []  # (peak, area change, op, target)
        for i in range(n):
            v = order[i]
            if model.multi[v]:
                continue  # which op allocates then depends on the order: not scored here
            a = alloc[v]
            # freed blobs: (last final reader's position, size, other readers' last)
            blobs = []
            for b in frees[v]:
                last = other = -1
                for r in readers[b]:
                    q = pos[r]
                    if q > last:
                        last = q
                    if r != v and q > other:
                        other = q
                blobs.append((last, sizes[b], other))
            spent += 1 + len(blobs)
            # sink: v moves to just after the op now at j (i < j <= latest)
            latest = min((pos[w] for w in succs[v]), default=n) - 1
            if latest > i and (a > 0 or blobs):
                targets = {latest}
                targets.update(p for p in peak_at if i < p < latest)
                for j in targets:
                    steps = sorted((last, size) for last, size, _ in blobs if last <= j)
                    high = prefix[i - 1] if i > 0 else 0
                    if j + 1 < n and suffix[j + 1] > high:
                        high = suffix[j + 1]
                    add = -a
                    lo = i + 1
                    area = -a * (j - i)
                    moved = after[j]
                    for last, size in steps:
                        moved += size
                        area += size * (j - last)
                    for last, size in steps:
                        if last >= lo:
                            m = rmq(lo, last) + add
                            if m > high:
                                high = m
                            lo = last + 1
                        add += size
                    if lo <= j:
                        m = rmq(lo, j) + add
                        if m > high:
                            high = m
                    if moved > high:
                        high = moved
                    area += moved - at[i]
                    key = (high, area, v, j)
                    if high < top or (
                        high == top and area < 0 and any(i < q <= j for q in peak_at)
                    ):
                        moves.append(key)
            # hoist: v moves to just before the op now at j (earliest <= j < i)
            earliest = max((pos[u] for u in preds[v]), default=-1) + 1
            if earliest < i and blobs:
                targets = {earliest}
                targets.update(p for p in peak_at if earliest < p < i)
                for j in targets:
                    # blobs v frees as their last reader now free earlier
                    steps = sorted(
                        (max(other, j - 1), size) for last, size, other in blobs if last == i
                    )
                    high = prefix[j - 1] if j > 0 else 0
                    moved = before[j] + a
                    if moved > high:
                        high = moved
                    area = a * (i - j) + moved - at[i]
                    add = a
                    lo = j
                    for thr, size in steps:
                        area -= size * (i - 1 - thr)
                    for thr, size in steps:
                        if thr >= lo:
                            m = rmq(lo, thr) + add
                            if m > high:
                                high = m
                            lo = thr + 1
                        add -= size
                    if lo <= i - 1:
                        m = rmq(lo, i - 1) + add
                        if m > high:
                            high = m
                    if i + 1 < n and suffix[i + 1] > high:
                        high = suffix[i + 1]
                    key = (high, area, v, j - n)  # hoists: negative targets
                    if high < top or (
                        high == top and area < 0 and any(j <= q < i for q in peak_at)
                    ):
                        moves.append(key)
        if not moves:
            break
        moves.sort()
        predicted, change, v, j = moves[0]
        single = _apply_move(order, pos, v, j)
        if verify:
            new_at, _ = _profile(model, single)
            assert (max(new_at), sum(new_at) - sum(at)) == (predicted, change), (v, j)
        # moves over disjoint stretches hardly interact: try them all at once,
        # keeping the batch only if it beats the best move alone
        taken: list[tuple[int, int]] = []
        batch = []
        for _, _, v, j in moves:
            i = pos[v]
            lo, hi = (i, j) if j >= 0 else (j + n, i)
            if all(hi < a or lo > b for a, b in taken):
                taken.append((lo, hi))
                batch.append((v, j))
        previous, order = order, single
        if len(batch) > 1:
            combined = list(previous)
            for v, j in batch:  # disjoint stretches: each reads the old order
                i = pos[v]
                if j >= 0:
                    combined[i : j + 1] = [*previous[i + 1 : j + 1], v]
                else:
                    combined[j + n : i + 1] = [v, *previous[j + n : i]]
            spent += 2 * n
            new_at, _ = _profile(model, combined)
            old_area = sum(at)
            if (max(new_at), sum(new_at) - old_area) < (predicted, change):
                order = combined
    return order, spent


def _apply_move(order: list[int], pos: list[int], v: int, j: int) -> list[int]:
    """``order`` with op ``v`` moved after the op at ``j`` (``j >= 0``) or
    before the op at ``j + len(order)`` (``j < 0``)."""
    i = pos[v]
    if j >= 0:
        return [*order[:i], *order[i + 1 : j + 1], v, *order[j + 1 :]]
    j += len(order)
    return [*order[:j], v, *order[j:i], *order[i + 1 :]]


class _Stretch:
    """The live-bytes profile of an order, to score re-orderings of stretches of it."""

    def __init__(self, model: _Model, order: list[int]) -> None:
        self.model = model
        at, before = _profile(model, order)
        n = len(order)
        self.at, self.before = at, before
        self.top = max(at)
        self.peaks = [q for q in range(n) if at[q] == self.top]
        self.area = sum(at)
        prefix = list(at)
        for q in range(1, n):
            if prefix[q - 1] > prefix[q]:
                prefix[q] = prefix[q - 1]
        suffix = list(at)
        for q in range(n - 2, -1, -1):
            if suffix[q + 1] > suffix[q]:
                suffix[q] = suffix[q + 1]
        self.prefix, self.suffix = prefix, suffix
        pos = [0] * n
        for q, k in enumerate(order):
            pos[k] = q
        self.pos = pos

    def key(self) -> tuple[int, int, int]:
        """``(peak, positions at the peak, live bytes summed over positions)``."""
        return (self.top, len(self.peaks), self.area)

    def score(self, lo: int, hi: int, seg: list[int]) -> tuple[int, int, int] | None:
        """:meth:`key` of the order with ``order[lo..hi]`` replaced by ``seg``
        (the same ops), or ``None`` if that raises the peak.  Costs
        ``len(seg)`` plus the blobs ``seg`` frees."""
        alloc, frees, sizes, readers = (
            self.model.alloc,
            self.model.frees,
            self.model.sizes,
            self.model.readers,
        )
        pos, top = self.pos, self.top
        n = len(pos)
        high = self.prefix[lo - 1] if lo > 0 else 0
        if hi + 1 < n and self.suffix[hi + 1] > high:
            high = self.suffix[hi + 1]
        tops = sum(1 for p in self.peaks if p < lo or p > hi)
        remaining: dict[int, int] = {}
        live = self.before[lo]
        area = 0
        multi = self.model.multi
        allocated: set[int] = set()
        for k in seg:
            live += alloc[k]
            for b in multi[k]:
                if b not in allocated:
                    allocated.add(b)
                    if all(pos[w] >= lo for w in self.model.allocators[b]):
                        live += sizes[b]
            if live >= top:
                if live > top:
                    return None
                tops += 1
            area += live
            if live > high:
                high = live
            for b in frees[k]:
                left = remaining.get(b)
                if left is None:  # its final readers not run before the stretch
                    left = sum(1 for r in readers[b] if pos[r] >= lo)
                left -= 1
                remaining[b] = left
                if left == 0:
                    live -= sizes[b]
        if high < top:
            tops = 0
        return (high, tops, self.area - sum(self.at[lo : hi + 1]) + area)


def _split(ix: Indexed, order: list[int], i: int, j: int) -> list[int]:
    """The stretch between positions ``i`` and ``j`` after moving ``order[i]``
    to ``j`` with the ops tied to it (see :func:`_regroup`)."""
    moved = {order[i]}
    group = [order[i]]
    rest = []
    if j > i:  # sink: the op and its descendants in order[i..j] go after order[j]
        preds = ix.preds
        for q in range(i + 1, j + 1):
            u = order[q]
            if any(x in moved for x in preds[u]):
                moved.add(u)
                group.append(u)
            else:
                rest.append(u)
        return rest + group
    succs = ix.succs  # hoist: the op and its ancestors in order[j..i] go before order[j]
    for q in range(i - 1, j - 1, -1):
        u = order[q]
        if any(x in moved for x in succs[u]):
            moved.add(u)
            group.append(u)
        else:
            rest.append(u)
    group.reverse()
    rest.reverse()
    return group + rest


def _regroup(
    ix: Indexed,
    model: _Model,
    order: list[int],
    budget: int,
    deadline: float | None,
) -> tuple[list[int], int]:
    """Move an op across the peak together with the ops tied to it.

    A *sink* moves the op at position ``i`` after position ``j > i`` together
    with every op between them that depends on it (its descendants there),
    keeping their relative order; a *hoist* moves the op at ``i`` before
    position ``j < i`` with its ancestors between them.  Both keep the order
    valid: an op that stays never depends on one that moved past it, and the
    moved ops keep their order.  Such moves carry whole chains (a weight
    gradient and the transposes feeding it, say) past a peak that single-op
    moves cannot cross, because each op of the chain alone just trades one
    live blob for another.

    Sinks start at or before the last peak position and end there, at the
    lowest point after it, or at the end of the order; hoists mirror them.  A
    move is scored by re-running the live bytes over the stretch it changes
    (the rest of the profile stays as it was), stopping as soon as the
    stretch exceeds the peak.  The best move by ``(peak, positions at the
    peak, live bytes summed over positions)`` is taken while one lowers the
    peak or its number of positions.  Returns the order and the work spent.
    """
    n = len(order)
    alloc, frees = model.alloc, model.frees
    spent = 0
    while spent < budget and n > 2:
        if deadline is not None and time.perf_counter() > deadline:
            break
        prof = _Stretch(model, order)
        spent += 4 * n
        at = prof.at
        p0, p1 = prof.peaks[0], prof.peaks[-1]
        current = prof.key()
        valley_after = min(range(p1, n), key=lambda q: (at[q], -q))
        valley_before = min(range(p0 + 1), key=lambda q: (at[q], q))
        best: tuple[tuple[int, int, int], int, int] | None = None
        for i, targets in (
            *(
                (i, sorted({p1, valley_after, n - 1}))
                for i in range(p1 + 1)
                if alloc[order[i]] or model.multi[order[i]]
            ),
            *((i, sorted({p0, valley_before, 0})) for i in range(p0, n) if frees[order[i]]),
        ):
            for j in targets:
                if j == i:  # sinks end at or after p1 >= i, hoists at or before p0 <= i
                    continue
                lo, hi = (i, j) if j > i else (j, i)
                seg = _split(ix, order, i, j)
                spent += 2 * (hi - lo + 1)
                key = prof.score(lo, hi, seg)
                if key is not None and key[:2] < current[:2] and (best is None or key < best[0]):
                    best = (key, i, j)
            if spent >= budget:
                break
        if best is None:
            break
        _, i, j = best
        lo, hi = (i, j) if j > i else (j, i)
        order = [*order[:lo], *_split(ix, order, i, j), *order[hi + 1 :]]
    return order, spent


def _closure(adjacent: list[list[int]], start: Iterable[int]) -> list[bool]:
    """Marks of ``start`` and every node reachable from it along ``adjacent``."""
    seen = [False] * len(adjacent)
    stack = list(start)
    for k in stack:
        seen[k] = True
    while stack:
        k = stack.pop()
        for w in adjacent[k]:
            if not seen[w]:
                seen[w] = True
                stack.append(w)
    return seen


def _cut_bound(
    ix: Indexed, model: _Model, v: int, first: Sequence[int] = (), then: Sequence[int] = ()
) -> int:
    """The least live bytes any valid order can hold while op ``v`` runs.

    The ops run before ``v`` form a set ``S`` closed under predecessors that
    holds ``v``'s ancestors and none of its descendants (nor ``v``); here
    also the ops ``first`` (with their ancestors) and none of ``then`` (nor
    their descendants).  A blob is live at ``v`` when its writer is in ``S``
    (or is ``v``) and one of its final readers is not in ``S``.  The least
    such total over all ``S`` is a minimum cut: ops on the source side are in
    ``S``; an op's edge to each predecessor has infinite capacity (an op in
    ``S`` keeps its predecessors there); a blob is a node ``y`` with an edge
    of its size from its writer and infinite edges to its final readers, so
    the cut pays the size exactly when the writer is in ``S`` and a reader
    is not.  Ops forced into or out of ``S`` merge into the source or sink,
    which leaves a small flow network around ``v``.
    """
    n = len(ix.nodes)
    out = _closure(ix.succs, [v, *then])
    inn = _closure(ix.preds, [*ix.preds[v], *first])
    source, sink = -1, -2
    net: nx.DiGraph[Any] = nx.DiGraph()
    net.add_nodes_from((source, sink))

    def node(k: int) -> Any:
        if k < 0 or inn[k]:
            return source
        return sink if out[k] else k

    fixed = model.alloc[v] + model.kept_init
    fixed += sum(model.sizes[b] for b in model.multi[v])  # v allocates it, or it is live
    to_sink = [0] * n
    for k in range(n):
        if inn[k]:
            fixed += model.kept[k]
        elif not out[k]:
            to_sink[k] += model.kept[k]
            net.add_edges_from((k, u) for u in ix.preds[k] if not inn[u])  # no capacity: infinite
    for b, readers in enumerate(model.readers):
        w = model.writer[b]
        if w == v:
            continue  # in alloc[v]
        if w == -2:
            _cut_multi(model, b, v, node, net, to_sink)
            continue
        head = node(w)
        if head == sink:
            continue
        tails = [node(r) for r in readers]
        size = model.sizes[b]
        if sink in tails:  # a reader runs after v: live iff written before v
            if head == source:
                fixed += size
            else:
                to_sink[head] += size
            continue
        tails = [r for r in tails if r != source]
        if tails:
            y = (b,)
            net.add_edge(head, y, capacity=size)
            net.add_edges_from((y, r) for r in tails)
    net.add_edges_from((k, sink, {"capacity": c}) for k, c in enumerate(to_sink) if c)
    return (
        fixed
        + int(net.graph.get("fixed", 0))
        + int(nx.maximum_flow_value(net, source, sink, flow_func=_FLOW))
    )


def _cut_multi(
    model: _Model,
    b: int,
    v: int,
    node: Callable[[int], Any],
    net: nx.DiGraph[Any],
    to_sink: list[int],
) -> None:
    """Add storage ``b``, whose allocators may run in either order, to the cut network.

    It is live at ``v`` when one of its allocators is in ``S`` and (unless it
    is kept to the end) one of its final users is not: a node ``z`` that any
    allocator on the source side pulls there (infinite edges), paying the
    size to reach ``y``, the node of the final users.
    """
    writers = model.allocators[b]
    if v in writers:
        return  # counted in fixed
    size = model.sizes[b]
    heads = [node(w) for w in writers]
    heads = [h for h in heads if h != -2]  # an allocator after v allocates nothing before it
    if not heads:
        return
    tails = [] if b in model.kept_multi else [node(r) for r in model.readers[b]]
    always = b in model.kept_multi or -2 in tails
    tails = [t for t in tails if t not in (-1, -2)]
    if -1 in heads:  # allocated for sure
        if always:
            net.graph["fixed"] = net.graph.get("fixed", 0) + size
        elif tails:
            y = ("y", b)
            net.add_edge(-1, y, capacity=size)
            net.add_edges_from((y, t) for t in tails)
        return
    z = ("z", b)
    net.add_edges_from((h, z) for h in heads)  # no capacity: infinite
    if always:
        net.add_edge(z, -2, capacity=size)
    elif tails:
        y = ("y", b)
        net.add_edge(z, y, capacity=size)
        net.add_edges_from((y, t) for t in tails)


def _lower_bound(
    ix: Indexed, model: _Model, order: list[int], deadline: float | None, quick: bool = False
) -> int:
    """A lower bound on the peak live bytes of every valid order.

    The largest :func:`_cut_bound` of a few ops, found cheapest first.  Let
    ``p`` be the op at the peak of ``order``: its own bound comes first.  If
    it stays below ``order``'s peak, ``p`` is paired with ops ``u`` that
    neither precede nor follow it -- first those sharing a blob with ``p``,
    then the ops of highest bound among those at the highest positions of
    ``order``: in any order one of the two runs first, so the peak is at
    least the smaller over the two cases of the larger of the two ops'
    bounds given that case.  Stops once the bound reaches ``order``'s peak;
    ``quick`` stops after the pairs sharing a blob.
    """
    n = len(order)
    if n == 0:
        return model.kept_init
    at, _ = _profile(model, order)
    top = max(at)
    peak_op = order[at.index(top)]
    bound = _cut_bound(ix, model, peak_op)
    before = _closure(ix.preds, [peak_op])
    after = _closure(ix.succs, [peak_op])

    def pair(u: int) -> int:
        u_first = max(
            _cut_bound(ix, model, peak_op, first=[u]), _cut_bound(ix, model, u, then=[peak_op])
        )
        if u_first <= bound:
            return bound
        peak_first = max(
            _cut_bound(ix, model, u, first=[peak_op]), _cut_bound(ix, model, peak_op, then=[u])
        )
        return min(u_first, peak_first)

    def timed_out() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    op = model.ops[peak_op]
    sharing: list[int] = []
    for blob in (*op.input, *op.output) if op is not None else ():
        sharing.extend(u for u in model.users.get(blob, ()) if not before[u] and not after[u])
    for u in list(dict.fromkeys(sharing))[:_BOUND_PAIRS]:
        if bound >= top or timed_out():
            return bound
        bound = max(bound, pair(u))
    if quick:
        return bound
    ranked = sorted(range(n), key=lambda q: (-at[q], q))[:_BOUND_OPS]
    single: dict[int, int] = {}
    for q in ranked:
        if bound >= top or timed_out():
            return bound
        k = order[q]
        single[k] = _cut_bound(ix, model, k)
        bound = max(bound, single[k])
    others = sorted(
        (k for k in single if not before[k] and not after[k] and k not in sharing),
        key=lambda k: (-single[k], k),
    )
    for u in others[:_BOUND_PAIRS]:
        if bound >= top or timed_out():
            break
        bound = max(bound, pair(u))
    return bound


class MemoryOrder(NamedTuple):
    """The result of :func:`memory_order`.

    Attributes
    ----------
    order : list
        A valid order of the graph's nodes.
    peak : int
        Its peak live bytes (:func:`order_peak_bytes`).
    program_peak : int
        The peak live bytes of program order (the order of
        :func:`~memonger.graph.topological_sort_traversal`); never below
        ``peak``.
    optimal : bool
        True when no valid order has a lower peak: the dynamic program over
        the whole graph finished without dropping a state, or ``peak``
        reached ``lower_bound``.
    lower_bound : int
        No valid order has a peak below this (a minimum-cut bound, see the
        module docstring); equal to ``peak`` when ``optimal``.
    """

    order: list[Any]
    peak: int
    program_peak: int
    optimal: bool
    lower_bound: int


@paused_gc()
def memory_order(
    g: nx.DiGraph[Any],
    blob_sizes: Mapping[str, int | None] | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
    time_limit: float | None = None,
    views: ViewsOf | None = None,
) -> MemoryOrder:
    """Search a valid order of ``g`` with a low peak of live bytes, and report it.

    :func:`topological_sort_min_memory` returns the order alone; this returns
    its peak, program order's, and whether the order is proven optimal.  The
    method is described in the module docstring.

    Parameters
    ----------
    g : networkx.DiGraph
        A dependency graph from
        :func:`~memonger.graph.compute_interference_graph` (node attribute
        ``op``; nodes without an op touch no blobs).
    blob_sizes : mapping of str to int, optional
        Bytes of each blob the ops touch; ``None`` (and no mapping at all)
        counts one byte, a blob the mapping lacks is an error (memonger.alloc's
        unknown-size policy).
    budget : int, optional
        Work the search may spend (state expansions and scored moves; the
        default takes a few seconds at most on nets of thousands of ops);
        0 keeps to the fixed and greedy candidates.
    time_limit : float, optional
        Seconds after which the search stops with the best order so far.
        Results then depend on the machine's speed; the default (no limit)
        keeps them deterministic.
    views : callable, optional
        ``op -> (output_index, input_index)`` view pairs, as for
        :func:`memonger.alloc.compute_liveness` (default: each op's own
        ``views`` attribute); give the graph the same
        (:func:`~memonger.graph.compute_interference_graph`).

    Returns
    -------
    MemoryOrder

    Raises
    ------
    CycleError
        ``g`` has a cycle (named in the message).
    InvalidSizeError
        A blob size is negative or not an integer.
    MissingSizeError
        ``blob_sizes`` lacks a blob the ops touch.
    ValueError
        ``budget`` is negative.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> from memonger.graph import compute_interference_graph
    >>> ops = [
    ...     Op(input=["x"], output=["a"]),
    ...     Op(input=["x"], output=["b"]),
    ...     Op(input=["b"], output=["c"]),
    ...     Op(input=["a"], output=["d"]),
    ...     Op(input=["c", "d"], output=["y"]),
    ... ]
    >>> sizes = {"x": 0, "a": 100, "b": 50, "c": 1, "d": 1, "y": 1}
    >>> memory_order(compute_interference_graph(ops), sizes)
    MemoryOrder(order=[0, 3, 1, 2, 4], peak=101, program_peak=151, optimal=True, lower_bound=101)
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    ix = index_graph(g)
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    base = kahn(ix)  # program order when valid; raises CycleError on a cycle
    n = len(base)
    model = _Model(ix, blob_sizes, views)

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
    exact = n <= 1
    if n <= _BEAM_MAX_OPS and not exact and budget > 0:
        search = _Search(ix, model)
        # 1. the DP over the whole graph: exact when it never drops a state
        width = 1
        everything = list(range(n))
        while search.spent < budget // 8:
            try:
                order, exact = search.run(
                    everything,
                    0,
                    model.init_bytes,
                    width,
                    best_peak,
                    budget // 8 - search.spent,
                    deadline,
                )
            except _OutOfBudget:
                break
            if order is not None:
                consider(order)
            if exact:
                break
            width *= 4
        # a cut bound reached already proves the best order optimal
        if not exact and best_peak <= _lower_bound(ix, model, best, deadline, quick=True):
            exact = True
        # 2. local search from the best order: stretches, single-op and group moves
        while not exact and search.spent < budget:
            start_peak = best_peak
            consider(_improve(search, best, _SPAN, _SPAN_WIDTH, budget - search.spent, deadline))
            shifted, used = _shift(ix, model, best, budget - search.spent, deadline)
            search.spent += used
            consider(shifted)
            grouped, used = _regroup(ix, model, best, budget - search.spent, deadline)
            search.spent += used
            consider(grouped)
            if best_peak == start_peak or (deadline is not None and time.perf_counter() > deadline):
                break
    bound = 0
    if exact:
        bound = best_peak
    elif n <= _BEAM_MAX_OPS and budget > 0:
        bound = _lower_bound(ix, model, best, deadline)
    ops = [op if op is not None else _NO_OP for op in model.ops]
    program_peak = order_peak_bytes(ops, base, blob_sizes, views=views)
    peak = program_peak
    if best is not base:
        peak = order_peak_bytes(ops, best, blob_sizes, views=views)
        if peak >= program_peak:  # the model disagrees with the graph: keep program order
            best, peak = base, program_peak
    if peak != best_peak:  # never expected: the model's bound does not apply
        bound = 0
    bound = min(bound, peak)
    return MemoryOrder([ix.nodes[k] for k in best], peak, program_peak, peak == bound, bound)


def topological_sort_min_memory(
    g: nx.DiGraph[_Node],
    blob_sizes: Mapping[str, int | None] | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
    time_limit: float | None = None,
    views: ViewsOf | None = None,
) -> list[_Node]:
    """A valid order of ``g`` with as low a peak of live bytes as found.

    The method -- fixed candidates, greedy list scheduling, a dynamic program
    over scheduled sets that is exact on small or chain-like graphs, then
    local search -- is described in the module docstring.  The result's peak
    (:func:`order_peak_bytes`) is never above program order's; program order
    itself comes back when nothing better is found.  Parameters as for
    :func:`memory_order`, which also reports the peaks and optimality.

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
    >>> sizes = {"x": 0, "a": 100, "b": 50, "c": 1, "d": 1, "y": 1}
    >>> g = compute_interference_graph(ops)
    >>> order = topological_sort_min_memory(g, sizes)
    >>> order
    [0, 3, 1, 2, 4]
    >>> order_peak_bytes(ops, order, sizes), order_peak_bytes(ops, None, sizes)
    (101, 151)
    """
    return memory_order(g, blob_sizes, budget=budget, time_limit=time_limit, views=views).order


class _NoOp:
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()


_NO_OP = _NoOp()
