"""Offset (arena) planning: validity, optimality against brute force, capacities, formats."""

from __future__ import annotations

import itertools
import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memonger.alloc import (
    AllocError,
    InvalidRangeError,
    LiveRange,
    OffsetAlgorithm,
    OffsetError,
    OffsetPlan,
    UnknownAlgorithmError,
    offset_violation,
    peak_live_bytes,
    plan_offsets,
    plan_to_dict,
    read_minimalloc_csv,
    validate_offsets,
    write_minimalloc_csv,
    write_plan_json,
)
from memonger.alloc.testing import OffsetProblem, assert_valid_offsets, offset_problems

ALGORITHMS = list(OffsetAlgorithm)
HEURISTICS = ["greedy_by_size", "greedy_by_breadth", "best_fit"]


# --- the test's own oracle: written here, sharing nothing with the planners ---------------


def size_of(r: LiveRange, alignment: int = 1) -> int:
    raw = 1 if r.size is None else r.size
    return (raw + alignment - 1) // alignment * alignment


def pairwise_violation(
    ranges: Mapping[str, LiveRange],
    offsets: Mapping[str, int],
    static: set[str] = frozenset(),  # type: ignore[assignment]
    capacity: int | None = None,
    alignment: int = 1,
) -> str | None:
    names = [n for n in ranges if n not in static]
    if set(offsets) != set(names):
        return "wrong blobs"
    for n in names:
        if offsets[n] < 0 or offsets[n] % alignment:
            return f"bad offset {n}"
        if capacity is not None and offsets[n] + size_of(ranges[n]) > capacity:
            return f"capacity {n}"
    for a, b in itertools.combinations(names, 2):
        ra, rb = ranges[a], ranges[b]
        sa, sb = size_of(ra), size_of(rb)
        if sa == 0 or sb == 0:
            continue
        if max(ra.defined, rb.defined) <= min(ra.used, rb.used) and (
            max(offsets[a], offsets[b]) < min(offsets[a] + sa, offsets[b] + sb)
        ):
            return f"overlap {a} {b}"
    return None


def brute_force_arena(ranges: Mapping[str, LiveRange], alignment: int = 1) -> int:
    """Minimum arena: the best lowest-fit placement over every order (exact, see below).

    Placing blobs in the order of their offsets in an optimal plan, each at the
    lowest offset free of its already placed time neighbours, never goes higher
    than that plan, so some order attains the optimum.
    """
    items = [(r.defined, r.used, size_of(r, alignment)) for r in ranges.values()]
    items = [it for it in items if it[2] > 0]
    best = sum(s for _, _, s in items)
    for order in itertools.permutations(range(len(items))):
        placed: list[tuple[int, int, int, int]] = []
        arena = 0
        for i in order:
            d, u, s = items[i]
            busy = sorted((lo, hi) for pd, pu, lo, hi in placed if pd <= u and d <= pu)
            off = 0
            for lo, hi in busy:
                if off + s <= lo:
                    break
                off = max(off, hi)
            placed.append((d, u, off, off + s))
            arena = max(arena, off + s)
            if arena >= best:
                break
        best = min(best, arena)
    return best


def test_oracle_catches_a_broken_planner() -> None:
    ranges = {"a": LiveRange(0, 2, 8), "b": LiveRange(2, 3, 4), "c": LiveRange(5, 6, 4)}

    def everything_at_zero(rs: Mapping[str, LiveRange]) -> dict[str, int]:
        return dict.fromkeys(rs, 0)

    broken = everything_at_zero(ranges)
    assert pairwise_violation(ranges, broken) == "overlap a b"
    with pytest.raises(AssertionError, match=r"'a' .* and 'b' .* overlap"):
        assert_valid_offsets(ranges, broken)
    assert offset_violation(ranges, broken) is not None
    good = plan_offsets(ranges).offsets
    assert pairwise_violation(ranges, good) is None


# --- properties ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(offset_problems(max_size=9, capacity=True), st.sampled_from(ALGORITHMS))
def test_every_algorithm_gives_a_valid_plan(problem: OffsetProblem, algorithm: str) -> None:
    ranges, alignment, capacity = problem
    plan = plan_offsets(ranges, algorithm=algorithm, alignment=alignment, node_limit=2000)
    assert pairwise_violation(ranges, plan.offsets, alignment=alignment) is None
    assert_valid_offsets(ranges, plan.offsets, alignment=alignment)
    validate_offsets(ranges, plan.offsets, alignment=alignment)
    padded = {n: r._replace(size=size_of(r, alignment)) for n, r in ranges.items()}
    assert plan.lower_bound == peak_live_bytes(padded)
    assert plan.arena_bytes >= plan.lower_bound
    assert plan.arena_bytes == max(
        (o + size_of(ranges[n], alignment) for n, o in plan.offsets.items()), default=0
    )
    assert capacity is not None
    fit = plan_offsets(ranges, alignment=alignment, capacity=capacity, node_limit=20_000)
    assert fit.feasible is not False
    if fit.feasible:
        violation = pairwise_violation(ranges, fit.offsets, capacity=capacity, alignment=alignment)
        assert violation is None


@settings(max_examples=60, deadline=None)
@given(offset_problems(max_size=6, horizon=8))
def test_exact_equals_brute_force_and_beats_heuristics(problem: OffsetProblem) -> None:
    ranges, alignment, _ = problem
    optimum = brute_force_arena(ranges, alignment)
    exact = plan_offsets(ranges, algorithm="exact", alignment=alignment)
    assert exact.proven_optimal
    assert exact.arena_bytes == optimum
    assert pairwise_violation(ranges, exact.offsets, alignment=alignment) is None
    auto = plan_offsets(ranges, alignment=alignment)
    assert auto.arena_bytes == optimum
    for name in HEURISTICS:
        heuristic = plan_offsets(ranges, algorithm=name, alignment=alignment)
        assert exact.arena_bytes <= heuristic.arena_bytes
        if heuristic.proven_optimal:
            assert heuristic.arena_bytes == optimum


@settings(max_examples=60, deadline=None)
@given(offset_problems(max_size=6, horizon=8))
def test_capacities_below_the_optimum_are_refuted(problem: OffsetProblem) -> None:
    ranges, alignment, _ = problem
    optimum = brute_force_arena(ranges, alignment)
    at = plan_offsets(ranges, alignment=alignment, capacity=optimum)
    assert at.feasible is True
    assert pairwise_violation(ranges, at.offsets, capacity=optimum, alignment=alignment) is None
    if optimum > 0:
        below = plan_offsets(ranges, alignment=alignment, capacity=optimum - 1)
        assert below.feasible is False


@settings(max_examples=40, deadline=None)
@given(offset_problems(max_size=12, capacity=True), st.sampled_from(ALGORITHMS))
def test_proven_optimal_is_true_and_static_blobs_are_left_out(
    problem: OffsetProblem, algorithm: str
) -> None:
    ranges, alignment, _ = problem
    static = set(list(ranges)[::3]) | {"ghost"}
    plan = plan_offsets(ranges, static, algorithm=algorithm, alignment=alignment, node_limit=5000)
    assert set(plan.offsets) == set(ranges) - static
    assert pairwise_violation(ranges, plan.offsets, static, alignment=alignment) is None
    rest = {n: r for n, r in ranges.items() if n not in static}
    if plan.proven_optimal and len(rest) <= 6:
        assert plan.arena_bytes == brute_force_arena(rest, alignment)


def reference_greedy(
    ranges: Mapping[str, LiveRange], order: list[str], ceiling: bool = False
) -> dict[str, int]:
    """Each blob, in ``order``, into the smallest (lowest on ties) gap among its
    placed time neighbours; ``ceiling``: the space up to the arena top counts too."""
    placed: list[tuple[int, int, int, int]] = []
    offsets: dict[str, int] = {}
    arena = 0
    for name in order:
        r = ranges[name]
        size = size_of(r)
        busy = sorted((lo, hi) for d, u, lo, hi in placed if d <= r.used and r.defined <= u)
        free, end = [], 0
        for lo, hi in busy:
            if lo > end:
                free.append((end, lo))
            end = max(end, hi)
        if ceiling and arena > end:
            free.append((end, arena))
        fitting = [(b - a, a) for a, b in free if b - a >= size]
        offsets[name] = min(fitting)[1] if fitting else end
        placed.append((r.defined, r.used, offsets[name], offsets[name] + size))
        arena = max(arena, offsets[name] + size)
    return offsets


def mixed_ranges(n: int, seed: int) -> dict[str, LiveRange]:
    """Mostly short ranges and some long ones, so the time index's inner blocks are used."""
    import random

    rng = random.Random(seed)
    out = {}
    for i in range(n):
        length = rng.randint(0, 3) if rng.random() < 0.8 else rng.randint(4, 300)
        out[f"t{i}"] = LiveRange(i, i + length, rng.choice([1, 2, 3, 5, 8, 13, 64]))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_heuristics_match_a_direct_implementation(seed: int) -> None:
    ranges = mixed_ranges(400, seed)
    names = list(ranges)
    pos = {n: i for i, n in enumerate(names)}
    by_size = sorted(
        names, key=lambda n: (-size_of(ranges[n]), ranges[n].defined, ranges[n].used, pos[n])
    )
    plan = plan_offsets(ranges, algorithm="greedy_by_size")
    assert plan.offsets == reference_greedy(ranges, by_size)
    best_fit_order = sorted(
        names,
        key=lambda n: (
            -size_of(ranges[n]),
            ranges[n].defined - ranges[n].used,
            ranges[n].defined,
            pos[n],
        ),
    )
    plan = plan_offsets(ranges, algorithm="best_fit")
    assert plan.offsets == reference_greedy(ranges, best_fit_order, ceiling=True)


def test_exact_on_a_mixed_instance_is_valid_and_deterministic() -> None:
    ranges = mixed_ranges(300, 7)
    first = plan_offsets(ranges, algorithm="exact", node_limit=20_000)
    assert pairwise_violation(ranges, first.offsets) is None
    again = plan_offsets(ranges, algorithm="exact", node_limit=20_000)
    assert (again.offsets, again.stats) == (first.offsets, first.stats)
    for name in HEURISTICS:
        assert first.arena_bytes <= plan_offsets(ranges, algorithm=name).arena_bytes


# --- documented cases and edges -------------------------------------------------------------


def test_zero_and_unknown_sizes() -> None:
    ranges = {"z": LiveRange(0, 5, 0), "u": LiveRange(0, 5, None), "a": LiveRange(1, 2, 4)}
    plan = plan_offsets(ranges)
    assert plan.offsets["z"] == 0
    assert plan.arena_bytes == plan.lower_bound == 5
    assert plan.proven_optimal


def test_empty_and_all_static() -> None:
    assert plan_offsets({}).arena_bytes == 0
    plan = plan_offsets({"a": LiveRange(0, 1, 4)}, {"a"})
    assert (plan.offsets, plan.arena_bytes, plan.lower_bound) == ({}, 0, 0)


def test_capacity_below_the_bound_is_refuted_without_search() -> None:
    ranges = {f"b{i}": LiveRange(0, 10, 100) for i in range(50)}
    plan = plan_offsets(ranges, capacity=4999, node_limit=0)
    assert plan.feasible is False
    assert plan.stats["nodes"] == 0


def test_an_exhausted_probe_is_undecided_not_infeasible() -> None:
    # a tight instance that the heuristics do not pack at its peak
    ranges = {
        "a": LiveRange(0, 1, 3),
        "b": LiveRange(1, 2, 2),
        "c": LiveRange(2, 3, 3),
        "d": LiveRange(0, 0, 2),
        "e": LiveRange(3, 3, 2),
        "f": LiveRange(1, 2, 1),
    }
    lb = plan_offsets(ranges, algorithm="greedy_by_size").lower_bound
    plan = plan_offsets(ranges, capacity=lb, node_limit=0)
    heuristic_fits = plan_offsets(ranges, algorithm="greedy_by_size").arena_bytes <= lb
    assert plan.feasible is (True if heuristic_fits else None)


def test_determinism_and_alignment() -> None:
    ranges = {f"t{i}": LiveRange(i, i + 2, 10 + i) for i in range(30)}
    first = plan_offsets(ranges, alignment=64)
    assert first == plan_offsets(ranges, alignment=64).__class__(
        **{**first.__dict__, "seconds": first.seconds}
    )
    assert all(o % 64 == 0 for o in first.offsets.values())
    assert first.arena_bytes % 64 == 0
    assert plan_offsets(ranges, alignment=64).offsets == first.offsets


def test_bad_arguments() -> None:
    rs = {"a": LiveRange(0, 1, 4)}
    with pytest.raises(UnknownAlgorithmError):
        plan_offsets(rs, algorithm="nope")
    with pytest.raises(InvalidRangeError):
        plan_offsets(rs, alignment=0)
    with pytest.raises(InvalidRangeError):
        plan_offsets(rs, capacity=-1)
    with pytest.raises(InvalidRangeError):
        plan_offsets({"a": LiveRange(3, 1, 4)})
    with pytest.raises(TypeError):
        plan_offsets(rs, "a")
    best_fit = plan_offsets(rs, algorithm=OffsetAlgorithm.BEST_FIT)
    assert best_fit.algorithm is OffsetAlgorithm.BEST_FIT
    assert plan_offsets(rs, algorithm="Greedy-By-Size").algorithm is OffsetAlgorithm.GREEDY_BY_SIZE


def test_validator_messages() -> None:
    rs = {"a": LiveRange(0, 2, 8), "b": LiveRange(2, 3, 4), "s": LiveRange(0, 3, 4)}
    cases = [
        ({"a": 0}, {"s"}, None, 1, "missing", "'b' has no offset"),
        ({"a": 0, "b": 8, "zz": 0}, {"s"}, None, 1, "unknown", "'zz'"),
        ({"a": 0, "b": 8, "s": 0}, {"s"}, None, 1, "unknown", "'s' has an offset but is static"),
        ({"a": -8, "b": 8}, {"s"}, None, 1, "negative", "'a'"),
        ({"a": 0, "b": 6}, {"s"}, None, 4, "alignment", "aligned to 4"),
        ({"a": 0, "b": 8}, {"s"}, 11, 1, "capacity", "capacity 11"),
        ({"a": 0, "b": 4}, {"s"}, None, 1, "overlap", "'a' [0, 2] bytes [0, 8) and 'b' [2, 3]"),
    ]
    for offsets, static, capacity, alignment, kind, text in cases:
        v = offset_violation(
            rs, offsets, capacity=capacity, alignment=alignment, static_blobs=static
        )
        assert v is not None
        assert v.kind == kind
        assert text in v.message
        with pytest.raises(OffsetError) as info:
            validate_offsets(
                rs, offsets, capacity=capacity, alignment=alignment, static_blobs=static
            )
        assert info.value.violation == v
        assert isinstance(info.value, AllocError)
        assert isinstance(info.value, ValueError)


# --- formats --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(offset_problems(max_size=8))
def test_minimalloc_csv_round_trip(problem: OffsetProblem) -> None:
    import tempfile

    ranges = {n: r._replace(size=size_of(r)) for n, r in problem.ranges.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        write_minimalloc_csv(path, ranges)
        assert read_minimalloc_csv(path) == ranges
        plan = plan_offsets(ranges)
        write_minimalloc_csv(path, ranges, plan.offsets)
        text = path.read_text().splitlines()
        assert text[0] == "id,lower,upper,size,offset"
        assert read_minimalloc_csv(path) == ranges


def test_minimalloc_csv_is_half_open(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,lower,upper,size,alignment\n0,0,10,8,1\n1,10,20,8,1\n")
    ranges = read_minimalloc_csv(path)
    assert ranges == {"0": LiveRange(0, 9, 8), "1": LiveRange(10, 19, 8)}
    assert plan_offsets(ranges).arena_bytes == 8  # touching half-open lifespans share
    for bad, why in [
        ("id,lower,size\n", "missing column"),
        ("id,lower,upper,size\n0,5,5,1\n", "empty lifespan"),
        ("id,lower,upper,size\n0,1,2,x\n", "integers"),
        ("id,lower,upper,size\n0,1,2,3\n0,1,2,3\n", "twice"),
    ]:
        path.write_text(bad)
        with pytest.raises(InvalidRangeError, match=why):
            read_minimalloc_csv(path)


def test_plan_json(tmp_path: Path) -> None:
    ranges = {"a": LiveRange(0, 1, 8), "b": LiveRange(1, 2, 4), "s": LiveRange(0, 2, 2)}
    plan = plan_offsets(ranges, {"s"}, alignment=4)
    data = plan_to_dict(plan, ranges)
    assert data["schema"] == "memonger.plan"
    assert data["version"] == 1
    assert data["alignment"] == 4
    assert data["algorithm"] == plan.algorithm.value
    assert {t["name"] for t in data["tensors"]} == {"a", "b"}
    assert set(data["tensors"][0]) == {"name", "offset", "size", "first", "last"}
    path = tmp_path / "plan.json"
    path.write_text("old")
    old_umask = os.umask(0o027)
    try:
        write_plan_json(path, plan, ranges)
    finally:
        os.umask(old_umask)
    assert json.loads(path.read_text()) == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_plan_is_a_frozen_record() -> None:
    plan = plan_offsets({"a": LiveRange(0, 1, 8)})
    assert isinstance(plan, OffsetPlan)
    with pytest.raises(AttributeError):
        plan.arena_bytes = 3  # type: ignore[misc]


# --- strategies -----------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(offset_problems(capacity=True, alignments=st.just(8)))
def test_offset_problems_capacity_is_feasible(problem: OffsetProblem) -> None:
    assert problem.alignment == 8
    assert problem.capacity is not None
    plan = plan_offsets(problem.ranges, alignment=8, capacity=problem.capacity, node_limit=20_000)
    assert plan.feasible is not False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_size": -1},
        {"min_size": 3, "max_size": 2},
        {"sizes": 4},
        {"alignments": 4},
        {"capacity": 1},
        {"horizon": "x"},
    ],
)
def test_offset_problems_validates_eagerly(kwargs: dict[str, object]) -> None:
    from hypothesis.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        offset_problems(**kwargs)  # type: ignore[arg-type]


# --- the shared corpus ---------------------------------------------------------------------


def _corpus() -> Path:
    env = os.environ.get("MEMONGER_CORPUS")
    root = Path(env) if env else Path(__file__).resolve().parents[4] / "shared" / "corpus"
    if not (root / "MANIFEST.json").is_file():
        pytest.skip(f"corpus not found at {root} (set MEMONGER_CORPUS)")
    return root


@pytest.mark.corpus
@pytest.mark.parametrize("instance", ["A", "C", "F"])
def test_minimalloc_instances(instance: str) -> None:
    path = _corpus() / "minimalloc" / f"{instance}.1048576.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    ranges = read_minimalloc_csv(path)
    capacity = 1_048_576
    plan = plan_offsets(ranges, capacity=capacity, node_limit=100_000)
    assert plan.feasible is not False  # MiniMalloc packs every instance at this capacity
    check: Callable[..., None] = validate_offsets
    if plan.feasible:
        check(ranges, plan.offsets, capacity=capacity)
    else:
        check(ranges, plan.offsets)
    if instance == "C":
        assert plan.feasible is True


def test_offset_algorithm_names_are_a_literal_of_every_accepted_name() -> None:
    from typing import get_args

    from memonger.alloc.offsets import OFFSET_ALGORITHMS
    from memonger.alloc.offsets._types import OffsetAlgorithmName

    assert sorted(get_args(OffsetAlgorithmName)) == sorted(OFFSET_ALGORITHMS)
