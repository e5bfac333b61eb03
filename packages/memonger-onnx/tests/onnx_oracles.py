"""Reference checks written independently of memonger: model builders, an
offset-plan validator, a peak computation and range comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper

OPSET = 17
FLOAT = TensorProto.FLOAT


def info(name: str, shape: Sequence[int | str] | None, elem: int = FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    *,
    opset: int = OPSET,
    name: str = "g",
) -> onnx.ModelProto:
    g = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def weight(name: str, shape: Sequence[int], elem: int = FLOAT) -> onnx.TensorProto:
    count = 1
    for d in shape:
        count *= d
    if elem == TensorProto.INT64:
        return helper.make_tensor(name, elem, list(shape), [1] * count)
    return helper.make_tensor(name, elem, list(shape), [0.5] * count)


def ints(name: str, values: Sequence[int]) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], list(values))


def assert_valid_offsets(ranges: Mapping[str, Any], offsets: Mapping[str, int], arena: int) -> None:
    """Every tensor placed, inside the arena, and no two live at once share a byte."""
    assert set(offsets) == set(ranges), set(offsets) ^ set(ranges)
    items = []
    for name, r in ranges.items():
        size = 1 if r.size is None else r.size
        off = offsets[name]
        assert off >= 0, (name, off)
        assert off + size <= arena, (name, off, size, arena)
        items.append((name, r.defined, r.used, off, off + size))
    items.sort(key=lambda t: t[1])
    for i, (a, d1, u1, lo1, hi1) in enumerate(items):
        for b, d2, u2, lo2, hi2 in items[i + 1 :]:
            if d2 > u1:
                break
            time_overlap = d1 <= u2 and d2 <= u1
            byte_overlap = lo1 < hi2 and lo2 < hi1
            assert not (time_overlap and byte_overlap), (a, b)


def peak(ranges: Mapping[str, Any]) -> int:
    """Largest total size live at one position (closed ranges), by brute force."""
    if not ranges:
        return 0
    first = min(r.defined for r in ranges.values())
    last = max(r.used for r in ranges.values())
    best = 0
    for p in range(first, last + 1):
        total = sum(
            (1 if r.size is None else r.size) for r in ranges.values() if r.defined <= p <= r.used
        )
        best = max(best, total)
    return best
