"""Exact offset planning: a complete branch-and-bound search over skylines.

The decision problem: place blobs (closed time spans, byte sizes) at offsets
so that time-overlapping blobs never share a byte and every blob ends at or
below a capacity ``C``.  Minimizing the arena is a sequence of such probes.

Model
-----
*Sections.*  Time is cut where a blob starts or ends; only the sections
whose live set is not contained in a neighbour's matter (a section where
some blob starts **and** some blob ends -- the maximal cliques of the
interval graph), since any constraint of a smaller live set is implied by a
larger one.  Each blob covers a contiguous run of sections.

*Components.*  Where no blob covers two consecutive sections the problem
splits into independent parts, each solved on its own against ``C``.

*Skyline state.*  Every section has a *floor*: all bytes below it are
either taken or given up.  Invariant: in the solution being built, every
unplaced blob lies at or above the floor of each section it covers.  A
section's *slack* is ``C - floor - (bytes of its unplaced blobs)``; it can
only shrink, and a negative slack refutes the node.

*Branching.*  Let ``m`` be the lowest floor among sections that still have
unplaced blobs and ``s`` the leftmost such section.  In any solution that
respects the invariant, either

1. some unplaced blob covering ``s`` sits exactly at ``m``.  That blob lies
   at or above every floor of its span, so its whole span has floor ``m``;
   every section left of ``s`` is higher, so the blob *starts* at ``s`` and
   ends within the run of floor ``m`` that begins at ``s``.  These
   candidates are read off a per-section list of the blobs starting there
   and one walk along that run.  Placing one raises the floors of its span
   by its size and keeps the invariant (no other blob of those sections
   can sit below it).  One branch per candidate.  Or
2. no blob covering ``s`` sits at ``m``.  Take a solution where no blob
   can slide down (any solution becomes one by dropping blobs); the
   lowest blob ``c`` covering ``s`` then rests either on the highest floor
   of its span, when that is above ``m``, or -- when its whole span is at
   ``m``, i.e. ``c`` is a candidate -- on an unplaced blob that starts
   inside its span after ``s`` (placed blobs lie below the floors), so at
   least ``m`` plus the smallest such size.  The floor of ``s`` is raised
   to the smallest of these bounds over the blobs covering ``s``, which
   spends slack of ``s``; the gap given up is one no blob can use.  The
   highest floors are running maxima outwards from ``s``, computed once
   per raise for all the blobs covering ``s``.  One last branch.

The two cases are exhaustive and their solution sets disjoint, so the
search is complete: it finds a packing within ``C`` whenever one exists and
otherwise proves there is none.  The branches are ordered largest size
first, then longest span, so the first descent is already a good skyline
packing (a greedy by size that fills the lowest valley first).

*Pruning.*  Slack (above), and after each move the two sections beside the
changed ones must still hold their unplaced bytes above the lowest place
one of them can take.  Identical blobs (same span and size) are
interchangeable, so only one of them is tried at a time.  Failed states --
the floors of the sections with unplaced blobs and the unplaced count of
every class -- are remembered by two independent 64-bit hashes, updated
incrementally with every move, and never searched twice; a false match
needs two 64-bit collisions at once (odds about ``states**2 / 2**128``).

*Cost per node.*  A move touches only the sections of the blob it places
(or the one section it raises): floors, unplaced bytes and the hashes are
updated there and restored on backtracking.  Finding ``m`` and ``s`` is one
scan of the floors at C speed; candidates come from the blobs starting at
``s``.  On the largest training net of the corpus (BERT, 1,862 blobs,
1,423 sections) a node costs about 0.2 ms, on MiniMalloc's instances
(66-131 sections) about 0.05 ms.

Budgets count search nodes, so a given input gets the same answer on every
machine; an optional wall-clock deadline is an extra cap.  A probe that runs
out of budget is *undecided*, never "infeasible".

The canonical form of solutions (every blob resting on the floor or on
another blob, placed lowest floor first), the sections, the use of slack and
the decomposition at cut lines follow the ideas of MiniMalloc (Moffitt,
ASPLOS 2024); the exhaustive two-way branching with the raise bound, the
state memo and the code are this module's own.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from memonger.alloc.offsets._problem import Blob

__all__ = ["Budget", "ProbeResult", "minimize_arena", "probe_capacity"]

_INF = 1 << 200  # above any floor: marks a section with no unplaced blob


@dataclass
class Budget:
    """Search nodes left and an optional deadline, shared by successive probes."""

    node_limit: int | None = None
    deadline: float | None = None
    nodes: int = 0
    exhausted: bool = False
    stats: dict[str, int] = field(default_factory=dict)

    def spent(self) -> bool:
        """Whether the budget is used up (checked every node; the clock every 1024)."""
        if self.exhausted:
            return True
        if (self.node_limit is not None and self.nodes >= self.node_limit) or (
            self.deadline is not None
            and self.nodes & 1023 == 0
            and time.perf_counter() > self.deadline
        ):
            self.exhausted = True
        return self.exhausted


@dataclass
class ProbeResult:
    """The outcome of one capacity probe: offsets when a packing was found."""

    feasible: bool | None
    offsets: list[int] | None = None


class _Frame:
    """One search node: its section, floor, candidate classes and the branch being tried.

    ``undo`` is the class placed by the current branch, ``-1`` for the raise
    branch, None before the first branch.
    """

    __slots__ = ("cands", "h", "m", "next", "run", "s", "undo")

    def __init__(self, s: int, m: int, cands: list[int], h: int, run: int) -> None:
        self.s = s
        self.m = m
        self.cands = cands
        self.next = 0
        self.h = h
        self.run = run
        self.undo: int | None = None


def _sections(blobs: Sequence[Blob]) -> tuple[list[int], list[tuple[int, int]]]:
    """Kept section count and each blob's ``(lo, hi)`` run of kept sections."""
    points = sorted({b.first for b in blobs} | {b.last + 1 for b in blobs})
    starts = {bisect_left(points, b.first) for b in blobs}
    ends = {bisect_left(points, b.last + 1) - 1 for b in blobs}
    kept = sorted(starts & ends)
    spans = []
    for b in blobs:
        lo = bisect_left(kept, bisect_left(points, b.first))
        hi = bisect_right(kept, bisect_left(points, b.last + 1) - 1) - 1
        spans.append((lo, hi))
    return kept, spans


def _components(spans: Sequence[tuple[int, int]], count: int) -> list[list[int]]:
    """Blob indices grouped by independent runs of sections (cut where no blob crosses)."""
    reach = [-1] * count
    for lo, hi in spans:
        if hi > reach[lo]:
            reach[lo] = hi
    comp_of = [0] * count
    comp = 0
    far = -1
    for s in range(count):
        if s > far and s > 0:
            comp += 1
        comp_of[s] = comp
        far = max(far, reach[s])
    groups: list[list[int]] = [[] for _ in range(comp + 1)]
    for i, (lo, _) in enumerate(spans):
        groups[comp_of[lo]].append(i)
    return [g for g in groups if g]


def probe_capacity(blobs: Sequence[Blob], capacity: int, budget: Budget) -> ProbeResult:
    """Decide whether ``blobs`` fit in ``capacity`` bytes (see the module docstring).

    Returns
    -------
    ProbeResult
        ``feasible`` True with offsets, False when proven impossible, None
        when the budget ran out first.

    Examples
    --------
    >>> blobs = [Blob("a", 0, 1, 4), Blob("b", 1, 2, 4), Blob("c", 2, 3, 4), Blob("d", 0, 0, 4)]
    >>> probe_capacity(blobs, 8, Budget()).offsets
    [0, 4, 0, 4]
    >>> probe_capacity(blobs, 7, Budget()).feasible
    False
    """
    offsets = [0] * len(blobs)
    if not blobs:
        return ProbeResult(True, offsets)
    kept, spans = _sections(blobs)
    undecided = False
    budget.stats["components"] = budget.stats.get("components", 0)
    for group in _components(spans, len(kept)):
        budget.stats["components"] += 1
        result = _search([blobs[i] for i in group], [spans[i] for i in group], capacity, budget)
        if result is None:
            undecided = True
            continue
        if result is False:
            return ProbeResult(False)
        assert result is not True
        for i, off in zip(group, result, strict=True):
            offsets[i] = off
    if undecided:
        return ProbeResult(None)
    return ProbeResult(True, offsets)


def _search(
    blobs: Sequence[Blob], spans: Sequence[tuple[int, int]], capacity: int, budget: Budget
) -> list[int] | bool | None:
    """One component: offsets, False (proven infeasible) or None (budget spent)."""
    base = min(lo for lo, _ in spans)
    count = max(hi for _, hi in spans) - base + 1
    # classes of interchangeable blobs: same span, same size
    class_of: dict[tuple[int, int, int], int] = {}
    members: list[list[int]] = []
    c_lo: list[int] = []
    c_hi: list[int] = []
    c_size: list[int] = []
    c_len: list[int] = []
    for i, b in enumerate(blobs):
        lo, hi = spans[i][0] - base, spans[i][1] - base
        k = (lo, hi, b.size)
        c = class_of.get(k)
        if c is None:
            c = class_of[k] = len(members)
            members.append([])
            c_lo.append(lo)
            c_hi.append(hi)
            c_size.append(b.size)
            c_len.append(b.last - b.first)
        members[c].append(i)
    n_classes = len(members)
    left = [len(m) for m in members]
    rem = [0] * count
    cover: list[list[int]] = [[] for _ in range(count)]
    starts: list[list[int]] = [[] for _ in range(count)]
    priority = sorted(range(n_classes), key=lambda c: (-c_size[c], -c_len[c], c_lo[c], c))
    for c in priority:
        starts[c_lo[c]].append(c)
        for t in range(c_lo[c], c_hi[c] + 1):
            cover[t].append(c)
            rem[t] += c_size[c] * left[c]
    reach = [max((c_hi[c] for c in st), default=t) for t, st in enumerate(starts)]
    if max(rem) > capacity:
        return False
    floor = [0] * count
    key: list[int] = [0 if r else _INF for r in rem]

    # two independent incremental hashes of the state (the floors of the
    # sections with unplaced blobs and the unplaced count of every class)
    def zkey(t: int, v: int) -> int:
        return hash((t, v)) ^ (hash((v, t, 0x5BD1E995)) << 64)

    def zleft(c: int, v: int) -> int:
        return hash((-1 - c, v)) ^ (hash((v, -1 - c, 0x5BD1E995)) << 64)

    h = 0
    for t in range(count):
        h ^= zkey(t, key[t])
    for c in range(n_classes):
        h ^= zleft(c, left[c])
    failed: set[int] = set()
    frames: list[_Frame] = []
    fresh = True
    stats = budget.stats
    memo_hits = 0
    raises = 0
    pruned = 0
    while True:
        if fresh:
            budget.nodes += 1
            if budget.spent():
                stats["memo_hits"] = stats.get("memo_hits", 0) + memo_hits
                stats["raises"] = stats.get("raises", 0) + raises
                stats["pruned"] = stats.get("pruned", 0) + pruned
                return None
            m = min(key)
            if m == _INF:
                break
            if h in failed:
                memo_hits += 1
                fresh = False
            else:
                s = key.index(m)
                # a blob sits at m only if its whole span is at floor m: it
                # starts at s (sections left of s are higher) and ends
                # within the run of floor m that starts at s
                run = s
                far = reach[s]
                while run < far and key[run + 1] == m:
                    run += 1
                cands = [c for c in starts[s] if left[c] and c_hi[c] <= run]
                frames.append(_Frame(s, m, cands, h, run))
        if not frames:
            return False
        frame = frames[-1]
        s, m, cands, nxt, fh, undo = frame.s, frame.m, frame.cands, frame.next, frame.h, frame.undo
        if undo is not None:  # take back the branch tried last
            if undo >= 0:
                c = undo
                size = c_size[c]
                for t in range(c_lo[c], c_hi[c] + 1):
                    h ^= zkey(t, key[t]) ^ zkey(t, m)
                    floor[t] = m
                    key[t] = m
                    rem[t] += size
                h ^= zleft(c, left[c]) ^ zleft(c, left[c] + 1)
                left[c] += 1
            else:
                h ^= zkey(s, key[s]) ^ zkey(s, m)
                floor[s] = m
                key[s] = m
            frame.undo = None
        if nxt < len(cands):
            c = cands[nxt]
            frame.next = nxt + 1
            size = c_size[c]
            top = m + size
            for t in range(c_lo[c], c_hi[c] + 1):
                floor[t] = top
                r = rem[t] - size
                rem[t] = r
                new = top if r else _INF
                h ^= zkey(t, key[t]) ^ zkey(t, new)
                key[t] = new
            h ^= zleft(c, left[c]) ^ zleft(c, left[c] - 1)
            left[c] -= 1
            frame.undo = c
            lo = c_lo[c]
            hi = c_hi[c]
            fresh = _room(lo - 1, cover, left, key, rem, c_lo, c_hi, capacity) and _room(
                hi + 1, cover, left, key, rem, c_lo, c_hi, capacity
            )
            if not fresh:
                pruned += 1
            continue
        if nxt == len(cands):
            frame.next = nxt + 1
            raise_to = _raise_bound(
                s, m, frame.run, cands, cover, starts, left, key, c_lo, c_hi, c_size
            )
            if raise_to != _INF and raise_to + rem[s] <= capacity:
                raises += 1
                h ^= zkey(s, key[s]) ^ zkey(s, raise_to)
                floor[s] = raise_to
                key[s] = raise_to
                frame.undo = -1
                fresh = _room(s - 1, cover, left, key, rem, c_lo, c_hi, capacity) and _room(
                    s + 1, cover, left, key, rem, c_lo, c_hi, capacity
                )
                if not fresh:
                    pruned += 1
                continue
        # every branch failed: remember the state (restored by now) and backtrack
        failed.add(fh)
        frames.pop()
        fresh = False
    # success: replay the placements
    offsets = [0] * len(blobs)
    used = [0] * n_classes
    for frame in frames:
        undo = frame.undo
        if undo is not None and undo >= 0:
            offsets[members[undo][used[undo]]] = frame.m
            used[undo] += 1
    stats["memo_hits"] = stats.get("memo_hits", 0) + memo_hits
    stats["raises"] = stats.get("raises", 0) + raises
    stats["pruned"] = stats.get("pruned", 0) + pruned
    return offsets


def _room(
    t: int,
    cover: Sequence[Sequence[int]],
    left: Sequence[int],
    key: Sequence[int],
    rem: Sequence[int],
    c_lo: Sequence[int],
    c_hi: Sequence[int],
    capacity: int,
) -> bool:
    """Whether section ``t``'s unplaced blobs can still fit: the lowest of them
    sits at least at the smallest ``max floor`` over their spans, and all of
    them lie above it."""
    if t < 0 or t >= len(rem) or not rem[t]:
        return True
    limit = capacity - rem[t]
    if key[t] > limit:
        return False
    return any(left[d] and max(key[c_lo[d] : c_hi[d] + 1]) <= limit for d in cover[t])


def _raise_bound(
    s: int,
    m: int,
    run: int,
    cands: Sequence[int],
    cover: Sequence[Sequence[int]],
    starts: Sequence[Sequence[int]],
    left: Sequence[int],
    key: Sequence[int],
    c_lo: Sequence[int],
    c_hi: Sequence[int],
    c_size: Sequence[int],
) -> int:
    """Lowest offset any unplaced blob covering ``s`` can take if none sits at ``m``.

    ``cands`` are the unplaced classes whose whole span is at floor ``m``
    (they start at ``s`` and end by ``run``): such a blob, lifted, rests on
    an unplaced blob starting after ``s`` within its span.  Any other
    unplaced blob covering ``s`` sits at least at the highest floor of its
    span.
    """
    best = _INF
    if cands:
        # smallest unplaced size starting in (s, t], for t up to the last candidate end
        top_hi = max(c_hi[c] for c in cands)
        small = _INF
        smallest = [_INF] * (top_hi - s + 1)
        for t in range(s + 1, top_hi + 1):
            for d in reversed(starts[t]):  # increasing size
                if left[d]:
                    if c_size[d] < small:
                        small = c_size[d]
                    break
            smallest[t - s] = small
        for c in cands:
            bound = smallest[c_hi[c] - s]
            if bound != _INF and m + bound < best:
                best = m + bound
    # highest floor of every other span: running maxima outwards from s
    live = [c for c in cover[s] if left[c] and not (c_lo[c] == s and c_hi[c] <= run)]
    if not live:
        return best
    lo_min = min(c_lo[c] for c in live)
    hi_max = max(c_hi[c] for c in live)
    # down[i]: highest floor of sections s - i .. s; up[i]: of s .. s + i
    down = list(accumulate(key[s : lo_min - 1 if lo_min else None : -1], max))
    up = list(accumulate(key[s : hi_max + 1], max))
    for c in live:
        e = down[s - c_lo[c]]
        u = up[c_hi[c] - s]
        if u > e:
            e = u
        if e < best:
            best = e
    return best


def minimize_arena(
    blobs: Sequence[Blob],
    incumbent: list[int],
    incumbent_arena: int,
    lower_bound: int,
    alignment: int,
    budget: Budget,
) -> tuple[list[int], int, int]:
    """Improve ``incumbent`` by capacity probes: ``(offsets, arena, proven lower bound)``.

    Probes the lower bound first (real nets usually pack at their peak),
    then halves the gap; a probe that runs out of budget ends the search.

    Examples
    --------
    >>> blobs = [Blob("a", 0, 1, 4), Blob("b", 1, 2, 4), Blob("c", 2, 3, 4), Blob("d", 0, 0, 4)]
    >>> minimize_arena(blobs, [0, 4, 8, 4], 12, 8, 1, Budget())
    ([0, 4, 0, 4], 8, 8)
    """
    best, arena, lower = incumbent, incumbent_arena, lower_bound
    target = lower
    while lower < arena and not budget.exhausted:
        result = probe_capacity(blobs, target, budget)
        if result.feasible is None:
            break
        if result.feasible:
            assert result.offsets is not None
            best = result.offsets
            arena = max((o + b.size for b, o in zip(blobs, best, strict=True)), default=0)
        else:
            lower = target + alignment
        span = (arena - alignment - lower) // alignment
        target = lower + (span // 2) * alignment
    return best, arena, min(lower, arena)
