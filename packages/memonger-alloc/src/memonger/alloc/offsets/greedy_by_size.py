"""TFLite's greedy by size: largest blob first, into the best-fitting gap.

Blobs are visited by decreasing size (ties: earlier ``first``, then earlier
``last``, then input order, so the result never depends on hash order).
Each goes into the smallest gap, among the byte ranges left free by the
already placed blobs that overlap it in time, that is large enough for it;
among equal gaps the lowest wins.  When no gap is large enough the blob goes
on top of the highest of those blobs.  ``O(n log n)`` plus the time to list
each blob's placed neighbours (:mod:`memonger.alloc.offsets._placed`).
"""

from __future__ import annotations

from collections.abc import Sequence

from memonger.alloc.offsets._placed import Placed, best_gap
from memonger.alloc.offsets._problem import Blob

__all__ = ["by_size_order", "greedy_by_size_offsets", "place_in_order"]


def by_size_order(blobs: Sequence[Blob]) -> list[int]:
    """Indices by decreasing size, ties by ``first``, ``last``, index.

    Examples
    --------
    >>> by_size_order([Blob("a", 0, 1, 4), Blob("b", 0, 1, 8), Blob("c", 0, 0, 4)])
    [1, 2, 0]
    """
    return sorted(
        range(len(blobs)), key=lambda i: (-blobs[i].size, blobs[i].first, blobs[i].last, i)
    )


def place_in_order(blobs: Sequence[Blob], order: Sequence[int]) -> list[int]:
    """Offsets from placing ``blobs`` in ``order``, each in its best-fitting gap.

    Examples
    --------
    >>> place_in_order([Blob("a", 0, 1, 4), Blob("b", 1, 2, 4), Blob("c", 2, 3, 4)], [0, 1, 2])
    [0, 4, 0]
    """
    offsets = [0] * len(blobs)
    if not blobs:
        return offsets
    placed = Placed(min(b.first for b in blobs))
    for i in order:
        _, first, last, size = blobs[i]
        best = best_gap(placed.overlapping(first, last), size)
        offsets[i] = best
        placed.add(first, last, best, best + size)
    return offsets


def greedy_by_size_offsets(blobs: Sequence[Blob]) -> list[int]:
    """TFLite's greedy by size (see the module docstring).

    Examples
    --------
    >>> greedy_by_size_offsets([Blob("a", 0, 1, 4), Blob("b", 1, 2, 8), Blob("c", 2, 3, 4)])
    [8, 0, 8]
    """
    return place_in_order(blobs, by_size_order(blobs))
