"""Shared record type of the heuristics: a buffer as a set of disjoint ranges."""

from __future__ import annotations

from bisect import bisect_right

from memonger.alloc.ranges import Item

__all__ = ["Buffer"]


class Buffer:
    """Members of one buffer, with an ``O(log n)`` overlap test.

    Ranges are closed: ``[d, u]`` fits when no member's range meets it.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> b = Buffer(capacity=0)
    >>> b.add(("a", LiveRange(2, 4, 8)))
    >>> b.fits(0, 1), b.fits(4, 6), b.fits(5, 6), b.capacity
    (True, False, True, 8)
    """

    __slots__ = ("capacity", "ends", "members", "starts")

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.members: list[Item] = []

    def fits(self, defined: int, used: int) -> bool:
        """Whether ``[defined, used]`` meets no member's range."""
        i = bisect_right(self.starts, used)
        return i == 0 or self.ends[i - 1] < defined

    def add(self, item: Item) -> None:
        """Add a member (its range must fit) and grow the capacity to its size."""
        r = item[1]
        i = bisect_right(self.starts, r.used)
        self.starts.insert(i, r.defined)
        self.ends.insert(i, r.used)
        self.members.append(item)
        size = 1 if r.size is None else r.size
        if size > self.capacity:
            self.capacity = size
