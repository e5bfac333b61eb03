"""Hypothesis strategies and an oracle for testing memory allocators.

Needs the ``testing`` extra (``pip install "memonger-alloc[testing]"``).

- :func:`live_ranges` draws ``{name: LiveRange}`` problems, optionally with a
  static subset, covering empty and single-blob problems, identical, nested,
  touching (end at or one before another's start) and huge ranges, sizes
  ``None``, zero and huge.
- :func:`assert_valid_assignments` checks any allocator's output against the
  sharing rule; it shares no code with the algorithms of this package.
- :func:`offset_problems` draws arena-planning problems (ranges, an
  alignment and optionally a capacity known to be feasible) and
  :func:`assert_valid_offsets` checks any offset planner's output; neither
  shares code with :mod:`memonger.alloc.offsets`.

Examples
--------
>>> from hypothesis import given
>>> from memonger.alloc import allocate
>>> @given(live_ranges(max_size=8))
... def test_allocate(ranges):
...     assert_valid_assignments(allocate(ranges).assignments, ranges)
>>> test_allocate()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, NamedTuple, overload

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from memonger.alloc.ranges import LiveRange

__all__ = [
    "OffsetProblem",
    "assert_valid_assignments",
    "assert_valid_offsets",
    "live_ranges",
    "offset_problems",
]

_HUGE = 2**40


def _check_count(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}")
    return value


@overload
def live_ranges(
    *,
    min_size: int = ...,
    max_size: int = ...,
    horizon: int = ...,
    sizes: st.SearchStrategy[int | None] | None = ...,
    static: Literal[False] = ...,
) -> st.SearchStrategy[dict[str, LiveRange]]: ...


@overload
def live_ranges(
    *,
    min_size: int = ...,
    max_size: int = ...,
    horizon: int = ...,
    sizes: st.SearchStrategy[int | None] | None = ...,
    static: Literal[True],
) -> st.SearchStrategy[tuple[dict[str, LiveRange], frozenset[str]]]: ...


def live_ranges(
    *,
    min_size: int = 0,
    max_size: int = 12,
    horizon: int = 24,
    sizes: st.SearchStrategy[int | None] | None = None,
    static: bool = False,
) -> (
    st.SearchStrategy[dict[str, LiveRange]]
    | st.SearchStrategy[tuple[dict[str, LiveRange], frozenset[str]]]
):
    """Allocation problems: blob names mapped to closed live ranges.

    Parameters
    ----------
    min_size, max_size : int
        Bounds on the number of blobs.
    horizon : int
        Positions run from ``-1`` (read before any write) to ``horizon``.
    sizes : strategy of int or None, optional
        Blob sizes.  Default: mostly small sizes, sometimes ``None``, ``0``
        or huge (``2**40``).
    static : bool
        When true, draw ``(ranges, static_blobs)`` pairs where
        ``static_blobs`` is a subset of the names plus names of no blob
        (which allocators must ignore).

    Returns
    -------
    SearchStrategy
        Of ``dict[str, LiveRange]``, or of ``(dict, frozenset)`` pairs.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        At call time, for a bad option.

    Examples
    --------
    >>> live_ranges(max_size=-1)
    Traceback (most recent call last):
    ...
    hypothesis.errors.InvalidArgument: max_size=-1 must be at least 0
    """
    _check_count("min_size", min_size)
    _check_count("max_size", max_size)
    _check_count("horizon", horizon)
    if min_size > max_size:
        raise InvalidArgument(f"min_size={min_size} is greater than max_size={max_size}")
    if sizes is not None and not isinstance(sizes, st.SearchStrategy):
        raise InvalidArgument(f"sizes={sizes!r} must be a strategy")
    if not isinstance(static, bool):
        raise InvalidArgument(f"static={static!r} must be a bool")
    size_strategy: st.SearchStrategy[int | None] = (
        sizes
        if sizes is not None
        else st.one_of(
            st.integers(1, 16),
            st.sampled_from([None, 0, 1, 64, _HUGE]),
            st.integers(0, 10_000),
        )
    )

    @st.composite
    def problems(draw: st.DrawFn) -> dict[str, LiveRange]:
        n = draw(st.integers(min_size, max_size))
        result: dict[str, LiveRange] = {}
        spans: list[LiveRange] = []
        for i in range(n):
            kind = draw(st.sampled_from(["fresh", "fresh", "identical", "nested", "touch", "huge"]))
            if not spans:
                kind = "fresh" if kind != "huge" else kind
            if kind == "identical":
                base = draw(st.sampled_from(spans))
                defined, used = base.defined, base.used
            elif kind == "nested":
                base = draw(st.sampled_from(spans))
                defined = draw(st.integers(base.defined, base.used))
                used = draw(st.integers(defined, base.used))
            elif kind == "touch":
                base = draw(st.sampled_from(spans))
                defined = min(base.used + draw(st.integers(0, 1)), horizon)
                used = draw(st.integers(defined, horizon))
            elif kind == "huge":
                defined = draw(st.integers(-1, 0))
                used = horizon
            else:
                defined = draw(st.integers(-1, horizon))
                used = draw(st.integers(defined, horizon))
            r = LiveRange(defined, used, draw(size_strategy))
            spans.append(r)
            result[f"b{i}"] = r
        return result

    base_strategy = problems()
    if not static:
        return base_strategy

    @st.composite
    def with_static(draw: st.DrawFn) -> tuple[dict[str, LiveRange], frozenset[str]]:
        ranges = draw(base_strategy)
        names = sorted(ranges)
        chosen = draw(st.sets(st.sampled_from(names))) if names else set()
        stray = draw(st.sets(st.sampled_from(["not_a_blob", "ghost"]), max_size=1))
        return ranges, frozenset(chosen | stray)

    return with_static()


def assert_valid_assignments(
    assignments: Iterable[Sequence[tuple[str, LiveRange]]],
    ranges: Mapping[str, LiveRange],
    static_blobs: Iterable[str] = (),
) -> None:
    """Assert that an allocator's output obeys the sharing rule.

    Checks, independently of any algorithm of this package:

    - every entry is a ``(name, LiveRange)`` whose range equals ``ranges[name]``;
    - every non-static blob of ``ranges`` is in exactly one buffer;
    - a static blob is in no buffer, or alone in one;
    - inside a buffer, ranges are pairwise disjoint, ranges being closed
      (``[d1, u1]`` and ``[d2, u2]`` may share only if ``d2 > u1`` or ``d1 > u2``).

    Parameters
    ----------
    assignments : iterable of sequences of (str, LiveRange)
        The buffers.
    ranges : mapping of str to LiveRange
        The problem.
    static_blobs : iterable of str, optional
        Blobs that must not share.

    Raises
    ------
    AssertionError
        Describing the first violation found.

    Examples
    --------
    >>> rs = {"a": LiveRange(0, 2, 4), "b": LiveRange(2, 3, 4)}
    >>> assert_valid_assignments([[("a", rs["a"])], [("b", rs["b"])]], rs)
    >>> assert_valid_assignments([[("a", rs["a"]), ("b", rs["b"])]], rs)
    Traceback (most recent call last):
    ...
    AssertionError: buffer 0: 'a' [0, 2] and 'b' [2, 3] overlap
    """
    static = set(static_blobs)
    buffers = [list(a) for a in assignments]
    where: dict[str, int] = {}
    for index, buffer in enumerate(buffers):
        for entry in buffer:
            message = f"buffer {index}: {entry!r} is not a (name, LiveRange) pair"
            assert isinstance(entry, tuple), message
            assert len(entry) == 2, message
            name, r = entry
            assert name in ranges, f"buffer {index}: {name!r} is not a blob of the problem"
            expected = ranges[name]
            assert tuple(r) == tuple(expected), (
                f"buffer {index}: {name!r} has range {tuple(r)}, the problem says {tuple(expected)}"
            )
            assert name not in where, f"{name!r} is in buffers {where[name]} and {index}"
            where[name] = index
            if name in static:
                assert len(buffer) == 1, f"static blob {name!r} shares buffer {index}"
    for name in ranges:
        if name not in static:
            assert name in where, f"{name!r} is in no buffer"
    for index, buffer in enumerate(buffers):
        for i in range(len(buffer)):
            a, ra = buffer[i]
            for j in range(i + 1, len(buffer)):
                b, rb = buffer[j]
                assert rb.defined > ra.used or ra.defined > rb.used, (
                    f"buffer {index}: {a!r} [{ra.defined}, {ra.used}] and "
                    f"{b!r} [{rb.defined}, {rb.used}] overlap"
                )


class OffsetProblem(NamedTuple):
    """An arena-planning problem drawn by :func:`offset_problems`.

    ``capacity`` is None unless asked for; then some valid plan fits in it.
    """

    ranges: dict[str, LiveRange]
    alignment: int
    capacity: int | None


def _padded(size: int | None, alignment: int) -> int:
    raw = 1 if size is None else size
    return -(-raw // alignment) * alignment


def _first_fit_arena(ranges: Mapping[str, LiveRange], alignment: int) -> int:
    """Arena of a plain first-fit packing in name order (an independent witness)."""
    placed: list[tuple[int, int, int, int]] = []
    arena = 0
    for name in sorted(ranges):
        r = ranges[name]
        size = _padded(r.size, alignment)
        if size == 0:
            continue
        busy = sorted((lo, hi) for d, u, lo, hi in placed if d <= r.used and r.defined <= u)
        offset = 0
        for lo, hi in busy:
            if offset + size <= lo:
                break
            offset = max(offset, hi)
        placed.append((r.defined, r.used, offset, offset + size))
        arena = max(arena, offset + size)
    return arena


def offset_problems(
    *,
    min_size: int = 0,
    max_size: int = 10,
    horizon: int = 16,
    sizes: st.SearchStrategy[int | None] | None = None,
    alignments: st.SearchStrategy[int] | None = None,
    capacity: bool = False,
) -> st.SearchStrategy[OffsetProblem]:
    """Arena-planning problems: ranges, an alignment and maybe a feasible capacity.

    Parameters
    ----------
    min_size, max_size : int
        Bounds on the number of blobs.
    horizon : int
        Positions run from ``-1`` to ``horizon``.
    sizes : strategy of int or None, optional
        Blob sizes.  Default: mostly small, sometimes ``None``, ``0`` or large.
    alignments : strategy of int, optional
        Default: mostly 1, sometimes 4, 16 or 64.
    capacity : bool
        When true, ``capacity`` is a number of bytes some valid plan fits in
        (the arena of a first-fit packing, sometimes with room to spare).

    Returns
    -------
    SearchStrategy of OffsetProblem

    Raises
    ------
    hypothesis.errors.InvalidArgument
        At call time, for a bad option.

    Examples
    --------
    >>> offset_problems(capacity="yes")
    Traceback (most recent call last):
    ...
    hypothesis.errors.InvalidArgument: capacity='yes' must be a bool
    """
    _check_count("min_size", min_size)
    _check_count("max_size", max_size)
    _check_count("horizon", horizon)
    if min_size > max_size:
        raise InvalidArgument(f"min_size={min_size} is greater than max_size={max_size}")
    if sizes is not None and not isinstance(sizes, st.SearchStrategy):
        raise InvalidArgument(f"sizes={sizes!r} must be a strategy")
    if alignments is not None and not isinstance(alignments, st.SearchStrategy):
        raise InvalidArgument(f"alignments={alignments!r} must be a strategy")
    if not isinstance(capacity, bool):
        raise InvalidArgument(f"capacity={capacity!r} must be a bool")
    size_strategy: st.SearchStrategy[int | None] = (
        sizes
        if sizes is not None
        else st.one_of(
            st.integers(1, 64),
            st.sampled_from([None, 0, 1, 1000, 4096]),
        )
    )
    align_strategy = alignments if alignments is not None else st.sampled_from([1, 1, 1, 4, 16, 64])
    base = live_ranges(min_size=min_size, max_size=max_size, horizon=horizon, sizes=size_strategy)

    @st.composite
    def problems(draw: st.DrawFn) -> OffsetProblem:
        ranges = draw(base)
        alignment = draw(align_strategy)
        if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
            raise InvalidArgument(f"alignments drew {alignment!r}, not a positive int")
        cap = None
        if capacity:
            cap = _first_fit_arena(ranges, alignment) + alignment * draw(
                st.sampled_from([0, 0, 0, 1, 5])
            )
        return OffsetProblem(ranges, alignment, cap)

    return problems()


def assert_valid_offsets(
    ranges: Mapping[str, LiveRange],
    offsets: Mapping[str, int],
    *,
    capacity: int | None = None,
    alignment: int = 1,
    static_blobs: Iterable[str] = (),
) -> None:
    """Raise AssertionError unless ``offsets`` is a valid arena plan for ``ranges``.

    Checks, pair by pair and independently of :mod:`memonger.alloc.offsets`:
    every non-static blob and no other has an ``int`` offset ``>= 0``, a
    multiple of ``alignment``; ``offset + size <= capacity`` when given;
    blobs whose closed ranges intersect have disjoint byte ranges
    ``[offset, offset + size)`` (size ``None`` counts as 1, 0 occupies
    nothing).

    Raises
    ------
    AssertionError
        Describing the first violation found.

    Examples
    --------
    >>> rs = {"a": LiveRange(0, 2, 4), "b": LiveRange(2, 3, 4)}
    >>> assert_valid_offsets(rs, {"a": 0, "b": 4})
    >>> assert_valid_offsets(rs, {"a": 0, "b": 2})
    Traceback (most recent call last):
    ...
    AssertionError: 'a' [0, 2] at [0, 4) and 'b' [2, 3] at [2, 6) overlap
    """
    __tracebackhide__ = True
    static = set(static_blobs)
    expected = {name for name in ranges if name not in static}
    for name in offsets:
        if name not in expected:
            raise AssertionError(f"{name!r} has an offset but is static or not a blob")
    boxes = []
    for name in sorted(expected):
        if name not in offsets:
            raise AssertionError(f"{name!r} has no offset")
        off = offsets[name]
        if isinstance(off, bool) or not isinstance(off, int) or off < 0:
            raise AssertionError(f"{name!r} has offset {off!r}, not an int >= 0")
        if off % alignment:
            raise AssertionError(f"{name!r} offset {off} is not a multiple of {alignment}")
        r = ranges[name]
        size = 1 if r.size is None else r.size
        if capacity is not None and off + size > capacity:
            raise AssertionError(f"{name!r} ends at {off + size}, past the capacity {capacity}")
        boxes.append((name, r, off, off + size))
    for i, (a, ra, a_lo, a_hi) in enumerate(boxes):
        for b, rb, b_lo, b_hi in boxes[i + 1 :]:
            in_time = ra.defined <= rb.used and rb.defined <= ra.used
            in_bytes = a_lo < b_hi and b_lo < a_hi and a_lo < a_hi and b_lo < b_hi
            if in_time and in_bytes:
                raise AssertionError(
                    f"{a!r} [{ra.defined}, {ra.used}] at [{a_lo}, {a_hi}) and "
                    f"{b!r} [{rb.defined}, {rb.used}] at [{b_lo}, {b_hi}) overlap"
                )
