"""Hand-built models for every rule of model_graph and tensor_ranges."""

from __future__ import annotations

import itertools

import onnx
import pytest
from onnx import TensorProto, helper
from onnx_oracles import FLOAT, info, ints, model, weight

from memonger.alloc import LiveRange
from memonger.onnx import (
    InvalidModelError,
    OnnxError,
    UnknownDimensionError,
    UnknownSizeError,
    model_graph,
    model_ranges,
    plan_model,
    tensor_nbytes,
    tensor_ranges,
)
from memonger.onnx.sizes import element_bits

node = helper.make_node


def chain(n: int = 3, shape: tuple[int, ...] = (4, 8)) -> onnx.ModelProto:
    names = ["x"] + [f"t{i}" for i in range(n - 1)] + ["y"]
    nodes = [node("Relu", [a], [b]) for a, b in itertools.pairwise(names)]
    return model(nodes, [info("x", shape)], [info("y", shape)])


# ------------------------------------------------------------------- sizes


def test_element_sizes_follow_the_onnx_types() -> None:
    assert tensor_nbytes([2, 3], TensorProto.FLOAT) == 24
    assert tensor_nbytes([2, 3], TensorProto.DOUBLE) == 48
    assert tensor_nbytes([2, 3], TensorProto.FLOAT16) == 12
    assert tensor_nbytes([2, 3], TensorProto.BOOL) == 6
    assert tensor_nbytes([2, 3], TensorProto.COMPLEX128) == 96
    assert tensor_nbytes([5], TensorProto.INT4) == 3  # packed, rounded up
    assert tensor_nbytes([10**6, 10**6, 10**6], TensorProto.INT64) == 8 * 10**18
    with pytest.raises(ValueError, match="STRING"):
        element_bits(TensorProto.STRING)
    with pytest.raises(ValueError, match="negative"):
        tensor_nbytes([-1], TensorProto.FLOAT)


def test_sizes_of_a_chain_and_ranges() -> None:
    m = chain()
    graph = model_graph(m)
    assert graph.planned == ("x", "t0", "t1", "y")
    assert all(graph.sizes[n] == 128 for n in graph.planned)
    assert tensor_ranges(m) == {
        "x": LiveRange(-1, 0, 128),
        "t0": LiveRange(0, 1, 128),
        "t1": LiveRange(1, 2, 128),
        "y": LiveRange(2, 3, 128),
    }


def test_string_tensor_is_reported_not_guessed() -> None:
    m = model(
        [node("Identity", ["s"], ["t"])],
        [info("s", [3], TensorProto.STRING)],
        [info("t", [3], TensorProto.STRING)],
    )
    graph = model_graph(m)
    assert "STRING has no fixed size" in graph.unknown["s"]
    with pytest.raises(UnknownSizeError, match="'s'") as err:
        tensor_ranges(m)
    assert set(err.value.unknown) == {"s", "t"}
    assert tensor_ranges(m, unknown="skip") == {}


# --------------------------------------------------------------- static


def test_initializer_listed_in_graph_input_is_static() -> None:
    w = weight("w", [8, 8])
    m = model(
        [node("MatMul", ["x", "w"], ["y"])],
        [info("x", [4, 8]), info("w", [8, 8])],  # IR < 4 style: initializer also an input
        [info("y", [4, 8])],
        [w],
    )
    graph = model_graph(m)
    assert "w" in graph.static
    assert graph.inputs == ("x",)
    assert graph.sizes["w"] == 256
    assert set(tensor_ranges(m)) == {"x", "y"}


def test_constant_chains_are_static() -> None:
    nodes = [
        node("Constant", [], ["shape"], value=ints("v", [4, 8])),
        node("ConstantOfShape", ["shape"], ["zeros"]),  # static: input static
        node("Shape", ["w"], ["wshape"]),  # Shape of an initializer
        node("ConstantOfShape", ["wshape"], ["wzeros"]),
        node("Add", ["zeros", "wzeros"], ["bias"]),  # arithmetic on constants
        node("Add", ["x", "bias"], ["y"]),  # reads an activation: planned
        node("Relu", ["y"], ["z"]),
    ]
    m = model(nodes, [info("x", [4, 8])], [info("z", [4, 8])], [weight("w", [4, 8])])
    graph = model_graph(m)
    assert {"shape", "zeros", "wshape", "wzeros", "bias", "w"} <= graph.static
    assert [op.static for op in graph.ops] == [True] * 5 + [False] * 2
    assert set(tensor_ranges(m)) == {"x", "y", "z"}
    plan = plan_model(m)
    assert plan.naive_bytes == 3 * 128


def test_random_ops_are_never_folded() -> None:
    nodes = [
        node("Constant", [], ["shape"], value=ints("v", [4, 8])),
        node("ConstantOfShape", ["shape"], ["zeros"]),
        node("RandomNormalLike", ["zeros"], ["noise"]),
        node("Add", ["x", "noise"], ["y"]),
    ]
    m = model(nodes, [info("x", [4, 8])], [info("y", [4, 8])])
    graph = model_graph(m)
    assert "zeros" in graph.static
    assert "noise" not in graph.static
    assert set(tensor_ranges(m)) == {"x", "noise", "y"}


# -------------------------------------------------------- inputs and outputs


def test_graph_outputs_live_to_the_end_even_when_read_later() -> None:
    nodes = [node("Relu", ["x"], ["a"]), node("Relu", ["a"], ["b"]), node("Relu", ["b"], ["c"])]
    m = model(nodes, [info("x", [2])], [info("a", [2]), info("c", [2])])
    ranges = tensor_ranges(m)
    assert ranges["a"] == LiveRange(0, 3, 8)  # read by op 1, but an output
    assert ranges["b"] == LiveRange(1, 2, 8)
    assert ranges["c"] == LiveRange(2, 3, 8)


def test_graph_input_unread_and_passed_through() -> None:
    m = model(
        [node("Relu", ["x"], ["y"])],
        [info("x", [2]), info("unused_in", [3]), info("through", [5])],
        [info("y", [2]), info("through", [5])],
    )
    ranges = tensor_ranges(m)
    assert ranges["unused_in"] == LiveRange(-1, -1, 12)
    assert ranges["through"] == LiveRange(-1, 1, 20)


def test_undefined_tensor_is_an_error_naming_it() -> None:
    m = model([node("Relu", ["nowhere"], ["y"], name="r")], [], [info("y", [2])])
    with pytest.raises(InvalidModelError, match=r"'r' \(Relu\) reads tensor 'nowhere'"):
        model_graph(m)
    m = model([node("Relu", ["x"], ["y"])], [info("x", [2])], [info("ghost", [2])])
    with pytest.raises(InvalidModelError, match="graph output 'ghost'"):
        model_graph(m)


def test_tensor_defined_twice_is_an_error() -> None:
    nodes = [node("Relu", ["x"], ["y"]), node("Neg", ["x"], ["y"], name="again")]
    m = model(nodes, [info("x", [2])], [info("y", [2])])
    with pytest.raises(InvalidModelError, match="'y' is defined twice"):
        model_graph(m)


# ---------------------------------------------------- optional and unused outputs


def test_empty_optional_outputs_are_not_tensors() -> None:
    nodes = [
        node("Dropout", ["x"], ["d", ""]),
        node("BatchNormalization", ["d", "s", "b", "m", "v"], ["y"]),
    ]
    params = [weight(n, [3]) for n in ("s", "b", "m", "v")]
    m = model(nodes, [info("x", [1, 3, 4, 4])], [info("y", [1, 3, 4, 4])], params)
    graph = model_graph(m)
    assert graph.ops[0].output == ("d",)
    assert "" not in graph.sizes
    assert "" not in tensor_ranges(m)
    assert not graph.unused


def test_unconsumed_dropout_mask_is_reported_and_dies_with_its_node() -> None:
    nodes = [node("Dropout", ["x"], ["d", "mask"], name="drop"), node("Relu", ["d"], ["y"])]
    m = model(nodes, [info("x", [4, 4])], [info("y", [4, 4])])
    graph = model_graph(m)
    assert "mask" in graph.unused
    assert "Dropout node 'drop'" in graph.unused["mask"]
    assert graph.ops[0].output == ("d",)
    assert graph.ops[0].workspace == ("mask",)
    ranges = tensor_ranges(m)
    assert ranges["mask"] == LiveRange(0, 0, 16)  # BOOL mask, 16 elements


def test_unread_output_without_a_type_is_reported_not_planned() -> None:
    # Dropout-7 (opset 9) leaves its mask untyped.
    nodes = [node("Dropout", ["x"], ["d", "mask"]), node("Relu", ["d"], ["y"])]
    m = model(nodes, [info("x", [4, 4])], [info("y", [4, 4])], opset=9)
    graph = model_graph(m)
    assert "not planned" in graph.unused["mask"]
    assert "mask" not in tensor_ranges(m)


# ----------------------------------------------------------------- dims


def test_symbolic_dims_bound_propagate() -> None:
    nodes = [node("Relu", ["x"], ["a"]), node("Flatten", ["a"], ["y"], axis=1)]
    m = model(nodes, [info("x", ["batch", 3, "len"])], [info("y", None)])
    graph = model_graph(m, dims={"batch": 2, "len": 5})
    assert graph.sizes["a"] == 2 * 3 * 5 * 4
    assert graph.sizes["y"] == 2 * 15 * 4
    assert not graph.unknown
    assert tensor_ranges(m, dims={"batch": 2, "len": 5})["y"].size == 120


def test_symbolic_dims_unbound_are_reported_by_name() -> None:
    m = model([node("Relu", ["x"], ["y"])], [info("x", ["batch", 3])], [info("y", None)])
    graph = model_graph(m)
    assert "'batch'" in graph.unknown["x"]
    assert "--dim batch=N" in graph.unknown["x"]
    with pytest.raises(UnknownSizeError, match=r"'x'.*symbolic"):
        tensor_ranges(m)
    with pytest.raises(UnknownSizeError):
        plan_model(m)
    assert tensor_ranges(m, unknown="skip") == {}
    skipped = model_ranges(m, unknown="skip").skipped
    assert set(skipped) == {"x", "y"}


def test_dims_naming_no_dimension_or_bad_value() -> None:
    m = model([node("Relu", ["x"], ["y"])], [info("x", ["batch", 3])], [info("y", None)])
    with pytest.raises(UnknownDimensionError, match=r"'bacth'.*batch"):
        model_graph(m, dims={"bacth": 1})
    with pytest.raises(UnknownDimensionError, match="non-negative"):
        model_graph(m, dims={"batch": -1})
    with pytest.raises(ValueError, match="non-negative"):
        model_graph(m, dims={"batch": 1.5})  # type: ignore[dict-item]


def test_dims_are_not_written_into_the_callers_model() -> None:
    m = model([node("Relu", ["x"], ["y"])], [info("x", ["batch", 3])], [info("y", None)])
    before = m.SerializeToString()
    model_graph(m, dims={"batch": 4})
    assert m.SerializeToString() == before


# ----------------------------------------------------------------- views


def test_views_off_and_on() -> None:
    nodes = [
        node("Relu", ["x"], ["a"]),
        node("Reshape", ["a", "shape"], ["r"]),
        node("Relu", ["r"], ["b"]),
        node("Relu", ["b"], ["c"]),
        node("Add", ["c", "r"], ["y"]),
    ]
    m = model(nodes, [info("x", [4, 8])], [info("y", [32])], [ints("shape", [32])])
    off = tensor_ranges(m)
    assert set(off) == {"x", "a", "r", "b", "c", "y"}
    assert off["a"] == LiveRange(0, 1, 128)
    on = tensor_ranges(m, views=True)
    assert "r" not in on  # a view: no allocation of its own
    assert on["a"] == LiveRange(0, 4, 128)  # storage kept until the view's last read
    graph = model_graph(m, views=True)
    assert graph.ops[1].views == ((0, 0),)
    assert "r" not in graph.planned
    assert plan_model(m, views=True).naive_bytes == plan_model(m).naive_bytes - 128


@pytest.mark.parametrize("op", ["Flatten", "Squeeze", "Unsqueeze", "Identity"])
def test_every_view_op(op: str) -> None:
    extra: list[str] = []
    inits: list[onnx.TensorProto] = []
    if op in ("Squeeze", "Unsqueeze"):
        extra, inits = ["axes"], [ints("axes", [0])]
    shape = [1, 8] if op == "Squeeze" else [8]
    m = model(
        [node("Relu", ["x"], ["a"]), node(op, ["a", *extra], ["v"]), node("Relu", ["v"], ["y"])],
        [info("x", shape)],
        [info("y", None)],
        inits,
    )
    assert model_graph(m, views=True).ops[1].views == ((0, 0),)
    assert model_graph(m).ops[1].views == ()
    assert "v" not in tensor_ranges(m, views=True)


def test_view_of_a_graph_output_keeps_the_storage_to_the_end() -> None:
    nodes = [node("Relu", ["x"], ["a"]), node("Identity", ["a"], ["y"])]
    m = model(nodes, [info("x", [4])], [info("y", [4])])
    assert tensor_ranges(m, views=True)["a"] == LiveRange(0, 2, 16)


def test_view_of_a_static_tensor_is_not_planned() -> None:
    nodes = [node("Shape", ["x"], ["s"]), node("Reshape", ["w", "s"], ["wv"]),
             node("Add", ["x", "wv"], ["y"])]  # fmt: skip
    m = model(nodes, [info("x", [8])], [info("y", [8])], [weight("w", [8])])
    ranges = tensor_ranges(m, views=True)
    assert "wv" not in ranges
    assert "w" not in ranges
    assert "wv" in tensor_ranges(m)


# -------------------------------------------------------------- subgraphs


def _if_model() -> onnx.ModelProto:
    then = helper.make_graph(
        [node("Add", ["a", "b"], ["t1"]), node("Relu", ["t1"], ["t2"])],
        "then",
        [],
        [info("t2", [4])],
    )
    other = helper.make_graph([node("Neg", ["a"], ["e1"])], "else", [], [info("e1", [4])])
    nodes = [
        node("Relu", ["x"], ["a"]),
        node("Neg", ["x"], ["b"]),
        node("Relu", ["x"], ["late"]),
        node("If", ["cond"], ["z"], then_branch=then, else_branch=other, name="choose"),
        node("Add", ["z", "late"], ["y"]),
    ]
    return model(nodes, [info("x", [4]), info("cond", [], TensorProto.BOOL)], [info("y", [4])])


def test_if_reads_outer_tensors_through_its_branches() -> None:
    m = _if_model()
    graph = model_graph(m)
    if_op = graph.ops[3]
    assert if_op.input == ("cond", "a", "b")
    assert set(if_op.workspace) == {"t1", "t2", "e1"}
    ranges = tensor_ranges(m)
    assert ranges["a"] == LiveRange(0, 3, 16)
    assert ranges["b"] == LiveRange(1, 3, 16)
    for name in ("t1", "t2", "e1"):
        assert ranges[name] == LiveRange(3, 3, 16), name


def test_subgraphs_planned_separately_when_asked() -> None:
    m = _if_model()
    graph = model_graph(m, subgraphs=True)
    assert graph.ops[3].workspace == ()
    assert set(graph.subgraphs) == {"choose.then_branch", "choose.else_branch"}
    then = graph.subgraphs["choose.then_branch"]
    assert then.planned == ("t1", "t2")
    assert {"a", "b"} <= set(then.sizes) | {"a", "b"}
    ranges = tensor_ranges(then)
    assert ranges == {"t1": LiveRange(0, 1, 16), "t2": LiveRange(1, 2, 16)}
    assert "t1" not in tensor_ranges(graph)


def test_outer_tensor_named_as_a_branch_output_is_read_by_the_owner() -> None:
    then = helper.make_graph([], "then", [], [info("a", [4])])
    other = helper.make_graph([], "else", [], [info("b", [4])])
    nodes = [
        node("Relu", ["x"], ["a"]),
        node("Neg", ["x"], ["b"]),
        node("Relu", ["x"], ["c"]),
        node("If", ["cond"], ["z"], then_branch=then, else_branch=other),
    ]
    m = model(nodes, [info("x", [4]), info("cond", [], TensorProto.BOOL)], [info("z", [4])])
    ranges = tensor_ranges(m)
    assert ranges["a"].used == 3
    assert ranges["b"].used == 3


def test_nested_subgraphs_charge_the_outermost_owner() -> None:
    inner = helper.make_graph([node("Relu", ["deep"], ["i1"])], "inner", [], [info("i1", [4])])
    inner_else = helper.make_graph([node("Neg", ["deep"], ["i2"])], "ie", [], [info("i2", [4])])
    outer_then = helper.make_graph(
        [node("If", ["cond"], ["o1"], then_branch=inner, else_branch=inner_else)],
        "ot",
        [],
        [info("o1", [4])],
    )
    outer_else = helper.make_graph([node("Neg", ["x"], ["o2"])], "oe", [], [info("o2", [4])])
    nodes = [
        node("Relu", ["x"], ["deep"]),
        node("Relu", ["x"], ["pad"]),
        node("If", ["cond"], ["z"], then_branch=outer_then, else_branch=outer_else),
        node("Add", ["z", "pad"], ["y"]),
    ]
    m = model(nodes, [info("x", [4]), info("cond", [], TensorProto.BOOL)], [info("y", [4])])
    ranges = tensor_ranges(m)
    assert ranges["deep"] == LiveRange(0, 2, 16)
    assert ranges["x"].used == 2
    assert {"i1", "i2", "o1", "o2"} <= set(ranges)
    assert all(ranges[n] == LiveRange(2, 2, 16) for n in ("i1", "i2", "o1", "o2"))


def test_loop_reads_outer_tensors_and_plans_its_body_with_the_node() -> None:
    body = helper.make_graph(
        [
            node("Identity", ["cond_in"], ["cond_out"]),
            node("Add", ["carried", "outer"], ["sum"]),
            node("Relu", ["sum"], ["carried_out"]),
        ],
        "body",
        [
            info("iter", [], TensorProto.INT64),
            info("cond_in", [], TensorProto.BOOL),
            info("carried", [4]),
        ],
        [info("cond_out", [], TensorProto.BOOL), info("carried_out", [4])],
    )
    nodes = [
        node("Relu", ["x"], ["outer"]),
        node("Relu", ["x"], ["start"]),
        node("Loop", ["trip", "", "start"], ["final"], body=body),
        node("Relu", ["final"], ["y"]),
    ]
    m = model(
        nodes,
        [info("x", [4])],
        [info("y", [4])],
        [helper.make_tensor("trip", TensorProto.INT64, [], [3])],
    )
    m.graph.value_info.append(info("final", [4]))  # onnx does not infer it
    graph = model_graph(m)
    loop = graph.ops[2]
    assert loop.input == ("trip", "start", "outer")  # the empty optional input dropped
    assert set(loop.workspace) == {"iter", "cond_in", "carried", "cond_out", "sum", "carried_out"}
    ranges = tensor_ranges(m)
    assert ranges["outer"] == LiveRange(0, 2, 16)
    assert ranges["sum"] == LiveRange(2, 2, 16)
    assert ranges["iter"] == LiveRange(2, 2, 8)
    assert "trip" not in ranges


def test_scan_reads_outer_tensors() -> None:
    body = helper.make_graph(
        [node("Add", ["acc", "row"], ["acc2"]), node("Mul", ["acc2", "scale"], ["out_row"])],
        "body",
        [info("acc", [3]), info("row", [3])],
        [info("acc2", [3]), info("out_row", [3])],
    )
    nodes = [
        node("Relu", ["x"], ["scale"]),
        node("Relu", ["x"], ["init"]),
        node("Relu", ["seq_in"], ["seq"]),
        node("Scan", ["init", "seq"], ["acc_final", "rows"], body=body, num_scan_inputs=1),
    ]
    m = model(
        nodes,
        [info("x", [3]), info("seq_in", [5, 3])],
        [info("acc_final", [3]), info("rows", [5, 3])],
    )
    ranges = tensor_ranges(m)
    assert ranges["scale"] == LiveRange(0, 3, 12)
    assert ranges["rows"] == LiveRange(3, 4, 60)
    assert ranges["out_row"] == LiveRange(3, 3, 12)


def test_workspace_name_clash_is_qualified() -> None:
    then = helper.make_graph([node("Relu", ["a"], ["t"])], "then", [], [info("t", [4])])
    other = helper.make_graph([node("Neg", ["a"], ["t"])], "else", [], [info("t", [4])])
    nodes = [
        node("Relu", ["x"], ["a"]),
        node("If", ["cond"], ["y"], then_branch=then, else_branch=other, name="n"),
    ]
    m = model(nodes, [info("x", [4]), info("cond", [], TensorProto.BOOL)], [info("y", [4])])
    graph = model_graph(m)
    # The attributes come sorted by name: else_branch first keeps the plain name.
    assert graph.ops[1].workspace == ("t", "t@n.then_branch")
    assert set(tensor_ranges(m)) >= {"t", "t@n.then_branch"}


# ---------------------------------------------------------------- options


def test_bad_options() -> None:
    with pytest.raises(OnnxError, match="unknown order"):
        tensor_ranges(chain(), order="random")
    with pytest.raises(OnnxError, match="'raise' or 'skip'"):
        tensor_ranges(chain(), unknown="guess")  # type: ignore[arg-type]
    with pytest.raises(OnnxError, match="model_graph"):
        tensor_ranges(model_graph(chain()), views=True)


def test_plan_model_reports_both_bounds_and_the_arena() -> None:
    nodes = [
        node("Relu", ["x"], ["a"]),
        node("Relu", ["x"], ["b"]),
        node("MatMul", ["a", "w"], ["c"]),
        node("Add", ["c", "b"], ["y"]),
    ]
    m = model(nodes, [info("x", [4, 4])], [info("y", [4, 4])], [weight("w", [4, 4])])
    plan = plan_model(m, alignment=64)
    assert plan.offsets is not None
    assert all(off % 64 == 0 for off in plan.offsets.offsets.values())
    assert plan.arena_bytes is not None
    assert plan.arena_bytes >= plan.lower_bound
    assert plan.gap_bytes == plan.arena_bytes - plan.lower_bound
    assert plan.allocation.lower_bound >= plan.peak_bytes
    assert set(plan.seconds) == {"graph", "ranges", "shared", "offsets"}
    timeline = plan.timeline()
    assert timeline.peak_nbytes == plan.peak_bytes
    row = plan.net_report()
    assert row.peak_nbytes == plan.peak_bytes
    assert row.plan_nbytes == plan.arena_bytes
    tight = plan_model(m, capacity=plan.peak_bytes - 1)
    assert tight.offsets is not None
    assert tight.offsets.feasible is False


def test_order_memory_plans_the_same_tensors() -> None:
    nodes = [
        node("Relu", ["x"], ["big"]),
        node("Relu", ["x"], ["small"]),
        node("Relu", ["small"], ["s2"]),
        node("ReduceSum", ["big"], ["bsum"], keepdims=1),
        node("Add", ["s2", "bsum"], ["y"]),
    ]
    m = model(nodes, [info("x", [64, 64])], [info("y", [64, 64])])
    program = model_ranges(m)
    memory = model_ranges(m, order="memory")
    assert set(program.ranges) == set(memory.ranges)
    assert sorted(op.index for op in memory.ops) == list(range(5))


def test_floats_elsewhere_keep_their_bytes() -> None:
    m = model(
        [node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16), node("Relu", ["h"], ["y"])],
        [info("x", [10])],
        [info("y", [10], TensorProto.FLOAT16)],
    )
    assert tensor_ranges(m)["h"].size == 20
    assert FLOAT == TensorProto.FLOAT
