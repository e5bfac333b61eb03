"""Exact assignment: minimum total bytes, by branch and bound.

The problem
    Partition the blobs into buffers so that the ranges inside a buffer are
    pairwise disjoint (closed ranges), minimizing the sum over buffers of the
    largest member (sizes ``None`` count as 1).  This is *max-coloring* of an
    interval graph, NP-hard in general, so the solver searches, with a budget.

The method
    1. **Start from the best heuristic** (Caffe2's greedy, greedy by size,
       greedy by positional maxima; all of them always run, so the answer is
       never worse than any, and the search gets what is left of the
       budget).  If it meets the positional-maxima lower bound (see
       :mod:`memonger.alloc.bounds`) it is optimal and no search runs.
    2. **Decompose.**  Blobs connected by overlaps form components separated
       by positions where nothing is live across.  Each component starts from
       the best heuristic plan restricted to it; only components above their
       own positional-maxima bound are searched, in turns that share out the
       remaining budget.  The components' buffers are merged *by rank* (the
       most expensive buffer of each component together, then the second
       ones...); a merged plan meeting the bound of the whole is optimal.
       Otherwise the whole problem is searched, starting from the better plan.
    3. **Search in time order.**  Blobs are visited by ``defined``; a buffer
       is then fully described by its capacity (its largest member so far)
       and the position until which it is busy, so states are small.  A blob
       may join a free buffer (one per distinct capacity: equal free buffers
       are symmetric), of which below its size only the largest (joining a
       smaller one is dominated), or open a new buffer, only when no free
       buffer is at most its size (otherwise joining that buffer dominates);
       best fit first.  States are memoized by the multiset of buffers as the
       future sees them: capacity capped at the largest size still to come,
       and the first later visit that may join (buffers busy past the last
       start are dropped); a state reached again at no lower cost is cut.

       *Lower bound*: every blob live at a position from the current one on
       needs its own buffer, at least as large, distinct from the buffers
       still busy there; capacities only grow.  A busy buffer holds exactly
       one blob live later (its last member), so the sizes live at a later
       position are those of all blobs live there with each busy buffer's
       last member lifted to the buffer's capacity.  With current capacities
       ``c_1 >= c_2 >= ...`` and those sizes maximized position-wise into
       ``v_1 >= v_2 >= ...``, the final cost is at least
       ``sum(max(c_j, v_j))``.  Sorted sizes per position are precomputed and
       positions dominated by an earlier one are skipped.
    4. **A portfolio, with restarts.**  Rounds with node limits that double
       each time; each run starts from the best plan so far:

       - the time-ordered search forward and backward in time (a problem and
         its time reversal have the same solutions but one is often much
         easier), each first as a *target* search for a plan meeting the
         best known lower bound (every node whose bound exceeds it is cut;
         when it completes empty-handed the lower bound rises to the least
         bound it cut: iterative deepening on the objective), then as a
         plain branch and bound;
       - on problems of a few hundred blobs, the size-ordered search below;
       - *polishing*: the best plan's buffers restricted to the blobs above a
         size threshold are kept and the smaller blobs are placed exactly
         around them (the threshold starts at the most expensive buffer
         exceeding its positional maximum, and grows).  This finds plans
         that meet the bound when only small blobs are misplaced.

       Optimality is proven when the plan meets the lower bound or a plain
       run completes.  When the time or node budget runs out, the best plan
       found is returned, not proven optimal.  With only a node limit the
       result is deterministic.

    With initial buffers (Caffe2's ``init_assignment``), whose members may
    sit anywhere in time, a size-ordered search is used instead: blobs are
    visited largest first and ranges are bit masks over the distinct
    ``defined`` positions, a blob joins a buffer its mask does not meet or
    opens one; the bound counts, per position, the blobs that must open new
    buffers (more live blobs than buffers, or no buffer can take them).
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from memonger.alloc.bounds import _maxima
from memonger.alloc.liveness import plan_bytes as plan_cost
from memonger.alloc.maxima import greedy_by_positional_maxima
from memonger.alloc.ranges import Item, LiveRange, nbytes

__all__ = [
    "DEFAULT_NODE_LIMIT",
    "SearchStats",
    "components",
    "compute_assignments_dp",
    "solve_exact",
]


@dataclass
class SearchStats:
    """Counters of one exact solve."""

    nodes: int = 0
    memo_hits: int = 0
    pruned: int = 0
    components: int = 0
    components_searched: int = 0
    budget_exhausted: bool = False
    lower_bound: int | None = None
    extra: dict[str, int] = field(default_factory=dict)


def components(items: Sequence[Item]) -> list[list[int]]:
    """Indices of ``items`` grouped by overlap-connected components, in time order.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> components([("a", LiveRange(0, 2, 1)), ("b", LiveRange(3, 4, 1)),
    ...             ("c", LiveRange(2, 3, 1))])
    [[0, 2, 1]]
    >>> components([("a", LiveRange(0, 1, 1)), ("b", LiveRange(2, 4, 1))])
    [[0], [1]]
    """
    order = sorted(range(len(items)), key=lambda i: (items[i][1].defined, items[i][1].used, i))
    groups: list[list[int]] = []
    end = None
    for i in order:
        r = items[i][1]
        if end is None or r.defined > end:
            groups.append([])
            end = r.used
        groups[-1].append(i)
        end = max(end, r.used)
    return groups


_MEMO_CELLS = 8_000_000
"""Words stored in a search's memo keys before it is cleared (bounds memory)."""

_STRONG_BOUND_MAX = 1500
"""Largest search for which the (per node linear-time) busy bound is used."""

_SEARCH_MAX = 5000

DEFAULT_NODE_LIMIT = 5000
"""The exact solver's default budget: search nodes over a whole solve.

Counted in work, not seconds, so the same input gives the same plan on every
machine and under any load.  It proves every corpus net that a 2-second
budget proved (the largest needs about 4,200 nodes); a wall-clock
``time_limit`` is an extra cap.
"""
"""Largest problem (blobs) searched; bigger ones keep the best heuristic plan."""


class _Budget:
    def __init__(self, deadline: float | None, node_limit: int | None) -> None:
        self.deadline = deadline
        self.node_limit = node_limit
        self.nodes = 0
        self.out = False

    def share(self, ways: int) -> _Budget:
        """A budget of one ``ways``-th of what is left (time and nodes)."""
        deadline = self.deadline
        if deadline is not None:
            now = time.perf_counter()
            deadline = now + max(0.0, deadline - now) / ways
        nodes = None
        if self.node_limit is not None:
            nodes = max(1, (self.node_limit - self.nodes) // ways)
        return _Budget(deadline, nodes)

    def tick(self) -> bool:
        """Count a node; True when the budget is spent."""
        self.nodes += 1
        if self.node_limit is not None and self.nodes > self.node_limit:
            self.out = True
        elif self.deadline is not None:
            self.out = time.perf_counter() > self.deadline
        return self.out


def _branch_and_bound(
    items: Sequence[Item],
    init: Sequence[Sequence[Item]],
    incumbent_cost: int,
    budget: _Budget,
    stats: SearchStats,
    floor: int = -1,
) -> tuple[list[int] | None, bool]:
    """Search an assignment of ``items`` on top of ``init`` cheaper than the incumbent.

    Returns (buffer index per item, or None when nothing cheaper was found;
    whether the search completed).  Buffer indices below ``len(init)`` are the
    initial buffers.  The search stops at a plan of at most ``floor`` bytes
    (a known lower bound).
    """
    n = len(items)
    order = sorted(
        range(n),
        key=lambda i: (-nbytes(items[i][1].size), items[i][1].defined, items[i][1].used, i),
    )
    weights = [nbytes(items[i][1].size) for i in order]
    init_ranges = [r for a in init for _, r in a]
    points = sorted({items[i][1].defined for i in order} | {r.defined for r in init_ranges})
    npts = len(points)

    def mask_of(defined: int, used: int) -> int:
        lo = bisect_left(points, defined)
        hi = bisect_right(points, used)
        return ((1 << hi) - 1) ^ ((1 << lo) - 1)

    masks = [mask_of(items[i][1].defined, items[i][1].used) for i in order]
    suffix = [0] * (n + 1)
    for k in range(n - 1, -1, -1):
        suffix[k] = suffix[k + 1] | masks[k]

    # Per position: number of live blobs (initial ones too) and sizes of the
    # searched ones live there, largest first (visit order).
    live_sizes: list[list[int]] = [[] for _ in range(npts)]
    live_idx: list[list[int]] = [[] for _ in range(npts)]
    live_count = [0] * npts
    for k, i in enumerate(order):
        r = items[i][1]
        for t in range(bisect_left(points, r.defined), bisect_right(points, r.used)):
            live_sizes[t].append(weights[k])
            live_idx[t].append(k)
            live_count[t] += 1
    for r in init_ranges:
        for t in range(bisect_left(points, r.defined), bisect_right(points, r.used)):
            live_count[t] += 1
    by_count = sorted(range(npts), key=lambda t: -live_count[t])
    counts_desc = [live_count[t] for t in by_count]

    def rest_bound(n_buffers: int) -> int:
        need: list[int] = []
        for idx, t in enumerate(by_count):
            r_t = counts_desc[idx] - n_buffers
            if r_t <= 0:
                break
            sizes = live_sizes[t]
            tail = sizes[len(sizes) - r_t :]
            for j, s in enumerate(tail):
                if j == len(need):
                    need.append(s)
                elif s > need[j]:
                    need[j] = s
        return sum(need)

    def forced_bound(k: int) -> int:
        """Like ``rest_bound``, also counting the blobs no buffer can take."""
        forced = [False] * n
        for q in range(k, n):
            mq = masks[q]
            for o in occ:
                if not o & mq:
                    break
            else:
                forced[q] = True
        n_buffers = len(occ)
        need: list[int] = []
        for t in range(npts):
            idx = live_idx[t]
            start = bisect_left(idx, k)
            if start == len(idx):
                continue
            r_t = live_count[t] - n_buffers
            chosen = [q for q in idx[start:] if forced[q]]
            extra = r_t - len(chosen)
            if extra > 0:
                others = [q for q in idx[start:] if not forced[q]]
                chosen.extend(others[len(others) - extra :])
                chosen.sort()
            for j, q in enumerate(chosen):
                s = weights[q]
                if j == len(need):
                    need.append(s)
                elif s > need[j]:
                    need[j] = s
        return sum(need)

    occ: list[int] = []
    caps: list[int] = []
    for a in init:
        m = 0
        for _, r in a:
            m |= mask_of(r.defined, r.used)
        occ.append(m)
        caps.append(max((nbytes(r.size) for _, r in a), default=0))
    choice = [0] * n
    best_choice: list[int] | None = None
    best = incumbent_cost
    base_cost = sum(caps)
    memo: dict[tuple[int, tuple[int, ...]], int] = {}
    memo_size = 0  # machine words held by the memo's keys, roughly

    # Explicit stack: for depth k, the options still to try.
    options: list[list[int]] = []
    cost = base_cost
    k = 0
    completed = True

    def expand(k: int, cost: int) -> list[int]:
        """Options at depth k (buffer indices, -1 = new), or [] to prune."""
        if cost + rest_bound(len(occ)) >= best or cost + forced_bound(k) >= best:
            stats.pruned += 1
            return []
        rem = suffix[k]
        full = rem
        key = (k, tuple(sorted(p for o in occ if (p := o & rem) != full)))
        seen = memo.get(key)
        if seen is not None and seen <= cost:
            stats.memo_hits += 1
            return []
        nonlocal memo_size
        memo_size += 1 + sum(p.bit_length() >> 6 for p in key[1]) + len(key[1])
        if memo_size > _MEMO_CELLS:
            memo.clear()
            memo_size = 0
        memo[key] = cost
        m = masks[k]
        w = weights[k]
        later = suffix[k + 1]
        joins: list[tuple[int, int, int]] = []  # (growth, -fill, index)
        seen_proj: set[int] = set()
        free_for_all = False
        for j, o in enumerate(occ):
            if o & m:
                continue
            proj = o & rem
            if proj in seen_proj:
                continue
            seen_proj.add(proj)
            growth = w - caps[j] if w > caps[j] else 0
            if growth == 0 and not o & later:
                free_for_all = True
            joins.append((growth, -proj.bit_count(), j))
        joins.sort()
        opts = [j for _, _, j in joins]
        if not free_for_all:
            opts.append(-1)
        opts.reverse()  # popped from the end: best first
        return opts

    undo: list[tuple[int, int]] = []  # per depth: (buffer index, previous cap)
    options.append(expand(0, cost) if n else [])
    if n == 0:
        return ([], True) if base_cost < best else (None, True)
    while options:
        opts = options[-1]
        if not opts or budget.out:
            if budget.out:
                completed = False
            options.pop()
            if undo:
                j, prev = undo.pop()
                k -= 1
                if j == len(occ) - 1 and prev < 0:
                    occ.pop()
                    cost -= caps.pop()
                else:
                    occ[j] ^= masks[k]
                    cost -= caps[j] - prev
                    caps[j] = prev
            continue
        j = opts.pop()
        if budget.tick():
            completed = False
            continue
        stats.nodes += 1
        if j < 0:
            occ.append(masks[k])
            caps.append(weights[k])
            cost += weights[k]
            undo.append((len(occ) - 1, -1))
            j = len(occ) - 1
        else:
            prev = caps[j]
            occ[j] |= masks[k]
            if weights[k] > prev:
                caps[j] = weights[k]
                cost += weights[k] - prev
            undo.append((j, prev))
        choice[k] = j
        k += 1
        if k == n:
            if cost < best:
                best = cost
                best_choice = choice.copy()
                if best <= floor:
                    break  # meets a lower bound: optimal
            options.append([])
        else:
            options.append(expand(k, cost))
    if best_choice is None:
        return None, completed
    result = [0] * n
    for pos, i in enumerate(order):
        result[i] = best_choice[pos]
    return result, completed


@dataclass
class _Sweep:
    """A problem prepared for :func:`_sweep_search` (reused across runs)."""

    n: int
    order: list[int]
    starts: list[int]
    ends: list[int]
    weights: list[int]
    rest_max: list[int]
    points: list[int]
    live_neg: list[list[int]]
    anchor: list[int]
    suffix_pm: list[list[int]]
    point_index: list[int]


def _prepare(items: Sequence[Item]) -> _Sweep:
    n = len(items)
    order = sorted(
        range(n),
        key=lambda i: (items[i][1].defined, -nbytes(items[i][1].size), items[i][1].used, i),
    )
    starts = [items[i][1].defined for i in order]
    ends = [items[i][1].used for i in order]
    weights = [nbytes(items[i][1].size) for i in order]
    rest_max = [0] * (n + 1)  # largest size still to place, from visit k on
    for k in range(n - 1, -1, -1):
        rest_max[k] = max(weights[k], rest_max[k + 1])
    # Per distinct start position, the visits live there (a sweep), and the
    # positional maxima of everything live at or after it.
    points = sorted(set(starts))
    live_at: list[list[int]] = []
    live: list[int] = []
    q = 0
    for p in points:
        live = [x for x in live if ends[x] >= p]
        while q < n and starts[q] == p:
            live.append(q)
            q += 1
        live_at.append(sorted(live))
    suffix_pm: list[list[int]] = [[] for _ in points]
    acc: list[int] = []
    for pi in range(len(points) - 1, -1, -1):
        sizes = sorted((weights[x] for x in live_at[pi]), reverse=True)
        merged = [a if a > b else b for a, b in zip(acc, sizes, strict=False)]
        merged.extend(acc[len(sizes) :] if len(acc) > len(sizes) else sizes[len(acc) :])
        acc = merged
        suffix_pm[pi] = acc
    point_index = [bisect_left(points, starts[k]) for k in range(n)]
    # Sizes live at each position, negated and ascending (largest first),
    # for the busy bound of small enough problems.
    live_neg = (
        [sorted(-weights[x] for x in live) for live in live_at] if n <= _STRONG_BOUND_MAX else []
    )
    # A position whose sizes are position-wise at most those of an earlier
    # one (its anchor) adds nothing to the bound while the anchor counts
    # too: the busy buffers live at it are live at the anchor as well.
    anchor = [-1] * len(live_neg)
    ref = 0
    for pi in range(1, len(live_neg)):
        here, there = live_neg[pi], live_neg[ref]
        if len(here) <= len(there) and all(a >= b for a, b in zip(here, there, strict=False)):
            anchor[pi] = ref
        else:
            ref = pi
    return _Sweep(
        n,
        order,
        starts,
        ends,
        weights,
        rest_max,
        points,
        live_neg,
        anchor,
        suffix_pm,
        point_index,
    )


def _paired(a: list[int], b: list[int]) -> int:
    """``sum(max(a_j, b_j))`` of two descending lists, the shorter padded with 0."""
    total = sum(map(max, a, b))
    if len(a) > len(b):
        return total + sum(a[len(b) :])
    return total + sum(b[len(a) :])


def _sweep_search(
    prep: _Sweep,
    incumbent_cost: int,
    budget: _Budget,
    stats: SearchStats,
    target: int | None = None,
) -> tuple[list[int] | None, bool, int]:
    """Search in time order for an assignment cheaper than the incumbent.

    Blobs are visited by ``defined`` (larger first on ties).  A buffer is
    then described by its capacity (largest member so far) and the position
    until which it is busy, so the state is small and memoized.  The bound:
    every blob live at a position at or after the current one needs its own
    buffer of at least its size, distinct from the buffers still busy there,
    so with current capacities ``c_1 >= c_2 >= ...`` (which only grow) and
    the position-wise maxima ``v_j`` of those sizes, the final cost is at
    least ``sum(max(c_j, v_j))``.  A busy buffer holds exactly one blob live
    at a later position (its last member), so the sizes there are those of
    all blobs live there with the last members of the buffers that grew past
    them lifted to the buffer's capacity: the precomputed positional maxima
    of the suffix, corrected at the positions where such a buffer is busy.

    With ``target`` given, only plans of at most ``target`` bytes are sought
    (nodes whose bound exceeds it are cut) and the search stops at the first.

    Returns (choice per item or None when nothing cheaper was found, whether
    the search completed, and the least bound among the cut nodes: when the
    search completed without a plan, no plan costs less than that).
    """
    n = prep.n
    starts, ends, weights, rest_max = prep.starts, prep.ends, prep.weights, prep.rest_max
    points, live_neg, anchor, suffix_pm, point_index = (
        prep.points,
        prep.live_neg,
        prep.anchor,
        prep.suffix_pm,
        prep.point_index,
    )
    pm_at = [suffix_pm[point_index[k]] for k in range(n)]
    strong = n <= _STRONG_BOUND_MAX

    def busy_bound(k: int, srt: list[int]) -> int:
        """The bound with busy buffers' capacities (see above)."""
        d = starts[k]
        pi0 = point_index[k]
        lifted = sorted(
            ((e, -w, -c) for c, e, w in zip(caps, busy, last, strict=True) if e >= d and c > w),
            reverse=True,
        )
        acc2 = suffix_pm[pi0]
        if lifted:
            neg = [-v for v in acc2]
            alive = len(lifted)  # lifted[:alive] are busy at the position
            for pi in range(pi0, bisect_right(points, lifted[0][0])):
                if pi != pi0 and anchor[pi] >= pi0:
                    continue
                p = points[pi]
                while lifted[alive - 1][0] < p:
                    alive -= 1
                lst = list(live_neg[pi])
                for _, nw, nc in lifted[:alive]:
                    lst.remove(nw)
                    insort(lst, nc)
                merged = list(map(min, neg, lst))
                merged.extend(neg[len(lst) :])
                neg = merged
            acc2 = [-v for v in neg]
        return _paired(srt, acc2)

    caps: list[int] = []
    busy: list[int] = []  # used of the last member
    last: list[int] = []  # size of the last member
    choice = [0] * n
    best = incumbent_cost
    goal = best - 1 if target is None else min(target, best - 1)
    cut = best  # least bound among the nodes cut
    best_choice: list[int] | None = None
    memo: dict[tuple[int, tuple[tuple[int, int], ...]], int] = {}
    memo_size = 0  # buffers stored in the memo's keys
    cost = 0

    def expand(k: int) -> list[int]:
        nonlocal cut, memo_size
        pm = pm_at[k]
        srt = sorted(caps, reverse=True)
        bound = _paired(srt, pm)
        if bound <= goal and strong:
            bound = busy_bound(k, srt)
        if bound > goal:
            stats.pruned += 1
            if bound < cut:
                cut = bound
            return []
        # The future depends on a buffer only through its capacity capped
        # at the largest size still to come, and the number of visits
        # starting before it is free again; buffers busy past the last
        # start are out of play.
        top = rest_max[k]
        state = []
        for c, e in zip(caps, busy, strict=True):
            free_at = bisect_right(starts, e, k)
            if free_at < n:
                state.append((c if c < top else top, free_at))
        key = (k, tuple(sorted(state)))
        seen = memo.get(key)
        if seen is not None and seen <= cost:
            stats.memo_hits += 1
            return []
        memo_size += len(state) + 1
        if memo_size > _MEMO_CELLS:
            memo.clear()
            memo_size = 0
        memo[key] = cost
        d = starts[k]
        s = weights[k]
        fits: dict[int, int] = {}
        below = -1
        for j, c in enumerate(caps):
            if busy[j] >= d:
                continue
            if c >= s:
                c = c if c < top else top
                if c not in fits:
                    fits[c] = j
            elif below < 0 or c > caps[below]:
                below = j
        opts = [fits[c] for c in sorted(fits)]
        if below >= 0:
            opts.append(below)
        elif s not in fits:
            opts.append(-1)
        opts.reverse()  # popped from the end: best fit first
        return opts

    options: list[list[int]] = [expand(0)] if n else []
    undo: list[tuple[int, int, int, int]] = []  # (buffer, previous cap, busy, last); -1 = new
    k = 0
    completed = True
    if n == 0:
        if goal >= 0:
            return [], True, 0
        return None, True, min(cut, 0)
    while options:
        opts = options[-1]
        if not opts or budget.out:
            if budget.out:
                completed = False
            options.pop()
            if undo:
                j, prev_cap, prev_busy, prev_last = undo.pop()
                k -= 1
                if prev_cap < 0:
                    cost -= caps.pop()
                    busy.pop()
                    last.pop()
                else:
                    cost -= caps[j] - prev_cap
                    caps[j] = prev_cap
                    busy[j] = prev_busy
                    last[j] = prev_last
            continue
        j = opts.pop()
        if budget.tick():
            completed = False
            continue
        stats.nodes += 1
        s = weights[k]
        if j < 0:
            caps.append(s)
            busy.append(ends[k])
            last.append(s)
            cost += s
            j = len(caps) - 1
            undo.append((j, -1, -1, -1))
        else:
            undo.append((j, caps[j], busy[j], last[j]))
            if s > caps[j]:
                cost += s - caps[j]
                caps[j] = s
            busy[j] = ends[k]
            last[j] = s
        choice[k] = j
        k += 1
        if k == n:
            if cost <= goal:
                best = cost
                best_choice = choice.copy()
                if target is not None:
                    break  # a plan within the target: stop there
                goal = cost - 1
            elif cost < cut:
                cut = cost
            options.append([])
        else:
            options.append(expand(k))
    if best_choice is None:
        return None, completed, cut
    result = [0] * n
    for pos, i in enumerate(prep.order):
        result[i] = best_choice[pos]
    return result, True if target is not None else completed, cut


_IDA_ROUNDS = 1
"""Target searches run per round before a plain branch-and-bound run."""

_SIZE_ORDER_MAX = 400
"""Largest problem on which the size-ordered search joins the portfolio."""

_POLISH_STEPS = 4
"""Size thresholds tried per round of polishing."""


def _portfolio(
    items: Sequence[Item],
    incumbent: list[list[Item]],
    lower: int,
    budget: _Budget,
    stats: SearchStats,
) -> tuple[list[list[Item]], bool, int]:
    """Search with several methods in turn, with restarts.

    The methods, each run under a node limit that doubles every round and
    each starting from the best plan so far:

    - :func:`_sweep_search` forward and backward in time (an instance and
      its time reversal have the same solutions, but one direction is often
      far easier to search).  First a *target* run looks for a plan meeting
      the best known lower bound (cutting every node whose bound exceeds it,
      very effective when the plan is already close); one that completes
      without a plan raises the lower bound to the least bound it cut
      (iterative deepening on the objective).  Then a plain branch and bound
      run improves the plan.
    - On small problems, the size-ordered search of
      :func:`_branch_and_bound` (strong where the time-ordered one is weak).
    - *Polishing* (a large neighbourhood search): keep the buffers of the
      blobs above a size threshold as they are in the best plan and search
      the placement of the smaller ones exactly.  The first threshold is the
      cost of the most expensive buffer that exceeds its positional maximum,
      then the next larger sizes.

    Optimality is proven when the plan meets the lower bound or a plain run
    of a complete method finishes.

    Returns (best plan, proven, the lower bound reached).
    """
    backward = [(name, LiveRange(-r.used, -r.defined, r.size)) for name, r in items]
    problems: list[_Sweep | None] = [_prepare(items), _prepare(backward)]
    if len(items) <= _SIZE_ORDER_MAX:
        problems.append(None)  # the size-ordered search
    maxima = _maxima([(r.defined, r.used, nbytes(r.size)) for _, r in items])
    sizes = sorted({nbytes(r.size) for _, r in items})
    best_plan = [list(a) for a in incumbent]
    best = plan_cost(best_plan)
    limit = 1000

    def spent() -> bool:
        return (budget.deadline is not None and time.perf_counter() > budget.deadline) or (
            budget.node_limit is not None and budget.nodes >= budget.node_limit
        )

    def capped() -> _Budget:
        remaining = None if budget.node_limit is None else budget.node_limit - budget.nodes
        return _Budget(budget.deadline, limit if remaining is None else min(limit, remaining))

    def run(problem: _Sweep | None, target: int | None) -> bool:
        """One capped run; True when it completed."""
        nonlocal best, best_plan, lower
        run_budget = capped()
        if problem is None:
            choice, done = _branch_and_bound(items, (), best, run_budget, stats, floor=lower)
            cut = best
        else:
            choice, done, cut = _sweep_search(problem, best, run_budget, stats, target)
        budget.nodes += run_budget.nodes
        if choice is not None:
            best_plan = _from_choice(items, (), choice)
            best = plan_cost(best_plan)
        elif done and target is not None:
            lower = max(lower, min(cut, best))
        return done

    def polish() -> None:
        nonlocal best, best_plan
        costs = sorted((max(nbytes(r.size) for _, r in a) for a in best_plan), reverse=True)
        untight = [c for j, c in enumerate(costs) if j >= len(maxima) or c > maxima[j]]
        if not untight:
            return
        first = bisect_left(sizes, max(untight))
        for threshold in sizes[first : first + _POLISH_STEPS]:
            if best <= lower or spent():
                return
            small = [item for a in best_plan for item in a if nbytes(item[1].size) <= threshold]
            fixed = [
                kept
                for a in best_plan
                if (kept := [item for item in a if nbytes(item[1].size) > threshold])
            ]
            if not fixed:
                return
            run_budget = capped()
            choice, _ = _branch_and_bound(small, fixed, best, run_budget, stats, floor=lower)
            budget.nodes += run_budget.nodes
            if choice is not None:
                best_plan = _from_choice(small, fixed, choice)
                best = plan_cost(best_plan)

    while True:
        for problem in problems:
            for _ in range(_IDA_ROUNDS if problem is not None else 0):
                if best <= lower:
                    return best_plan, True, lower
                if spent():
                    budget.out = True
                    return best_plan, False, lower
                if not run(problem, lower):
                    break
            if best <= lower:
                return best_plan, True, lower
            if spent():
                budget.out = True
                return best_plan, False, lower
            if run(problem, None):
                return best_plan, True, best
        polish()
        limit *= 2


def _from_choice(
    items: Sequence[Item], init: Sequence[Sequence[Item]], choice: Sequence[int]
) -> list[list[Item]]:
    buffers: list[list[Item]] = [list(a) for a in init]
    extra: dict[int, list[Item]] = {}
    for item, j in zip(items, choice, strict=True):
        if j < len(init):
            buffers[j].append(item)
        else:
            extra.setdefault(j, []).append(item)
    buffers.extend(extra[j] for j in sorted(extra))
    return buffers


def _merge_by_rank(parts: Sequence[Sequence[Sequence[Item]]]) -> list[list[Item]]:
    """Merge time-disjoint plans, pairing their buffers by decreasing cost."""
    ranked = [sorted(p, key=lambda a: -max(nbytes(r.size) for _, r in a)) for p in parts]
    width = max((len(p) for p in ranked), default=0)
    merged: list[list[Item]] = [[] for _ in range(width)]
    for p in ranked:
        for j, a in enumerate(p):
            merged[j].extend(a)
    return merged


Heuristic = Callable[[Sequence[Item]], list[list[Item]]]


def solve_exact(
    items: Sequence[Item],
    heuristics: Sequence[Heuristic],
    *,
    init: Sequence[Sequence[Item]] = (),
    time_limit: float | None = None,
    node_limit: int | None = DEFAULT_NODE_LIMIT,
) -> tuple[list[list[Item]], bool, SearchStats]:
    """Minimum-bytes assignment of ``items`` (all shareable, validated).

    Parameters
    ----------
    items : sequence of (str, LiveRange)
        Blobs sorted by ``used``; positions known.
    heuristics : sequence of callables
        Each maps ``items`` to a valid assignment; the best is the starting
        point (ignored when ``init`` is given).
    init : sequence of assignments, optional
        Buffers to start from; ``items`` must not repeat their blobs.
    time_limit : float or None
        Seconds of search, an extra cap; None (default) for none.
    node_limit : int or None
        Search nodes (default :data:`DEFAULT_NODE_LIMIT`); None for no limit.

    Returns
    -------
    (assignments, proven_optimal, stats)
    """
    start = time.perf_counter()
    deadline = None if time_limit is None else start + time_limit
    budget = _Budget(deadline, node_limit)
    stats = SearchStats()

    if init:
        from memonger.alloc.greedy import greedy_items

        incumbent = greedy_items(items, init)
        stats.components = 1
        stats.components_searched = 1
        choice, done = _branch_and_bound(items, init, plan_cost(incumbent), budget, stats)
        if choice is not None:
            incumbent = _from_choice(items, init, choice)
        stats.budget_exhausted = budget.out
        return incumbent, done, stats

    items = list(items)
    # Every heuristic runs (the result is never worse than any of them); the
    # search gets what is left of the budget.
    blobs = [(r.defined, r.used, nbytes(r.size)) for _, r in items]
    maxima = _maxima(blobs)
    bound = sum(maxima)
    plans = [
        greedy_by_positional_maxima(items, capacities=maxima)
        if h is greedy_by_positional_maxima
        else h(items)
        for h in heuristics
    ]
    best = min(plans, key=plan_cost, default=[[item] for item in items])
    best_cost = plan_cost(best)
    stats.lower_bound = bound
    if best_cost <= bound:
        stats.components = len(components(items))
        return best, True, stats

    groups = components(items)
    stats.components = len(groups)
    if len(groups) == 1:
        proven = False
        if len(items) <= _SEARCH_MAX and not _spent(budget):
            stats.components_searched = 1
            best, proven, reached = _portfolio(items, best, bound, budget, stats)
            stats.extra["proven_bound"] = reached
        return best, proven, _finish(stats, budget)

    # Each component starts from the best heuristic plan restricted to it.
    where = {name: c for c, group in enumerate(groups) for name in (items[i][0] for i in group)}
    parts: list[list[list[Item]]] = [[] for _ in groups]
    part_cost = [-1] * len(groups)
    for plan in plans:
        split: list[list[list[Item]]] = [[] for _ in groups]
        for a in plan:
            by_group: dict[int, list[Item]] = {}
            for item in a:
                by_group.setdefault(where[item[0]], []).append(item)
            for c, members in by_group.items():
                split[c].append(members)
        for c, sub_plan in enumerate(split):
            cost = plan_cost(sub_plan)
            if part_cost[c] < 0 or cost < part_cost[c]:
                parts[c], part_cost[c] = sub_plan, cost
    sub_items = [[items[i] for i in sorted(group)] for group in groups]
    sub_bound = [sum(_maxima([blobs[i] for i in group])) for group in groups]
    todo = [
        c
        for c, group in enumerate(groups)
        if part_cost[c] > sub_bound[c] and len(group) <= _SEARCH_MAX
    ]
    # Untight components are searched in turns, each turn sharing out what is
    # left of the budget, so that one hard component cannot starve the rest.
    pending = todo
    for _ in range(2):
        unproven = []
        for idx, c in enumerate(pending):
            if _spent(budget):
                unproven.extend(pending[idx:])
                break
            stats.components_searched += 1
            share = budget.share(len(pending) - idx)
            parts[c], done, sub_bound[c] = _portfolio(
                sub_items[c], parts[c], sub_bound[c], share, stats
            )
            budget.nodes += share.nodes
            part_cost[c] = plan_cost(parts[c])
            if not done:
                unproven.append(c)
        pending = unproven
        if not pending:
            break
    merged = _merge_by_rank(parts)
    if plan_cost(merged) < best_cost:
        best, best_cost = merged, plan_cost(merged)
    if best_cost <= bound:
        return best, True, _finish(stats, budget)
    proven = False
    if len(items) <= _SEARCH_MAX and not _spent(budget):
        stats.components_searched += 1
        best, proven, reached = _portfolio(items, best, bound, budget, stats)
        stats.extra["proven_bound"] = reached
    return best, proven, _finish(stats, budget)


def _spent(budget: _Budget) -> bool:
    if budget.node_limit is not None and budget.nodes >= budget.node_limit:
        budget.out = True
    if budget.deadline is not None and time.perf_counter() > budget.deadline:
        budget.out = True
    return budget.out


def _finish(stats: SearchStats, budget: _Budget) -> SearchStats:
    stats.budget_exhausted = budget.out
    return stats


def compute_assignments_dp(
    ranges_sorted: Sequence[Item],
    init_assignment: Sequence[Sequence[Item]] | None = None,
    *,
    time_limit: float | None = None,
    node_limit: int | None = DEFAULT_NODE_LIMIT,
) -> list[list[Item]]:
    """Minimum-bytes assignment (Caffe2's name; an exact solver here).

    Never more bytes than :func:`~memonger.alloc.greedy.compute_assignments_greedy`
    on the same input; optimal unless the budget runs out (use
    :func:`~memonger.alloc.planner.allocate` to learn whether it did).

    Parameters
    ----------
    ranges_sorted : sequence of (str, LiveRange)
        Blobs sorted by ``used``, all shareable, positions known.
    init_assignment : sequence of assignments, optional
        Buffers to start from; their blobs are skipped.  Not modified.
    time_limit, node_limit : optional
        Search budget: seconds (default none) and nodes (default
        :data:`DEFAULT_NODE_LIMIT`); None for no limit.

    Returns
    -------
    list of list of (str, LiveRange)

    Examples
    --------
    >>> from memonger.alloc import LiveRange, get_memory_usage
    >>> rs = [("b1", LiveRange(1, 2, 10)), ("b2", LiveRange(4, 6, 1)), ("b3", LiveRange(5, 6, 10))]
    >>> get_memory_usage(compute_assignments_dp(rs))
    11
    """
    from memonger.alloc.bysize import greedy_by_size
    from memonger.alloc.greedy import greedy_items

    init = [list(a) for a in init_assignment or ()]
    taken = {name for a in init for name, _ in a}
    todo = [item for item in ranges_sorted if item[0] not in taken]
    plan, _, _ = solve_exact(
        todo,
        [greedy_items, greedy_by_size, greedy_by_positional_maxima],
        init=init,
        time_limit=time_limit,
        node_limit=node_limit,
    )
    return plan
