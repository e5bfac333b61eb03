"""The harness's own oracles catch what they must (so that every check can fail)."""

from __future__ import annotations

import random

from harness_oracle import (
    buffers,
    dependency_edges,
    dependency_edges_slow,
    divergence,
    final_results,
    live_bound,
    new_inplace_pairs,
    plan_bytes,
    random_order,
    reachability,
    renamed_fixed,
    to_netdef,
)
from hypothesis import given

from memonger.graph.testing import RandomNet, nets
from memonger.netdef import caffe2_pb2


def chain() -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    net.op.add(type="Relu", name="op0", input=["x"], output=["a"])
    net.op.add(type="Sigmoid", name="op1", input=["x"], output=["b"])
    net.op.add(type="Sum", name="op2", input=["a", "b"], output=["out"])
    return net


def test_unsafe_sharing_diverges() -> None:
    net = chain()
    shared = caffe2_pb2.NetDef()
    shared.CopyFrom(net)
    shared.op[1].output[0] = shared.op[2].input[1] = "a"
    assert divergence(net, net) is None
    assert divergence(net, shared) == "op2 (Sum) reads ['a', 'a']: wrong values"


def test_renamed_external_and_lost_final_result_diverge() -> None:
    net = chain()
    other = caffe2_pb2.NetDef()
    other.CopyFrom(net)
    other.op[2].output[0] = "z"
    assert divergence(net, other) == "blob 'out' does not end with its original value"
    extra = caffe2_pb2.NetDef()
    extra.CopyFrom(net)
    extra.op.add(type="Relu", name="op3", input=["a"], output=["dead"])
    renamed = caffe2_pb2.NetDef()
    renamed.CopyFrom(extra)
    renamed.op[3].output[0] = "b"
    assert final_results(extra) == {"out", "dead"}
    assert divergence(extra, renamed) == "blob 'dead' does not end with its original value"
    assert divergence(extra, renamed, keep_final_results=False) is None


def test_reading_a_freed_blob_diverges() -> None:
    net = chain()
    freed = caffe2_pb2.NetDef()
    freed.CopyFrom(net)
    free = caffe2_pb2.OperatorDef(type="Free", input=["a"], output=["a"])
    freed.op.insert(1, free)
    assert divergence(net, freed) == "op2 (Sum) reads ['a', 'b']: wrong values"
    late = caffe2_pb2.NetDef()
    late.CopyFrom(net)
    late.op.append(free)
    assert divergence(net, late) is None
    not_free = caffe2_pb2.NetDef()
    not_free.CopyFrom(net)
    not_free.op.add(type="Relu", input=["a"], output=["a"])
    assert divergence(net, not_free) == "op #3 (Relu) is not in the original"


def test_orders_and_reachability() -> None:
    net = caffe2_pb2.NetDef()
    net.op.add(name="op0", input=["x"], output=["a"])
    net.op.add(name="op1", input=["a"], output=["b"])
    net.op.add(name="op2", input=["x"], output=["x"])  # write after read of x
    net.op.add(name="op3", output=["c"], control_input=["b"])
    net.op.add(name="op4", output=["a"])  # write after write and read of a
    edges = dependency_edges(net.op)
    assert edges == {(0, 1), (0, 2), (1, 3), (0, 4), (1, 4)}
    reach = reachability(5, edges)
    assert reach[0] == 0b11110
    assert reach[2] == 0
    rng = random.Random(0)
    for _ in range(50):
        order = random_order(5, edges, rng)
        assert all(order.index(u) < order.index(v) for u, v in edges)


def test_plan_and_bound() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["d"])
    for k, (i, o) in enumerate([("x", "a"), ("a", "b"), ("b", "c"), ("c", "d")]):
        net.op.add(type="Relu", name=f"op{k}", input=[i], output=[o])
    sizes = {"x": 1, "a": 10, "b": 20, "c": 5, "d": 1}
    assert live_bound(net, sizes, range(4)) == 20
    shared = caffe2_pb2.NetDef()
    shared.CopyFrom(net)
    shared.op[2].output[0] = shared.op[3].input[0] = "a"
    assert buffers(net, shared) == {"a": {"a", "c"}, "b": {"b"}, "d": {"d"}}
    assert plan_bytes(net, shared, sizes) == 31
    assert new_inplace_pairs(net, shared) == []
    inplace = caffe2_pb2.NetDef()
    inplace.CopyFrom(net)
    inplace.op[1].output[0] = inplace.op[2].input[0] = "a"
    assert new_inplace_pairs(net, inplace) == ["op1: input 0 and output 0 now share 'a'"]
    assert renamed_fixed(net, shared, {"x", "d"}) == []
    assert renamed_fixed(net, shared, {"c"}) == [
        "op2.output: 'c' became 'a'",
        "op3.input: 'c' became 'a'",
    ]


@given(nets(max_ops=16))
def test_linear_and_all_pairs_dependencies_agree(drawn: RandomNet) -> None:
    net = to_netdef(drawn)
    fast, slow = dependency_edges(net.op), dependency_edges_slow(net.op)
    assert fast <= slow
    assert reachability(len(net.op), fast) == reachability(len(net.op), slow)
