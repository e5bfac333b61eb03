"""Lower bounds on the bytes of any valid assignment.

Both bounds hold for the shared-buffer model (a buffer costs its largest
member; blobs live at the same position need distinct buffers):

- :func:`peak_live_bytes`: the largest total size of blobs live at one
  position.  Those blobs sit in distinct buffers, each at least as large.
- :func:`positional_maxima_bound`: for ``k = 1, 2, ...`` let ``P_k`` be the
  largest, over positions, ``k``-th largest size among the blobs live there;
  the bound is ``sum(P_k)``.  At the position realizing ``P_k`` the ``k``
  largest live blobs occupy ``k`` distinct buffers, so at least ``k`` buffers
  cost ``P_k`` or more: the ``k``-th most expensive buffer costs at least
  ``P_k``.  It is never below the peak and usually tighter.

Only positions where some blob is defined need checking: the blobs live at
any position are all live at the latest ``defined`` among them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from memonger.alloc.ranges import RangesLike, as_items, name_set, nbytes

__all__ = ["peak_live_bytes", "positional_maxima", "positional_maxima_bound"]


def _shareable(ranges: RangesLike, static_blobs: Iterable[str]) -> list[tuple[int, int, int]]:
    static = name_set(static_blobs)
    out = []
    for name, r in as_items(ranges):
        if name in static:
            continue
        defined: int | None = r.defined
        used: int | None = r.used
        if defined is None or used is None:
            raise ValueError(f"blob {name!r} has an unknown position; see get_updated_ranges")
        out.append((defined, used, nbytes(r.size)))
    return out


def peak_live_bytes(ranges: RangesLike, static_blobs: Iterable[str] = ()) -> int:
    """Largest total size of the blobs live at one position.

    Parameters
    ----------
    ranges : mapping of str to LiveRange, or iterable of (str, LiveRange)
        The blobs; ranges are closed, sizes ``None`` count as 1.
    static_blobs : iterable of str, optional
        Blobs left out (they never share).

    Returns
    -------
    int
        0 when there is no blob.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"a": LiveRange(0, 2, 10), "b": LiveRange(2, 3, 5), "c": LiveRange(3, 4, 7)}
    >>> peak_live_bytes(rs)
    15
    """
    return _peak(_shareable(ranges, static_blobs))


def _peak(blobs: Iterable[tuple[int, int, int]]) -> int:
    """Peak live bytes of ``(defined, used, size)`` triples (closed ranges)."""
    events: list[tuple[int, int]] = []
    for defined, used, size in blobs:
        events.append((defined, size))
        events.append((used + 1, -size))
    events.sort()
    best = live = 0
    for _, delta in events:  # at equal positions the releases (negative) come first
        live += delta
        best = max(best, live)
    return best


def positional_maxima(ranges: RangesLike, static_blobs: Iterable[str] = ()) -> list[int]:
    """The positional maxima ``P_1 >= P_2 >= ...`` of the blobs.

    ``P_k`` is the largest ``k``-th largest size among the blobs live at one
    position; the list is as long as the largest number of blobs live at once.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"a": LiveRange(0, 1, 10), "b": LiveRange(1, 2, 2),
    ...       "c": LiveRange(2, 3, 8), "d": LiveRange(2, 3, 8)}
    >>> positional_maxima(rs)
    [10, 8, 2]
    """
    return _maxima(_shareable(ranges, static_blobs))


def _maxima(blobs: list[tuple[int, int, int]]) -> list[int]:
    """Positional maxima of ``(defined, used, size)`` triples in ``O(n log n)``.

    ``P_k`` is the largest ``x`` such that ``k`` blobs of size at least ``x``
    are live at one position.  Blobs are added largest first to a segment
    tree over the distinct ``defined`` positions (range add, global max);
    after each size the maximum count tells how many ``P_k`` equal it.
    """
    if not blobs:
        return []
    points = sorted({d for d, _, _ in blobs})
    size = 1
    while size < len(points):
        size *= 2
    top = [0] * (2 * size)  # max over the subtree, own additions included
    add = [0] * (2 * size)
    result: list[int] = []
    by_size = sorted(blobs, key=lambda b: -b[2])
    i = 0
    n = len(by_size)
    while i < n:
        current = by_size[i][2]
        while i < n and by_size[i][2] == current:
            defined, used, _ = by_size[i]
            i += 1
            lo = bisect_left(points, defined) + size
            hi = bisect_right(points, used) + size
            first, last = lo, hi - 1
            while lo < hi:
                if lo & 1:
                    top[lo] += 1
                    add[lo] += 1
                    lo += 1
                if hi & 1:
                    hi -= 1
                    top[hi] += 1
                    add[hi] += 1
                lo >>= 1
                hi >>= 1
            for leaf in (first, last):
                j = leaf >> 1
                while j:
                    left, right = top[2 * j], top[2 * j + 1]
                    top[j] = (left if left > right else right) + add[j]
                    j >>= 1
        result.extend([current] * (top[1] - len(result)))
    return result


def positional_maxima_bound(ranges: RangesLike, static_blobs: Iterable[str] = ()) -> int:
    """Sum of the positional maxima: a lower bound at least the peak.

    Parameters
    ----------
    ranges : mapping of str to LiveRange, or iterable of (str, LiveRange)
        The blobs; ranges are closed, sizes ``None`` count as 1.
    static_blobs : iterable of str, optional
        Blobs left out (they never share).

    Returns
    -------
    int

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"a": LiveRange(0, 1, 10), "b": LiveRange(1, 2, 2),
    ...       "c": LiveRange(2, 3, 8), "d": LiveRange(2, 3, 8)}
    >>> positional_maxima_bound(rs), peak_live_bytes(rs)
    (20, 18)
    """
    return sum(positional_maxima(ranges, static_blobs))
