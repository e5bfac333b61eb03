"""Timelines, peaks and metrics against brute force."""

from __future__ import annotations

from types import SimpleNamespace as Op

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memonger.alloc import LiveRange
from memonger.alloc import MissingSizeError as AllocMissingSizeError
from memonger.stats import (
    MissingSizeError,
    Statistics,
    StatsError,
    compute_statistics,
    compute_timeline,
    naive_nbytes,
    peak_live_nbytes,
    plan_nbytes,
    produced_blobs,
    renamed_sizes,
    timeline_from_ranges,
)

BLOBS = [f"b{i}" for i in range(8)]


@st.composite
def op_lists(draw: st.DrawFn) -> list[Op]:
    n = draw(st.integers(0, 12))
    return [
        Op(
            input=draw(st.lists(st.sampled_from(BLOBS), max_size=3)),
            output=draw(st.lists(st.sampled_from(BLOBS), min_size=1, max_size=2)),
        )
        for _ in range(n)
    ]


def brute_live(ops: list[Op], sizes: dict[str, int]) -> list[list[str]]:
    """Blobs live at each position, straight from the definition."""
    produced = {b for op in ops for b in op.output}
    live: list[list[str]] = []
    for p in range(len(ops)):
        here = []
        for b in sorted(produced):
            touches = [i for i, op in enumerate(ops) if b in op.input or b in op.output]
            writes = [i for i, op in enumerate(ops) if b in op.output]
            reads = [i for i, op in enumerate(ops) if b in op.input]
            first_read_before_write = bool(reads) and min(reads) <= min(writes)
            start = 0 if first_read_before_write else min(writes)
            last_write = max(writes)
            end = len(ops) - 1 if not any(r > last_write for r in reads) else max(touches)
            if start <= p <= end:
                here.append(b)
        live.append(here)
    return live


sizes_strategy = st.dictionaries(st.sampled_from(BLOBS), st.integers(0, 10**6), min_size=len(BLOBS))


@given(op_lists(), sizes_strategy)
def test_timeline_matches_brute_force(ops: list[Op], sizes: dict[str, int]) -> None:
    timeline = compute_timeline(ops, sizes)
    live = brute_live(ops, sizes)
    expected = [sum(sizes[b] for b in here) for here in live]
    assert timeline.live_nbytes.tolist() == expected
    assert timeline.num_positions == len(ops)
    assert timeline.peak_nbytes == max(expected, default=0)
    assert peak_live_nbytes(ops, sizes) == timeline.peak_nbytes
    if ops:
        p = timeline.peak_position
        assert expected[p] == max(expected)
        assert expected.index(max(expected)) == p
        assert sorted(b for b, _ in timeline.peak_blobs) == live[p]
        peak_sizes = [s for _, s in timeline.peak_blobs]
        assert peak_sizes == sorted(peak_sizes, reverse=True)
        assert sum(peak_sizes) == timeline.peak_nbytes
    first_write: dict[str, int] = {}  # first live position of each produced blob
    for p, here in enumerate(live):
        for b in here:
            first_write.setdefault(b, p)
    allocated = [sum(sizes[b] for b, i in first_write.items() if i <= p) for p in range(len(ops))]
    assert timeline.allocated_nbytes.tolist() == allocated
    assert timeline.total_nbytes == naive_nbytes(ops, sizes) == sum(sizes[b] for b in first_write)


@given(op_lists(), sizes_strategy, st.randoms(use_true_random=False))
def test_order_is_applied(ops: list[Op], sizes: dict[str, int], rnd: object) -> None:
    order = list(range(len(ops)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    reordered = [ops[i] for i in order]
    assert compute_timeline(ops, sizes, order=order).live_nbytes.tolist() == (
        compute_timeline(reordered, sizes).live_nbytes.tolist()
    )


def test_bad_order_and_missing_size() -> None:
    ops = [Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"])]
    with pytest.raises(StatsError, match="permutation"):
        compute_timeline(ops, {"a": 1, "b": 1}, order=[0, 0])
    with pytest.raises(MissingSizeError, match="'b'"):
        compute_timeline(ops, {"a": 1})
    # a size None is unknown: one byte, memonger.alloc's policy
    assert timeline_from_ranges({"a": LiveRange(0, 1, None)}).live_nbytes.tolist() == [1, 1]
    assert compute_timeline(ops, {"a": None, "b": 5}).live_nbytes.tolist() == [1, 6]
    assert issubclass(MissingSizeError, AllocMissingSizeError)


def test_net_object_and_huge_sizes() -> None:
    net = Op(op=[Op(input=[], output=["a"]), Op(input=["a"], output=["b"])])
    huge = {"a": 2**70, "b": 3 * 2**70}
    timeline = compute_timeline(net, huge)
    assert timeline.live_nbytes.tolist() == [2**70, 4 * 2**70]
    assert timeline.peak_nbytes == 4 * 2**70
    assert timeline.total_nbytes == 4 * 2**70
    assert timeline.to_dict()["peak_bytes"] == 4 * 2**70
    small = compute_timeline(net, {"a": 1, "b": 2})
    assert small.live_nbytes.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        small.live_nbytes[0] = 5


def test_empty_timeline() -> None:
    timeline = compute_timeline([], {})
    assert timeline.num_positions == 0
    assert (timeline.peak_nbytes, timeline.peak_position, timeline.peak_blobs) == (0, -1, ())


def test_timeline_from_ranges() -> None:
    ranges = {
        "in": LiveRange(-1, 2, 1000),
        "a": LiveRange(0, 4, 10),  # lives to the end of a 4-op net
        "b": LiveRange(1, 2, 20),
    }
    t = timeline_from_ranges(ranges, num_positions=4)
    assert t.live_nbytes.tolist() == [10, 30, 30, 10]
    t = timeline_from_ranges(ranges)
    assert t.live_nbytes.tolist() == [10, 30, 30, 10, 10]
    t = timeline_from_ranges(ranges, num_positions=4, produced=["in"])
    assert t.live_nbytes.tolist() == [1010, 1030, 1030, 10]
    t = timeline_from_ranges(ranges, blob_nbytes={"a": 1, "b": 2})
    assert t.peak_nbytes == 3


def test_metrics() -> None:
    ops = [
        Op(input=["x"], output=["a"]),
        Op(input=["a"], output=["b"]),
        Op(input=["b", "x"], output=["c"]),
    ]
    sizes = {"x": 1000, "a": 10, "b": 20, "c": 5}
    assert produced_blobs(ops) == ["a", "b", "c"]
    assert naive_nbytes(ops, sizes) == 35
    plan = [[("a", LiveRange(0, 1, 10)), ("c", LiveRange(2, 3, 5))]]
    assert plan_nbytes(plan, sizes) == 10
    assert plan_nbytes(plan, sizes, produced=produced_blobs(ops)) == 30
    with_input = [[("x", LiveRange(-1, 2, 1000)), ("a", LiveRange(0, 1, 10))]]
    assert plan_nbytes(with_input, sizes, produced=["a"]) == 10
    assert peak_live_nbytes(ops, sizes) == 30


@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(BLOBS), st.just(LiveRange(0, 0, None))),
            min_size=1,
            max_size=3,
        ),
        max_size=4,
    ).map(lambda bufs: [list(dict(b).items()) for b in bufs]),
    sizes_strategy,
)
def test_compute_statistics(
    assignments: list[list[tuple[str, LiveRange]]], sizes: dict[str, int]
) -> None:
    stats = compute_statistics(assignments, sizes)
    members = {b for buf in assignments for b, _ in buf}
    assert stats.baseline_nbytes == sum(sizes[b] for b in members)
    assert stats.optimized_nbytes == sum(max(sizes[b] for b, _ in buf) for buf in assignments)
    assert compute_statistics(assignments, sizes.__getitem__) == stats


def test_statistics_object() -> None:
    s = Statistics(baseline_nbytes=200, optimized_nbytes=50)
    assert (s.saving_nbytes, s.saving_ratio, s.compression) == (150, 0.75, 4.0)
    assert Statistics(0, 0).saving_ratio == 0.0
    assert Statistics(0, 0).compression == 1.0
    with pytest.raises(AttributeError):
        s.baseline_nbytes = 1  # type: ignore[misc]
    with pytest.raises(MissingSizeError, match="'zz'"):
        compute_statistics([[("zz", LiveRange(0, 1, None))]], {})


def test_renamed_sizes() -> None:
    assert renamed_sizes({"x": 1, "a": 5, "b": 9}, {"a": "a", "b": "a"}) == {"x": 1, "a": 9}
    with pytest.raises(StatsError, match="'x'"):
        renamed_sizes({"x": 1, "a": 5}, {"a": "x"})
    with pytest.raises(MissingSizeError, match="'q'"):
        renamed_sizes({"x": 1}, {"q": "buf"})
