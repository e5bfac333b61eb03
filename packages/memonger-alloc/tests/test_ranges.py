"""Tests of live-range computation (design 3.1)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from memonger.alloc import InvalidRangeError, LiveRange, MissingSizeError, compute_ranges


def op(inputs: list[str], outputs: list[str]) -> SimpleNamespace:
    return SimpleNamespace(input=inputs, output=outputs)


def test_first_write_last_touch_and_live_to_end() -> None:
    ops = [op(["x"], ["a"]), op(["a"], ["b"]), op(["b"], ["a"])]
    ranges = compute_ranges(ops)
    assert ranges["x"] == LiveRange(-1, 0, None)
    assert ranges["a"] == LiveRange(0, 3, None)  # rewritten at 2, never read again
    assert ranges["b"] == LiveRange(1, 2, None)


def test_write_after_last_read_extends_range() -> None:
    ops = [op([], ["a"]), op(["a"], ["b"]), op(["b"], ["a", "c"]), op(["c"], ["d"])]
    ranges = compute_ranges(ops)
    assert ranges["a"] == LiveRange(0, 4, None)
    assert ranges["c"] == LiveRange(2, 3, None)


def test_read_before_write_is_minus_one() -> None:
    ranges = compute_ranges([op(["w"], ["o"]), op(["o"], ["w"])])
    assert ranges["w"].defined == -1


def test_sizes_required_and_checked() -> None:
    ops = [op(["x"], ["a"])]
    assert compute_ranges(ops, {"x": 4, "a": 8})["a"].size == 8
    with pytest.raises(MissingSizeError, match="'a'"):
        compute_ranges(ops, {"x": 4})
    with pytest.raises(InvalidRangeError, match="'x'"):
        compute_ranges(ops, {"x": -4, "a": 8})
