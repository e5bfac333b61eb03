"""Tests of graph equality, in-place checks and symbolic execution equivalence."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

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
