"""Greedy guided by positional maxima (in the spirit of TFLite's GPU planner).

The positional maxima ``P_1 >= P_2 >= ...`` (see
:func:`~memonger.alloc.bounds.positional_maxima`) say how large the ``k``-th
most expensive buffer must be.  This heuristic opens one buffer per ``P_k``
with that capacity, then visits blobs largest first (ties: earlier
``defined``, then input order) and puts each into the free buffer (no member
meets its range) with the smallest capacity that holds it, the earliest on
ties; if no free buffer is large enough, into the free buffer of largest
capacity (which grows), else into a new buffer.  When every blob fits without
growth the result meets the positional-maxima bound and is optimal.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence

from memonger.alloc.bounds import positional_maxima
from memonger.alloc.buffers import Buffer
from memonger.alloc.ranges import Item, nbytes

__all__ = ["greedy_by_positional_maxima"]


def greedy_by_positional_maxima(
    ranges_sorted: Sequence[Item], *, capacities: Sequence[int] | None = None
) -> list[list[Item]]:
    """Assign blobs to buffers sized by the positional maxima.

    Parameters
    ----------
    ranges_sorted : sequence of (str, LiveRange)
        The blobs (any order; the visit order is by size).
    capacities : sequence of int, optional
        Their positional maxima, when already computed.

    Returns
    -------
    list of list of (str, LiveRange)
        Non-empty buffers, members in visit order.

    Examples
    --------
    >>> from memonger.alloc import LiveRange, get_memory_usage
    >>> rs = [("b1", LiveRange(2, 3, 10)), ("b3", LiveRange(5, 6, 1)), ("b2", LiveRange(5, 7, 3)),
    ...       ("b4", LiveRange(6, 8, 20)), ("b5", LiveRange(5, 9, 3)), ("b0", LiveRange(7, 12, 3))]
    >>> get_memory_usage(greedy_by_positional_maxima(rs))
    29
    """
    if capacities is None:
        capacities = positional_maxima(list(ranges_sorted))
    buffers = [Buffer(capacity) for capacity in capacities]
    by_capacity = sorted((b.capacity, j) for j, b in enumerate(buffers))
    order = sorted(
        range(len(ranges_sorted)),
        key=lambda i: (-nbytes(ranges_sorted[i][1].size), ranges_sorted[i][1].defined, i),
    )
    for i in order:
        item = ranges_sorted[i]
        r = item[1]
        size = nbytes(r.size)
        first = bisect_left(by_capacity, (size, -1))
        target = -1
        for pos in range(first, len(by_capacity)):  # smallest capacity that holds it
            j = by_capacity[pos][1]
            if buffers[j].fits(r.defined, r.used):
                target = j
                break
        if target < 0:  # else the largest free one below, earliest on ties
            for pos in range(first - 1, -1, -1):
                cap, j = by_capacity[pos]
                if target >= 0 and cap != buffers[target].capacity:
                    break
                if buffers[j].fits(r.defined, r.used):
                    target = j
            if target >= 0:
                by_capacity.remove((buffers[target].capacity, target))
                insort(by_capacity, (size, target))
        if target < 0:
            target = len(buffers)
            buffers.append(Buffer())
            insort(by_capacity, (size, target))
        buffers[target].add(item)
    return [b.members for b in buffers if b.members]
