"""Placed blobs indexed by time, for the heuristics' gap searches.

The heuristics repeatedly ask "which placed blobs overlap ``[first, last]``
in time?".  A blob of length ``L`` (positions) is filed under the length
class ``k`` with ``2**(k-1) < L <= 2**k`` and stored in the (at most two)
time blocks of ``2**k`` positions it touches.  A query of class ``k`` looks
only at the blocks of each class its span touches, so it reads little more
than the blobs it overlaps: short blobs stay in small blocks and long ones
in a few large blocks.
"""

from __future__ import annotations

__all__ = ["Placed"]


class Placed:
    """Placed ``(first, last, offset, top)`` records, queried by time span."""

    __slots__ = ("_base", "_classes", "_first", "_last", "_offset", "_seen", "_stamp", "_top")

    def __init__(self, lowest: int) -> None:
        self._base = lowest
        self._classes: dict[int, dict[int, list[int]]] = {}
        self._first: list[int] = []
        self._last: list[int] = []
        self._offset: list[int] = []
        self._top: list[int] = []
        self._seen: list[int] = []
        self._stamp = 0

    def add(self, first: int, last: int, offset: int, top: int) -> None:
        """Record a blob occupying ``[offset, top)`` over ``[first, last]``."""
        rid = len(self._first)
        self._first.append(first)
        self._last.append(last)
        self._offset.append(offset)
        self._top.append(top)
        self._seen.append(0)
        a = first - self._base
        b = last - self._base
        k = (b - a).bit_length()
        blocks = self._classes.get(k)
        if blocks is None:
            blocks = self._classes[k] = {}
        lo = a >> k
        hi = b >> k
        for block in (lo, hi) if lo != hi else (lo,):
            members = blocks.get(block)
            if members is None:
                blocks[block] = [rid]
            else:
                members.append(rid)

    def overlapping(self, first: int, last: int) -> list[tuple[int, int]]:
        """``(offset, top)`` of the placed blobs whose span meets ``[first, last]``, sorted."""
        a = first - self._base
        b = last - self._base
        fs = self._first
        ls = self._last
        offs = self._offset
        tops = self._top
        out: list[tuple[int, int]] = []
        self._stamp += 1
        stamp = self._stamp
        seen = self._seen
        for k, blocks in self._classes.items():
            lo = a >> k
            hi = b >> k
            if lo == hi:
                members = blocks.get(lo)
                if members:
                    for rid in members:
                        if fs[rid] <= last and ls[rid] >= first:
                            out.append((offs[rid], tops[rid]))
                continue
            for block in range(lo, hi + 1):
                members = blocks.get(block)
                if not members:
                    continue
                for rid in members:
                    if seen[rid] != stamp and fs[rid] <= last and ls[rid] >= first:
                        seen[rid] = stamp
                        out.append((offs[rid], tops[rid]))
        out.sort()
        return out


def gaps(occupied: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], int]:
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
    free: list[tuple[int, int]] = []
    end = 0
    for offset, top in occupied:
        if offset > end:
            free.append((end, offset))
        if top > end:
            end = top
    return free, end
