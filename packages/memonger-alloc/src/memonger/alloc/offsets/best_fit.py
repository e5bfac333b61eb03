"""Decreasing size, global best fit.

Blobs are visited by decreasing size (ties: longer lifetime first, then
earlier ``first``, then input order).  Each goes where it leaves the least
space unused: every free gap among the placed blobs it overlaps in time is a
candidate, and so is the space between the highest of them and the current
top of the whole arena.  The tightest candidate wins (lowest on ties); when
none is large enough the blob goes on the highest of its neighbours and the
arena grows.  Unlike greedy by size, it prefers filling the arena's existing
height over opening a loose interior gap, and it packs long blobs first
among equal sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

from memonger.alloc.offsets._placed import Placed, best_gap
from memonger.alloc.offsets._problem import Blob

__all__ = ["best_fit_offsets"]


def best_fit_offsets(blobs: Sequence[Blob]) -> list[int]:
    """Offsets by decreasing size and global best fit (see the module docstring).

    Examples
    --------
    >>> best_fit_offsets([Blob("a", 0, 3, 8), Blob("b", 0, 0, 4), Blob("c", 2, 3, 4),
    ...                   Blob("d", 1, 1, 2)])
    [0, 8, 8, 8]
    """
    offsets = [0] * len(blobs)
    if not blobs:
        return offsets
    order = sorted(
        range(len(blobs)),
        key=lambda i: (-blobs[i].size, blobs[i].first - blobs[i].last, blobs[i].first, i),
    )
    placed = Placed(min(b.first for b in blobs))
    arena = 0
    for i in order:
        _, first, last, size = blobs[i]
        best = best_gap(placed.overlapping(first, last), size, arena)
        offsets[i] = best
        placed.add(first, last, best, best + size)
        if best + size > arena:
            arena = best + size
    return offsets
