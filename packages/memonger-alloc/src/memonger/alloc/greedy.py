"""Caffe2's greedy assignment rule, in ``O(n log n)``.

The rule (Caffe2's ``compute_assignments_greedy``): visit the blobs in the
given order (sorted by ``used``); a buffer is *compatible* with a blob when the
blob's ``defined`` is strictly greater than the ``used`` of the buffer's last
member; the blob joins the compatible buffer whose current largest size is
closest to its own size, the earliest such buffer on ties, and opens a new
buffer when none is compatible.

The original scans every buffer for every blob (``O(n x buffers)``).  Here
each buffer is represented by its last member's ``used`` (a *slot*, ranked
once in advance among all values it can take) and its current largest size
(a *class*, one of the distinct sizes).  A segment tree over the classes holds
the smallest slot rank among the buffers of each class, so "the compatible
buffer of largest size at most ``s``" and "of smallest size at least ``s``"
are two ``O(log n)`` descents; inside the winning class the earliest
compatible buffer is found by walking that class's buffers in index order,
skipping only buffers whose last member overlaps the blob.  The choices are
exactly the original's.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence

from memonger.alloc.ranges import Item, LiveRange, name_set, nbytes

__all__ = ["compute_assignments_greedy", "is_compatible"]


def is_compatible(
    candidate_range: LiveRange,
    assignment: Sequence[Item],
    static_blobs: Iterable[str],
) -> bool:
    """Whether a blob may join a buffer, by Caffe2's rule.

    The blob may join when its ``defined`` is strictly greater than the
    ``used`` of the buffer's **last** member (members are kept in the order
    they joined, by ``used``), and that member is not static.  Unknown
    (``None``) positions are never compatible.

    Parameters
    ----------
    candidate_range : LiveRange
        The blob that wants to join.
    assignment : sequence of (str, LiveRange)
        The buffer's members in joining order (not empty).
    static_blobs : iterable of str
        Names that may not share.

    Returns
    -------
    bool

    Examples
    --------
    >>> buf = [("a", LiveRange(0, 2, 4))]
    >>> is_compatible(LiveRange(3, 5, 4), buf, []), is_compatible(LiveRange(2, 5, 4), buf, [])
    (True, False)
    >>> is_compatible(LiveRange(3, 5, 4), buf, {"a"})
    False
    """
    name, last = assignment[-1]
    if name in name_set(static_blobs):
        return False
    defined: int | None = candidate_range.defined
    last_defined: int | None = last.defined
    last_used: int | None = last.used
    if defined is None or last_defined is None or last_used is None:
        return False
    return defined > last_used


def _last_key(r: LiveRange) -> float:
    """``used`` of a buffer's last member, ``inf`` when it can never be joined."""
    defined: int | None = r.defined
    used: int | None = r.used
    if defined is None or used is None:
        return math.inf
    return used


class _MinTree:
    """Segment tree over class positions holding a minimum per leaf."""

    def __init__(self, n: int, empty: int) -> None:
        size = 1
        while size < max(n, 1):
            size *= 2
        self.size = size
        self.empty = empty
        self.tree = [empty] * (2 * size)

    def set(self, pos: int, value: int) -> None:
        tree = self.tree
        i = pos + self.size
        tree[i] = value
        i >>= 1
        while i:
            left, right = tree[2 * i], tree[2 * i + 1]
            m = left if left < right else right
            if tree[i] == m:
                break
            tree[i] = m
            i >>= 1

    def first_at_or_after(self, pos: int, bound: int) -> int:
        """Smallest leaf ``>= pos`` whose value is ``< bound``, or -1."""
        tree = self.tree
        size = self.size
        i = pos + size
        while True:
            if tree[i] < bound:
                while i < size:
                    i = 2 * i if tree[2 * i] < bound else 2 * i + 1
                return i - size
            while i & 1:
                i >>= 1
            if i == 0:
                return -1
            i += 1

    def last_at_or_before(self, pos: int, bound: int) -> int:
        """Largest leaf ``<= pos`` whose value is ``< bound``, or -1."""
        tree = self.tree
        size = self.size
        i = pos + size
        while True:
            if tree[i] < bound:
                while i < size:
                    i = 2 * i + 1 if tree[2 * i + 1] < bound else 2 * i
                return i - size
            while not i & 1:
                i >>= 1
            if i == 1:
                return -1
            i -= 1


def greedy_items(
    ranges_sorted: Sequence[Item], init_assignments: Sequence[Sequence[Item]] = ()
) -> list[list[Item]]:
    """The greedy rule on ``(name, LiveRange)`` pairs; see the module docstring."""
    assignments: list[list[Item]] = [list(a) for a in init_assignments]
    visited = {name for a in assignments for name, _ in a}
    todo = [item for item in ranges_sorted if item[0] not in visited]
    if not todo:
        return assignments

    # Slots: every value a buffer's "last used" can take, ranked once.
    n_init = len(assignments)
    slot_keys: list[float] = [_last_key(a[-1][1]) if a else math.inf for a in assignments]
    slot_keys.extend(_last_key(r) for _, r in todo)
    order = sorted(range(len(slot_keys)), key=slot_keys.__getitem__)
    rank = [0] * len(slot_keys)
    for pos, slot in enumerate(order):
        rank[slot] = pos
    sorted_keys = [slot_keys[slot] for slot in order]
    n_slots = len(slot_keys)

    # Classes: the distinct sizes a buffer's largest member can have.
    maxes = [max((nbytes(r.size) for _, r in a), default=0) for a in assignments]
    values = sorted({*maxes, *(nbytes(r.size) for _, r in todo)})
    class_of_value = {v: i for i, v in enumerate(values)}
    tree = _MinTree(len(values), n_slots)
    members: list[list[int]] = [[] for _ in values]  # buffer indices, sorted
    heaps: list[list[int]] = [[] for _ in values]  # slot ranks, lazily cleaned
    active = [False] * n_slots
    buf_slot: list[int] = []
    buf_class: list[int] = []

    def add(buf: int, cls: int, slot_rank: int) -> None:
        active[slot_rank] = True
        insort(members[cls], buf)
        heapq.heappush(heaps[cls], slot_rank)
        if slot_rank < tree.tree[cls + tree.size]:
            tree.set(cls, slot_rank)

    def remove(buf: int) -> None:
        cls = buf_class[buf]
        active[buf_slot[buf]] = False
        lst = members[cls]
        del lst[bisect_left(lst, buf)]
        heap = heaps[cls]
        while heap and not active[heap[0]]:
            heapq.heappop(heap)
        new_min = heap[0] if heap else n_slots
        if new_min != tree.tree[cls + tree.size]:
            tree.set(cls, new_min)

    def first_free(cls: int, bound: int) -> int:
        for buf in members[cls]:
            if buf_slot[buf] < bound:
                return buf
        raise AssertionError("class minimum out of date")  # pragma: no cover

    for buf in range(n_init):
        buf_slot.append(rank[buf])
        buf_class.append(class_of_value[maxes[buf]])
        add(buf, buf_class[buf], rank[buf])

    for k, (name, r) in enumerate(todo):
        slot_rank = rank[n_init + k]
        size = nbytes(r.size)
        defined: int | None = r.defined
        bound = 0 if defined is None else bisect_left(sorted_keys, defined)
        chosen = -1
        if bound and tree.tree[1] < bound:
            cls = class_of_value[size]
            hi = tree.first_at_or_after(cls, bound)
            lo = hi if hi == cls else tree.last_at_or_before(cls, bound)
            if hi == lo:
                chosen = first_free(hi, bound)
            else:
                d_lo = size - values[lo] if lo >= 0 else math.inf
                d_hi = values[hi] - size if hi >= 0 else math.inf
                if d_lo < d_hi:
                    chosen = first_free(lo, bound)
                elif d_hi < d_lo:
                    chosen = first_free(hi, bound)
                else:
                    chosen = min(first_free(lo, bound), first_free(hi, bound))
        if chosen < 0:
            buf = len(assignments)
            assignments.append([(name, r)])
            maxes.append(size)
            buf_slot.append(slot_rank)
            buf_class.append(class_of_value[size])
            add(buf, buf_class[buf], slot_rank)
        else:
            remove(chosen)
            assignments[chosen].append((name, r))
            if size > maxes[chosen]:
                maxes[chosen] = size
            buf_slot[chosen] = slot_rank
            buf_class[chosen] = class_of_value[maxes[chosen]]
            add(chosen, buf_class[chosen], slot_rank)
    return assignments


def compute_assignments_greedy(
    ranges_sorted: Sequence[Item],
    init_assignments: Sequence[Sequence[Item]] | None = None,
) -> list[list[Item]]:
    """Assign blobs to buffers with Caffe2's greedy rule.

    Each blob, in the given order, joins the compatible buffer (see
    :func:`is_compatible`) whose largest size is closest to its own, the
    earliest on ties, or opens a new buffer.  Sizes ``None`` count as 1.
    Runs in ``O(n log n)`` plus, per blob, the buffers of the chosen size
    whose last member overlaps it.

    Parameters
    ----------
    ranges_sorted : sequence of (str, LiveRange)
        Blobs sorted by ``used`` (see :func:`~memonger.alloc.ranges.sort_by_used`).
    init_assignments : sequence of assignments, optional
        Buffers to start from; their blobs are skipped in ``ranges_sorted``.
        Not modified.

    Returns
    -------
    list of list of (str, LiveRange)
        The buffers in creation order, members in joining order.

    Examples
    --------
    >>> rs = [("b1", LiveRange(1, 3, 10)), ("b2", LiveRange(3, 4, 1)),
    ...       ("b3", LiveRange(5, 6, 1)), ("b4", LiveRange(5, 7, 10))]
    >>> [[name for name, _ in a] for a in compute_assignments_greedy(rs)]
    [['b1', 'b4'], ['b2', 'b3']]
    """
    return greedy_items(ranges_sorted, init_assignments or ())
