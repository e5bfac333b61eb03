"""Live bytes at every op position, their peak, and the blobs that make it.

A blob is live at every position of its closed live range
``[defined, used]`` (see :class:`memonger.alloc.LiveRange`), clipped to the
net's positions ``0 .. len(ops) - 1``.  Only produced blobs (written by some
op) count; a produced blob that is read before its first write (an input
updated in place) is live from position 0.

The same functions describe an optimized net: a renamed net's buffer names
are its blobs, sized with :func:`memonger.stats.renamed_sizes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from memonger.alloc import LiveRange
from memonger.stats._nets import SizeSource, check_size, net_ops, size_of, sizer
from memonger.stats.errors import MissingSizeError, StatsError

__all__ = ["Timeline", "compute_timeline", "timeline_from_ranges"]

_INT64_SAFE = 2**62


@dataclass(frozen=True, eq=False)
class Timeline:
    """Memory over op positions.

    ``live_nbytes[p]`` is the total size of the blobs live at position ``p``;
    ``allocated_nbytes[p]`` is the total size of the blobs live at some position
    up to ``p`` (what a runtime that allocates on first write and never frees
    holds; it ends at the naive bytes of the net).  Both are read-only numpy
    integer arrays (``object`` dtype of Python ints when the totals exceed
    2**62 bytes).

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> t = timeline_from_ranges({"a": LiveRange(0, 1, 10), "b": LiveRange(1, 2, 20)})
    >>> t.live_nbytes.tolist(), t.allocated_nbytes.tolist()
    ([10, 30, 20], [10, 30, 30])
    >>> t.peak_nbytes, t.peak_position, t.peak_blobs
    (30, 1, (('b', 20), ('a', 10)))
    """

    live_nbytes: npt.NDArray[Any]
    allocated_nbytes: npt.NDArray[Any]
    peak_position: int
    """First position where live bytes reach their peak (-1 when there are no positions)."""
    peak_blobs: tuple[tuple[str, int], ...]
    """``(blob, bytes)`` live at the peak position, largest first (ties by name)."""
    ranges: Mapping[str, tuple[int, int]] = field(repr=False)
    """The clipped live span ``(first, last)`` of every counted blob."""

    @property
    def num_positions(self) -> int:
        """Number of op positions."""
        return len(self.live_nbytes)

    @property
    def peak_nbytes(self) -> int:
        """Largest live bytes at one position (0 when empty): the lower bound for this order."""
        return int(self.live_nbytes.max()) if len(self.live_nbytes) else 0

    @property
    def total_nbytes(self) -> int:
        """Sum of the sizes of the counted blobs (the naive bytes)."""
        return int(self.allocated_nbytes[-1]) if len(self.allocated_nbytes) else 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (keys as in :mod:`memonger.stats.report`)."""
        return {
            "num_positions": self.num_positions,
            "live_bytes": [int(v) for v in self.live_nbytes],
            "allocated_bytes": [int(v) for v in self.allocated_nbytes],
            "peak_bytes": self.peak_nbytes,
            "peak_position": self.peak_position,
            "peak_blobs": [[name, size] for name, size in self.peak_blobs],
        }


def _build(
    spans: Mapping[str, tuple[int, int]], sizes: Mapping[str, int], num_positions: int
) -> Timeline:
    names = list(spans)
    total = sum(sizes[name] for name in names)
    dtype: Any = np.int64 if total < _INT64_SAFE else object
    live_diff = np.zeros(num_positions + 1, dtype=dtype)
    alloc_diff = np.zeros(num_positions + 1, dtype=dtype)
    if names:
        starts = np.fromiter((spans[n][0] for n in names), dtype=np.int64, count=len(names))
        ends = np.fromiter((spans[n][1] for n in names), dtype=np.int64, count=len(names))
        values = np.array([sizes[n] for n in names], dtype=dtype)
        np.add.at(live_diff, starts, values)
        np.add.at(live_diff, ends + 1, -values)
        np.add.at(alloc_diff, starts, values)
    live = np.cumsum(live_diff[:num_positions]).astype(dtype)
    allocated = np.cumsum(alloc_diff[:num_positions]).astype(dtype)
    live.setflags(write=False)
    allocated.setflags(write=False)
    if num_positions == 0:
        return Timeline(live, allocated, -1, (), dict(spans))
    peak_position = int(np.argmax(live))
    at_peak = [
        (name, sizes[name]) for name in names if spans[name][0] <= peak_position <= spans[name][1]
    ]
    at_peak.sort(key=lambda item: (-item[1], item[0]))
    return Timeline(live, allocated, peak_position, tuple(at_peak), dict(spans))


def timeline_from_ranges(
    ranges: Mapping[str, LiveRange],
    *,
    blob_nbytes: SizeSource | None = None,
    num_positions: int | None = None,
    produced: Iterable[str] | None = None,
) -> Timeline:
    """Live bytes at every position from live ranges.

    Parameters
    ----------
    ranges : mapping of str to LiveRange
        As from :func:`memonger.alloc.compute_ranges`.  Blobs with
        ``defined >= 0`` count; so do those named in ``produced``.
    blob_nbytes : mapping or callable, optional
        Sizes in bytes; default: each range's ``size``.
    num_positions : int, optional
        Number of op positions; default ``max(used) + 1`` over the counted
        blobs (a blob live to the end then adds the end position).  Spans
        are clipped to ``0 .. num_positions - 1``.
    produced : iterable of str, optional
        Blobs to count even though ``defined == -1`` (inputs written in place).

    Returns
    -------
    Timeline

    Raises
    ------
    MissingSizeError
        A counted blob has no size (``size`` None and no ``blob_nbytes``).

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> ranges = {"x": LiveRange(-1, 0, 99), "a": LiveRange(0, 2, 8)}
    >>> timeline_from_ranges(ranges, num_positions=3).live_nbytes.tolist()
    [8, 8, 8]
    """
    extra = set(produced) if produced is not None else set()
    counted = {name: rng for name, rng in ranges.items() if rng.defined >= 0 or name in extra}
    if num_positions is None:
        num_positions = max((rng.used for rng in counted.values()), default=-1) + 1
    if num_positions < 0:
        raise StatsError(f"num_positions must be >= 0, not {num_positions}")
    sizes: dict[str, int] = {}
    spans: dict[str, tuple[int, int]] = {}
    for name, rng in counted.items():
        if blob_nbytes is not None:
            sizes[name] = size_of(blob_nbytes, name)
        elif rng.size is None:
            raise MissingSizeError(f"blob {name!r} has no size")
        else:
            sizes[name] = check_size(name, rng.size)
        first = max(rng.defined, 0)
        last = min(rng.used, num_positions - 1)
        if first <= last:
            spans[name] = (first, last)
    return _build(spans, sizes, num_positions)


def compute_timeline(
    net: Any, blob_nbytes: SizeSource, *, order: Sequence[int] | None = None
) -> Timeline:
    """Live bytes at every op position of a net run in ``order``.

    Parameters
    ----------
    net : net or sequence of ops
        An object with ``.op``, or the ops themselves (``.input``/``.output``).
        An optimized (renamed) net works the same, with buffer sizes.
    blob_nbytes : mapping or callable
        Size in bytes of every produced blob.
    order : sequence of int, optional
        A permutation of op indices: the execution order.  Default: program
        order.

    Returns
    -------
    Timeline
        One position per op.

    Raises
    ------
    MissingSizeError
        A produced blob has no size.
    StatsError
        ``order`` is not a permutation of the op indices.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"]),
    ...        Op(input=["b"], output=["c"])]
    >>> t = compute_timeline(ops, {"a": 10, "b": 20, "c": 5})
    >>> t.live_nbytes.tolist(), t.peak_nbytes, t.peak_blobs
    ([10, 30, 25], 30, (('b', 20), ('a', 10)))
    """
    ops = net_ops(net)
    if order is not None:
        indices = [int(i) for i in order]
        if sorted(indices) != list(range(len(ops))):
            raise StatsError(f"order is not a permutation of the {len(ops)} op indices")
        ops = [ops[i] for i in indices]
    # One pass with the live-range rules of memonger.alloc.compute_ranges.
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    written_last: dict[str, bool] = {}
    produced: dict[str, None] = {}
    for pos, op in enumerate(ops):
        for name in op.input:
            if name not in first:
                first[name] = 0  # read before any write: live from the start
            last[name] = pos
            written_last[name] = False
        for name in op.output:
            if name not in first:
                first[name] = pos
            last[name] = pos
            written_last[name] = True
            produced[name] = None
    end = len(ops) - 1
    lookup = sizer(blob_nbytes)
    sizes = {name: lookup(name) for name in produced}
    spans = {name: (first[name], end if written_last[name] else last[name]) for name in produced}
    return _build(spans, sizes, len(ops))
