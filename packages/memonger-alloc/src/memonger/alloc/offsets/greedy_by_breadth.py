"""TFLite's greedy by breadth: the busiest positions first.

The *breadth* of a position is the total size of the blobs live there.
Positions are visited by decreasing breadth (ties: earlier position); at
each, its still unplaced blobs are placed by decreasing size (ties as in
:mod:`~memonger.alloc.offsets.greedy_by_size`), each into the best-fitting
gap among the placed blobs it overlaps in time, else on top of them.

A blob is therefore placed when the first position of that visiting order
that it covers comes up: the position of largest breadth in its span
(earliest on ties).  That position is found for every blob at once with a
sparse table over the positions where some blob starts (the live set at any
position is contained in the live set at the latest start before it).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from memonger.alloc.offsets._problem import Blob
from memonger.alloc.offsets.greedy_by_size import place_in_order

__all__ = ["by_breadth_order", "greedy_by_breadth_offsets"]


def by_breadth_order(blobs: Sequence[Blob]) -> list[int]:
    """Indices in greedy-by-breadth order.

    Examples
    --------
    >>> by_breadth_order([Blob("a", 0, 0, 4), Blob("b", 1, 2, 2), Blob("c", 2, 2, 3)])
    [2, 1, 0]
    """
    if not blobs:
        return []
    points = sorted({b.first for b in blobs})
    delta = [0] * (len(points) + 1)
    for b in blobs:
        delta[bisect_right(points, b.first) - 1] += b.size
        delta[bisect_right(points, b.last)] -= b.size
    breadth = []
    live = 0
    for d in delta[:-1]:
        live += d
        breadth.append(live)
    # rank of each point in the visiting order; the blob's key is the min rank over its span
    visiting = sorted(range(len(points)), key=lambda p: (-breadth[p], p))
    rank = [0] * len(points)
    for r, p in enumerate(visiting):
        rank[p] = r
    table = [rank]
    width = 1
    while 2 * width <= len(points):
        prev = table[-1]
        table.append([min(prev[i], prev[i + width]) for i in range(len(points) - 2 * width + 1)])
        width *= 2
    keys = []
    for i, b in enumerate(blobs):
        lo = bisect_right(points, b.first) - 1
        hi = bisect_right(points, b.last) - 1
        level = (hi - lo + 1).bit_length() - 1
        row = table[level]
        first_rank = min(row[lo], row[hi - (1 << level) + 1])
        keys.append((first_rank, -b.size, b.first, b.last, i))
    keys.sort()
    return [k[-1] for k in keys]


def greedy_by_breadth_offsets(blobs: Sequence[Blob]) -> list[int]:
    """TFLite's greedy by breadth (see the module docstring).

    Examples
    --------
    >>> greedy_by_breadth_offsets([Blob("a", 0, 0, 4), Blob("b", 1, 2, 2), Blob("c", 2, 2, 3)])
    [0, 3, 0]
    """
    return place_in_order(blobs, by_breadth_order(blobs))
