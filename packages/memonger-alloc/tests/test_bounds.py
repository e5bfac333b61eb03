"""Lower bounds: examples and validity against exact optima."""

from __future__ import annotations

from alloc_oracles import brute_force_optimum, size_of
from hypothesis import given

from memonger.alloc import (
    LiveRange,
    allocate,
    peak_live_bytes,
    positional_maxima,
    positional_maxima_bound,
)
from memonger.alloc.testing import live_ranges


def test_examples() -> None:
    rs = {
        "a": LiveRange(0, 1, 10),
        "b": LiveRange(1, 2, 2),
        "c": LiveRange(2, 3, 8),
        "d": LiveRange(2, 3, 8),
    }
    assert peak_live_bytes(rs) == 18
    assert positional_maxima(rs) == [10, 8, 2]
    assert positional_maxima_bound(rs) == 20
    assert peak_live_bytes({}) == positional_maxima_bound({}) == 0


def test_statics_are_left_out() -> None:
    rs = {"a": LiveRange(0, 5, 100), "b": LiveRange(1, 2, 3)}
    assert peak_live_bytes(rs, ["a", "nope"]) == 3
    assert positional_maxima_bound(rs, ["a"]) == 3


def test_touching_ranges_count_as_live_together() -> None:
    rs = {"a": LiveRange(0, 2, 5), "b": LiveRange(2, 4, 7)}
    assert peak_live_bytes(rs) == 12
    rs2 = {"a": LiveRange(0, 2, 5), "b": LiveRange(3, 4, 7)}
    assert peak_live_bytes(rs2) == 7


def _peak_by_scan(ranges: dict[str, LiveRange]) -> int:
    if not ranges:
        return 0
    lo = min(r.defined for r in ranges.values())
    hi = max(r.used for r in ranges.values())
    return max(
        sum(size_of(r) for r in ranges.values() if r.defined <= t <= r.used)
        for t in range(lo, hi + 1)
    )


@given(live_ranges(max_size=9, horizon=10))
def test_bounds_below_optimum(ranges: dict[str, LiveRange]) -> None:
    optimum = brute_force_optimum(ranges)
    peak = peak_live_bytes(ranges)
    pm = positional_maxima_bound(ranges)
    assert peak == _peak_by_scan(ranges)
    assert peak <= pm <= optimum


@given(live_ranges(max_size=40, horizon=30))
def test_bounds_below_every_algorithm(ranges: dict[str, LiveRange]) -> None:
    pm = positional_maxima_bound(ranges)
    for algo in ("greedy", "dp", "greedy_by_size", "positional_maxima"):
        res = allocate(ranges, algorithm=algo, time_limit=0.1)
        assert res.lower_bound == pm <= res.nbytes
