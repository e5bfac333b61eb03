"""The dispatcher, the result object and Caffe2's helpers."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest
from alloc_oracles import names
from hypothesis import given

from memonger.alloc import (
    AllocationResult,
    AssignmentAlgorithm,
    InvalidAssignmentError,
    InvalidRangeError,
    LiveRange,
    UnknownAlgorithmError,
    allocate,
    compute_assignments,
    compute_blob_assignments,
    get_memory_usage,
    verify_assignments,
)
from memonger.alloc.testing import assert_valid_assignments, live_ranges

RS = {
    "b1": LiveRange(1, 3, 10),
    "b2": LiveRange(3, 4, 1),
    "b3": LiveRange(5, 6, 1),
    "b4": LiveRange(5, 7, 10),
}


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (AssignmentAlgorithm.GREEDY, AssignmentAlgorithm.GREEDY),
        ("greedy", AssignmentAlgorithm.GREEDY),
        ("GREEDY", AssignmentAlgorithm.GREEDY),
        ("dp", AssignmentAlgorithm.DYNAMIC_PROGRAMMING),
        ("Dynamic-Programming", AssignmentAlgorithm.DYNAMIC_PROGRAMMING),
        ("greedy_by_size", AssignmentAlgorithm.GREEDY_BY_SIZE),
        ("positional_maxima", AssignmentAlgorithm.POSITIONAL_MAXIMA),
    ],
)
def test_algorithm_names(algorithm: object, expected: AssignmentAlgorithm) -> None:
    res = allocate(RS, algorithm=algorithm)  # type: ignore[arg-type]
    assert res.algorithm is expected
    assert res.nbytes == 11


@pytest.mark.parametrize("algorithm", ["fastest", "", 3, None])
def test_unknown_algorithm(algorithm: object) -> None:
    with pytest.raises(UnknownAlgorithmError):
        allocate(RS, algorithm=algorithm)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown assignment algorithm"):
        compute_assignments(RS, [], algorithm)  # type: ignore[arg-type]


def test_callable_strategy() -> None:
    seen: list[list[str]] = []

    def one_each(
        ranges_sorted: Sequence[tuple[str, LiveRange]],
    ) -> list[list[tuple[str, LiveRange]]]:
        seen.append([name for name, _ in ranges_sorted])
        return [[item] for item in ranges_sorted]

    res = allocate(RS, ["b4"], one_each)
    assert seen == [["b1", "b2", "b3"]]  # sorted by used, statics left out
    assert res.algorithm == "one_each"
    assert res.nbytes == 12


def test_callable_strategy_output_is_checked() -> None:
    def overlapping(rs: Sequence[tuple[str, LiveRange]]) -> list[list[tuple[str, LiveRange]]]:
        return [list(rs)]

    def forgetful(rs: Sequence[tuple[str, LiveRange]]) -> list[list[tuple[str, LiveRange]]]:
        return [[item] for item in rs[1:]]

    with pytest.raises(InvalidAssignmentError, match=r"'b1'.*'b2'"):
        allocate(RS, (), overlapping)
    with pytest.raises(InvalidAssignmentError, match="'b1'"):
        allocate(RS, (), forgetful)


def test_result_fields() -> None:
    res = allocate(RS)
    assert isinstance(res, AllocationResult)
    assert res.nbytes == get_memory_usage(res.assignments) == 11
    assert res.lower_bound == 11
    assert res.proven_optimal
    assert res.seconds >= 0
    assert set(res.stats) >= {"nodes", "components", "budget_exhausted"}
    with pytest.raises(AttributeError):
        res.nbytes = 3  # type: ignore[misc]


def test_statics_left_out_and_unknown_statics_ignored() -> None:
    got = compute_assignments(RS, ["b4", "not-a-blob"], "dp")
    assert sorted(n for a in names(got) for n in a) == ["b1", "b2", "b3"]
    with pytest.raises(TypeError, match="string"):
        allocate(RS, "b4")


def test_bad_ranges_rejected() -> None:
    with pytest.raises(InvalidRangeError, match="'x'"):
        allocate({"x": LiveRange(3, 2, 1)})
    with pytest.raises(InvalidRangeError, match="'x'"):
        allocate({"x": LiveRange(0, 2, -1)})
    with pytest.raises(InvalidRangeError, match="'x'"):
        allocate([("x", LiveRange(0, 2, 1)), ("x", LiveRange(3, 4, 1))])


def test_pairs_accepted_and_unknown_positions_filled() -> None:
    pairs = [("a", LiveRange(0, 1, 4)), ("b", LiveRange(2, 3, 4))]
    assert allocate(pairs, algorithm="greedy").nbytes == 4
    res = allocate({"a": LiveRange(None, 1, 4), "b": LiveRange(2, None, 4)}, algorithm="greedy")  # type: ignore[arg-type]
    assert [r for a in res.assignments for _, r in a] == [LiveRange(-1, 1, 4), LiveRange(2, 2, 4)]


def test_empty_problem() -> None:
    res = allocate({})
    assert (res.assignments, res.nbytes, res.lower_bound, res.proven_optimal) == ([], 0, 0, True)


def test_inputs_not_mutated() -> None:
    rs = dict(RS)
    before = copy.deepcopy(rs)
    for algo in AssignmentAlgorithm:
        allocate(rs, ["b1"], algo)
    assert rs == before


def test_compute_blob_assignments_uses_last_member() -> None:
    assignments = [
        [("a", LiveRange(0, 1, 4)), ("b", LiveRange(2, 3, 4)), ("c", LiveRange(4, 5, 4))],
        [("d", LiveRange(0, 5, 4))],
    ]
    assert compute_blob_assignments(assignments) == {"a": "c", "b": "c", "c": "c"}


def test_get_memory_usage_counts_unknown_as_one() -> None:
    assert get_memory_usage([[("a", LiveRange(0, 1, None))], [("b", LiveRange(0, 1, 7))]]) == 8
    assert get_memory_usage([]) == 0


def test_verify_assignments_names_both_blobs() -> None:
    verify_assignments([[("a", LiveRange(0, 1, 1)), ("b", LiveRange(2, 3, 1))]])
    with pytest.raises(InvalidAssignmentError, match=r"'a' \[0, 9\] and 'c' \[5, 6\]"):
        verify_assignments(
            [[("a", LiveRange(0, 9, 1)), ("b", LiveRange(10, 11, 1)), ("c", LiveRange(5, 6, 1))]]
        )
    with pytest.raises(InvalidAssignmentError, match="'a' is assigned twice"):
        verify_assignments([[("a", LiveRange(0, 1, 1))], [("a", LiveRange(0, 1, 1))]])


@given(live_ranges(max_size=25, horizon=20, static=True))
def test_every_algorithm_valid(problem: tuple[dict[str, LiveRange], frozenset[str]]) -> None:
    ranges, static = problem
    for algo in AssignmentAlgorithm:
        res = allocate(ranges, static, algo, time_limit=0.1)
        assert_valid_assignments(res.assignments, ranges, static)
        verify_assignments(res.assignments)
        assert res.nbytes == get_memory_usage(res.assignments)
        assert res.nbytes >= res.lower_bound
        if algo is not AssignmentAlgorithm.DYNAMIC_PROGRAMMING:
            assert res.proven_optimal == (res.nbytes == res.lower_bound)


def test_algorithm_names_are_a_literal_of_every_accepted_name() -> None:
    from typing import get_args

    from memonger.alloc import ALGORITHMS
    from memonger.alloc.planner import AlgorithmName

    assert sorted(get_args(AlgorithmName)) == sorted(ALGORITHMS)
