"""The normalized problem every offset planner works on.

:func:`prepare` validates the ranges, leaves static blobs out, counts unknown
sizes as 1 (:func:`memonger.alloc.ranges.nbytes`), rounds sizes up to the
alignment and sets size-0 blobs aside (they conflict with nothing and get
offset 0).  Algorithms see :class:`Blob` records numbered ``0..n-1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from memonger.alloc.bounds import _peak
from memonger.alloc.errors import InvalidRangeError
from memonger.alloc.ranges import LiveRange, RangesLike, as_items, name_set, nbytes

__all__ = ["Blob", "Problem", "align_up", "arena_of", "check_alignment", "prepare"]


class Blob(NamedTuple):
    """One blob to place: closed range ``[first, last]``, padded ``size`` (> 0)."""

    name: str
    first: int
    last: int
    size: int


class Problem(NamedTuple):
    """Blobs to place, zero-size names, the input order and the lower bound."""

    blobs: list[Blob]
    zero: list[str]
    order: list[str]
    lower_bound: int
    alignment: int


def check_alignment(alignment: object) -> int:
    """``alignment`` as a positive int, else :class:`InvalidRangeError`.

    Examples
    --------
    >>> check_alignment(64)
    64
    >>> check_alignment(0)
    Traceback (most recent call last):
    ...
    memonger.alloc.errors.InvalidRangeError: alignment must be a positive integer, not 0
    """
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
        raise InvalidRangeError(f"alignment must be a positive integer, not {alignment!r}")
    return alignment


def align_up(size: int, alignment: int) -> int:
    """``size`` rounded up to a multiple of ``alignment``.

    Examples
    --------
    >>> align_up(5, 4), align_up(8, 4), align_up(0, 4)
    (8, 8, 0)
    """
    return -(-size // alignment) * alignment


def prepare(ranges: RangesLike, static_blobs: Iterable[str] = (), alignment: int = 1) -> Problem:
    """Validate and normalize a problem (see the module docstring).

    Examples
    --------
    >>> p = prepare({"a": LiveRange(0, 2, 5), "s": LiveRange(0, 9, 3), "z": LiveRange(1, 1, 0)},
    ...             {"s"}, alignment=4)
    >>> p.blobs, p.zero, p.lower_bound
    ([Blob(name='a', first=0, last=2, size=8)], ['z'], 8)
    """
    alignment = check_alignment(alignment)
    static = name_set(static_blobs)
    blobs: list[Blob] = []
    zero: list[str] = []
    order: list[str] = []
    for name, r in as_items(ranges):
        if name in static:
            continue
        if r.defined is None or r.used is None:
            raise InvalidRangeError(f"blob {name!r} has an unknown position")
        size = align_up(nbytes(r.size), alignment)
        order.append(name)
        if size == 0:
            zero.append(name)
            continue
        blobs.append(Blob(name, r.defined, r.used, size))
    # The one peak of memonger.alloc.bounds, over the padded sizes.
    peak = _peak((blob.first, blob.last, blob.size) for blob in blobs)
    return Problem(blobs, zero, order, peak, alignment)


def arena_of(blobs: list[Blob], offsets: list[int]) -> int:
    """``max(offset + size)`` over the blobs, 0 for none."""
    return max((o + b.size for b, o in zip(blobs, offsets, strict=True)), default=0)


def named_offsets(problem: Problem, offsets: list[int]) -> dict[str, int]:
    """Offsets by name in the input order, size-0 blobs at 0."""
    by_name = {b.name: o for b, o in zip(problem.blobs, offsets, strict=True)}
    return {name: by_name.get(name, 0) for name in problem.order}


def sizes_of(ranges: Mapping[str, LiveRange]) -> dict[str, int]:
    """Byte sizes under the unknown-size policy."""
    return {name: nbytes(r.size) for name, r in ranges.items()}
