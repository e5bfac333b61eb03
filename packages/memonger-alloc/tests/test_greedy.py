"""Caffe2's greedy rule: documented cases and equality with a literal transcription."""

from __future__ import annotations

from alloc_oracles import literal_greedy, names
from hypothesis import given
from hypothesis import strategies as st

from memonger.alloc import (
    LiveRange,
    compute_assignments,
    compute_assignments_greedy,
    get_memory_usage,
    is_compatible,
)
from memonger.alloc.ranges import sort_by_used
from memonger.alloc.testing import live_ranges


def test_documented_case_exact_buffers() -> None:
    ranges = {
        "b1": LiveRange(1, 3, 10),
        "b2": LiveRange(3, 4, 1),
        "b3": LiveRange(5, 6, 1),
        "b4": LiveRange(5, 7, 10),
    }
    assignments = compute_assignments(ranges, [], "greedy")
    assert names(assignments) == [["b1", "b4"], ["b2", "b3"]]
    assert get_memory_usage(assignments) == 11


def test_documented_case_greedy_twenty() -> None:
    ranges = {"b1": LiveRange(1, 2, 10), "b2": LiveRange(4, 6, 1), "b3": LiveRange(5, 6, 10)}
    assignments = compute_assignments(ranges, [], "greedy")
    assert get_memory_usage(assignments) == 20
    assert names(assignments) == [["b1", "b2"], ["b3"]]


def test_closest_size_wins_and_first_on_ties() -> None:
    rs = [
        ("a", LiveRange(0, 0, 10)),
        ("b", LiveRange(0, 1, 4)),
        ("c", LiveRange(0, 2, 6)),
        ("x", LiveRange(5, 6, 5)),  # 4 and 6 are both at distance 1: the first (b) wins
        ("y", LiveRange(5, 7, 9)),  # closest is a (10)
    ]
    got = compute_assignments_greedy(rs)
    assert names(got) == [["a", "y"], ["b", "x"], ["c"]]


def test_is_compatible_checks_last_member_and_statics() -> None:
    buf = [("a", LiveRange(0, 9, 1)), ("b", LiveRange(10, 11, 1))]
    assert is_compatible(LiveRange(12, 13, 1), buf, [])
    assert not is_compatible(LiveRange(11, 13, 1), buf, [])
    assert not is_compatible(LiveRange(12, 13, 1), buf, ["b"])


def test_init_assignments_not_modified_and_skipped() -> None:
    init = [[("a", LiveRange(0, 1, 8))]]
    rs = [("a", LiveRange(0, 1, 8)), ("b", LiveRange(2, 3, 8))]
    got = compute_assignments_greedy(rs, init)
    assert names(got) == [["a", "b"]]
    assert init == [[("a", LiveRange(0, 1, 8))]]


@given(live_ranges(max_size=30, horizon=16))
def test_greedy_equals_literal_transcription(ranges: dict[str, LiveRange]) -> None:
    rs = sort_by_used(ranges.items())
    assert compute_assignments_greedy(rs) == literal_greedy(rs)


@given(live_ranges(max_size=20, horizon=12), st.data())
def test_greedy_with_init_equals_literal(ranges: dict[str, LiveRange], data: st.DataObject) -> None:
    rs = sort_by_used(ranges.items())
    split = data.draw(st.integers(0, len(rs)))
    init = literal_greedy(rs[:split])
    assert compute_assignments_greedy(rs, init) == literal_greedy(rs, init)


@given(live_ranges(max_size=25, horizon=10, sizes=st.sampled_from([1, 2, 3])))
def test_greedy_equals_literal_with_many_ties(ranges: dict[str, LiveRange]) -> None:
    rs = sort_by_used(ranges.items())
    assert compute_assignments_greedy(rs) == literal_greedy(rs)
