"""Every light model of the installed onnx wheel, end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import light_params
from onnx_oracles import assert_valid_offsets, peak

from memonger.onnx import model_graph, plan_model, tensor_ranges

# onnx.load_model, not onnx.load: pytest's doctest collection of memonger/onnx/load.py
# without consider_namespace_packages registers it as "onnx.load", shadowing the function.


def _inferred_sizes(path: Path) -> dict[str, int]:
    """Bytes of every fully static tensor type onnx's own inference reports (numpy itemsizes)."""
    m = onnx.shape_inference.infer_shapes(onnx.load_model(str(path)), data_prop=True)
    sizes: dict[str, int] = {}
    for vi in (*m.graph.input, *m.graph.value_info, *m.graph.output):
        tt = vi.type.tensor_type
        if not tt.HasField("shape") or any(not d.HasField("dim_value") for d in tt.shape.dim):
            continue
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)).itemsize
        count = int(np.prod([d.dim_value for d in tt.shape.dim], dtype=np.int64))
        sizes[vi.name] = count * itemsize
    return sizes


@pytest.mark.parametrize("path", light_params())
def test_sizes_match_onnx_shape_inference(path: Path) -> None:
    graph = model_graph(path)
    expected = _inferred_sizes(path)
    planned = set(graph.planned)
    assert planned, "nothing to plan"
    for name in planned:
        if name in expected:
            assert graph.sizes[name] == expected[name], name
        else:  # only outputs nobody reads may lack a type; they are reported
            pytest.fail(f"{name} is planned without an inferred type")
    assert not graph.unknown


@pytest.mark.parametrize("path", light_params())
def test_every_activation_planned_and_no_constant(path: Path) -> None:
    m = onnx.load_model(str(path))
    ranges = tensor_ranges(path)
    graph = model_graph(path)
    initializers = {t.name for t in m.graph.initializer}
    reads = {x for n in m.graph.node for x in n.input if x}
    outputs = {o.name for o in m.graph.output}
    # Recompute the constants: a node is constant if all its inputs are (or it is Constant).
    constant = set(initializers)
    for node in m.graph.node:
        ins = [x for x in node.input if x]
        if node.op_type == "Constant" or (ins and all(x in constant for x in ins)):
            constant.update(x for x in node.output if x)
    activations = {
        x for n in m.graph.node for x in n.output if x and (x in reads or x in outputs)
    } - constant
    activations |= {i.name for i in m.graph.input} - initializers
    assert activations <= set(ranges), sorted(activations - set(ranges))[:5]
    assert not (constant & set(ranges))
    for name in set(ranges) - activations:
        assert name in graph.unused  # unread outputs, planned as their node's workspace
    for name in outputs:
        assert ranges[name].used == len(m.graph.node)


@pytest.mark.parametrize("path", light_params())
def test_offset_plan_valid_and_equal_to_peak(path: Path) -> None:
    plan = plan_model(path)
    assert plan.offsets is not None
    assert_valid_offsets(plan.ranges, plan.offsets.offsets, plan.offsets.arena_bytes)
    assert plan.peak_bytes == peak(plan.ranges)
    assert plan.offsets.lower_bound == plan.peak_bytes
    assert plan.offsets.arena_bytes == plan.peak_bytes
    assert plan.naive_bytes == sum(r.size for r in plan.ranges.values())
    assert plan.peak_bytes <= plan.shared_bytes <= plan.naive_bytes


@pytest.mark.parametrize("path", light_params())
def test_memory_order_never_worse_and_valid(path: Path) -> None:
    program = plan_model(path, offsets=False)
    memory = plan_model(path, order="memory", offsets=False)
    assert memory.peak_bytes <= program.peak_bytes
    assert sorted(op.index for op in memory.ops) == list(range(len(program.ops)))
    position = {op.index: p for p, op in enumerate(memory.ops)}
    produced = {x: op.index for op in memory.ops for x in op.output}
    for op in memory.ops:
        for x in op.input:
            if x in produced:
                assert position[produced[x]] < position[op.index]
