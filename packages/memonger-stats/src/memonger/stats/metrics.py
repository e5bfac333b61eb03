"""Memory metrics of a plan: naive, plan and peak live bytes, and statistics.

The definitions (design 7, used by reports and benchmarks alike) are
memonger.alloc's, computed by its functions over its ranges
(:func:`memonger.alloc.compute_liveness`, :func:`memonger.alloc.naive_bytes`,
:func:`memonger.alloc.plan_bytes`, :func:`memonger.alloc.peak_live_bytes`);
this module only feeds them nets and sizes from a mapping or a callable:

- *produced blobs* are the storages some op writes
  (:meth:`memonger.alloc.Liveness.produced_ranges`; without views, the blobs
  written by some op);
- *naive bytes* is the sum of their sizes (every blob in its own buffer);
- *plan bytes* is the sum over buffers of the largest produced blob in it;
- *peak live bytes* is the largest total size of produced blobs live at one
  op position: the lower bound of any plan for that op order.

A size ``None`` counts as one byte; a blob missing from a size mapping is an
error (:class:`~memonger.stats.MissingSizeError`), as in memonger.alloc.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memonger.alloc import LiveRange, ViewsOf, naive_bytes, peak_live_bytes, plan_bytes
from memonger.stats._nets import (
    SizeSource,
    check_size,
    net_ops,
    ordered_ops,
    produced_order,
    size_of,
    sized_liveness,
)
from memonger.stats.errors import StatsError

__all__ = [
    "Assignments",
    "Statistics",
    "compute_statistics",
    "naive_nbytes",
    "peak_live_nbytes",
    "plan_nbytes",
    "produced_blobs",
    "renamed_sizes",
]

Assignments = Sequence[Sequence[tuple[str, LiveRange]]]
"""Blobs sharing buffers: one list of ``(blob, LiveRange)`` per buffer."""


@dataclass(frozen=True)
class Statistics:
    """Bytes of a set of blobs before and after sharing buffers.

    Examples
    --------
    >>> s = Statistics(baseline_nbytes=400, optimized_nbytes=100)
    >>> s.saving_nbytes, s.saving_ratio, s.compression
    (300, 0.75, 4.0)
    """

    baseline_nbytes: int
    """Sum of the sizes of every blob (each in its own buffer)."""
    optimized_nbytes: int
    """Sum over buffers of the largest blob in it."""

    @property
    def saving_nbytes(self) -> int:
        """Bytes saved: ``baseline_nbytes - optimized_nbytes``."""
        return self.baseline_nbytes - self.optimized_nbytes

    @property
    def saving_ratio(self) -> float:
        """Fraction of the baseline saved, in ``[0, 1]`` for a valid plan (0 if empty)."""
        if self.baseline_nbytes == 0:
            return 0.0
        return self.saving_nbytes / self.baseline_nbytes

    @property
    def compression(self) -> float:
        """``baseline_nbytes / optimized_nbytes`` (1 if both are 0, inf if only the plan is)."""
        if self.optimized_nbytes == 0:
            return 1.0 if self.baseline_nbytes == 0 else float("inf")
        return self.baseline_nbytes / self.optimized_nbytes


def compute_statistics(assignments: Assignments, blob_nbytes: SizeSource) -> Statistics:
    """Bytes of the blobs of ``assignments`` without and with sharing.

    Parameters
    ----------
    assignments : list of lists of (str, LiveRange)
        As returned by :func:`memonger.alloc.compute_assignments`.
    blob_nbytes : mapping or callable
        Size in bytes of each blob (``{blob: bytes}`` or ``name -> bytes``);
        there is no workspace to fetch blobs from.

    Returns
    -------
    Statistics

    Raises
    ------
    MissingSizeError
        A blob has no size.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> plan = [[("a", LiveRange(0, 1, None)), ("c", LiveRange(2, 3, None))],
    ...         [("b", LiveRange(1, 2, None))]]
    >>> compute_statistics(plan, {"a": 10, "b": 5, "c": 30})
    Statistics(baseline_nbytes=45, optimized_nbytes=35)
    """
    sized = _sized(assignments, blob_nbytes)
    members = {name: r for buffer in sized for name, r in buffer}
    return Statistics(baseline_nbytes=naive_bytes(members), optimized_nbytes=plan_bytes(sized))


def _sized(assignments: Assignments, blob_nbytes: SizeSource) -> list[list[tuple[str, LiveRange]]]:
    """``assignments`` with each member's range sized from ``blob_nbytes``."""
    sizes: dict[str, int] = {}
    out: list[list[tuple[str, LiveRange]]] = []
    for buffer in assignments:
        row = []
        for blob, r in buffer:
            if blob not in sizes:
                sizes[blob] = size_of(blob_nbytes, blob)
            row.append((blob, LiveRange(r.defined, r.used, sizes[blob])))
        out.append(row)
    return out


def produced_blobs(net: Any, *, views: ViewsOf | None = None) -> list[str]:
    """Blobs written by some op of ``net`` (a net or a sequence of ops), in order of first write.

    With views, one name per produced storage: its root (see
    :class:`memonger.alloc.Liveness`).

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> produced_blobs([Op(input=["x"], output=["a"]), Op(input=["a"], output=["b", "a"])])
    ['a', 'b']
    >>> produced_blobs([Op(input=["x"], output=["a"]),
    ...                 Op(input=["a"], output=["v"], views=[(0, 0)])])
    ['a']
    """
    ops = net_ops(net)
    live, _ = sized_liveness(ops, None, views)
    return produced_order(ops, live)


def naive_nbytes(net: Any, blob_nbytes: SizeSource, *, views: ViewsOf | None = None) -> int:
    """Sum of the sizes of the produced blobs of ``net`` (no sharing at all).

    :func:`memonger.alloc.naive_bytes` of the produced ranges.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> naive_nbytes([Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"])],
    ...              {"x": 1000, "a": 10, "b": 20})
    30
    """
    _, ranges = sized_liveness(net_ops(net), blob_nbytes, views)
    return naive_bytes(ranges)


def plan_nbytes(
    assignments: Assignments,
    blob_nbytes: SizeSource,
    *,
    produced: Iterable[str] | None = None,
) -> int:
    """Sum over buffers of the largest produced blob in it.

    :func:`memonger.alloc.plan_bytes` with sizes from ``blob_nbytes``.

    Parameters
    ----------
    assignments : list of lists of (str, LiveRange)
        The shared buffers.
    blob_nbytes : mapping or callable
        Blob sizes in bytes.
    produced : iterable of str, optional
        The produced blobs of the net.  When given, members of
        ``assignments`` that are not produced are ignored, and every produced
        blob that is in no assignment counts as a buffer of its own, so the
        result compares directly with :func:`naive_nbytes`.  When omitted,
        every member counts and only the assignments' buffers are summed.
        With views, the produced blobs are storage roots and ``blob_nbytes``
        should give each root its storage's size (its largest member), as
        :func:`memonger.alloc.compute_liveness` sizes it.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> plan = [[("a", LiveRange(0, 1, None)), ("c", LiveRange(2, 3, None))]]
    >>> sizes = {"a": 10, "b": 5, "c": 30}
    >>> plan_nbytes(plan, sizes), plan_nbytes(plan, sizes, produced=["a", "b", "c"])
    (30, 35)
    """
    if produced is None:
        return plan_bytes(_sized(assignments, blob_nbytes))
    counted = {
        blob: LiveRange(0, 0, size_of(blob_nbytes, blob)) for blob in dict.fromkeys(produced)
    }
    members = [[(blob, r) for blob, r in buffer if blob in counted] for buffer in assignments]
    return plan_bytes(members, counted)


def peak_live_nbytes(
    net: Any,
    blob_nbytes: SizeSource,
    *,
    order: Sequence[int] | None = None,
    views: ViewsOf | None = None,
) -> int:
    """Largest total size of produced blobs live at one op position.

    The lower bound of any plan for this op order:
    :func:`memonger.alloc.peak_live_bytes` of the produced ranges of the ops in
    ``order``; see :func:`memonger.stats.compute_timeline` for the positions
    and the blobs.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"]),
    ...        Op(input=["b"], output=["c"])]
    >>> peak_live_nbytes(ops, {"x": 1, "a": 10, "b": 20, "c": 5})
    30
    >>> ops[2] = Op(input=["b"], output=["c"], control_input=["a"])
    >>> peak_live_nbytes(ops, {"x": 1, "a": 10, "b": 20, "c": 5})
    35
    """
    _, ranges = sized_liveness(ordered_ops(net, order), blob_nbytes, views)
    return peak_live_bytes(ranges)


def renamed_sizes(
    blob_nbytes: Mapping[str, int], blob_assignments: Mapping[str, str]
) -> dict[str, int]:
    """Sizes for a renamed (optimized) net: each buffer takes its largest member's size.

    Parameters
    ----------
    blob_nbytes : mapping of str to int
        Sizes of the original blobs.
    blob_assignments : mapping of str to str
        Original blob name -> buffer name it was renamed to.

    Returns
    -------
    dict of str to int
        The sizes of every blob that was not renamed, plus one entry per
        buffer name.

    Raises
    ------
    MissingSizeError
        A renamed blob has no size.
    StatsError
        A buffer name is also the name of a blob that was not renamed.

    Examples
    --------
    >>> renamed_sizes({"x": 4, "a": 10, "b": 30}, {"a": "buf0", "b": "buf0"})
    {'x': 4, 'buf0': 30}
    """
    result = {
        blob: check_size(blob, size)
        for blob, size in blob_nbytes.items()
        if blob not in blob_assignments
    }
    buffers: dict[str, int] = {}
    for blob, buffer in blob_assignments.items():
        size = size_of(blob_nbytes, blob)
        buffers[buffer] = max(buffers.get(buffer, 0), size)
    for buffer, size in buffers.items():
        if buffer in result:
            raise StatsError(
                f"buffer name {buffer!r} is also the name of a blob that was not renamed"
            )
        result[buffer] = size
    return result
