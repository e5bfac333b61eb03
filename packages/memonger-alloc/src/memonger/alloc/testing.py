"""Hypothesis strategies and oracles for testing memory allocators.

Needs the ``testing`` extra (``pip install "memonger-alloc[testing]"``).  The
strategies follow Hypothesis's API style: plural nouns, keyword-only
arguments, ``min_size``/``max_size`` counting blobs (``max_size=None``: no
upper bound), ``sizes=`` taking a strategy of blob sizes in bytes, and
arguments checked when the strategy is created
(:class:`hypothesis.errors.InvalidArgument`), before anything is drawn.  A
strategy's repr is the call that made it.

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

The oracles raise :class:`OracleError`, an ``AssertionError`` raised
explicitly (``python -O`` keeps it), and hide their own frames from pytest
tracebacks.  ``st.from_type(LiveRange)`` draws single ranges once Hypothesis
is imported (through Hypothesis's entry point), and ``st.from_type`` of
:class:`OffsetProblem` draws :func:`offset_problems`.

Examples
--------
>>> from hypothesis import given
>>> from memonger.alloc import allocate
>>> @given(live_ranges(max_size=8))
... def test_allocate(ranges):
...     assert_valid_assignments(allocate(ranges).assignments, ranges)
>>> test_allocate()
>>> live_ranges(max_size=8)
live_ranges(max_size=8)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Concatenate, Literal, NamedTuple, ParamSpec, TypeVar, cast, overload

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as _exc:  # pragma: no cover - tested in a subprocess
    raise ModuleNotFoundError(
        "memonger.alloc.testing needs Hypothesis; install the testing extra: "
        'pip install "memonger-alloc[testing]"',
        name=_exc.name,
    ) from _exc

from memonger.alloc.ranges import LiveRange

__all__ = [
    "OffsetProblem",
    "OracleError",
    "assert_valid_assignments",
    "assert_valid_offsets",
    "live_ranges",
    "offset_problems",
]

_HUGE = 2**40

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _drawn_as(
    name: str,
) -> Callable[[Callable[Concatenate[st.DrawFn, _P], _T]], Callable[_P, st.SearchStrategy[_T]]]:
    """``st.composite``, its strategies' repr being a call of ``name``.

    The public function checks its arguments eagerly and hands them to this
    composite, so ``live_ranges(max_size=5)`` reprs as exactly that.
    """

    def decorate(
        draw_value: Callable[Concatenate[st.DrawFn, _P], _T],
    ) -> Callable[_P, st.SearchStrategy[_T]]:
        draw_value.__name__ = draw_value.__qualname__ = name
        return st.composite(draw_value)

    return decorate


def _check_count(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name}={value!r} must be an integer")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be at least {minimum}")
    return value


def _check_bounds(min_size: object, max_size: object) -> None:
    lo = _check_count("min_size", min_size)
    if max_size is not None:
        hi = _check_count("max_size", max_size)
        if lo > hi:
            raise InvalidArgument(f"min_size={lo} is greater than max_size={hi}")


def _check_strategy(name: str, value: object) -> None:
    if value is not None and not isinstance(value, st.SearchStrategy):
        raise InvalidArgument(f"{name}={value!r} must be a strategy or None")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be a bool")


def _draw_count(draw: st.DrawFn, min_size: int, max_size: int | None) -> int:
    """A count in ``[min_size, max_size]``; with no upper bound, sized as Hypothesis sizes lists."""
    if max_size is None:
        return len(draw(st.lists(st.none(), min_size=min_size)))
    return draw(st.integers(min_size, max_size))


_SIZES: st.SearchStrategy[int | None] = st.one_of(
    st.integers(1, 16),
    st.sampled_from([None, 0, 1, 64, _HUGE]),
    st.integers(0, 10_000),
)
_OFFSET_SIZES: st.SearchStrategy[int | None] = st.one_of(
    st.integers(1, 64),
    st.sampled_from([None, 0, 1, 1000, 4096]),
)
_ALIGNMENTS: st.SearchStrategy[int] = st.sampled_from([1, 1, 1, 4, 16, 64])


def _draw_size(draw: st.DrawFn, sizes: st.SearchStrategy[int | None]) -> int | None:
    size = draw(sizes)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InvalidArgument(f"sizes drew {size!r}, not an int >= 0 or None")
    return size


def _draw_ranges(
    draw: st.DrawFn,
    min_size: int,
    max_size: int | None,
    horizon: int,
    sizes: st.SearchStrategy[int | None],
) -> dict[str, LiveRange]:
    n = _draw_count(draw, min_size, max_size)
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
        r = LiveRange(defined, used, _draw_size(draw, sizes))
        spans.append(r)
        result[f"b{i}"] = r
    return result


@overload
def live_ranges(
    *,
    min_size: int = ...,
    max_size: int | None = ...,
    horizon: int = ...,
    sizes: st.SearchStrategy[int | None] | None = ...,
    static: Literal[False] = ...,
) -> st.SearchStrategy[dict[str, LiveRange]]: ...


@overload
def live_ranges(
    *,
    min_size: int = ...,
    max_size: int | None = ...,
    horizon: int = ...,
    sizes: st.SearchStrategy[int | None] | None = ...,
    static: Literal[True],
) -> st.SearchStrategy[tuple[dict[str, LiveRange], frozenset[str]]]: ...


def live_ranges(
    *,
    min_size: int = 0,
    max_size: int | None = 12,
    horizon: int = 24,
    sizes: st.SearchStrategy[int | None] | None = None,
    static: bool = False,
) -> (
    st.SearchStrategy[dict[str, LiveRange]]
    | st.SearchStrategy[tuple[dict[str, LiveRange], frozenset[str]]]
):
    """Allocation problems: blob names (``b0``, ``b1``...) mapped to closed live ranges.

    Parameters
    ----------
    min_size, max_size : int
        Bounds on the number of blobs; ``max_size=None`` sets no upper bound.
    horizon : int
        Positions run from ``-1`` (read before any write) to ``horizon``.
    sizes : strategy of int or None, optional
        The strategy each blob's size in bytes is drawn from (it may draw
        ``None``, an unknown size).  Default: mostly small sizes, sometimes
        ``None``, ``0`` or huge (``2**40``).
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
        At call time, for a bad argument; at draw time, when ``sizes`` draws
        something other than an int ``>= 0`` or ``None``.

    Examples
    --------
    >>> from hypothesis import strategies as st
    >>> live_ranges(max_size=None, sizes=st.just(8))
    live_ranges(max_size=None, sizes=just(8))
    >>> live_ranges(max_size=-1)
    Traceback (most recent call last):
    ...
    hypothesis.errors.InvalidArgument: max_size=-1 must be at least 0
    """
    _check_bounds(min_size, max_size)
    _check_count("horizon", horizon)
    _check_strategy("sizes", sizes)
    _check_bool("static", static)
    strategy = _live_ranges(
        min_size=min_size, max_size=max_size, horizon=horizon, sizes=sizes, static=static
    )
    return cast("st.SearchStrategy[dict[str, LiveRange]]", strategy)


@_drawn_as("live_ranges")
def _live_ranges(
    draw: st.DrawFn,
    *,
    min_size: int = 0,
    max_size: int | None = 12,
    horizon: int = 24,
    sizes: st.SearchStrategy[int | None] | None = None,
    static: bool = False,
) -> dict[str, LiveRange] | tuple[dict[str, LiveRange], frozenset[str]]:
    ranges = _draw_ranges(draw, min_size, max_size, horizon, _SIZES if sizes is None else sizes)
    if not static:
        return ranges
    names = sorted(ranges)
    chosen = draw(st.sets(st.sampled_from(names))) if names else set()
    stray = draw(st.sets(st.sampled_from(["not_a_blob", "ghost"]), max_size=1))
    return ranges, frozenset(chosen | stray)


@st.composite
def _single_live_ranges(draw: st.DrawFn) -> LiveRange:
    """One range within ``[-1, 24]``, sized as in :func:`live_ranges` (``from_type(LiveRange)``)."""
    defined = draw(st.integers(-1, 24))
    return LiveRange(defined, draw(st.integers(defined, 24)), draw(_SIZES))


class OracleError(AssertionError):
    """An oracle found an output that breaks its rule; the message names the first violation.

    An ``AssertionError`` (pytest and Hypothesis report it as a failed test),
    raised explicitly, so ``python -O`` does not remove the checks.
    """


def assert_valid_assignments(
    assignments: Iterable[Sequence[tuple[str, LiveRange]]],
    ranges: Mapping[str, LiveRange],
    static_blobs: Iterable[str] = (),
) -> None:
    """Raise :class:`OracleError` unless ``assignments`` obeys the sharing rule for ``ranges``.

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
    OracleError
        Describing the first violation found (an ``AssertionError``).

    Examples
    --------
    >>> rs = {"a": LiveRange(0, 2, 4), "b": LiveRange(2, 3, 4)}
    >>> assert_valid_assignments([[("a", rs["a"])], [("b", rs["b"])]], rs)
    >>> assert_valid_assignments([[("a", rs["a"]), ("b", rs["b"])]], rs)
    Traceback (most recent call last):
    ...
    memonger.alloc.testing.OracleError: buffer 0: 'a' [0, 2] and 'b' [2, 3] overlap
    """
    __tracebackhide__ = True
    static = set(static_blobs)
    buffers = [list(a) for a in assignments]
    where: dict[str, int] = {}
    for index, buffer in enumerate(buffers):
        for entry in buffer:
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise OracleError(f"buffer {index}: {entry!r} is not a (name, LiveRange) pair")
            name, r = entry
            if name not in ranges:
                raise OracleError(f"buffer {index}: {name!r} is not a blob of the problem")
            expected = ranges[name]
            if tuple(r) != tuple(expected):
                raise OracleError(
                    f"buffer {index}: {name!r} has range {tuple(r)}, "
                    f"the problem says {tuple(expected)}"
                )
            if name in where:
                raise OracleError(f"{name!r} is in buffers {where[name]} and {index}")
            where[name] = index
            if name in static and len(buffer) != 1:
                raise OracleError(f"static blob {name!r} shares buffer {index}")
    for name in ranges:
        if name not in static and name not in where:
            raise OracleError(f"{name!r} is in no buffer")
    for index, buffer in enumerate(buffers):
        for i in range(len(buffer)):
            a, ra = buffer[i]
            for j in range(i + 1, len(buffer)):
                b, rb = buffer[j]
                if not (rb.defined > ra.used or ra.defined > rb.used):
                    raise OracleError(
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
    max_size: int | None = 10,
    horizon: int = 16,
    sizes: st.SearchStrategy[int | None] | None = None,
    alignments: st.SearchStrategy[int] | None = None,
    capacity: bool = False,
) -> st.SearchStrategy[OffsetProblem]:
    """Arena-planning problems: ranges, an alignment and maybe a feasible capacity.

    Parameters
    ----------
    min_size, max_size : int
        Bounds on the number of blobs; ``max_size=None`` sets no upper bound.
    horizon : int
        Positions run from ``-1`` to ``horizon``.
    sizes : strategy of int or None, optional
        The strategy each blob's size in bytes is drawn from.  Default:
        mostly small, sometimes ``None``, ``0`` or large.
    alignments : strategy of int, optional
        The strategy the alignment (an int ``>= 1``) is drawn from.  Default:
        mostly 1, sometimes 4, 16 or 64.
    capacity : bool
        When true, ``capacity`` is a number of bytes some valid plan fits in
        (the arena of a first-fit packing, sometimes with room to spare).

    Returns
    -------
    SearchStrategy of OffsetProblem

    Raises
    ------
    hypothesis.errors.InvalidArgument
        At call time, for a bad argument; at draw time, when ``sizes`` or
        ``alignments`` draws a value out of its domain.

    Examples
    --------
    >>> offset_problems(max_size=6, capacity=True)
    offset_problems(max_size=6, capacity=True)
    >>> offset_problems(capacity="yes")
    Traceback (most recent call last):
    ...
    hypothesis.errors.InvalidArgument: capacity='yes' must be a bool
    """
    _check_bounds(min_size, max_size)
    _check_count("horizon", horizon)
    _check_strategy("sizes", sizes)
    _check_strategy("alignments", alignments)
    _check_bool("capacity", capacity)
    return _offset_problems(
        min_size=min_size,
        max_size=max_size,
        horizon=horizon,
        sizes=sizes,
        alignments=alignments,
        capacity=capacity,
    )


@_drawn_as("offset_problems")
def _offset_problems(
    draw: st.DrawFn,
    *,
    min_size: int = 0,
    max_size: int | None = 10,
    horizon: int = 16,
    sizes: st.SearchStrategy[int | None] | None = None,
    alignments: st.SearchStrategy[int] | None = None,
    capacity: bool = False,
) -> OffsetProblem:
    size_strategy = _OFFSET_SIZES if sizes is None else sizes
    ranges = _draw_ranges(draw, min_size, max_size, horizon, size_strategy)
    alignment = draw(_ALIGNMENTS if alignments is None else alignments)
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1:
        raise InvalidArgument(f"alignments drew {alignment!r}, not a positive int")
    cap = None
    if capacity:
        spare = draw(st.sampled_from([0, 0, 0, 1, 5]))
        cap = _first_fit_arena(ranges, alignment) + alignment * spare
    return OffsetProblem(ranges, alignment, cap)


def assert_valid_offsets(
    ranges: Mapping[str, LiveRange],
    offsets: Mapping[str, int],
    *,
    capacity: int | None = None,
    alignment: int = 1,
    static_blobs: Iterable[str] = (),
) -> None:
    """Raise :class:`OracleError` unless ``offsets`` is a valid arena plan for ``ranges``.

    Checks, pair by pair and independently of :mod:`memonger.alloc.offsets`:
    every non-static blob and no other has an ``int`` offset ``>= 0``, a
    multiple of ``alignment``; ``offset + size <= capacity`` when given;
    blobs whose closed ranges intersect have disjoint byte ranges
    ``[offset, offset + size)`` (size ``None`` counts as 1, 0 occupies
    nothing).

    Raises
    ------
    OracleError
        Describing the first violation found (an ``AssertionError``).

    Examples
    --------
    >>> rs = {"a": LiveRange(0, 2, 4), "b": LiveRange(2, 3, 4)}
    >>> assert_valid_offsets(rs, {"a": 0, "b": 4})
    >>> assert_valid_offsets(rs, {"a": 0, "b": 2})
    Traceback (most recent call last):
    ...
    memonger.alloc.testing.OracleError: 'a' [0, 2] at [0, 4) and 'b' [2, 3] at [2, 6) overlap
    """
    __tracebackhide__ = True
    static = set(static_blobs)
    expected = {name for name in ranges if name not in static}
    for name in offsets:
        if name not in expected:
            raise OracleError(f"{name!r} has an offset but is static or not a blob")
    boxes = []
    for name in sorted(expected):
        if name not in offsets:
            raise OracleError(f"{name!r} has no offset")
        off = offsets[name]
        if isinstance(off, bool) or not isinstance(off, int) or off < 0:
            raise OracleError(f"{name!r} has offset {off!r}, not an int >= 0")
        if off % alignment:
            raise OracleError(f"{name!r} offset {off} is not a multiple of {alignment}")
        r = ranges[name]
        size = 1 if r.size is None else r.size
        if capacity is not None and off + size > capacity:
            raise OracleError(f"{name!r} ends at {off + size}, past the capacity {capacity}")
        boxes.append((name, r, off, off + size))
    for i, (a, ra, a_lo, a_hi) in enumerate(boxes):
        for b, rb, b_lo, b_hi in boxes[i + 1 :]:
            in_time = ra.defined <= rb.used and rb.defined <= ra.used
            in_bytes = a_lo < b_hi and b_lo < a_hi and a_lo < a_hi and b_lo < b_hi
            if in_time and in_bytes:
                raise OracleError(
                    f"{a!r} [{ra.defined}, {ra.used}] at [{a_lo}, {a_hi}) and "
                    f"{b!r} [{rb.defined}, {rb.used}] at [{b_lo}, {b_hi}) overlap"
                )


# What ``st.from_type`` draws.  Hypothesis's entry point (memonger.alloc._hypothesis)
# registers LiveRange without importing this module; this covers a checkout
# used without installing the package.
st.register_type_strategy(LiveRange, _single_live_ranges())
st.register_type_strategy(OffsetProblem, offset_problems())
