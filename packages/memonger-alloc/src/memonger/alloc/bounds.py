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

from collections.abc import Iterable

from memonger.alloc.ranges import RangesLike, as_items, nbytes

__all__ = ["peak_live_bytes", "positional_maxima", "positional_maxima_bound"]


def _shareable(ranges: RangesLike, static_blobs: Iterable[str]) -> list[tuple[int, int, int]]:
    static = set(static_blobs)
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
    events: list[tuple[int, int]] = []
    for defined, used, size in _shareable(ranges, static_blobs):
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
    by_start = sorted(blobs)
    result: list[int] = []
    live: list[tuple[int, int]] = []  # (used, size)
    i = 0
    n = len(by_start)
    while i < n:
        pos = by_start[i][0]
        while i < n and by_start[i][0] == pos:
            live.append((by_start[i][1], by_start[i][2]))
            i += 1
        live = [x for x in live if x[0] >= pos]
        sizes = sorted((s for _, s in live), reverse=True)
        for k, s in enumerate(sizes):
            if k == len(result):
                result.append(s)
            elif s > result[k]:
                result[k] = s
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
