"""The public strategies and the oracle."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from memonger.alloc import LiveRange
from memonger.alloc.testing import assert_valid_assignments, live_ranges


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_size": -1},
        {"max_size": 1.5},
        {"min_size": 3, "max_size": 2},
        {"horizon": -2},
        {"sizes": [1, 2]},
        {"static": "yes"},
        {"max_size": True},
    ],
)
def test_bad_arguments_raise_at_call(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        live_ranges(**kwargs)  # type: ignore[call-overload]


@given(live_ranges(min_size=2, max_size=6, horizon=5, sizes=st.just(3)))
def test_options_respected(ranges: dict[str, LiveRange]) -> None:
    assert 2 <= len(ranges) <= 6
    for r in ranges.values():
        assert -1 <= r.defined <= r.used <= 5
        assert r.size == 3


@given(live_ranges(static=True))
def test_static_subset(problem: tuple[dict[str, LiveRange], frozenset[str]]) -> None:
    ranges, static = problem
    assert isinstance(static, frozenset)
    assert static - set(ranges) <= {"not_a_blob", "ghost"}


def test_shapes_are_covered() -> None:
    found: set[str] = set()

    @settings(max_examples=300, derandomize=True, database=None)
    @given(live_ranges(max_size=10, horizon=12))
    def collect(ranges: dict[str, LiveRange]) -> None:
        rs = list(ranges.values())
        if not rs:
            found.add("empty")
        if len(rs) == 1:
            found.add("single")
        for i, a in enumerate(rs):
            if a.size is not None and a.size >= 2**40:
                found.add("huge size")
            if a.used - a.defined >= 12:
                found.add("huge range")
            for b in rs[i + 1 :]:
                if (a.defined, a.used) == (b.defined, b.used):
                    found.add("identical")
                elif a.defined <= b.defined and b.used <= a.used:
                    found.add("nested")
                if b.defined in (a.used, a.used + 1):
                    found.add("touching")

    collect()
    assert found >= {
        "empty",
        "single",
        "identical",
        "nested",
        "touching",
        "huge range",
        "huge size",
    }


R = {
    "a": LiveRange(0, 2, 4),
    "b": LiveRange(3, 4, 4),
    "c": LiveRange(2, 5, 1),
    "s": LiveRange(0, 9, 8),
}


def test_oracle_accepts_valid() -> None:
    assert_valid_assignments([[("a", R["a"]), ("b", R["b"])], [("c", R["c"])]], R, ["s"])
    assert_valid_assignments(
        [[("a", R["a"]), ("b", R["b"])], [("c", R["c"])], [("s", R["s"])]], R, ["s"]
    )


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        ([[("a", R["a"]), ("c", R["c"])], [("b", R["b"])]], "'a' .* 'c' .* overlap"),
        ([[("a", R["a"]), ("b", R["b"])]], "'c' is in no buffer"),
        ([[("a", R["a"])], [("a", R["a"])], [("b", R["b"]), ("c", R["c"])]], "'a' is in buffers"),
        ([[("a", R["a"]), ("b", R["b"])], [("c", LiveRange(2, 5, 2))]], "'c' has range"),
        ([[("a", R["a"]), ("b", R["b"])], [("c", R["c"])], [("z", R["a"])]], "'z' is not a blob"),
        ([[("a", R["a"]), ("b", R["b"])], [("c", R["c"]), ("s", R["s"])]], "static blob 's'"),
        ([["a"], [("b", R["b"])], [("c", R["c"])]], "not a \\(name, LiveRange\\) pair"),
    ],
)
def test_oracle_rejects(assignments: list[list[tuple[str, LiveRange]]], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        assert_valid_assignments(assignments, R, ["s"])
