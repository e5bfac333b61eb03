"""The public strategies and the oracles."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from memonger.alloc import LiveRange
from memonger.alloc.testing import (
    OffsetProblem,
    OracleError,
    assert_valid_assignments,
    assert_valid_offsets,
    live_ranges,
    offset_problems,
)


@pytest.mark.parametrize("factory", [live_ranges, offset_problems])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_size": -1},
        {"max_size": 1.5},
        {"min_size": 3, "max_size": 2},
        {"horizon": -2},
        {"horizon": None},
        {"sizes": [1, 2]},
        {"sizes": 8},
        {"max_size": True},
        {"max_size": "3"},
    ],
)
def test_bad_arguments_raise_at_call(
    factory: Callable[..., Any], kwargs: dict[str, object]
) -> None:
    with pytest.raises(InvalidArgument):
        factory(**kwargs)  # eager: nothing drawn


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (live_ranges, {"static": "yes"}),
        (live_ranges, {"static": 1}),
        (offset_problems, {"capacity": "yes"}),
        (offset_problems, {"alignments": 8}),
    ],
)
def test_bad_flags_raise_at_call(factory: Callable[..., Any], kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        factory(**kwargs)


@pytest.mark.parametrize("factory", [live_ranges, offset_problems])
def test_strategies_take_keyword_arguments_only(factory: Callable[..., Any]) -> None:
    with pytest.raises(TypeError):
        factory(0, 5)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (live_ranges(), "live_ranges()"),
        (live_ranges(max_size=5), "live_ranges(max_size=5)"),
        (live_ranges(max_size=None, static=True), "live_ranges(max_size=None, static=True)"),
        (live_ranges(min_size=1, sizes=st.just(3)), "live_ranges(min_size=1, sizes=just(3))"),
        (offset_problems(), "offset_problems()"),
        (
            offset_problems(capacity=True, alignments=st.just(8)),
            "offset_problems(alignments=just(8), capacity=True)",
        ),
    ],
)
def test_reprs_mirror_the_call(strategy: st.SearchStrategy[Any], expected: str) -> None:
    assert repr(strategy) == expected


@given(live_ranges(min_size=13, max_size=None, sizes=st.none()))
def test_max_size_none_sets_no_upper_bound(ranges: dict[str, LiveRange]) -> None:
    assert len(ranges) >= 13
    assert all(r.size is None for r in ranges.values())


def test_max_size_none_draws_beyond_the_default_bound() -> None:
    big = find(live_ranges(max_size=None), lambda ranges: len(ranges) > 12)
    assert len(big) == 13


@given(offset_problems(min_size=1, max_size=None, capacity=True))
def test_offset_problems_take_max_size_none(problem: OffsetProblem) -> None:
    assert len(problem.ranges) >= 1
    assert problem.capacity is not None


@pytest.mark.parametrize(
    "strategy",
    [
        live_ranges(min_size=1, sizes=st.just(-1)),
        live_ranges(min_size=1, sizes=st.just(1.5)),  # type: ignore[arg-type]
        offset_problems(min_size=1, sizes=st.just(True)),
        offset_problems(alignments=st.just(0)),
    ],
)
def test_drawn_values_out_of_domain_raise(strategy: st.SearchStrategy[Any]) -> None:
    @settings(max_examples=5, database=None)
    @given(strategy)
    def draw(_: object) -> None:
        pass

    with pytest.raises(InvalidArgument, match="drew"):
        draw()


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
    with pytest.raises(OracleError, match=message):
        assert_valid_assignments(assignments, R, ["s"])


def _frames(tb: TracebackType | None) -> dict[str, dict[str, Any]]:
    found = {}
    while tb is not None:
        found[tb.tb_frame.f_code.co_name] = dict(tb.tb_frame.f_locals)
        tb = tb.tb_next
    return found


@pytest.mark.parametrize(
    ("oracle", "call"),
    [
        (
            "assert_valid_assignments",
            lambda: assert_valid_assignments([[("a", R["a"]), ("c", R["c"])]], R),
        ),
        ("assert_valid_offsets", lambda: assert_valid_offsets(R, {"a": 0})),
    ],
)
def test_oracles_raise_an_assertion_error_and_hide_their_frames(
    oracle: str, call: Callable[[], None]
) -> None:
    with pytest.raises(OracleError) as info:
        call()
    assert isinstance(info.value, AssertionError)
    assert _frames(info.tb)[oracle].get("__tracebackhide__") is True


def test_oracles_survive_python_dash_o() -> None:
    script = textwrap.dedent(
        """
        from memonger.alloc import LiveRange
        from memonger.alloc.testing import OracleError, assert_valid_assignments
        from memonger.alloc.testing import assert_valid_offsets

        assert False, "asserts must be off under -O"
        rs = {"a": LiveRange(0, 2, 4), "b": LiveRange(2, 3, 4)}
        for call in (
            lambda: assert_valid_assignments([[("a", rs["a"]), ("b", rs["b"])]], rs),
            lambda: assert_valid_assignments([[("a", rs["a"])]], rs),
            lambda: assert_valid_assignments([["a"]], rs),
            lambda: assert_valid_offsets(rs, {"a": 0, "b": 2}),
        ):
            try:
                call()
            except OracleError as exc:
                print("raised:", exc)
            else:
                raise SystemExit("an oracle accepted an invalid plan")
        """
    )
    run = subprocess.run(
        [sys.executable, "-O", "-c", script], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("raised:") == 4


def test_import_without_hypothesis_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["hypothesis"] = None  # as if Hypothesis were not installed
        try:
            import memonger.alloc.testing
        except ModuleNotFoundError as exc:
            print(exc.name)
            print(exc)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    name, message = run.stdout.splitlines()
    assert name == "hypothesis"
    assert 'pip install "memonger-alloc[testing]"' in message


@given(st.from_type(LiveRange))
def test_from_type_draws_valid_live_ranges(r: LiveRange) -> None:
    assert isinstance(r, LiveRange)
    assert -1 <= r.defined <= r.used
    assert r.size is None or r.size >= 0


@given(st.from_type(dict[str, LiveRange]))
def test_from_type_fills_mappings_of_live_ranges(ranges: dict[str, LiveRange]) -> None:
    assert all(r.defined <= r.used for r in ranges.values())


@given(st.from_type(OffsetProblem))
def test_from_type_draws_offset_problems(problem: OffsetProblem) -> None:
    assert isinstance(problem, OffsetProblem)
    assert problem.alignment >= 1


def test_the_entry_point_registers_live_range_without_importing_the_strategies() -> None:
    hooks = [
        e.value
        for e in importlib.metadata.entry_points(group="hypothesis")
        if e.dist is not None and e.dist.name == "memonger-alloc"
    ]
    assert hooks == ["memonger.alloc._hypothesis:_hypothesis_setup_hook"]
    script = textwrap.dedent(
        """
        import sys
        from hypothesis import find, strategies as st
        from memonger.alloc import LiveRange
        assert "memonger.alloc.testing" not in sys.modules
        r = find(st.from_type(LiveRange), lambda r: r.used > r.defined >= 0)
        print(type(r).__name__, r.defined < r.used)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["LiveRange", "True"]
