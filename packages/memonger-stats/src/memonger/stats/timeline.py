"""Live bytes at every op position, their peak, and the blobs that make it.

Liveness is memonger.alloc's, the one definition of the project
(:mod:`memonger.alloc.liveness`: control inputs extend a range without
consuming the value, a blob never read after its last write lives to the
end, views share their base's storage): the ranges come from
:func:`memonger.alloc.compute_liveness` and the live bytes from
:func:`memonger.alloc.live_bytes`.  A storage is live at every position of
its closed live range ``[defined, used]`` (see
:class:`memonger.alloc.LiveRange`), clipped to the net's positions
``0 .. len(ops) - 1``.  Only produced storages count
(:meth:`memonger.alloc.Liveness.produced_ranges`); one that is read before
its first write (an input updated in place) is live from position 0.  A
size ``None`` counts as one byte, as everywhere in memonger.

The same functions describe an optimized net: a renamed net's buffer names
are its blobs, sized with :func:`memonger.stats.renamed_sizes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from memonger.alloc import LiveRange, ViewsOf, live_bytes, nbytes
from memonger.stats._nets import SizeSource, check_size, ordered_ops, size_of, sized_liveness
from memonger.stats.errors import StatsError

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


def _build(ranges: Mapping[str, LiveRange], num_positions: int) -> Timeline:
    """The timeline of sized, counted ranges over ``num_positions`` positions."""
    sizes = {name: nbytes(r.size) for name, r in ranges.items()}
    spans: dict[str, tuple[int, int]] = {}
    for name, r in ranges.items():
        first, last = max(r.defined, 0), min(r.used, num_positions - 1)
        if first <= last:
            spans[name] = (first, last)
    total = sum(sizes[name] for name in spans)
    dtype: Any = np.int64 if total < _INT64_SAFE else object
    # live bytes: memonger.alloc's definition; allocated bytes: a cumulative sum of starts
    live = np.array(live_bytes({n: ranges[n] for n in spans}, num_positions), dtype=dtype)
    alloc_diff = np.zeros(num_positions + 1, dtype=dtype)
    if spans:
        starts = np.fromiter((first for first, _ in spans.values()), dtype=np.int64)
        values = np.array([sizes[n] for n in spans], dtype=dtype)
        np.add.at(alloc_diff, starts, values)
    allocated = np.cumsum(alloc_diff[:num_positions]).astype(dtype)
    live.setflags(write=False)
    allocated.setflags(write=False)
    if num_positions == 0:
        return Timeline(live, allocated, -1, (), spans)
    peak_position = int(np.argmax(live))
    at_peak = [
        (name, sizes[name])
        for name, (first, last) in spans.items()
        if first <= peak_position <= last
    ]
    at_peak.sort(key=lambda item: (-item[1], item[0]))
    return Timeline(live, allocated, peak_position, tuple(at_peak), spans)


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
        Sizes in bytes; default: each range's ``size`` (``None`` counts as
        one byte).
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
        ``blob_nbytes`` lacks a counted blob.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> ranges = {"x": LiveRange(-1, 0, 99), "a": LiveRange(0, 2, 8)}
    >>> timeline_from_ranges(ranges, num_positions=3).live_nbytes.tolist()
    [8, 8, 8]
    """
    extra = set(produced) if produced is not None else set()
    counted: dict[str, LiveRange] = {}
    for name, rng in ranges.items():
        if rng.defined >= 0 or name in extra:
            if blob_nbytes is not None:
                size: int | None = size_of(blob_nbytes, name)
            else:
                size = None if rng.size is None else check_size(name, rng.size)
            counted[name] = LiveRange(rng.defined, rng.used, size)
    if num_positions is None:
        num_positions = max((rng.used for rng in counted.values()), default=-1) + 1
    if num_positions < 0:
        raise StatsError(f"num_positions must be >= 0, not {num_positions}")
    return _build(counted, num_positions)


def compute_timeline(
    net: Any,
    blob_nbytes: SizeSource,
    *,
    order: Sequence[int] | None = None,
    views: ViewsOf | None = None,
) -> Timeline:
    """Live bytes at every op position of a net run in ``order``.

    The ranges are memonger.alloc's (:func:`memonger.alloc.compute_liveness`
    of the ops in ``order``); the blobs counted are its produced storages,
    each named by its root and sized by its largest member.

    Parameters
    ----------
    net : net or sequence of ops
        An object with ``.op``, or the ops themselves (``.input``/``.output``,
        optionally ``.control_input`` and ``.views``).  An optimized
        (renamed) net works the same, with buffer sizes.
    blob_nbytes : mapping or callable
        Size in bytes of every blob of a produced storage (``None``: unknown,
        one byte).
    order : sequence of int, optional
        A permutation of op indices: the execution order.  Default: program
        order.
    views : callable, optional
        ``op -> (output_index, input_index)`` view pairs, as for
        :func:`memonger.alloc.compute_liveness`; default: each op's own
        ``views`` attribute (none when absent).

    Returns
    -------
    Timeline
        One position per op.

    Raises
    ------
    MissingSizeError
        ``blob_nbytes`` lacks a blob of a produced storage.
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

    A control input keeps its blob live up to the op naming it:

    >>> ops[2] = Op(input=["b"], output=["c"], control_input=["a"])
    >>> compute_timeline(ops, {"a": 10, "b": 20, "c": 5}).live_nbytes.tolist()
    [10, 30, 35]
    """
    ops = ordered_ops(net, order)
    _, ranges = sized_liveness(ops, blob_nbytes, views)
    return _build(ranges, len(ops))
