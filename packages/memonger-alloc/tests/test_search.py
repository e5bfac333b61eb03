"""The exact solver's parts: bounds met, budgets, lazy bound, determinism."""

from __future__ import annotations

import pytest
from alloc_oracles import brute_force_optimum, plan_bytes
from hypothesis import given, settings

import memonger.alloc.bounds
import memonger.alloc.planner
from memonger.alloc import (
    LiveRange,
    allocate,
    compute_assignments,
    positional_maxima_bound,
)
from memonger.alloc.exact import (
    SearchStats,
    _branch_and_bound,
    _Budget,
    _from_choice,
    _prepare,
    _sweep_search,
)
from memonger.alloc.ranges import sort_by_used
from memonger.alloc.testing import assert_valid_assignments, live_ranges

HEURISTICS = ("greedy", "greedy_by_size", "positional_maxima")


def _sorted_items(ranges: dict[str, LiveRange]) -> list[tuple[str, LiveRange]]:
    return sort_by_used(ranges.items())


@given(live_ranges(max_size=9, horizon=10))
def test_bound_le_optimum_le_every_heuristic(ranges: dict[str, LiveRange]) -> None:
    res = allocate(ranges, time_limit=None)
    optimum = brute_force_optimum(ranges)
    assert res.lower_bound <= optimum == res.nbytes
    assert res.stats.get("proven_bound", 0) <= optimum
    for algo in HEURISTICS:
        assert res.nbytes <= allocate(ranges, algorithm=algo).nbytes


@given(live_ranges(max_size=9, horizon=8))
def test_proven_under_a_small_node_budget_is_optimal(ranges: dict[str, LiveRange]) -> None:
    res = allocate(ranges, time_limit=None, node_limit=30)
    assert_valid_assignments(res.assignments, ranges)
    if res.proven_optimal:
        assert res.nbytes == brute_force_optimum(ranges)
    for algo in HEURISTICS:
        assert res.nbytes <= allocate(ranges, algorithm=algo).nbytes


@settings(max_examples=30)
@given(live_ranges(max_size=9, horizon=10))
def test_target_search_finds_the_optimum_or_proves_a_bound(
    ranges: dict[str, LiveRange],
) -> None:
    items = _sorted_items(ranges)
    optimum = brute_force_optimum(ranges)
    prep = _prepare(items)
    worst = sum(1 if r.size is None else r.size for r in ranges.values()) + 1
    # Aiming at the optimum finds a plan of that cost...
    choice, done, _ = _sweep_search(prep, worst, _Budget(None, None), SearchStats(), optimum)
    assert done
    assert choice is not None
    assert plan_bytes(_from_choice(items, (), choice)) == optimum
    # ... and aiming below it completes empty-handed with a valid bound.
    choice, done, cut = _sweep_search(prep, worst, _Budget(None, None), SearchStats(), optimum - 1)
    assert done
    assert choice is None
    assert optimum - 1 < cut <= optimum or not items


@settings(max_examples=30)
@given(live_ranges(max_size=9, horizon=10))
def test_size_ordered_search_stops_at_floor(ranges: dict[str, LiveRange]) -> None:
    items = _sorted_items(ranges)
    optimum = brute_force_optimum(ranges)
    worst = sum(1 if r.size is None else r.size for r in ranges.values()) + 1
    choice, done = _branch_and_bound(
        items, (), worst, _Budget(None, None), SearchStats(), floor=optimum
    )
    assert done
    if items:
        assert choice is not None
        assert plan_bytes(_from_choice(items, (), choice)) == optimum


def test_polishing_places_small_blobs_around_fixed_buffers() -> None:
    fixed = [[("big", LiveRange(0, 9, 100))], [("mid", LiveRange(0, 4, 50))]]
    small = [("s1", LiveRange(5, 9, 10)), ("s2", LiveRange(5, 9, 10))]
    choice, done = _branch_and_bound(small, fixed, 10**9, _Budget(None, None), SearchStats())
    assert done
    assert choice is not None
    plan = _from_choice(small, fixed, choice)
    assert plan_bytes(plan) == 160  # one small blob joins "mid", the other opens a buffer
    assert_valid_assignments(plan, {name: r for a in plan for name, r in a})


def test_node_limit_is_deterministic() -> None:
    sizes = [97, 13, 58, 71, 5, 33, 89, 41, 66, 20, 8, 77, 50, 29, 93, 61, 17, 45, 84, 36]
    rs = {f"b{i}": LiveRange(i % 7, i % 7 + 2 + i % 5, s) for i, s in enumerate(sizes)}
    runs = [allocate(rs, time_limit=None, node_limit=200) for _ in range(3)]
    assert len({(r.nbytes, r.proven_optimal, tuple(sorted(r.stats.items()))) for r in runs}) == 1
    assert [r.assignments for r in runs[1:]] == [runs[0].assignments] * 2


def _no_bound(*args: object, **kwargs: object) -> list[int]:
    raise AssertionError("the lower bound was computed")


def test_heuristics_never_pay_for_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    rs = {"a": LiveRange(0, 2, 10), "b": LiveRange(3, 4, 1), "c": LiveRange(1, 4, 5)}
    monkeypatch.setattr(memonger.alloc.planner, "_maxima", _no_bound)
    monkeypatch.setattr(memonger.alloc.bounds, "_maxima", _no_bound)
    for algo in ("greedy", "greedy_by_size"):  # positional maxima need them
        assert compute_assignments(rs, (), algo)
        res = allocate(rs, algorithm=algo)
        assert res.nbytes == plan_bytes(res.assignments)
        with pytest.raises(AssertionError, match="bound was computed"):
            _ = res.lower_bound
    monkeypatch.undo()
    res = allocate(rs, algorithm="greedy")
    assert res.lower_bound == positional_maxima_bound(rs)
    assert res.proven_optimal == (res.nbytes <= res.lower_bound)


def test_exact_reports_the_bound_it_computed() -> None:
    rs = {"a": LiveRange(0, 2, 10), "b": LiveRange(3, 4, 1), "c": LiveRange(1, 4, 5)}
    res = allocate(rs)
    assert res.lower_bound == positional_maxima_bound(rs)
    assert res.proven_optimal
    assert res.nbytes == 15


def test_budget_covers_the_heuristics() -> None:
    rs = {f"t{i}": LiveRange(i, i + 1 + i % 3, 4 * (1 + i % 5)) for i in range(3000)}
    res = allocate(rs, time_limit=0.0)
    assert_valid_assignments(res.assignments, rs)
    assert res.nbytes <= allocate(rs, algorithm="greedy").nbytes
    assert res.stats["nodes"] == 0 or res.proven_optimal
