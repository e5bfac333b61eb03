"""Greedy by size, shared-object form (as TFLite's GPU memory planner).

Blobs are visited largest first (ties: earlier ``defined`` first, then input
order); each joins the compatible buffer (no member's range meets its own)
with the smallest largest-size, which is the best fit since every existing
buffer is at least as large; the earliest such buffer on ties.  A blob that
fits nowhere opens a new buffer.  A buffer's cost is therefore fixed when it
opens.  ``O(n x buffers x log n)``.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence

from memonger.alloc.buffers import Buffer
from memonger.alloc.ranges import Item, nbytes

__all__ = ["greedy_by_size"]


def greedy_by_size(ranges_sorted: Sequence[Item]) -> list[list[Item]]:
    """Assign blobs largest first, each to the best-fitting compatible buffer.

    Parameters
    ----------
    ranges_sorted : sequence of (str, LiveRange)
        The blobs (any order; the visit order is by size).

    Returns
    -------
    list of list of (str, LiveRange)
        Buffers in opening order, members in visit order.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = [("b1", LiveRange(1, 2, 10)), ("b2", LiveRange(4, 6, 1)), ("b3", LiveRange(5, 6, 10))]
    >>> [[n for n, _ in a] for a in greedy_by_size(rs)]
    [['b1', 'b3'], ['b2']]
    """
    order = sorted(
        range(len(ranges_sorted)),
        key=lambda i: (-nbytes(ranges_sorted[i][1].size), ranges_sorted[i][1].defined, i),
    )
    buffers: list[Buffer] = []
    by_capacity: list[tuple[int, int]] = []  # (capacity, index), ascending
    for i in order:
        item = ranges_sorted[i]
        r = item[1]
        for _, idx in by_capacity:
            if buffers[idx].fits(r.defined, r.used):
                buffers[idx].add(item)
                break
        else:
            buf = Buffer()
            buf.add(item)
            insort(by_capacity, (buf.capacity, len(buffers)))
            buffers.append(buf)
    return [b.members for b in buffers]
