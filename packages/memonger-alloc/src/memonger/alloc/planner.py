"""One entry point for every assignment algorithm, and Caffe2's helpers.

:func:`allocate` validates the ranges, leaves static blobs out, visits the
others sorted by ``used`` (as Caffe2 did) and runs the chosen algorithm: a
member of :class:`AssignmentAlgorithm`, its name (``"greedy"``, ``"dp"``...),
or any callable mapping the sorted ``(name, LiveRange)`` pairs to
assignments (as networkx's ``greedy_color`` accepts a strategy callable).
The Caffe2-named functions are thin wrappers over it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from memonger.alloc.bounds import _maxima, peak_live_bytes
from memonger.alloc.bysize import greedy_by_size
from memonger.alloc.errors import InvalidAssignmentError, UnknownAlgorithmError
from memonger.alloc.exact import DEFAULT_NODE_LIMIT, solve_exact
from memonger.alloc.greedy import greedy_items
from memonger.alloc.liveness import plan_bytes
from memonger.alloc.maxima import greedy_by_positional_maxima
from memonger.alloc.ranges import (
    Item,
    RangesLike,
    as_items,
    get_updated_ranges,
    name_set,
    nbytes,
    sort_by_used,
)
from memonger.alloc.verify import verify_assignments

__all__ = [
    "ALGORITHMS",
    "AlgorithmName",
    "AllocationResult",
    "AssignmentAlgorithm",
    "Strategy",
    "allocate",
    "compute_assignments",
    "compute_blob_assignments",
    "get_memory_usage",
]

Strategy = Callable[[Sequence[Item]], Sequence[Sequence[Item]]]
"""A user algorithm: sorted ``(name, LiveRange)`` pairs to assignments."""


class AssignmentAlgorithm(enum.Enum):
    """The built-in assignment algorithms.

    GREEDY
        Caffe2's rule, the same choices, ``O(n log n)``
        (:mod:`memonger.alloc.greedy`).
    DYNAMIC_PROGRAMMING
        Exact minimum bytes by branch and bound, within a budget
        (:mod:`memonger.alloc.exact`); the name is Caffe2's.
    GREEDY_BY_SIZE
        Largest first, best-fitting compatible buffer (:mod:`memonger.alloc.bysize`).
    POSITIONAL_MAXIMA
        Buffers sized by the positional maxima, largest first
        (:mod:`memonger.alloc.maxima`).
    """

    GREEDY = 0
    DYNAMIC_PROGRAMMING = 1
    GREEDY_BY_SIZE = 2
    POSITIONAL_MAXIMA = 3


AlgorithmName = Literal[
    "greedy",
    "dynamic_programming",
    "dp",
    "exact",
    "greedy_by_size",
    "by_size",
    "positional_maxima",
    "maxima",
]
"""The algorithm names, for type checkers: the keys of :data:`ALGORITHMS`.

Signatures take them beside :class:`AssignmentAlgorithm` (and any ``str``, so
that a name read from a command line type-checks; at run time names are
case-insensitive and ``-`` stands for ``_``)."""

ALGORITHMS: Mapping[str, AssignmentAlgorithm] = {
    **{a.name.lower(): a for a in AssignmentAlgorithm},
    "dp": AssignmentAlgorithm.DYNAMIC_PROGRAMMING,
    "exact": AssignmentAlgorithm.DYNAMIC_PROGRAMMING,
    "by_size": AssignmentAlgorithm.GREEDY_BY_SIZE,
    "maxima": AssignmentAlgorithm.POSITIONAL_MAXIMA,
}
"""Accepted algorithm names (case-insensitive, ``-`` or ``_``)."""

_HEURISTICS: dict[AssignmentAlgorithm, Callable[[Sequence[Item]], list[list[Item]]]] = {
    AssignmentAlgorithm.GREEDY: greedy_items,
    AssignmentAlgorithm.GREEDY_BY_SIZE: greedy_by_size,
    AssignmentAlgorithm.POSITIONAL_MAXIMA: greedy_by_positional_maxima,
}

PORTFOLIO_QUADRATIC_MAX = 20_000
"""Above this many shareable blobs the exact solver starts from Caffe2's greedy alone.

Greedy by size and the positional-maxima greedy compare each blob with every
open buffer: quadratic on training nets, whose activations each hold a
buffer for most of the net (one to three minutes at 100,000 blobs, against
0.6 s for Caffe2's greedy).  Asked for by name, they still run on any input.
"""


@dataclass(frozen=True)
class AllocationResult:
    """What :func:`allocate` found.

    Attributes
    ----------
    assignments : list of list of (str, LiveRange)
        Buffers of the shareable blobs (statics are left out), members sorted
        by ``used``, buffers by their first member.
    nbytes : int
        Plan bytes: sum over buffers of the largest member (``None`` counts as 1).
    algorithm : AssignmentAlgorithm or str
        The algorithm run (a callable's ``__name__``).
    stats : mapping of str to int
        Search counters (``nodes``, ``memo_hits``, ``pruned``, ``components``,
        ``components_searched``, ``budget_exhausted``); zeros for heuristics.
        When the exact solver searched the whole problem, ``proven_bound`` is
        the lower bound it proved (at least ``lower_bound``).
    seconds : float
        Wall time spent (not counting a bound computed on demand).
    search_proven : bool
        True when the exact search proved ``nbytes`` minimal.
    shared_object_bound : int
        The shared-object bound: the sum of the positional maxima (the
        ``k``-th largest blob live at any position, summed over ``k``).  No
        shared-object plan of these blobs needs fewer bytes; it is never
        below ``peak_live_bytes`` and above it when sizes differ.  The exact
        solver computes it anyway; for other algorithms it is computed on
        first access, so callers that only want the plan never pay for it.
    peak_live_bytes : int
        The most bytes of the shareable blobs live at one position: the
        bound of an arena plan (byte offsets) in this op order, which a
        shared-object plan may not reach.  Computed on first access.
    lower_bound : int
        Alias of ``shared_object_bound``, kept for existing callers.
    proven_optimal : bool
        True when ``nbytes`` is known to be the minimum (the exact search
        completed, or the plan meets the shared-object bound).

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> res = allocate({"a": LiveRange(0, 1, 8), "b": LiveRange(0, 1, 2),
    ...                 "c": LiveRange(2, 3, 5), "d": LiveRange(2, 3, 5)})
    >>> res.nbytes, res.shared_object_bound, res.peak_live_bytes, res.lower_bound
    (13, 13, 10, 13)
    """

    assignments: list[list[Item]]
    nbytes: int
    algorithm: AssignmentAlgorithm | str
    stats: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    search_proven: bool = False
    _items: Sequence[Item] = field(default=(), repr=False, compare=False)
    _bound: int | None = field(default=None, repr=False, compare=False)

    @cached_property
    def shared_object_bound(self) -> int:
        """The shared-object bound (positional maxima) of the shareable blobs."""
        if self._bound is not None:
            return self._bound
        return sum(_maxima([(r.defined, r.used, nbytes(r.size)) for _, r in self._items]))

    @cached_property
    def peak_live_bytes(self) -> int:
        """Peak live bytes of the shareable blobs (the arena bound of this order)."""
        return peak_live_bytes(self._items)

    @property
    def lower_bound(self) -> int:
        """Alias of :attr:`shared_object_bound` (the name before there were two bounds)."""
        return self.shared_object_bound

    @property
    def proven_optimal(self) -> bool:
        """Whether ``nbytes`` is known to be the minimum."""
        return self.search_proven or self.nbytes <= self.shared_object_bound


def _resolve(
    algorithm: AssignmentAlgorithm | AlgorithmName | str | Strategy,
) -> AssignmentAlgorithm | Strategy:
    if isinstance(algorithm, AssignmentAlgorithm):
        return algorithm
    if isinstance(algorithm, str):
        key = algorithm.strip().lower().replace("-", "_")
        if key in ALGORITHMS:
            return ALGORITHMS[key]
        known = ", ".join(sorted(ALGORITHMS))
        raise UnknownAlgorithmError(f"unknown assignment algorithm {algorithm!r}; known: {known}")
    if callable(algorithm):
        return algorithm
    raise UnknownAlgorithmError(f"unknown assignment algorithm {algorithm!r}")


def _normalized(ranges: RangesLike, static: set[str]) -> list[Item]:
    """Shareable pairs sorted by ``used``, unknown positions filled as Caffe2 does."""
    items = sort_by_used(as_items(ranges))
    if any(d is None or u is None for _, (d, u, _s) in items):
        filled = get_updated_ranges(items)
        items = [
            (name, r._replace(size=old.size))
            for (name, r), (_, old) in zip(filled, items, strict=True)
        ]
    return [item for item in items if item[0] not in static]


def _canonical(plan: Sequence[Sequence[Item]], position: Mapping[str, int]) -> list[list[Item]]:
    buffers = [sorted(a, key=lambda item: position[item[0]]) for a in plan if a]
    buffers.sort(key=lambda a: position[a[0][0]])
    return buffers


def _check_strategy_output(plan: Sequence[Sequence[Item]], items: Sequence[Item]) -> None:
    expected = dict(items)
    got = [item for a in plan for item in a]
    names = [name for name, _ in got]
    missing = sorted(set(expected) - set(names))
    if missing:
        raise InvalidAssignmentError(f"the strategy left blob {missing[0]!r} unassigned")
    for name, r in got:
        if name not in expected or expected[name] != r:
            raise InvalidAssignmentError(f"the strategy returned an unknown or altered {name!r}")
    verify_assignments(plan)


def allocate(
    ranges: RangesLike,
    static_blobs: Iterable[str] = (),
    algorithm: AssignmentAlgorithm | AlgorithmName | str | Strategy = (
        AssignmentAlgorithm.DYNAMIC_PROGRAMMING
    ),
    *,
    time_limit: float | None = None,
    node_limit: int | None = DEFAULT_NODE_LIMIT,
) -> AllocationResult:
    """Decide which blobs share buffers, and report how good the plan is.

    Parameters
    ----------
    ranges : mapping of str to LiveRange, or iterable of (str, LiveRange)
        Live ranges, e.g. from :func:`~memonger.alloc.ranges.compute_ranges`.
    static_blobs : iterable of str, optional
        Blobs that never share (left out of the result); names not in
        ``ranges`` are ignored.
    algorithm : AssignmentAlgorithm, AlgorithmName or callable, optional
        Default: the exact solver.  A name is a key of :data:`ALGORITHMS`
        (``"greedy"``, ``"dp"``...).  A callable receives the shareable pairs
        sorted by ``used`` and returns assignments; its output is verified.
    time_limit : float or None, optional
        Seconds the exact solver may take, counted from the call: an extra
        cap on top of ``node_limit`` (default: none).  The heuristics it
        starts from always run (the plan is never worse than any of them;
        above :data:`PORTFOLIO_QUADRATIC_MAX` blobs only Caffe2's greedy,
        the others being quadratic), the search gets the rest.
    node_limit : int or None, optional
        Search nodes the exact solver may expand (default
        :data:`~memonger.alloc.DEFAULT_NODE_LIMIT`, so results do not depend
        on the machine); None for no limit.

    Returns
    -------
    AllocationResult

    Raises
    ------
    InvalidRangeError
        ``defined > used``, a negative size, or a name given twice.
    UnknownAlgorithmError
        ``algorithm`` is not known.
    InvalidAssignmentError
        A callable algorithm returned an invalid plan.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"b1": LiveRange(2, 3, 10), "b3": LiveRange(5, 6, 1), "b2": LiveRange(5, 7, 3),
    ...       "b4": LiveRange(6, 8, 20), "b5": LiveRange(5, 9, 3), "b0": LiveRange(7, 12, 3)}
    >>> res = allocate(rs)
    >>> res.nbytes, res.shared_object_bound, res.peak_live_bytes, res.proven_optimal
    (29, 29, 29, True)
    >>> allocate(rs, algorithm="greedy").nbytes
    36
    """
    start = time.perf_counter()
    plan, items, proven, stats, name, bound = _plan(
        ranges, static_blobs, algorithm, time_limit, node_limit
    )
    return AllocationResult(
        assignments=plan,
        nbytes=plan_bytes(plan),
        algorithm=name,
        stats=stats,
        seconds=time.perf_counter() - start,
        search_proven=proven,
        _items=items,
        _bound=bound,
    )


def _plan(
    ranges: RangesLike,
    static_blobs: Iterable[str],
    algorithm: AssignmentAlgorithm | AlgorithmName | str | Strategy,
    time_limit: float | None,
    node_limit: int | None,
) -> tuple[
    list[list[Item]], list[Item], bool, dict[str, int], AssignmentAlgorithm | str, int | None
]:
    """The shared path: (plan, shareable items, proven, stats, algorithm name, bound if known)."""
    algo = _resolve(algorithm)
    static = name_set(static_blobs)
    items = _normalized(ranges, static)
    stats: dict[str, int] = {
        "nodes": 0,
        "memo_hits": 0,
        "pruned": 0,
        "components": 0,
        "components_searched": 0,
        "budget_exhausted": 0,
    }
    proven: bool | None = None
    bound: int | None = None
    if algo is AssignmentAlgorithm.DYNAMIC_PROGRAMMING:
        plan, proven, search = solve_exact(
            items,
            [
                heuristic
                for algo_, heuristic in _HEURISTICS.items()
                if algo_ is AssignmentAlgorithm.GREEDY or len(items) <= PORTFOLIO_QUADRATIC_MAX
            ],
            time_limit=time_limit,
            node_limit=node_limit,
        )
        stats.update(
            nodes=search.nodes,
            memo_hits=search.memo_hits,
            pruned=search.pruned,
            components=search.components,
            components_searched=search.components_searched,
            budget_exhausted=int(search.budget_exhausted),
        )
        stats.update(search.extra)
        bound = search.lower_bound
        name: AssignmentAlgorithm | str = algo
    elif isinstance(algo, AssignmentAlgorithm):
        plan = _HEURISTICS[algo](items)
        name = algo
    else:
        plan = [list(a) for a in algo(list(items))]
        _check_strategy_output(plan, items)
        name = getattr(algo, "__name__", repr(algo))
    if algo is not AssignmentAlgorithm.GREEDY:
        plan = _canonical(plan, {name: i for i, (name, _) in enumerate(items)})
    return plan, items, bool(proven), stats, name, bound


def compute_assignments(
    ranges: RangesLike,
    static_blobs: Iterable[str] = (),
    algo: AssignmentAlgorithm | AlgorithmName | str | Strategy = AssignmentAlgorithm.GREEDY,
) -> list[list[Item]]:
    """Caffe2's entry point: the assignments of :func:`allocate`.

    Static blobs are left out of the result.  The heuristics never compute
    a lower bound here; the exact solver gets its default budget.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"b1": LiveRange(1, 2, 10), "b2": LiveRange(4, 6, 1), "b3": LiveRange(5, 6, 10)}
    >>> [[n for n, _ in a] for a in compute_assignments(rs, [], "greedy")]
    [['b1', 'b2'], ['b3']]
    >>> [[n for n, _ in a] for a in compute_assignments(rs, [], "dp")]
    [['b1', 'b3'], ['b2']]
    """
    return _plan(ranges, static_blobs, algo, 2.0, None)[0]


def compute_blob_assignments(assignments: Iterable[Sequence[Item]]) -> dict[str, str]:
    """Map every blob of a shared buffer to the buffer's canonical name.

    As in Caffe2, the canonical name is the buffer's **last** member's name
    (the latest-used blob, members being sorted by ``used``) and buffers with
    one blob are left out.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> compute_blob_assignments([[("a", LiveRange(0, 1, 4)), ("b", LiveRange(2, 3, 4))],
    ...                           [("c", LiveRange(0, 3, 4))]])
    {'a': 'b', 'b': 'b'}
    """
    mapping: dict[str, str] = {}
    for assignment in assignments:
        if len(assignment) <= 1:
            continue
        last = assignment[-1][0]
        for name, _ in assignment:
            mapping[name] = last
    return mapping


def get_memory_usage(assignments: Iterable[Sequence[Item]]) -> int:
    """Plan bytes: sum over buffers of the largest member (``None`` counts as 1).

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> get_memory_usage([[("a", LiveRange(0, 1, 4)), ("b", LiveRange(2, 3, 8))],
    ...                   [("c", LiveRange(0, 3, None))]])
    9
    """
    return plan_bytes(assignments)
