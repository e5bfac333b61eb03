"""Tests of memonger.netdef.fast: optimize_inference_fast (linear-scan recycler)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from memonger.graph.testing import nets
from memonger.netdef import caffe2_pb2
from memonger.netdef.dag import sharing_summary
from memonger.netdef.fast import optimize_inference_fast
from memonger.netdef.verify import (
    verify_execution_equivalence,
    verify_graph_equality,
    verify_inplace_blobs,
)

GPU = caffe2_pb2.DeviceOption(device_type=1, device_id=0)


def make_net(
    ops: Iterable[tuple[Any, ...]],
    external_input: Sequence[str] = (),
    external_output: Sequence[str] = (),
) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=external_input, external_output=external_output)
    for k, spec in enumerate(ops):
        op = net.op.add(type=spec[0], name=f"op{k}", input=spec[1], output=spec[2])
        if len(spec) > 3:
            op.device_option.CopyFrom(spec[3])
    return net


def run(net: caffe2_pb2.NetDef) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Symbolic execution in program order: what each op reads, what is left."""
    env: dict[str, Any] = {}
    reads = []
    for i, op in enumerate(net.op):
        values = tuple(env.get(b, ("input", b)) for b in op.input)
        reads.append(values)
        for k, b in enumerate(op.output):
            env[b] = (i, k, values)
    return reads, env


def renaming(original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for a, b in zip(original.op, optimized.op, strict=True):
        old = itertools.chain(a.input, a.output, a.control_input)
        new = itertools.chain(b.input, b.output, b.control_input)
        for x, y in zip(old, new, strict=True):
            assert mapping.setdefault(x, y) == y, f"{x!r} renamed inconsistently"
    return mapping


def final_results(net: caffe2_pb2.NetDef) -> set[str]:
    last_write: dict[str, int] = {}
    last_read: dict[str, int] = {}
    for i, op in enumerate(net.op):
        for b in op.input:
            last_read[b] = i
        for b in op.output:
            last_write[b] = i
    return {b for b, w in last_write.items() if last_read.get(b, -1) <= w}


def check_rewrite(
    original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef, keep: Iterable[str] = ()
) -> None:
    ref_reads, ref_env = run(original)
    reads, env = run(optimized)
    assert reads == ref_reads
    keep = set(keep) | set(original.external_output) | set(original.external_input)
    keep |= final_results(original)
    for b in set(original.external_output) | final_results(original):
        assert env.get(b) == ref_env.get(b), f"{b!r} ends different"
    for b, new in renaming(original, optimized).items():
        if b in keep:
            assert new == b, f"{b!r} was renamed"
        elif new != b:
            assert new not in keep
    for op_a, op_b in zip(original.op, optimized.op, strict=True):
        # two outputs of one op never share a buffer
        assert len(set(op_b.output)) == len(set(op_a.output))
    assert verify_graph_equality(original, optimized)
    assert verify_inplace_blobs(original, optimized)
    result = verify_execution_equivalence(original, optimized)
    assert result.ok, result.message


def test_chain_ping_pongs_two_buffers() -> None:
    ops = [("Relu", [f"a{k}"], [f"a{k + 1}"]) for k in range(6)]
    net = make_net(ops, ["a0"], ["a6"])
    optim = optimize_inference_fast(net, [])
    assert [op.output[0] for op in optim.op] == [
        "__m0_shared",
        "__m1_shared",
        "__m0_shared",
        "__m1_shared",
        "__m0_shared",
        "a6",
    ]
    check_rewrite(net, optim)


def test_blob_written_again_after_its_last_read_stays_live() -> None:
    # 'a' is read by op 1 and written again by op 2: the original handed its
    # buffer to 'b' at op 1 and op 2 clobbered 'b'
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Relu", ["a"], ["b"]),
            ("Relu", ["x"], ["a"]),
            ("Sum", ["a", "b"], ["c"]),
            ("Relu", ["c"], ["d"]),
            ("Relu", ["d"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    optim = optimize_inference_fast(net, [])
    mapping = renaming(net, optim)
    assert mapping["a"] != mapping["b"]
    check_rewrite(net, optim)


def test_two_ops_writing_one_blob_keep_every_output_distinct() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Relu", ["a"], ["b"]),
            ("Relu", ["b"], ["c"]),
            ("Split", ["c"], ["p", "q"]),  # two free buffers (a, b): p and q get one each
            ("Split", ["c"], ["p", "r"]),  # writes p again
            ("Sum", ["p", "q", "r"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    optim = optimize_inference_fast(net, [])
    for op in optim.op:
        assert len(set(op.output)) == len(op.output)
        assert not set(op.output) & set(op.input)
    mapping = renaming(net, optim)
    assert len({mapping["p"], mapping["q"], mapping["r"]}) == 3
    assert mapping["p"] != "p"  # it did share
    check_rewrite(net, optim)


def test_static_external_and_final_blobs_keep_their_names() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Relu", ["a"], ["b"]),
            ("Relu", ["b"], ["c"]),
            ("Relu", ["c"], ["d"]),
            ("Relu", ["d"], ["unused"]),
            ("Relu", ["d"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    optim = optimize_inference_fast(net, {"b"})
    mapping = renaming(net, optim)
    assert mapping["b"] == "b"
    assert mapping["unused"] == "unused"
    assert mapping["c"] == mapping["a"] != "a"
    check_rewrite(net, optim, keep={"b"})


def test_devices_never_share() -> None:
    ops: list[tuple[Any, ...]] = [
        ("Relu", [f"a{k}"], [f"a{k + 1}"], GPU) if k % 2 else ("Relu", [f"a{k}"], [f"a{k + 1}"])
        for k in range(8)
    ]
    net = make_net(ops, ["a0"], ["a8"])
    optim = optimize_inference_fast(net, [])
    mapping = renaming(net, optim)
    for k in range(1, 8):
        for j in range(1, 8):
            if (k % 2) != (j % 2):
                assert mapping[f"a{k}"] != mapping[f"a{j}"]
    assert mapping["a1"] == mapping["a5"] != "a1"
    check_rewrite(net, optim)


def test_best_fit_with_sizes() -> None:
    net = make_net(
        [
            ("FC", ["x"], ["big"]),
            ("FC", ["x"], ["small"]),
            ("Sum", ["big", "small"], ["c"]),
            ("FC", ["c"], ["d_small"]),
            ("FC", ["d_small"], ["e_big"]),
            ("Sum", ["e_big"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    sizes = {"big": 100, "small": 10, "c": 1, "d_small": 10, "e_big": 100, "out": 1}
    optim = optimize_inference_fast(net, [], blob_shapes=sizes)
    mapping = renaming(net, optim)
    assert mapping["d_small"] == mapping["small"]
    assert mapping["e_big"] == mapping["big"]
    assert sharing_summary(net, optim, sizes).bytes_after == 112
    check_rewrite(net, optim)


def test_caller_net_untouched_and_string_rejected() -> None:
    net = make_net([("Relu", [f"a{k}"], [f"a{k + 1}"]) for k in range(4)], ["a0"], ["a4"])
    before = net.SerializeToString(deterministic=True)
    static = ["a2"]
    optimize_inference_fast(net, static)
    assert net.SerializeToString(deterministic=True) == before
    assert static == ["a2"]
    with pytest.raises(TypeError, match="static_blobs"):
        optimize_inference_fast(net, "a2")


@given(nets(max_ops=14, sizes=st.integers(1, 1000)), st.data())
def test_random_nets_stay_equivalent(rnet: Any, data: st.DataObject) -> None:
    net = caffe2_pb2.NetDef(
        external_input=rnet.external_input, external_output=rnet.external_output
    )
    for op in rnet.op:
        new = net.op.add(
            type=op.type,
            name=op.name,
            input=op.input,
            output=op.output,
            control_input=op.control_input,
        )
        if data.draw(st.booleans()):
            new.device_option.CopyFrom(GPU)
    names = sorted({b for op in net.op for b in op.output})
    static = data.draw(st.sets(st.sampled_from(names))) if names else set()
    sizes = rnet.blob_sizes if data.draw(st.booleans()) else None
    optim = optimize_inference_fast(net, static, blob_shapes=sizes)
    check_rewrite(net, optim, keep=static)
    event(f"shared: {any(b != new for b, new in renaming(net, optim).items())}")
    # blobs sharing a buffer have disjoint closed live ranges in program order
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, op in enumerate(net.op):
        for b in (*op.input, *op.output, *op.control_input):
            last[b] = i
        for b in op.output:
            first.setdefault(b, i)
    groups: dict[str, list[str]] = {}
    for b, new_name in renaming(net, optim).items():
        groups.setdefault(new_name, []).append(b)
    for members in groups.values():
        if len(members) < 2:
            continue
        spans = sorted((first[b], last[b]) for b in members)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end < start
    if rnet.blob_sizes is not None:
        stats = sharing_summary(net, optim, rnet.blob_sizes)
        assert stats.bytes_after is not None
        assert stats.bytes_before is not None
        assert stats.bytes_after <= stats.bytes_before
