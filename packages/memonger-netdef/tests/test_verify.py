"""Tests of graph equality, in-place checks and symbolic execution equivalence."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from google.protobuf import text_format
from hypothesis import event, given, settings
from hypothesis import strategies as st

from memonger.graph.testing import RandomNet, nets
from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import NetDefError, VerificationError
from memonger.netdef.verify import (
    EquivalenceResult,
    assert_equivalent,
    graph_difference,
    inplace_difference,
    verify_execution_equivalence,
    verify_graph_equality,
    verify_inplace_blobs,
)

OpSpec = tuple[str, Sequence[str], Sequence[str]]


def make_net(
    ops: Sequence[OpSpec],
    external_input: Sequence[str] = (),
    external_output: Sequence[str] = (),
    name: str = "net",
) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(
        name=name, external_input=list(external_input), external_output=list(external_output)
    )
    for op_type, inputs, outputs in ops:
        net.op.add(type=op_type, input=list(inputs), output=list(outputs))
    return net


def renamed(net: caffe2_pb2.NetDef, mapping: dict[str, str]) -> caffe2_pb2.NetDef:
    """A copy of ``net`` with op inputs and outputs renamed (external lists untouched)."""
    copy = caffe2_pb2.NetDef()
    copy.CopyFrom(net)
    for op in copy.op:
        op.input[:] = [mapping.get(b, b) for b in op.input]
        op.output[:] = [mapping.get(b, b) for b in op.output]
    return copy


def reordered(net: caffe2_pb2.NetDef, order: Sequence[int]) -> caffe2_pb2.NetDef:
    copy = caffe2_pb2.NetDef()
    copy.CopyFrom(net)
    del copy.op[:]
    copy.op.extend([net.op[i] for i in order])
    return copy


def mlp() -> caffe2_pb2.NetDef:
    return make_net(
        [
            ("FC", ["data", "w1", "b1"], ["x"]),
            ("Relu", ["x"], ["y"]),
            ("FC", ["y", "w2", "b2"], ["z"]),
            ("Softmax", ["z"], ["prob"]),
        ],
        external_input=["data", "w1", "b1", "w2", "b2"],
        external_output=["prob"],
    )


# --------------------------------------------------------------------------- graph equality


def test_graph_equality_ignores_intermediate_names() -> None:
    net_a = mlp()
    net_b = renamed(net_a, {"x": "other_x", "y": "other_y", "z": "other_z"})
    assert verify_graph_equality(net_a, net_b)
    assert graph_difference(net_a, net_b) is None


def test_graph_equality_fails_when_a_branch_writes_y_twice() -> None:
    ops_a: list[OpSpec] = [
        ("Relu", ["x"], ["y"]),
        ("Sigmoid", ["x"], ["z"]),
        ("Sum", ["y", "z"], ["out"]),
    ]
    ops_b: list[OpSpec] = [
        ("Relu", ["x"], ["y"]),
        ("Sigmoid", ["x"], ["y"]),
        ("Sum", ["y", "y"], ["out"]),
    ]
    net_a = make_net(ops_a, ["x"], ["out"])
    net_b = make_net(ops_b, ["x"], ["out"])
    assert not verify_graph_equality(net_a, net_b)
    message = graph_difference(net_a, net_b)
    assert message is not None
    assert "op #2 Sum" in message
    assert "op #0" in message
    assert "op #1" in message


@pytest.mark.parametrize("which", ["input", "output"])
def test_graph_equality_renamed_external_blob_is_unequal(which: str) -> None:
    net_a = mlp()
    old = "data" if which == "input" else "prob"
    net_b = renamed(net_a, {old: "renamed"})
    assert not verify_graph_equality(net_a, net_b)
    message = graph_difference(net_a, net_b)
    assert message is not None
    assert repr(old) in message
    # Renaming it in the external list as well is still a different net.
    getattr(net_b, f"external_{which}")[:] = [
        "renamed" if b == old else b for b in getattr(net_b, f"external_{which}")
    ]
    assert not verify_graph_equality(net_a, net_b)


def test_graph_equality_compares_op_attributes() -> None:
    net_a = mlp()
    net_b = renamed(net_a, {})
    net_b.op[1].type = "Sigmoid"
    assert "Sigmoid" in (graph_difference(net_a, net_b) or "")
    net_c = renamed(net_a, {})
    net_c.op[0].engine = "CUDNN"
    assert "engine" in (graph_difference(net_a, net_c) or "")
    net_d = renamed(net_a, {})
    net_d.op[0].device_option.device_type = 1
    assert "device" in (graph_difference(net_a, net_d) or "")
    net_e = renamed(net_a, {})
    net_e.op[0].arg.add(name="axis", i=2)
    assert "arguments" in (graph_difference(net_a, net_e) or "")
    net_f = reordered(net_a, [0, 1, 2])
    assert "ops" in (graph_difference(net_a, net_f) or "")


def test_graph_equality_ignores_rename_arguments() -> None:
    net_a = mlp()
    net_b = renamed(net_a, {"y": "m0"})
    net_b.op[1].arg.add(name="y.rename", s=b"m0")
    assert verify_graph_equality(net_a, net_b)


def test_graph_equality_accepts_core_net_like_objects() -> None:
    class FakeNet:
        def __init__(self, proto: caffe2_pb2.NetDef) -> None:
            self._proto = proto

        def Proto(self) -> caffe2_pb2.NetDef:
            return self._proto

    assert verify_graph_equality(FakeNet(mlp()), mlp())
    with pytest.raises(TypeError, match="NetDef"):
        verify_graph_equality(object(), mlp())


# --------------------------------------------------------------------------- in-place


def three_copies(blob: str) -> caffe2_pb2.NetDef:
    return make_net([("Copy", [blob], [blob])] * 3, [blob], [blob])


def test_three_inplace_copies() -> None:
    net = three_copies("b1")
    assert verify_inplace_blobs(net, three_copies("b1"))
    assert verify_graph_equality(net, three_copies("b1"))
    assert verify_execution_equivalence(net, three_copies("b1"))
    # Breaking one in-place pair is caught by the in-place check.
    broken = three_copies("b1")
    broken.op[1].output[0] = "b2"
    assert not verify_inplace_blobs(net, broken)
    assert "op #1 Copy" in (inplace_difference(net, broken) or "")


def test_new_inplace_pair_is_refused() -> None:
    net_a = make_net([("Relu", ["x"], ["y"]), ("Relu", ["y"], ["z"])], ["x"], ["z"])
    net_b = make_net([("Relu", ["x"], ["y"]), ("Relu", ["y"], ["y"])], ["x"], ["z"])
    assert not verify_inplace_blobs(net_a, net_b)
    message = inplace_difference(net_a, net_b)
    assert message is not None
    assert "op #1" in message
    assert not verify_inplace_blobs(net_a, make_net([("Relu", ["x"], ["y"])]))


# --------------------------------------------------------------------------- execution


def test_identical_and_renamed_nets_are_equivalent() -> None:
    net = mlp()
    assert verify_execution_equivalence(net, net).ok
    result = verify_execution_equivalence(net, renamed(net, {"x": "m0", "y": "m1", "z": "m0"}))
    assert result.ok, result.message
    assert bool(result)
    assert result.orders_checked == 1


def test_single_rewired_input_is_detected() -> None:
    net = mlp()
    bad = renamed(net, {})
    bad.op[2].input[0] = "x"  # FC reads x instead of y
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert not bool(result)
    assert result.op_index == 2
    assert result.op_type == "FC"
    assert result.original_index == 2
    assert result.blob == "x"
    assert result.expected == "op #1 Relu output 0"
    assert result.found == "op #0 FC output 0"
    assert "op #2 FC" in result.message
    assert "'x'" in result.message


def test_unsafe_sharing_of_two_live_blobs_is_detected() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Sigmoid", ["x"], ["b"]),
            ("Sum", ["a", "b"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    shared = renamed(net, {"b": "a"})
    result = verify_execution_equivalence(net, shared)
    assert not result.ok
    assert result.op_index == 2
    assert result.blob == "a"
    assert result.expected == "op #0 Relu output 0"
    assert result.found == "op #1 Sigmoid output 0"


def test_valid_sharing_is_accepted() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Sigmoid", ["a"], ["b"]),
            ("Tanh", ["b"], ["c"]),
            ("Exp", ["c"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    assert verify_execution_equivalence(net, renamed(net, {"c": "a"}))
    # In-place reuse of a dead input buffer, as memonger does, is fine too.
    assert verify_execution_equivalence(net, renamed(net, {"b": "a", "c": "a"}))


def test_external_input_renamed_is_detected() -> None:
    net = mlp()
    bad = renamed(net, {"data": "data2"})
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert result.expected == "external input 'data'"
    assert result.found == "external input 'data2'"
    bad.external_input[0] = "data2"
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert "external_input" in result.message


def test_changed_external_output_is_detected() -> None:
    net = mlp()
    bad = renamed(net, {"prob": "m0"})
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert result.op_index is None
    assert result.blob == "prob"
    assert result.expected == "op #3 Softmax output 0"
    assert result.found == "external input 'prob'"
    assert "external output 'prob'" in result.message


def test_external_output_overwritten_later_is_detected() -> None:
    net = make_net([("Relu", ["x"], ["y"]), ("Sigmoid", ["y"], ["z"])], ["x"], ["y", "z"])
    bad = renamed(net, {"z": "y"})
    bad.external_output[:] = ["y", "z"]
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert result.blob in {"y", "z"}


def test_reading_a_freed_blob_is_detected() -> None:
    net = mlp()
    with_free = renamed(net, {})
    free = caffe2_pb2.OperatorDef(type="Free", input=["x"], output=["x"])
    with_free.op.insert(2, free)  # after Relu, the last reader of x: fine
    assert verify_execution_equivalence(net, with_free)
    too_early = renamed(net, {})
    too_early.op.insert(1, free)  # before Relu reads x
    result = verify_execution_equivalence(net, too_early)
    assert not result.ok
    assert result.op_index == 2
    assert result.op_type == "Relu"
    assert result.blob == "x"
    assert result.found is not None
    assert "freed by op #1 Free" in result.found


def test_freeing_an_external_output_is_detected() -> None:
    net = mlp()
    bad = renamed(net, {})
    bad.op.add(type="Free", input=["prob"], output=["prob"])
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert result.blob == "prob"


def test_inserted_alias_passes_values_through() -> None:
    net = mlp()
    aliased = renamed(net, {})
    aliased.op.insert(2, caffe2_pb2.OperatorDef(type="Alias", input=["y"], output=["y_alias"]))
    aliased.op[3].input[0] = "y_alias"  # the second FC reads y through the alias
    assert verify_execution_equivalence(net, aliased)
    wrong = renamed(net, {})
    wrong.op.insert(2, caffe2_pb2.OperatorDef(type="Alias", input=["x"], output=["y_alias"]))
    wrong.op[3].input[0] = "y_alias"
    result = verify_execution_equivalence(net, wrong)
    assert not result.ok
    assert result.found == "op #0 FC output 0"


def test_missing_and_extra_ops_are_detected() -> None:
    net = mlp()
    missing = reordered(net, [0, 1, 2])
    missing.external_output[:] = ["prob"]
    result = verify_execution_equivalence(net, missing)
    assert not result.ok
    assert "never runs" in result.message
    assert result.original_index == 3
    extra = renamed(net, {})
    extra.op.add(type="Exp", input=["prob"], output=["unused"])
    result = verify_execution_equivalence(net, extra)
    assert not result.ok
    assert "no counterpart" in result.message
    twice = renamed(net, {})
    twice.op.add().CopyFrom(net.op[3])
    result = verify_execution_equivalence(net, twice)
    assert not result.ok
    assert "more often" in result.message


def test_changed_argument_is_a_different_op() -> None:
    net = mlp()
    bad = renamed(net, {})
    bad.op[3].arg.add(name="axis", i=0)
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert result.op_index == 3


def test_valid_reordering_is_accepted() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Sigmoid", ["x"], ["b"]),
            ("Tanh", ["a"], ["c"]),
            ("Exp", ["b"], ["d"]),
            ("Sum", ["c", "d"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    for order in ([1, 0, 3, 2, 4], [1, 3, 0, 2, 4], [0, 2, 1, 3, 4]):
        result = verify_execution_equivalence(net, reordered(net, order))
        assert result.ok, (order, result.message)
    # An invalid one: the reader before its producer.
    result = verify_execution_equivalence(net, reordered(net, [2, 0, 1, 3, 4]))
    assert not result.ok
    assert result.op_index == 0
    assert result.found == "external input 'a'"


def test_blob_written_twice_reordered() -> None:
    # y is written twice; moving the second write before the first read is invalid.
    net = make_net(
        [
            ("Relu", ["x"], ["y"]),
            ("Sigmoid", ["y"], ["a"]),
            ("Tanh", ["x"], ["y"]),
            ("Sum", ["a", "y"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    assert verify_execution_equivalence(net, reordered(net, [2, 0, 1, 3])).ok is False
    # Renaming the second y makes the reordering valid.
    fixed = renamed(net, {})
    fixed.op[2].output[0] = "y2"
    fixed.op[3].input[1] = "y2"
    assert verify_execution_equivalence(net, reordered(fixed, [2, 0, 1, 3]))


def test_inplace_ops_in_execution() -> None:
    net = make_net(
        [
            ("FC", ["data", "w"], ["h"]),
            ("Relu", ["h"], ["h"]),
            ("Relu", ["h"], ["h"]),
            ("Softmax", ["h"], ["out"]),
        ],
        ["data", "w"],
        ["out"],
    )
    assert verify_execution_equivalence(net, renamed(net, {"h": "m"}))
    bad = renamed(net, {})
    bad.op[2].output[0] = "h2"  # second Relu no longer in place, Softmax reads the first
    result = verify_execution_equivalence(net, bad)
    assert not result.ok
    assert result.op_index == 3
    assert result.expected == "op #2 Relu output 0"
    assert result.found == "op #1 Relu output 0"


def test_assert_equivalent_raises_verification_error() -> None:
    net = mlp()
    assert assert_equivalent(net, net).ok
    bad = renamed(net, {"y": "x"})
    bad.op[1].input[0] = "x"
    bad.op[1].output[0] = "q"
    with pytest.raises(VerificationError, match="op #") as info:
        assert_equivalent(net, bad)
    assert isinstance(info.value, NetDefError)
    assert isinstance(info.value, AssertionError)


def test_result_is_a_frozen_dataclass() -> None:
    result = verify_execution_equivalence(mlp(), mlp())
    assert isinstance(result, EquivalenceResult)
    with pytest.raises(AttributeError):
        result.ok = False  # type: ignore[misc]


# --------------------------------------------------------------------------- orders and DAGs


def diamond() -> caffe2_pb2.NetDef:
    return make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Sigmoid", ["x"], ["b"]),
            ("Tanh", ["a"], ["c"]),
            ("Exp", ["b"], ["d"]),
            ("Sum", ["c", "d"], ["out"]),
        ],
        ["x"],
        ["out"],
    )


def test_sharing_valid_in_program_order_but_not_as_a_dag() -> None:
    net = diamond()
    # Sequentially fine: a is dead once Tanh has read it, then Sigmoid writes into it.
    sequential = reordered(renamed(net, {"b": "a"}), [0, 2, 1, 3, 4])
    assert verify_execution_equivalence(net, sequential).ok
    # Run as a DAG, Sigmoid may write a before Tanh reads it.
    result = verify_execution_equivalence(net, sequential, random_orders=30, seed=1)
    assert not result.ok
    assert result.order is not None
    assert sorted(result.order) == list(range(5))
    assert result.orders_checked > 1
    # Replaying the failing order alone finds the same divergence.
    replay = verify_execution_equivalence(net, sequential, orders=[result.order])
    assert replay.message == result.message


def test_dag_safe_sharing_passes_random_orders() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Tanh", ["a"], ["c"]),
            ("Sigmoid", ["c"], ["b"]),  # b's writer comes after every user of a
            ("Exp", ["b"], ["d"]),
            ("Relu", ["x"], ["e"]),
            ("Sum", ["c", "d", "e"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    shared = renamed(net, {"b": "a"})
    result = verify_execution_equivalence(net, shared, random_orders=30)
    assert result.ok, result.message
    assert result.orders_checked == 31


def test_random_orders_are_deterministic_and_valid() -> None:
    net = diamond()
    first = verify_execution_equivalence(net, net, random_orders=20, seed=3)
    second = verify_execution_equivalence(net, net, random_orders=20, seed=3)
    assert first == second
    assert first.ok


def test_explicit_orders() -> None:
    net = diamond()
    assert verify_execution_equivalence(net, net, orders=[[1, 0, 3, 2, 4], (0, 1, 2, 3, 4)])
    result = verify_execution_equivalence(net, net, orders=[[4, 0, 1, 2, 3]])
    assert not result.ok
    assert result.order == (4, 0, 1, 2, 3)
    assert result.op_index == 4
    with pytest.raises(ValueError, match="permutation"):
        verify_execution_equivalence(net, net, orders=[[0, 1, 2]])
    with pytest.raises(ValueError, match="permutation"):
        verify_execution_equivalence(net, net, orders=[[0, 0, 1, 2, 3]])
    with pytest.raises(ValueError, match="random_orders"):
        verify_execution_equivalence(net, net, random_orders=-1)


def test_free_ops_are_scheduled_after_their_readers() -> None:
    net = diamond()
    freed = renamed(net, {})
    freed.op.insert(3, caffe2_pb2.OperatorDef(type="Free", input=["a"], output=["a"]))
    result = verify_execution_equivalence(net, freed, random_orders=30)
    assert result.ok, result.message


# --------------------------------------------------------------------------- nested nets


def recurrent_net(form: str) -> caffe2_pb2.NetDef:
    """h0 is produced outside and read inside the step net of a RecurrentNetwork op."""
    net = make_net(
        [
            ("FC", ["data", "w0"], ["h0"]),
            ("Sigmoid", ["data"], ["s"]),
            ("RecurrentNetwork", ["x"], ["seq"]),
            ("Sum", ["seq", "s"], ["out"]),
        ],
        ["data", "w0", "x", "w"],
        ["out"],
    )
    step = caffe2_pb2.NetDef(name="step", external_input=["x_t", "w", "h0"])
    step.op.add(type="FC", input=["x_t", "w"], output=["y_t"])
    step.op.add(type="Add", input=["y_t", "h0"], output=["seq"])
    arg = net.op[2].arg.add(name="step_net")
    if form == "n":
        arg.n.CopyFrom(step)
    else:
        arg.s = text_format.MessageToString(step).encode()
    return net


def rename_in_step_net(net: caffe2_pb2.NetDef, mapping: dict[str, str]) -> None:
    arg = net.op[2].arg[0]
    step = caffe2_pb2.NetDef()
    if arg.HasField("n"):
        step.CopyFrom(arg.n)
    else:
        text_format.Parse(arg.s.decode(), step)
    for op in step.op:
        op.input[:] = [mapping.get(b, b) for b in op.input]
        op.output[:] = [mapping.get(b, b) for b in op.output]
    step.external_input[:] = [mapping.get(b, b) for b in step.external_input]
    if arg.HasField("n"):
        arg.n.CopyFrom(step)
    else:
        arg.s = text_format.MessageToString(step).encode()


@pytest.mark.parametrize("form", ["n", "s"])
def test_nested_reference_renamed_consistently(form: str) -> None:
    net = recurrent_net(form)
    # h0 is read after the op that references it, so it is no final result: renamable.
    net.op.add(type="Relu", input=["h0"], output=["r"])
    net.external_output.append("r")
    assert verify_execution_equivalence(net, net).ok
    optimized = renamed(net, {"h0": "m0"})
    rename_in_step_net(optimized, {"h0": "m0"})
    optimized.op[2].arg.add(name="h0.rename", s=b"m0")
    result = verify_execution_equivalence(net, optimized)
    assert result.ok, result.message


@pytest.mark.parametrize("form", ["n", "s"])
def test_nested_reference_renamed_outside_only(form: str) -> None:
    net = recurrent_net(form)
    optimized = renamed(net, {"h0": "m0"})
    result = verify_execution_equivalence(net, optimized)
    assert not result.ok
    assert result.op_index == 2
    assert result.op_type == "RecurrentNetwork"
    assert "nested net" in result.message
    assert "'h0'" in result.message


@pytest.mark.parametrize("form", ["n", "s"])
def test_nested_reference_renamed_to_another_blob(form: str) -> None:
    net = recurrent_net(form)
    optimized = renamed(net, {"h0": "m0"})
    rename_in_step_net(optimized, {"h0": "s"})
    result = verify_execution_equivalence(net, optimized)
    assert not result.ok
    assert result.op_index == 2
    assert result.blob == "s"
    assert result.expected == "op #0 FC output 0"
    assert result.found == "op #1 Sigmoid output 0"


@pytest.mark.parametrize("form", ["n", "s"])
def test_nested_reference_shared_unsafely(form: str) -> None:
    # s is written while h0 is still needed by the step net: they must not share.
    net = recurrent_net(form)
    optimized = renamed(net, {"s": "h0"})
    result = verify_execution_equivalence(net, optimized)
    assert not result.ok
    assert result.op_index == 2
    assert result.blob == "h0"
    assert result.found == "op #1 Sigmoid output 0"


def test_nested_net_writes_the_blobs_it_references() -> None:
    # The op owning the step net counts as writing h0: a later reader sees its value.
    net = recurrent_net("n")
    net.op.add(type="Relu", input=["h0"], output=["r"])
    net.external_output.append("r")
    result = verify_execution_equivalence(net, net)
    assert result.ok
    moved = reordered(net, [0, 1, 4, 2, 3])  # Relu reads h0 before the op that rewrites it
    result = verify_execution_equivalence(net, moved)
    assert not result.ok
    assert result.op_type == "Relu"
    assert result.expected is not None
    assert "RecurrentNetwork" in result.expected


def test_if_op_with_then_and_else_nets() -> None:
    net = make_net(
        [("Relu", ["x"], ["a"]), ("If", ["cond"], []), ("Exp", ["a"], ["out"])],
        ["x", "cond"],
        ["out"],
    )
    then_net = net.op[1].arg.add(name="then_net").n
    then_net.op.add(type="Copy", input=["a"], output=["a"])
    else_net = net.op[1].arg.add(name="else_net").n
    else_net.op.add(type="Sigmoid", input=["a"], output=["a"])
    optimized = renamed(net, {"a": "m0"})
    for arg in optimized.op[1].arg:
        for op in arg.n.op:
            op.input[:] = ["m0"]
            op.output[:] = ["m0"]
    assert verify_execution_equivalence(net, optimized)
    optimized.op[1].arg[1].n.op[0].output[0] = "a"  # else branch writes the old name
    result = verify_execution_equivalence(net, optimized)
    assert not result.ok
    assert "else_net" in result.message


# --------------------------------------------------------------------------- properties


def to_netdef(random_net: RandomNet) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(
        name="random",
        external_input=random_net.external_input,
        external_output=random_net.external_output,
    )
    for op in random_net.op:
        net.op.add(
            type=op.type,
            name=op.name,
            input=op.input,
            output=op.output,
            control_input=op.control_input,
        )
    return net


def fetchable(net: caffe2_pb2.NetDef) -> list[str]:
    """External outputs and inputs, and blobs last accessed by a write (control inputs aside)."""
    last_is_write: dict[str, bool] = {}
    for op in net.op:
        last_is_write.update(dict.fromkeys(op.input, False))
        last_is_write.update(dict.fromkeys(op.output, True))
    finals = [name for name, written in last_is_write.items() if written]
    return list(dict.fromkeys([*net.external_output, *net.external_input, *finals]))


def producers(
    net: caffe2_pb2.NetDef, fetched: Sequence[str]
) -> tuple[list[list[object]], list[object]]:
    """Oracle: who produced each value every op reads, and the final value of each fetched blob.

    A plain interpreter over program order, independent of the code under test.
    """
    state: dict[str, object] = {}
    reads = []
    for i, op in enumerate(net.op):
        names = [*op.input, *op.control_input]
        reads.append([state.get(name, ("external", name)) for name in names])
        for k, name in enumerate(op.output):
            state[name] = (i, k)
    final = [state.get(name, ("external", name)) for name in fetched]
    return reads, final


def oracle_equivalent(original: caffe2_pb2.NetDef, mutated: caffe2_pb2.NetDef) -> bool:
    fetched = fetchable(original)
    return producers(original, fetched) == producers(mutated, fetched)


def last_write_positions(net: caffe2_pb2.NetDef) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, op in enumerate(net.op):
        found.update(dict.fromkeys(op.output, i))
    return found


def blob_names(net: caffe2_pb2.NetDef) -> list[str]:
    names = set(net.external_input) | set(net.external_output)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
        names.update(op.control_input)
    return sorted(names)


def split_live_range(net: caffe2_pb2.NetDef, op_index: int, blob: str, new: str) -> None:
    """Rename the value ``blob`` written by op ``op_index`` (until the next write) to ``new``."""
    op = net.op[op_index]
    op.output[:] = [new if b == blob else b for b in op.output]
    for later in net.op[op_index + 1 :]:
        later.input[:] = [new if b == blob else b for b in later.input]
        later.control_input[:] = [new if b == blob else b for b in later.control_input]
        if blob in later.output:
            break


def conflicts(a: caffe2_pb2.OperatorDef, b: caffe2_pb2.OperatorDef) -> bool:
    reads_a = {*a.input, *a.control_input}
    reads_b = {*b.input, *b.control_input}
    writes_a, writes_b = set(a.output), set(b.output)
    return bool(writes_a & (reads_b | writes_b) or reads_a & writes_b)


@st.composite
def valid_orders(draw: st.DrawFn, net: caffe2_pb2.NetDef) -> list[int]:
    """A random order keeping every dependency of program order (quadratic, as an oracle)."""
    count = len(net.op)
    before = {j: {i for i in range(j) if conflicts(net.op[i], net.op[j])} for j in range(count)}
    order: list[int] = []
    done: set[int] = set()
    while len(order) < count:
        ready = [j for j in range(count) if j not in done and before[j] <= done]
        chosen = draw(st.sampled_from(ready))
        order.append(chosen)
        done.add(chosen)
    return order


@settings(max_examples=80)
@given(nets(max_ops=10), st.data())
def test_valid_renaming_and_reordering_are_equivalent(
    random_net: RandomNet, data: st.DataObject
) -> None:
    net = to_netdef(random_net)
    optimized = renamed(net, {})
    # Give fresh names to some values written by ops that the caller cannot fetch
    # (the last value of an external or final blob is fetchable).
    fetched, last = set(fetchable(net)), last_write_positions(net)
    writes = [
        (i, b)
        for i, op in enumerate(net.op)
        for b in op.output
        if not (b in fetched and last[b] == i)
        and b not in set(net.external_input) | set(net.external_output)
    ]
    for n, (i, blob) in enumerate(
        data.draw(st.lists(st.sampled_from(writes), max_size=3)) if writes else []
    ):
        if blob in optimized.op[i].output:
            split_live_range(optimized, i, blob, f"fresh{n}")
    assert oracle_equivalent(net, optimized)
    order = data.draw(valid_orders(optimized))
    result = verify_execution_equivalence(net, reordered(optimized, order))
    assert result.ok, result.message


@settings(max_examples=120)
@given(nets(max_ops=10), st.data())
def test_mutations_are_judged_like_the_oracle(random_net: RandomNet, data: st.DataObject) -> None:
    net = to_netdef(random_net)
    names = [*blob_names(net), "fresh"]
    mutated = renamed(net, {})
    kind = data.draw(st.sampled_from(["rewire", "merge", "split"]))
    if kind == "rewire":
        slots = [
            (i, field, j)
            for i, op in enumerate(net.op)
            for field in ("input", "control_input")
            for j in range(len(getattr(op, field)))
        ]
        if not slots:
            return
        i, field, j = data.draw(st.sampled_from(slots))
        getattr(mutated.op[i], field)[j] = data.draw(st.sampled_from(names))
    elif kind == "merge":
        old, new = data.draw(st.sampled_from(names)), data.draw(st.sampled_from(names))
        for op in mutated.op:
            for field in ("input", "output", "control_input"):
                getattr(op, field)[:] = [new if b == old else b for b in getattr(op, field)]
    else:
        writes = [(i, b) for i, op in enumerate(net.op) for b in op.output]
        i, blob = data.draw(st.sampled_from(writes))
        split_live_range(mutated, i, blob, "fresh")
    expected = oracle_equivalent(net, mutated)
    result = verify_execution_equivalence(net, mutated)
    assert result.ok == expected, (kind, result.message)
    # Graph equality agrees, except that it also wants external blobs named alike everywhere.
    externals = set(net.external_input) | set(net.external_output)
    same_external_names = all(
        [b for b in [*a.input, *a.output, *a.control_input] if b in externals]
        == [b for b in [*b.input, *b.output, *b.control_input] if b in externals]
        for a, b in zip(net.op, mutated.op, strict=True)
    )
    assert verify_graph_equality(net, mutated) == (expected and same_external_names)


def rename_everywhere(
    net: caffe2_pb2.NetDef, old: str, new: str, *, outer: bool, inner: bool
) -> None:
    """Rename ``old`` in the ops of ``net`` (``outer``) and/or in its nested nets (``inner``)."""

    def rename_net(target: caffe2_pb2.NetDef, ops: bool, nested: bool) -> None:
        for op in target.op:
            if ops:
                for field in ("input", "output", "control_input"):
                    getattr(op, field)[:] = [new if b == old else b for b in getattr(op, field)]
            for arg in op.arg:
                if arg.name != "step_net" or not nested:
                    continue
                if arg.HasField("n"):
                    rename_whole(arg.n)
                else:
                    step = caffe2_pb2.NetDef()
                    text_format.Parse(arg.s.decode(), step)
                    rename_whole(step)
                    arg.s = text_format.MessageToString(step).encode()

    def rename_whole(target: caffe2_pb2.NetDef) -> None:
        rename_net(target, ops=True, nested=True)
        for field in ("external_input", "external_output"):
            getattr(target, field)[:] = [new if b == old else b for b in getattr(target, field)]

    rename_net(net, ops=outer, nested=inner)


@settings(max_examples=80)
@given(nets(max_ops=8), st.data())
def test_renaming_reaches_into_nested_nets(random_net: RandomNet, data: st.DataObject) -> None:
    net = to_netdef(random_net)
    outer_names = blob_names(net)
    owner = data.draw(st.integers(0, len(net.op) - 1))
    referenced = data.draw(st.lists(st.sampled_from(outer_names), min_size=1, unique=True))
    step = caffe2_pb2.NetDef(name="step", external_input=referenced)
    step.op.add(type="StepOp", input=[*referenced, "local_t"], output=["out_t"])
    net.op[owner].type = "RecurrentNetwork"
    arg = net.op[owner].arg.add(name="step_net")
    if data.draw(st.booleans()):
        arg.n.CopyFrom(step)
    else:
        arg.s = text_format.MessageToString(step).encode()

    # Blobs whose first access is a write that does not read them: renaming them
    # everywhere keeps the meaning (the op owning the step net reads what it references).
    externals = set(net.external_input) | set(net.external_output)
    first_access: dict[str, bool] = {}
    for i, op in enumerate(net.op):
        refs = set(referenced) if i == owner else set()
        write_only = set(op.output) - set(op.input)
        reads = set(op.input) | set(op.control_input) | (refs - write_only)
        for blob in reads | set(op.output) | refs:
            first_access.setdefault(blob, blob not in reads)
    # ... and whose last access is a read (the op owning the step net reads and
    # writes what it references): a final result keeps its name.
    last_is_write: dict[str, bool] = {}
    for i, op in enumerate(net.op):
        refs = list(referenced) if i == owner else []
        last_is_write.update(dict.fromkeys([*op.input, *refs], False))
        last_is_write.update(dict.fromkeys([*op.output, *refs], True))
    renamable = sorted(
        b
        for b in referenced
        if first_access.get(b) and b not in externals and not last_is_write.get(b)
    )
    event(f"renamable blob: {bool(renamable)}")
    if not renamable:
        return
    blob = data.draw(st.sampled_from(renamable))

    consistent = renamed(net, {})
    rename_everywhere(consistent, blob, "fresh", outer=True, inner=True)
    consistent.op[owner].arg.add(name=f"{blob}.rename", s=b"fresh")  # design 3.5
    result = verify_execution_equivalence(net, consistent)
    assert result.ok, result.message

    for outer, inner in ((True, False), (False, True)):
        partial = renamed(net, {})
        rename_everywhere(partial, blob, "fresh", outer=outer, inner=inner)
        result = verify_execution_equivalence(net, partial)
        assert not result.ok
        assert result.op_index == owner or result.original_index == owner, result.message
