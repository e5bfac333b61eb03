"""Stats follows memonger.alloc's liveness: control inputs and views, against an oracle.

The oracle below is written from the policy of ``memonger.alloc.liveness``
(and design 3.1), independently of any package's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from memonger.alloc import allocate, compute_liveness, peak_live_bytes
from memonger.stats import (
    build_net_report,
    compute_timeline,
    naive_nbytes,
    peak_live_nbytes,
    plan_nbytes,
    produced_blobs,
)

BLOBS = [f"b{i}" for i in range(6)]


@dataclass(frozen=True)
class Op:
    input: tuple[str, ...]
    output: tuple[str, ...]
    control_input: tuple[str, ...] = ()
    views: tuple[tuple[int, int], ...] = ()
    type: str = "Op"


@st.composite
def op_lists(draw: st.DrawFn) -> list[Op]:
    ops = []
    for _ in range(draw(st.integers(0, 10))):
        inputs = tuple(draw(st.lists(st.sampled_from(BLOBS), max_size=3)))
        outputs = tuple(draw(st.lists(st.sampled_from(BLOBS), min_size=1, max_size=2, unique=True)))
        controls = tuple(draw(st.lists(st.sampled_from(BLOBS), max_size=1)))
        views: tuple[tuple[int, int], ...] = ()
        if inputs and draw(st.booleans()):
            views = (
                (draw(st.integers(0, len(outputs) - 1)), draw(st.integers(0, len(inputs) - 1))),
            )
        ops.append(Op(inputs, outputs, controls, views))
    return ops


def oracle(ops: list[Op], sizes: dict[str, int]) -> tuple[list[int], dict[str, int]]:
    """Live bytes per position and the produced storages (any member -> size)."""
    n = len(ops)
    group = {b: b for op in ops for b in (*op.input, *op.output, *op.control_input)}

    def find(b: str) -> str:
        while group[b] != b:
            b = group[b]
        return b

    for op in ops:
        for out, inp in op.views:
            a, b = find(op.output[out]), find(op.input[inp])
            group[a] = b
    members: dict[str, list[str]] = {}
    for b in group:
        members.setdefault(find(b), []).append(b)
    live = [0] * n
    produced: dict[str, int] = {}
    for names in members.values():
        start, end = n, -1
        written = False
        for b in names:
            kinds = []  # (position, "r"/"c"/"w"), reads and controls before writes
            for p, op in enumerate(ops):
                kinds += [(p, "r")] * (b in op.input) + [(p, "c")] * (b in op.control_input)
                if b in op.output:
                    kinds.append((p, "w"))
                    index = op.output.index(b)
                    if not any(o == index for o, _ in op.views):  # creating a view writes nothing
                        written = True
            first = 0 if kinds[0][1] != "w" else kinds[0][0]
            rw = [k for k in kinds if k[1] != "c"]
            last = n - 1 if rw and rw[-1][1] == "w" else kinds[-1][0]
            start, end = min(start, first), max(end, last)
        if written:
            size = max(sizes[b] for b in names)
            produced[min(names)] = size
            for p in range(start, end + 1):
                live[p] += size
    return live, produced


@given(op_lists(), st.dictionaries(st.sampled_from(BLOBS), st.integers(0, 99), min_size=6))
def test_timeline_peak_and_naive_follow_the_policy(ops: list[Op], sizes: dict[str, int]) -> None:
    live, produced = oracle(ops, sizes)
    timeline = compute_timeline(ops, sizes)
    assert timeline.live_nbytes.tolist() == live
    assert peak_live_nbytes(ops, sizes) == timeline.peak_nbytes == max(live, default=0)
    assert naive_nbytes(ops, sizes) == sum(produced.values())
    assert len(produced_blobs(ops)) == len(produced)
    # and they are alloc's: the same ranges, the same peak
    ranges = compute_liveness(ops, sizes).produced_ranges()
    assert peak_live_bytes(ranges) == timeline.peak_nbytes
    row = build_net_report("net", ops, sizes)
    assert (row.naive_nbytes, row.peak_nbytes) == (sum(produced.values()), max(live, default=0))


@given(op_lists(), st.dictionaries(st.sampled_from(BLOBS), st.integers(0, 99), min_size=6))
def test_plan_bytes_of_alloc_plans(ops: list[Op], sizes: dict[str, int]) -> None:
    ranges = compute_liveness(ops, sizes).produced_ranges()
    result = allocate(ranges)
    produced = produced_blobs(ops)
    assert sorted(produced) == sorted(ranges)
    storage_sizes = {root: r.size for root, r in ranges.items()}  # a storage: its largest member
    plan = plan_nbytes(result.assignments, storage_sizes, produced=produced)
    assert plan == result.nbytes
    row = build_net_report("net", ops, sizes, assignments=result.assignments)
    assert row.plan_nbytes == plan
    assert row.plan_nbytes >= row.peak_nbytes


def test_control_inputs_count_as_alloc_counts_them() -> None:
    # the check that found 120 bytes in alloc and 110 elsewhere
    ops = [
        Op((), ("a",)),
        Op(("a",), ("b",)),
        Op(("b",), ("c",), control_input=("a",)),
    ]
    sizes = {"a": 10, "b": 40, "c": 60}
    assert compute_timeline(ops, sizes).live_nbytes.tolist() == [10, 50, 110]
    assert peak_live_nbytes(ops, sizes) == 110
    ops[2] = Op(("b",), ("c",))  # without the control input, a dies at op 1
    assert compute_timeline(ops, sizes).live_nbytes.tolist() == [10, 50, 100]


def test_views_share_their_storage() -> None:
    # a = Relu(x); b = Alias(a); t = Relu(b); c = Sigmoid(t); y = Sum(b, c)
    ops = [
        Op(("x",), ("a",)),
        Op(("a",), ("b",), views=((0, 0),)),
        Op(("b",), ("t",)),
        Op(("t",), ("c",)),
        Op(("b", "c"), ("y",)),
    ]
    sizes = {"x": 100, "a": 8, "b": 8, "t": 8, "c": 8, "y": 8}
    timeline = compute_timeline(ops, sizes)
    assert timeline.live_nbytes.tolist() == [8, 8, 16, 24, 24]  # a stays live until y
    assert produced_blobs(ops) == ["a", "t", "c", "y"]
    assert naive_nbytes(ops, sizes) == 32
    # through a views= callable on ops that carry no views
    plain = [Op(op.input, op.output, type="Alias" if op.views else "Relu") for op in ops]

    def alias(op: Op) -> list[tuple[int, int]]:
        return [(0, 0)] if op.type == "Alias" else []

    assert compute_timeline(plain, sizes, views=alias).live_nbytes.tolist() == [8, 8, 16, 24, 24]
    assert naive_nbytes(plain, sizes, views=alias) == 32
    assert peak_live_nbytes(plain, sizes, views=alias) == 24
    assert naive_nbytes(plain, sizes) == 40
