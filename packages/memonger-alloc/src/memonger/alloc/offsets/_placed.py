"""Placed blobs indexed by time, for the heuristics' gap searches.

The heuristics repeatedly ask "which byte ranges do the placed blobs that
overlap ``[first, last]`` in time occupy?".  A blob of length ``L``
(positions) is filed under the length class ``k`` with
``2**(k-1) < L <= 2**k`` and stored in the (at most two) time blocks of
``2**k`` positions it touches.  A query looks, in every class, at the blocks
its span touches:

* the (at most two) blocks holding an end of the query are scanned blob by
  blob, keeping those that overlap it;
* every block strictly inside the query lies wholly within it, so each
  blob that starts in it overlaps the query: their ``(offset, top)`` pairs
  (kept per block under the block where the blob starts) are copied
  wholesale, without a test per blob.  A blob whose two blocks are an
  inside block and an end block may be listed twice, which the gap
  computation does not mind.

Short blobs stay in small blocks and long ones in a few large blocks, so a
short query reads little more than the blobs it overlaps, and a long query
copies the short blobs under it in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

__all__ = ["Placed", "best_gap", "gaps"]

_Pair = tuple[int, int]
_Record = tuple[int, int, _Pair]
_chain = chain.from_iterable


class Placed:
    """Placed ``(first, last, offset, top)`` records, queried by time span."""

    __slots__ = ("_base", "_classes", "_index")

    def __init__(self, lowest: int) -> None:
        self._base = lowest
        # per length class k: blocks of 2**k positions, each with the
        # (first, last, pair) records of the blobs touching it and the pairs
        # of the blobs starting in it; unused blocks hold the empty tuple
        self._classes: list[tuple[int, list[Sequence[_Record]], list[Sequence[_Pair]]]] = []
        self._index: dict[int, int] = {}

    def add(self, first: int, last: int, offset: int, top: int) -> None:
        """Record a blob occupying ``[offset, top)`` over ``[first, last]``."""
        a = first - self._base
        b = last - self._base
        k = (b - a).bit_length()
        at = self._index.get(k)
        if at is None:
            at = self._index[k] = len(self._classes)
            self._classes.append((k, [], []))
        _, records, pairs = self._classes[at]
        pair = (offset, top)
        record = (first, last, pair)
        lo = a >> k
        hi = b >> k
        if hi >= len(records):
            grow = hi + 1 - len(records)
            records += [()] * grow
            pairs += [()] * grow
        for block in (lo, hi) if lo != hi else (lo,):
            members = records[block]
            if members:
                members.append(record)  # type: ignore[attr-defined]
            else:
                records[block] = [record]
        inside = pairs[lo]
        if inside:
            inside.append(pair)  # type: ignore[attr-defined]
        else:
            pairs[lo] = [pair]

    def overlapping(self, first: int, last: int) -> list[_Pair]:
        """``(offset, top)`` of the placed blobs whose span meets ``[first, last]``, sorted.

        A blob may appear twice (see the module docstring).
        """
        a = first - self._base
        b = last - self._base
        out: list[_Pair] = []
        for k, records, pairs in self._classes:
            lo = a >> k
            n = len(records)
            if lo >= n:
                continue
            hi = b >> k
            members = records[lo]
            if members:
                out += [p for f, e, p in members if f <= last and e >= first]
            if hi == lo:
                continue
            if hi < n:
                members = records[hi]
                if members:
                    out += [p for f, e, p in members if f <= last and e >= first]
            if hi - lo > 1:
                out += _chain(pairs[lo + 1 : hi])
        out.sort()
        return out


def gaps(occupied: list[_Pair]) -> tuple[list[_Pair], int]:
    """Free ``(start, end)`` gaps under the occupied intervals, and their top.

    ``occupied`` is sorted ``(offset, top)``; the gaps are the maximal free
    byte ranges below the highest top, lowest first.

    Examples
    --------
    >>> gaps([(0, 4), (2, 6), (10, 12), (12, 14)])
    ([(6, 10)], 14)
    >>> gaps([(3, 4)])
    ([(0, 3)], 4)
    """
    free: list[_Pair] = []
    end = 0
    for offset, top in occupied:
        if offset > end:
            free.append((end, offset))
        if top > end:
            end = top
    return free, end


def best_gap(occupied: list[_Pair], size: int, ceiling: int = 0) -> int:
    """Lowest start of the smallest free gap that holds ``size`` bytes.

    ``occupied`` is sorted ``(offset, top)``.  The space between the highest
    top and ``ceiling`` (when higher) counts as a gap too.  Without a gap
    large enough, the highest top.

    Examples
    --------
    >>> best_gap([(0, 4), (6, 8), (20, 22)], 2)
    4
    >>> best_gap([(0, 4), (6, 8), (20, 22)], 3)
    8
    >>> best_gap([(0, 4), (6, 8), (20, 22)], 13)
    22
    >>> best_gap([(0, 4), (7, 8)], 2, ceiling=10)
    8
    """
    end = 0
    best = -1
    best_size = -1
    for offset, top in occupied:
        if offset > end:
            gap = offset - end
            if gap >= size and (best_size < 0 or gap < best_size):
                best, best_size = end, gap
        if top > end:
            end = top
    if ceiling > end:
        gap = ceiling - end
        if gap >= size and (best_size < 0 or gap < best_size):
            best = end
    return end if best < 0 else best
