"""The exact solver: documented cases, brute-force optimum, budgets."""

from __future__ import annotations

from alloc_oracles import brute_force_optimum, plan_bytes
from hypothesis import given

from memonger.alloc import LiveRange, allocate, compute_assignments_dp, get_memory_usage
from memonger.alloc.ranges import sort_by_used
from memonger.alloc.testing import assert_valid_assignments, live_ranges

SIX = {
    "b1": LiveRange(2, 3, 10),
    "b3": LiveRange(5, 6, 1),
    "b2": LiveRange(5, 7, 3),
    "b4": LiveRange(6, 8, 20),
    "b5": LiveRange(5, 9, 3),
    "b0": LiveRange(7, 12, 3),
}


def test_six_blob_case_is_29() -> None:
    res = allocate(SIX, algorithm="dp")
    assert (res.nbytes, res.proven_optimal) == (29, True)
    assert allocate(SIX, algorithm="greedy").nbytes == 36
    assert_valid_assignments(res.assignments, SIX)


def test_documented_case_optimal_eleven() -> None:
    ranges = {"b1": LiveRange(1, 2, 10), "b2": LiveRange(4, 6, 1), "b3": LiveRange(5, 6, 10)}
    assert get_memory_usage(compute_assignments_dp(sort_by_used(ranges.items()))) == 11


def test_dp_with_init_assignment() -> None:
    init = [[("a", LiveRange(0, 1, 10))]]
    rs = [("b", LiveRange(2, 3, 10)), ("c", LiveRange(2, 3, 1))]
    got = compute_assignments_dp(rs, init)
    assert get_memory_usage(got) == 11
    assert init == [[("a", LiveRange(0, 1, 10))]]


def _hard_instance() -> dict[str, LiveRange]:
    sizes = [97, 13, 58, 71, 5, 33, 89, 41, 66, 20, 8, 77, 50, 29, 93, 61, 17, 45, 84, 36]
    return {f"b{i}": LiveRange(i % 7, i % 7 + 2 + i % 5, s) for i, s in enumerate(sizes)}


def test_node_budget_returns_best_so_far_unproven() -> None:
    rs = _hard_instance()
    greedy = allocate(rs, algorithm="greedy").nbytes
    res = allocate(rs, node_limit=1)
    assert res.nbytes <= greedy
    assert_valid_assignments(res.assignments, rs)
    if res.nbytes > res.lower_bound:
        assert not res.proven_optimal
        assert res.stats["budget_exhausted"] == 1


@given(live_ranges(max_size=9, horizon=10))
def test_dp_equals_brute_force(ranges: dict[str, LiveRange]) -> None:
    res = allocate(ranges, time_limit=None)
    assert res.proven_optimal
    assert res.nbytes == brute_force_optimum(ranges)
    assert res.nbytes == plan_bytes(res.assignments)


@given(live_ranges(max_size=30, horizon=20))
def test_dp_never_worse_than_any_heuristic(ranges: dict[str, LiveRange]) -> None:
    dp = allocate(ranges, time_limit=0.2).nbytes
    for algo in ("greedy", "greedy_by_size", "positional_maxima"):
        assert dp <= allocate(ranges, algorithm=algo).nbytes
