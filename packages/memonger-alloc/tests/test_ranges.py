"""Tests of live-range computation (design 3.1)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from memonger.alloc import (
    InvalidRangeError,
    LiveRange,
    MissingSizeError,
    compute_ranges,
    get_updated_ranges,
)


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


def test_control_inputs_count_as_reads() -> None:
    ops = [
        SimpleNamespace(input=[], output=["a"]),
        SimpleNamespace(input=["a"], output=["b"]),
        SimpleNamespace(input=["b"], output=["c"], control_input=["a"]),
    ]
    ranges = compute_ranges(ops)
    assert ranges["a"] == LiveRange(0, 2, None)
    # a control input after the last write does not end the blob's life
    tail = [
        SimpleNamespace(input=[], output=["p"]),
        SimpleNamespace(input=[], output=["q"], control_input=["p"]),
    ]
    assert compute_ranges(tail)["p"] == LiveRange(0, 2, None)
    # control inputs extend a range past its last data read
    longer = [*ops, SimpleNamespace(input=[], output=["d"], control_input=["b"])]
    assert compute_ranges(longer)["b"] == LiveRange(1, 3, None)
    # a control input naming a blob nobody wrote is a read from outside
    ranges = compute_ranges([SimpleNamespace(input=[], output=["y"], control_input=["ext"])])
    assert ranges["ext"] == LiveRange(-1, 0, None)


def test_get_updated_ranges_fills_unknowns() -> None:
    pairs = [("a", LiveRange(None, 3, None)), ("b", LiveRange(2, None, 8))]  # type: ignore[arg-type]
    assert get_updated_ranges(pairs) == [("a", LiveRange(-1, 3, 1)), ("b", LiveRange(2, 4, 8))]
    assert get_updated_ranges(pairs, max_live=10)[1] == ("b", LiveRange(2, 10, 8))
    assert pairs[0] == ("a", LiveRange(None, 3, None))  # type: ignore[arg-type]
