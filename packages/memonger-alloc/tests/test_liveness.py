"""The liveness policy of memonger.alloc.liveness, against an oracle written apart.

The oracle decides, for every op position, which storages must exist there by
scanning the accesses position by position (no first/last bookkeeping), with
storage groups found by a fixed-point merge of view pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace as Op
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memonger.alloc import (
    InvalidRangeError,
    LiveRange,
    MissingSizeError,
    compute_assignments_greedy,
    compute_liveness,
    compute_ranges,
    live_bytes,
    naive_bytes,
    peak_live_bytes,
    plan_bytes,
)

# ---------------------------------------------------------------- the oracle


def _groups(ops: Sequence[Any]) -> list[set[str]]:
    names: list[str] = []
    for op in ops:
        for name in [*op.input, *getattr(op, "control_input", ()), *op.output]:
            if name not in names:
                names.append(name)
    groups = [{name} for name in names]
    changed = True
    while changed:  # merge until no view pair joins two groups
        changed = False
        for op in ops:
            for out_index, in_index in getattr(op, "views", ()):
                a = next(g for g in groups if op.output[out_index] in g)
                b = next(g for g in groups if op.input[in_index] in g)
                if a is not b:
                    a |= b
                    groups.remove(b)
                    changed = True
    return groups


def oracle_live_sets(ops: Sequence[Any]) -> list[frozenset[str]]:
    """Per position, the storages (named by their smallest member) that must exist there.

    A storage must exist at ``p`` when it has begun (a member came from
    outside: the first op naming it reads it; or a member is accessed at or
    before ``p``) and has not ended (a member is accessed at or after ``p``,
    or a member's last read-or-write is a write: a result a caller may
    fetch).
    """
    out: list[frozenset[str]] = []
    groups = _groups(ops)

    def touches(name: str, *, control: bool) -> list[int]:
        fields = ("input", "output", "control_input") if control else ("input", "output")
        return [q for q, op in enumerate(ops) if any(name in getattr(op, f, ()) for f in fields)]

    for p in range(len(ops)):
        live: set[str] = set()
        for group in groups:
            outside = any(
                name not in ops[touches(name, control=True)[0]].output
                or name in ops[touches(name, control=True)[0]].input
                or name in getattr(ops[touches(name, control=True)[0]], "control_input", ())
                for name in group
            )
            begun = outside or any(q <= p for name in group for q in touches(name, control=True))
            later = any(q >= p for name in group for q in touches(name, control=True))
            fetchable = any(
                touches(name, control=False)
                and name in ops[touches(name, control=False)[-1]].output
                for name in group
            )
            if begun and (later or fetchable):
                live.add(min(group))
        out.append(frozenset(live))
    return out


def live_sets_from(
    ranges: dict[str, LiveRange], storage: dict[str, str], n: int
) -> list[frozenset[str]]:
    out = []
    groups: dict[str, set[str]] = {}
    for name, root in storage.items():
        groups.setdefault(root, set()).add(name)
    for p in range(n):
        out.append(
            frozenset(min(groups[root]) for root, r in ranges.items() if r.defined <= p <= r.used)
        )
    return out


# ---------------------------------------------------------- random op lists

NAMES = [f"b{i}" for i in range(7)]


@st.composite
def op_lists(draw: Callable[..., Any], *, views: bool = True) -> list[Any]:
    n = draw(st.integers(1, 9))
    ops = []
    for _ in range(n):
        inputs = draw(st.lists(st.sampled_from(NAMES), max_size=3))
        outputs = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True))
        control = draw(st.lists(st.sampled_from(NAMES), max_size=1))
        pairs: list[tuple[int, int]] = []
        if views and inputs and draw(st.booleans()):
            pairs.append(
                (draw(st.integers(0, len(outputs) - 1)), draw(st.integers(0, len(inputs) - 1)))
            )
        ops.append(Op(input=inputs, output=outputs, control_input=control, views=pairs))
    return ops


# ------------------------------------------------------------------ policy


def test_control_input_extends_without_consuming() -> None:
    ops = [
        Op(input=[], output=["a"]),
        Op(input=["a"], output=["b"]),
        Op(input=["b"], output=["c"], control_input=["a"]),
    ]
    ranges = compute_ranges(ops, {"a": 100, "b": 10, "c": 10})
    assert ranges["a"] == LiveRange(0, 2, 100)
    # the peak counts a at op 2, beside b and c
    assert peak_live_bytes(ranges) == 120


def test_alias_case_of_the_issue() -> None:
    # a=Relu(x); b=Alias(a); t=Relu(b); c=Sigmoid(t); y=Sum(b,c)
    ops = [
        Op(type="Relu", input=["x"], output=["a"]),
        Op(type="Alias", input=["a"], output=["b"], views=[(0, 0)]),
        Op(type="Relu", input=["b"], output=["t"]),
        Op(type="Sigmoid", input=["t"], output=["c"]),
        Op(type="Sum", input=["b", "c"], output=["y"]),
    ]
    live = compute_liveness(ops, dict.fromkeys("xabtcy", 4))
    assert "b" not in live.ranges  # a view is not an allocation
    assert live.storage["b"] == "a"
    assert live.ranges["a"] == LiveRange(0, 4, 4)  # live until Sum reads b
    # t overlaps a's storage, so no planner may put t in a's buffer
    r_t = live.ranges["t"]
    assert r_t.defined <= live.ranges["a"].used
    plan = compute_assignments_greedy(list(live.produced_ranges().items()))
    for buffer in plan:
        names = {name for name, _ in buffer}
        assert not {"a", "t"} <= names


def test_view_read_after_base_rewritten_lives_on() -> None:
    ops = [
        Op(input=[], output=["a"]),
        Op(input=["a"], output=["v"], views=[(0, 0)]),
        Op(input=["a"], output=["a"]),  # in place: a write to the storage
        Op(input=["a"], output=["z"]),
        Op(input=["v"], output=["y"]),
    ]
    live = compute_liveness(ops)
    assert live.ranges["a"].used == 4
    assert live.produced == frozenset({"a", "z", "y"})


def test_chain_of_views_and_view_of_external() -> None:
    ops = [
        Op(input=["x"], output=["v1"], views=[(0, 0)]),
        Op(input=["v1"], output=["v2"], views=[(0, 0)]),
        Op(input=["v2"], output=["y"]),
        Op(input=["y"], output=["w"]),
    ]
    live = compute_liveness(ops)
    assert live.storage == {"x": "x", "v1": "x", "v2": "x", "y": "y", "w": "w"}
    assert live.ranges["x"] == LiveRange(-1, 2, None)
    assert live.members("x") == ("x", "v1", "v2")
    assert "x" not in live.produced  # creating views allocates nothing
    assert live.roots(["v2", "elsewhere"]) == {"x", "elsewhere"}
    assert "x" not in live.produced_ranges()


def test_write_through_view_is_a_write_to_storage() -> None:
    ops = [
        Op(input=["x"], output=["v"], views=[(0, 0)]),
        Op(input=["q"], output=["v"]),  # writes x's storage
        Op(input=["x"], output=["y"]),
    ]
    live = compute_liveness(ops)
    assert "x" in live.produced  # an input updated through a view
    # v's last access is a write: a caller may fetch it, the storage lives on
    assert live.ranges["x"].used == 3


def test_views_callable_for_ops_without_attribute() -> None:
    ops = [Op(type="Relu", input=["x"], output=["a"]), Op(type="Alias", input=["a"], output=["b"])]
    live = compute_liveness(ops, views=lambda op: [(0, 0)] if op.type == "Alias" else [])
    assert live.storage["b"] == "a"


def test_bad_view_index_and_str_names_are_refused() -> None:
    with pytest.raises(InvalidRangeError, match=r"op #0 \(Alias\).*view \(1, 0\)"):
        compute_liveness([Op(type="Alias", input=["a"], output=["b"], views=[(1, 0)])])
    with pytest.raises(TypeError, match=r"op #1 \(Relu\): output is a str"):
        compute_ranges([Op(input=[], output=["a"]), Op(type="Relu", input=["a"], output="b")])


def test_sizes_missing_negative_and_group_size() -> None:
    ops = [Op(input=[], output=["a"]), Op(input=["a"], output=["b"], views=[(0, 0)])]
    with pytest.raises(MissingSizeError, match="'b'"):
        compute_ranges(ops, {"a": 4})
    with pytest.raises(InvalidRangeError, match="negative"):
        compute_ranges(ops, {"a": -1, "b": 4})
    assert compute_ranges(ops, {"a": 4, "b": 16})["a"].size == 16
    assert compute_ranges(ops, {"a": None, "b": None})["a"].size is None


def test_metrics_unknown_size_counts_one_byte() -> None:
    ranges = {"a": LiveRange(0, 1, None), "b": LiveRange(1, 2, 8), "s": LiveRange(0, 2, 100)}
    assert naive_bytes(ranges, ["s"]) == 9
    assert live_bytes(ranges, 3, ["s"]) == [1, 9, 8]
    assert plan_bytes([[("a", ranges["a"])]], ranges, ["s"]) == 9
    assert plan_bytes([[("a", ranges["a"]), ("b", ranges["b"])]]) == 8


# -------------------------------------------------------------- properties


@given(op_lists())
def test_ranges_match_oracle(ops: list[Any]) -> None:
    live = compute_liveness(ops)
    assert live_sets_from(live.ranges, live.storage, len(ops)) == oracle_live_sets(ops)


@given(op_lists(views=False))
def test_without_views_every_blob_is_its_own_storage(ops: list[Any]) -> None:
    live = compute_liveness(ops)
    assert all(live.storage[name] == name for name in live.storage)
    assert set(live.ranges) == set(live.storage)


@given(op_lists(), st.data())
def test_metrics_match_brute_force(ops: list[Any], data: st.DataObject) -> None:
    names = sorted({n for op in ops for n in [*op.input, *op.output, *op.control_input]})
    sizes = {name: data.draw(st.one_of(st.none(), st.integers(0, 50))) for name in names}
    live = compute_liveness(ops, sizes)
    ranges = live.produced_ranges()
    n = len(ops)
    timeline = [
        sum(1 if r.size is None else r.size for r in ranges.values() if r.defined <= p <= r.used)
        for p in range(n)
    ]
    assert live_bytes(ranges, n) == timeline
    assert peak_live_bytes(ranges) == max(timeline, default=0)
    assert naive_bytes(ranges) == sum(1 if r.size is None else r.size for r in ranges.values())
    plan = compute_assignments_greedy(list(ranges.items()))
    expected = sum(max(1 if r.size is None else r.size for _, r in buffer) for buffer in plan)
    assert plan_bytes(plan) == expected == plan_bytes(plan, ranges)


def _ignoring_views(ops: Sequence[Any]) -> Any:
    """A deliberately broken liveness: views treated as fresh blobs."""
    return compute_liveness([Op(input=op.input, output=op.output) for op in ops])


def test_oracle_catches_a_liveness_that_ignores_views() -> None:
    ops = [
        Op(input=["x"], output=["a"]),
        Op(input=["a"], output=["b"], views=[(0, 0)]),
        Op(input=["b"], output=["t"]),
        Op(input=["t"], output=["c"]),
        Op(input=["b", "c"], output=["y"]),
    ]
    broken = _ignoring_views(ops)
    assert live_sets_from(broken.ranges, broken.storage, len(ops)) != oracle_live_sets(ops)
    good = compute_liveness(ops)
    assert live_sets_from(good.ranges, good.storage, len(ops)) == oracle_live_sets(ops)


@pytest.mark.parametrize(
    "call",
    [
        lambda: naive_bytes({}, "ab"),
        lambda: live_bytes({}, 0, "ab"),
        lambda: plan_bytes([], {}, "ab"),
        lambda: peak_live_bytes({}, "ab"),
    ],
)
def test_a_str_of_static_blobs_is_refused(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError, match="not the string 'ab'"):
        call()


def test_is_compatible_refuses_a_str() -> None:
    from memonger.alloc import is_compatible

    with pytest.raises(TypeError, match="not the string 'a'"):
        is_compatible(LiveRange(3, 4, 1), [("a", LiveRange(0, 1, 1))], "a")
