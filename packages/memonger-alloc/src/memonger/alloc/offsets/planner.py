"""One entry point for every offset planner: :func:`plan_offsets`.

It validates the ranges, leaves static blobs out, applies the unknown-size
policy and the alignment (:mod:`memonger.alloc.offsets._problem`), runs the
chosen algorithm and reports the arena against the peak-live lower bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from memonger.alloc.errors import InvalidRangeError
from memonger.alloc.offsets._problem import Blob, Problem, arena_of, named_offsets, prepare
from memonger.alloc.offsets._types import (
    OffsetAlgorithm,
    OffsetAlgorithmName,
    OffsetPlan,
    resolve_offset_algorithm,
)
from memonger.alloc.offsets.best_fit import best_fit_offsets
from memonger.alloc.offsets.exact import Budget, minimize_arena, probe_capacity
from memonger.alloc.offsets.greedy_by_breadth import greedy_by_breadth_offsets
from memonger.alloc.offsets.greedy_by_size import greedy_by_size_offsets
from memonger.alloc.ranges import RangesLike

__all__ = ["DEFAULT_NODE_LIMIT", "plan_offsets"]

DEFAULT_NODE_LIMIT = 200_000
"""Search nodes the exact search may expand when no ``node_limit`` is given.

A node costs roughly 0.05 ms on a problem with about a hundred sections
(time windows with a constant live set) and 0.2-0.3 ms with about 1,500
(BERT training), so an exhausted default budget means some 10-60 s of
search; nets that pack at their peak need far fewer nodes (under 10,000 on
every corpus net).  Counting nodes rather than seconds keeps the plan the
same on every machine; pass ``time_limit`` to cap the wall time as well.
"""

_HEURISTICS: dict[OffsetAlgorithm, Callable[[Sequence[Blob]], list[int]]] = {
    OffsetAlgorithm.GREEDY_BY_SIZE: greedy_by_size_offsets,
    OffsetAlgorithm.BEST_FIT: best_fit_offsets,
    OffsetAlgorithm.GREEDY_BY_BREADTH: greedy_by_breadth_offsets,
}


def plan_offsets(
    ranges: RangesLike,
    static_blobs: Iterable[str] = (),
    *,
    algorithm: OffsetAlgorithm | OffsetAlgorithmName | str = "auto",
    alignment: int = 1,
    capacity: int | None = None,
    time_limit: float | None = None,
    node_limit: int | None = None,
) -> OffsetPlan:
    """Place every non-static blob at a byte offset of one arena.

    Blobs whose closed ranges ``[defined, used]`` intersect never overlap in
    ``[offset, offset + size)``.

    Parameters
    ----------
    ranges : mapping of str to LiveRange, or iterable of (str, LiveRange)
        Live ranges, e.g. from :func:`~memonger.alloc.compute_ranges`.
        Unknown sizes count as 1 byte; size-0 blobs get offset 0.
    static_blobs : iterable of str, optional
        Blobs left out of the plan; names not in ``ranges`` are ignored.
    algorithm : OffsetAlgorithm or OffsetAlgorithmName, optional
        ``"auto"`` (default), ``"greedy_by_size"``, ``"greedy_by_breadth"``,
        ``"best_fit"`` or ``"exact"``.  ``exact`` and ``auto`` start from the
        best heuristic plan, so they are never worse than any heuristic;
        ``auto`` does not search when a heuristic already meets the bound.
    alignment : int, optional
        Offsets are multiples of it; sizes are rounded up to it.
    capacity : int, optional
        Decide whether a plan within ``capacity`` bytes exists
        (``OffsetPlan.feasible``).  Below the lower bound this is refuted at
        once; a search that runs out of budget leaves it undecided (None).
        For the heuristics, ``feasible`` only says whether their plan fits.
    time_limit : float, optional
        Wall-clock cap (seconds) on the search, on top of the node budget.
    node_limit : int, optional
        Search nodes (default :data:`DEFAULT_NODE_LIMIT`): the same input
        gets the same plan on every machine.

    Returns
    -------
    OffsetPlan

    Raises
    ------
    InvalidRangeError
        A malformed range, a bad ``alignment`` or a negative ``capacity``.
    UnknownAlgorithmError
        ``algorithm`` is not known.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"a": LiveRange(0, 1, 4), "b": LiveRange(1, 2, 4), "c": LiveRange(2, 3, 4),
    ...       "d": LiveRange(0, 0, 4), "x": LiveRange(0, 3, 100)}
    >>> plan = plan_offsets(rs, static_blobs={"x"})
    >>> plan.offsets, plan.arena_bytes, plan.lower_bound, plan.proven_optimal
    ({'a': 4, 'b': 0, 'c': 4, 'd': 0}, 8, 8, True)
    >>> plan_offsets(rs, {"x"}, capacity=7).feasible
    False
    >>> plan_offsets(rs, {"x"}, algorithm="greedy_by_size", alignment=16).offsets
    {'a': 16, 'b': 0, 'c': 16, 'd': 0}
    """
    start = time.perf_counter()
    algo = resolve_offset_algorithm(algorithm)
    problem = prepare(ranges, static_blobs, alignment)
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0
    ):
        raise InvalidRangeError(f"capacity must be an integer >= 0, not {capacity!r}")
    if node_limit is not None and (isinstance(node_limit, bool) or node_limit < 0):
        raise InvalidRangeError(f"node_limit must be an integer >= 0, not {node_limit!r}")
    budget = Budget(
        node_limit=DEFAULT_NODE_LIMIT if node_limit is None else node_limit,
        deadline=None if time_limit is None else start + time_limit,
    )
    blobs = problem.blobs
    lower = problem.lower_bound
    if algo in _HEURISTICS:
        offsets = _HEURISTICS[algo](blobs)
        arena = arena_of(blobs, offsets)
        fits = None if capacity is None else arena <= capacity
        if capacity is not None and capacity < lower:
            fits = False
        return _result(problem, offsets, algo, arena, lower, capacity, fits, budget, start)
    # auto / exact: every heuristic first
    best_algo, best, arena = OffsetAlgorithm.GREEDY_BY_SIZE, [0] * len(blobs), -1
    for name, fn in _HEURISTICS.items():
        offsets = fn(blobs)
        a = arena_of(blobs, offsets)
        if arena < 0 or a < arena:
            best_algo, best, arena = name, offsets, a
        if algo is OffsetAlgorithm.AUTO and arena <= lower:
            break
    proven_bound = lower
    feasible: bool | None = True
    if capacity is not None:
        if capacity < lower:
            feasible = False
        elif arena > capacity:
            result = probe_capacity(blobs, capacity, budget)
            feasible = result.feasible
            if result.offsets is not None:
                best_algo, best = OffsetAlgorithm.EXACT, result.offsets
                arena = arena_of(blobs, best)
            elif result.feasible is False:
                proven_bound = capacity + problem.alignment
    elif arena > lower:
        found, a, proven_bound = minimize_arena(
            blobs, best, arena, lower, problem.alignment, budget
        )
        if a < arena:
            best_algo, best, arena = OffsetAlgorithm.EXACT, found, a
    if algo is OffsetAlgorithm.EXACT:
        best_algo = OffsetAlgorithm.EXACT
    plan = _result(problem, best, best_algo, arena, proven_bound, capacity, feasible, budget, start)
    return plan


def _result(
    problem: Problem,
    offsets: list[int],
    algo: OffsetAlgorithm,
    arena: int,
    proven_bound: int,
    capacity: int | None,
    feasible: bool | None,
    budget: Budget,
    start: float,
) -> OffsetPlan:
    stats = {
        "nodes": budget.nodes,
        "budget_exhausted": int(budget.exhausted),
        "proven_bound": max(proven_bound, problem.lower_bound),
        "blobs": len(problem.blobs),
        **budget.stats,
    }
    stats.setdefault("components", 0)
    return OffsetPlan(
        offsets=named_offsets(problem, offsets),
        arena_bytes=arena,
        lower_bound=problem.lower_bound,
        proven_optimal=arena <= max(proven_bound, problem.lower_bound),
        feasible=True if capacity is None else feasible,
        algorithm=algo,
        stats=stats,
        seconds=time.perf_counter() - start,
        capacity=capacity,
        alignment=problem.alignment,
    )
