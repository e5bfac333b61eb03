"""Tests of memonger.netdef.dag: share_grad_blobs, optimize_inference_for_dag.

The oracle here is independent of the code under test: dependencies come from
a quadratic scan over op pairs, valid orders are drawn at random from them,
and nets run symbolically (every value is the op that computed it, its output
position and the values it read).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from memonger.graph.testing import RandomNet, nets
from memonger.netdef import caffe2_pb2
from memonger.netdef.dag import (
    SharingStats,
    compute_blob_recycling_for_dag,
    optimize_inference_for_dag,
    share_grad_blobs,
    sharing_summary,
)
from memonger.netdef.errors import UnsupportedNetError
from memonger.netdef.verify import (
    verify_execution_equivalence,
    verify_graph_equality,
    verify_inplace_blobs,
)

GPU = caffe2_pb2.DeviceOption(device_type=1, device_id=0)
CPU = caffe2_pb2.DeviceOption(device_type=0)

# --------------------------------------------------------------------------
# Building nets


def make_net(
    ops: Iterable[tuple[Any, ...]],
    external_input: Sequence[str] = (),
    external_output: Sequence[str] = (),
) -> caffe2_pb2.NetDef:
    """A NetDef from ``(type, inputs, outputs[, device])`` tuples."""
    net = caffe2_pb2.NetDef(
        name="test", external_input=external_input, external_output=external_output
    )
    for k, spec in enumerate(ops):
        op_type, inputs, outputs = spec[:3]
        op = net.op.add(type=op_type, name=f"op{k}", input=inputs, output=outputs)
        if len(spec) > 3 and spec[3] is not None:
            op.device_option.CopyFrom(spec[3])
    return net


def from_random(rnet: RandomNet) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(
        external_input=rnet.external_input, external_output=rnet.external_output
    )
    for op in rnet.op:
        net.op.add(
            type=op.type,
            name=op.name,
            input=op.input,
            output=op.output,
            control_input=op.control_input,
        )
    return net


def mlp_training(layers: int = 5, scope: str = "name_x/") -> caffe2_pb2.NetDef:
    """An MLP with FC+Relu layers, Sigmoid, Softmax, AveragedLoss and its gradients."""
    s = scope
    ops: list[tuple[Any, ...]] = []
    params = []
    prev = f"{s}data"
    for k in range(1, layers + 1):
        w, b, out = f"{s}fc{k}_w", f"{s}fc{k}_b", f"{s}fc{k}"
        params += [w, b]
        ops.append(("FC", [prev, w, b], [out]))
        if k < layers:
            ops.append(("Relu", [out], [out]))
        prev = out
    ops += [
        ("Sigmoid", [prev], [f"{s}sigm"]),
        ("Softmax", [f"{s}sigm"], [f"{s}sftmax"]),
        ("AveragedLoss", [f"{s}sftmax"], [f"{s}loss"]),
        ("ConstantFill", [f"{s}loss"], [f"{s}loss_autogen_grad"]),
        ("AveragedLossGradient", [f"{s}sftmax", f"{s}loss_autogen_grad"], [f"{s}sftmax_grad"]),
        ("SoftmaxGradient", [f"{s}sftmax", f"{s}sftmax_grad"], [f"{s}sigm_grad"]),
        ("SigmoidGradient", [f"{s}sigm", f"{s}sigm_grad"], [f"{s}fc{layers}_grad"]),
    ]
    for k in range(layers, 0, -1):
        x = f"{s}fc{k - 1}" if k > 1 else f"{s}data"
        w = f"{s}fc{k}_w"
        ops.append(
            (
                "FCGradient",
                [x, w, f"{s}fc{k}_grad"],
                [f"{w}_grad", f"{s}fc{k}_b_grad", f"{x}_grad"],
            )
        )
        if k > 1:
            ops.append(("ReluGradient", [x, f"{x}_grad"], [f"{x}_grad"]))
    return make_net(ops, [f"{s}data", *params])


def param_grads(net: caffe2_pb2.NetDef) -> set[str]:
    return {p + "_grad" for p in net.external_input}


# --------------------------------------------------------------------------
# The oracle


def accesses(net: caffe2_pb2.NetDef) -> list[tuple[set[str], set[str], set[str]]]:
    return [(set(op.input), set(op.output), set(op.control_input)) for op in net.op]


def ancestors(net: caffe2_pb2.NetDef) -> list[set[int]]:
    """Ancestors of every op, by a quadratic scan over op pairs."""
    acc = accesses(net)
    result: list[set[int]] = []
    for j, (rj, wj, cj) in enumerate(acc):
        anc: set[int] = set()
        for i in range(j):
            ri, wi, _ = acc[i]
            if (wi & rj) or (ri & wj) or (wi & wj) or (wi & cj):
                anc |= result[i] | {i}
        result.append(anc)
    return result


def random_order(anc: list[set[int]], rng: random.Random) -> list[int]:
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(anc):
        ready = [i for i in range(len(anc)) if i not in done and anc[i] <= done]
        pick = rng.choice(ready)
        done.add(pick)
        order.append(pick)
    return order


def run(
    net: caffe2_pb2.NetDef, order: Iterable[int]
) -> tuple[dict[int, tuple[Any, ...]], dict[str, Any]]:
    env: dict[str, Any] = {}
    reads: dict[int, tuple[Any, ...]] = {}
    for i in order:
        op = net.op[i]
        values = tuple(env.get(b, ("input", b)) for b in op.input)
        reads[i] = values
        for k, b in enumerate(op.output):
            env[b] = (i, k, values)
    return reads, env


def check_equivalent(
    original: caffe2_pb2.NetDef,
    optimized: caffe2_pb2.NetDef,
    *,
    keep: Iterable[str] = (),
    orders: int = 20,
    seed: int = 0,
) -> None:
    """Every op reads the same values, under random valid orders of ``original``."""
    assert len(original.op) == len(optimized.op)
    ref_reads, ref_env = run(original, range(len(original.op)))
    anc = ancestors(original)
    rng = random.Random(seed)
    schedules = [list(range(len(anc)))] + [random_order(anc, rng) for _ in range(orders)]
    names = set(original.external_output) | set(keep)
    for order in schedules:
        reads, env = run(optimized, order)
        for i in order:
            assert reads[i] == ref_reads[i], f"op {i} reads other values in order {order}"
        for b in names:
            assert env.get(b) == ref_env.get(b), f"{b!r} ends different in order {order}"


def renaming(original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for a, b in zip(original.op, optimized.op, strict=True):
        for x, y in zip(
            itertools.chain(a.input, a.output), itertools.chain(b.input, b.output), strict=True
        ):
            assert mapping.setdefault(x, y) == y, f"{x!r} renamed inconsistently"
    return mapping


def produced_names(net: caffe2_pb2.NetDef) -> set[str]:
    return {b for op in net.op for b in op.output}


def check_rewrite(
    original: caffe2_pb2.NetDef,
    optimized: caffe2_pb2.NetDef,
    *,
    keep: Iterable[str] = (),
    orders: int = 20,
) -> None:
    """Every property a DAG rewrite must have."""
    keep = set(keep)
    check_equivalent(original, optimized, keep=keep, orders=orders)
    # no parallelism lost, no ordering lost
    assert ancestors(original) == ancestors(optimized)
    assert verify_graph_equality(original, optimized)
    assert verify_inplace_blobs(original, optimized)
    result = verify_execution_equivalence(original, optimized, random_orders=5)
    assert result.ok, result.message
    mapping = renaming(original, optimized)
    protected = keep | set(original.external_input) | set(original.external_output)
    for b, new in mapping.items():
        if b in protected:
            assert new == b, f"{b!r} was renamed to {new!r}"
        elif new != b:
            assert new not in protected, f"{b!r} took the buffer of {new!r}"
    assert list(optimized.external_input) == list(original.external_input)
    assert list(optimized.external_output) == list(original.external_output)


def unchanged_copy(net: caffe2_pb2.NetDef) -> bytes:
    return net.SerializeToString(deterministic=True)


# --------------------------------------------------------------------------
# The original's scenarios


def test_mlp_shares_gradients_and_keeps_the_head() -> None:
    net = mlp_training()
    before = unchanged_copy(net)
    grads = param_grads(net)
    optim = share_grad_blobs(net, ["name_x/loss"], grads, "name_x/")
    assert unchanged_copy(net) == before
    assert len(produced_names(optim)) < len(produced_names(net))
    assert "name_x/fc5" in produced_names(optim)
    assert any(b.startswith("name_x/__m") for b in produced_names(optim))
    check_rewrite(net, optim, keep={"name_x/loss", *grads})

    dont = {"name_x/fc1_w_grad", "name_x/fc3_grad"}
    with_acts = share_grad_blobs(
        net,
        ["name_x/loss"],
        grads,
        "name_x",  # the trailing slash is added
        dont_share_blobs=dont,
        share_activations=True,
    )
    without_acts = share_grad_blobs(net, ["name_x/loss"], grads, "name_x", dont)
    assert len(produced_names(with_acts)) <= len(produced_names(without_acts))
    assert len(produced_names(without_acts)) < len(produced_names(net))
    assert "name_x/fc5" in produced_names(with_acts)
    assert "name_x/fc3_grad" in produced_names(with_acts)
    check_rewrite(net, with_acts, keep={"name_x/loss", *grads, *dont})


def test_gradients_outside_the_scope_are_not_shared() -> None:
    net = mlp_training()
    optim = share_grad_blobs(net, ["name_x/loss"], param_grads(net), "other/")
    assert renaming(net, optim) == {b: b for b in renaming(net, optim)}


def test_empty_scope_covers_every_blob() -> None:
    net = mlp_training(scope="")
    optim = share_grad_blobs(net, ["loss"], param_grads(net), "")
    assert any(b.startswith("__m") for b in produced_names(optim))
    check_rewrite(net, optim, keep={"loss", *param_grads(net)})


def two_loss_tree() -> caffe2_pb2.NetDef:
    s = "s/"
    ops: list[tuple[Any, ...]] = [
        ("FC", [f"{s}data", f"{s}w1"], [f"{s}fc1"]),
        ("FC", [f"{s}fc1", f"{s}w2"], [f"{s}fc2"]),
        ("FC", [f"{s}fc2", f"{s}wa"], [f"{s}fca"]),
        ("FC", [f"{s}fc2", f"{s}wb"], [f"{s}fcb"]),
        ("Loss", [f"{s}fca"], [f"{s}loss_a"]),
        ("Loss", [f"{s}fcb"], [f"{s}loss_b"]),
        ("ConstantFill", [f"{s}loss_a"], [f"{s}loss_a_autogen_grad"]),
        ("ConstantFill", [f"{s}loss_b"], [f"{s}loss_b_autogen_grad"]),
        ("LossGradient", [f"{s}fca", f"{s}loss_a_autogen_grad"], [f"{s}fca_grad"]),
        ("LossGradient", [f"{s}fcb", f"{s}loss_b_autogen_grad"], [f"{s}fcb_grad"]),
        (
            "FCGradient",
            [f"{s}fc2", f"{s}wa", f"{s}fca_grad"],
            [f"{s}wa_grad", f"_{s}fc2_grad_autosplit_0"],
        ),
        (
            "FCGradient",
            [f"{s}fc2", f"{s}wb", f"{s}fcb_grad"],
            [f"{s}wb_grad", f"_{s}fc2_grad_autosplit_1"],
        ),
        (
            "Sum",
            [f"_{s}fc2_grad_autosplit_0", f"_{s}fc2_grad_autosplit_1"],
            [f"{s}fc2_grad"],
        ),
        ("FCGradient", [f"{s}fc1", f"{s}w2", f"{s}fc2_grad"], [f"{s}w2_grad", f"{s}fc1_grad"]),
        ("FCGradient", [f"{s}data", f"{s}w1", f"{s}fc1_grad"], [f"{s}w1_grad", f"{s}data_grad"]),
    ]
    params = [f"{s}w1", f"{s}w2", f"{s}wa", f"{s}wb"]
    return make_net(ops, [f"{s}data", *params])


def test_tree_of_two_losses_sharing_a_trunk() -> None:
    net = two_loss_tree()
    losses = ["s/loss_a", "s/loss_b"]
    grads = param_grads(net)
    optim = share_grad_blobs(net, losses, grads, "s")
    assert len(produced_names(optim)) < len(produced_names(net))
    mapping = renaming(net, optim)
    # the auto-split partial gradients take part
    assert any(mapping[b] != b for b in mapping if "_autosplit_" in b)
    check_rewrite(net, optim, keep={*losses, *grads})


@pytest.mark.parametrize("losses", list(itertools.permutations(["s/loss_a", "s/loss_b"])))
def test_heads_in_any_order(losses: tuple[str, str]) -> None:
    net = two_loss_tree()
    optim = share_grad_blobs(net, list(losses), param_grads(net), "s/")
    check_rewrite(net, optim, keep={*losses, *param_grads(net)})
    assert optim == share_grad_blobs(net, ["s/loss_b", "s/loss_a"], param_grads(net), "s/")


def daggy_net() -> caffe2_pb2.NetDef:
    return make_net(
        [
            ("FC", ["data", "w"], ["a"]),
            ("Relu", ["a"], ["a"]),
            ("FC", ["a", "w"], ["b1"]),
            ("FC", ["b1", "w"], ["c1"]),
            ("FC", ["c1", "w"], ["d1"]),
            ("FC", ["a", "w"], ["b2"]),
            ("FC", ["b2", "w"], ["c2"]),
            ("FC", ["c2", "w"], ["d2"]),
            ("Sum", ["d1", "d2"], ["e"]),
            ("FC", ["e", "w"], ["f"]),
            ("FC", ["f", "w"], ["g"]),
            ("Softmax", ["g"], ["out"]),
        ],
        ["data", "w"],
        ["out"],
    )


def test_daggy_inference_net_with_two_branches() -> None:
    net = daggy_net()
    optim = optimize_inference_for_dag(net, ["data"])
    assert len(produced_names(optim)) < len(produced_names(net))
    check_rewrite(net, optim, keep={"data"}, orders=50)
    mapping = renaming(net, optim)
    # a blob of one branch never takes the buffer of the other branch
    branch1, branch2 = {"b1", "c1", "d1"}, {"b2", "c2", "d2"}
    for x in branch1:
        for y in branch2:
            assert mapping[x] != mapping[y]


def test_ops_reading_only_weights_take_part() -> None:
    # the original walked from the heads and never reached such ops
    net = make_net(
        [
            ("ConstantFill", [], ["c0"]),
            ("Relu", ["c0"], ["c1"]),
            ("Relu", ["c1"], ["c2"]),
            ("FC", ["w"], ["c3"]),
            ("Relu", ["c3"], ["c4"]),
            ("Sum", ["c4", "c2", "data"], ["out"]),
        ],
        ["data", "w"],
        ["out"],
    )
    optim = optimize_inference_for_dag(net, ["data"])
    assert len(produced_names(optim)) < len(produced_names(net))
    check_rewrite(net, optim, keep={"data"})


def test_mixed_devices_never_share() -> None:
    ops = []
    for k in range(8):
        dev = GPU if k % 2 else CPU
        ops.append(("Relu", [f"x{k}"], [f"x{k + 1}"], dev))
    ops.append(("CopyGPUToCPU", ["x8"], ["y0"], GPU))  # output on the CPU
    for k in range(4):
        ops.append(("Relu", [f"y{k}"], [f"y{k + 1}"], CPU))
    ops.append(("Relu", ["y4"], ["out"], CPU))
    net = make_net(ops, ["x0"], ["out"])
    optim = optimize_inference_for_dag(net, ["x0"])
    check_rewrite(net, optim, keep={"x0"})
    device = {"x0": 0}
    for op in net.op:
        for b in op.output:
            device.setdefault(b, 0 if op.type == "CopyGPUToCPU" else op.device_option.device_type)
    groups: dict[str, set[int]] = {}
    for b, new in renaming(net, optim).items():
        groups.setdefault(new, set()).add(device[b])
    assert all(len(devs) == 1 for devs in groups.values())
    assert any(new != b for b, new in renaming(net, optim).items())


def test_unproduced_blob_takes_its_consumers_device() -> None:
    # "g" is fed from outside on the GPU; the GPU blobs may not share with
    # CPU ones but do share among themselves
    ops = [("Relu", ["g"], [f"a{0}"], GPU)]
    for k in range(4):
        ops.append(("Relu", [f"a{k}"], [f"a{k + 1}"], GPU))
    ops.append(("Relu", ["a4"], ["out"], GPU))
    net = make_net(ops, ["g"], ["out"])
    optim = optimize_inference_for_dag(net, ["g"])
    assert len(produced_names(optim)) < len(produced_names(net))
    check_rewrite(net, optim, keep={"g"})


# --------------------------------------------------------------------------
# Rules


def test_best_fit_by_size() -> None:
    net = make_net(
        [
            ("FC", ["x"], ["big"]),
            ("FC", ["x"], ["small"]),
            ("Sum", ["big", "small"], ["c"]),
            ("FC", ["c"], ["d_small"]),
            ("FC", ["c"], ["e_big"]),
            ("Sum", ["d_small", "e_big"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    sizes = {"big": 100, "small": 10, "c": 1, "d_small": 10, "e_big": 100, "out": 1}
    optim = optimize_inference_for_dag(net, ["x"], blob_shapes=sizes)
    mapping = renaming(net, optim)
    assert mapping["d_small"] == mapping["small"] != mapping["big"] == mapping["e_big"]
    assert sharing_summary(net, optim, sizes).bytes_after == 112
    # shapes give element counts
    shapes = {k: [v, 1] for k, v in sizes.items()}
    assert optimize_inference_for_dag(net, ["x"], blob_shapes=shapes) == optim
    check_rewrite(net, optim, keep={"x"})


def test_without_sizes_the_most_reused_buffer_is_preferred() -> None:
    net = make_net(
        [
            ("FC", ["x"], ["a"]),
            ("FC", ["a"], ["b"]),
            ("FC", ["b"], ["c"]),  # takes a's buffer (used twice now)
            ("FC", ["x"], ["p"]),
            ("Sum", ["c", "p"], ["q"]),  # frees c (buffer used twice) and p
            ("FC", ["q"], ["r"]),  # prefers the buffer of a and c
            ("FC", ["r"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    optim = optimize_inference_for_dag(net, ["x"])
    mapping = renaming(net, optim)
    assert mapping["a"] == mapping["c"] == mapping["r"]
    check_rewrite(net, optim, keep={"x"})


def test_buffer_names_are_numbered_in_order_of_first_use_and_never_collide() -> None:
    ops: list[tuple[Any, ...]] = []
    for k in range(6):
        ops.append(("Relu", [f"a{k}"], [f"a{k + 1}"]))
    net = make_net(ops, ["a0"], ["a6"])
    optim = optimize_inference_for_dag(net, ["a0"], namescope="ns/")
    assert [op.output[0] for op in optim.op] == [
        "ns/__m0_shared",
        "ns/__m1_shared",
        "ns/__m0_shared",
        "ns/__m1_shared",
        "ns/__m0_shared",
        "a6",
    ]
    # a net that already holds such names gets fresh ones
    again = optimize_inference_for_dag(optim, ["a0"], namescope="ns/")
    assert again == optim  # nothing more to share
    clash = make_net([("Relu", ["a0"], ["__m0_shared"]), *ops[1:]], ["a0"], ["a6"])
    clash.op[1].input[0] = "__m0_shared"
    renamed = optimize_inference_for_dag(clash, ["a0"])
    outs = [op.output[0] for op in renamed.op]
    m1, m2 = "__m1_shared", "__m2_shared"
    assert outs == [m1, m2, m1, m2, m1, "a6"]
    check_rewrite(clash, renamed, keep={"a0"})


def test_final_results_and_dont_share_blobs_keep_their_names() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Relu", ["a"], ["b"]),
            ("Relu", ["b"], ["c"]),
            ("Relu", ["c"], ["d"]),
            ("Relu", ["d"], ["e"]),
            ("Relu", ["e"], ["unused"]),  # a final result nobody declared
            ("Relu", ["e"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    optim = compute_blob_recycling_for_dag(
        net, lambda b: True, dont_share_blob_names={"b"}, keep_blob_names=["d"]
    )
    mapping = renaming(net, optim)
    for b in ("x", "b", "d", "unused", "out"):
        assert mapping[b] == b
    assert mapping["c"] == mapping["a"] != "a"
    check_rewrite(net, optim, keep={"b", "d", "unused"})


def test_recurrent_step_nets_are_renamed() -> None:
    net = make_net(
        [("Relu", ["x"], ["a"]), ("Relu", ["a"], ["b"]), ("Relu", ["b"], ["c"])],
        ["x", "w"],
        ["out"],
    )
    rnn = net.op.add(type="RecurrentNetwork", name="rnn", input=["c", "w"], output=["h"])
    step = rnn.arg.add(name="step_net").n
    step.external_input.extend(["c", "w"])
    step.op.add(type="FC", input=["c", "w"], output=["h_t"])
    net.op.add(type="Relu", input=["h"], output=["out"])
    before = unchanged_copy(net)
    optim = optimize_inference_for_dag(net, ["x"])
    assert unchanged_copy(net) == before
    new_c = optim.op[2].output[0]
    assert new_c != "c"
    assert optim.op[3].input[0] == new_c
    inner = optim.op[3].arg[0].n
    assert list(inner.external_input) == [new_c, "w"]
    assert inner.op[0].input[0] == new_c
    renames = {a.name: a.s for a in optim.op[3].arg if a.name.endswith(".rename")}
    assert renames.get("c.rename") == new_c.encode()
    result = verify_execution_equivalence(net, optim, random_orders=10)
    assert result.ok, result.message


def test_recurrent_step_net_in_text_form() -> None:
    net = make_net(
        [("Relu", ["x"], ["a"]), ("Relu", ["a"], ["b"]), ("Relu", ["b"], ["c"])],
        ["x"],
        ["out"],
    )
    rnn = net.op.add(type="RecurrentNetworkGradient", name="rnn", input=["b"], output=["h"])
    rnn.arg.add(name="backward_step_net", s=b'op { type: "Relu" input: "c" output: "t" }')
    net.op.add(type="Relu", input=["h"], output=["out"])
    optim = compute_blob_recycling_for_dag(net, {"a", "b", "c", "h"})
    new_c = optim.op[2].output[0]
    assert new_c != "c"
    assert f'input: "{new_c}"'.encode() in optim.op[3].arg[0].s
    result = verify_execution_equivalence(net, optim, random_orders=10)
    assert result.ok, result.message


def test_caller_net_and_lists_are_untouched() -> None:
    net = mlp_training()
    before = unchanged_copy(net)
    losses = ["name_x/loss"]
    grads = sorted(param_grads(net))
    dont = {"name_x/fc2_grad"}
    share_grad_blobs(net, losses, grads, "name_x", dont, True)
    assert unchanged_copy(net) == before
    assert losses == ["name_x/loss"]
    assert dont == {"name_x/fc2_grad"}


def test_accepts_objects_with_proto() -> None:
    class Wrapper:
        def __init__(self, net: caffe2_pb2.NetDef) -> None:
            self.net = net

        def Proto(self) -> caffe2_pb2.NetDef:
            return self.net

    net = daggy_net()
    assert optimize_inference_for_dag(Wrapper(net), ["data"]) == optimize_inference_for_dag(
        net, ["data"]
    )


# --------------------------------------------------------------------------
# Errors


def test_gradient_ops_are_rejected_by_inference() -> None:
    net = make_net([("Relu", ["x"], ["y"]), ("ReluGradient", ["y"], ["z"])], ["x"], ["z"])
    with pytest.raises(UnsupportedNetError, match="ReluGradient"):
        optimize_inference_for_dag(net, ["x"])
    flagged = make_net([("Relu", ["x"], ["y"])], ["x"], ["y"])
    flagged.op[0].is_gradient_op = True
    with pytest.raises(UnsupportedNetError, match="gradient op"):
        optimize_inference_for_dag(flagged, ["x"])


def test_unproduced_input_is_rejected_naming_blob_and_op() -> None:
    net = make_net([("Relu", ["x"], ["y"]), ("Sum", ["y", "ghost"], ["z"])], ["x"], ["z"])
    with pytest.raises(UnsupportedNetError, match=r"'ghost'.*op 1 \('op1'\)"):
        optimize_inference_for_dag(net, ["x"])
    # an input blob the caller feeds is fine
    optimize_inference_for_dag(net, ["x", "ghost"])


@pytest.mark.parametrize("bad", ["loss", b"loss"])
def test_a_string_is_not_a_set_of_names(bad: Any) -> None:
    net = mlp_training()
    with pytest.raises(TypeError, match="losses"):
        share_grad_blobs(net, bad, [], "name_x")
    with pytest.raises(TypeError, match="param_grads"):
        share_grad_blobs(net, [], bad, "name_x")
    with pytest.raises(TypeError, match="dont_share_blobs"):
        share_grad_blobs(net, [], [], "name_x", bad)
    with pytest.raises(TypeError, match="input_blobs"):
        optimize_inference_for_dag(daggy_net(), bad)


def test_not_a_net() -> None:
    with pytest.raises(TypeError, match="NetDef"):
        optimize_inference_for_dag("net", [])  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Statistics


def test_sharing_summary() -> None:
    net = daggy_net()
    optim = optimize_inference_for_dag(net, ["data"])
    stats = sharing_summary(net, optim)
    assert stats == SharingStats(11, len(produced_names(optim)))
    assert stats.blobs_saved == 11 - len(produced_names(optim)) > 0
    assert stats.bytes_saved is None
    sizes = dict.fromkeys(produced_names(net), 4)
    sized = sharing_summary(net, optim, sizes)
    assert sized.bytes_before == 44
    assert sized.bytes_after == 4 * len(produced_names(optim))
    with pytest.raises(KeyError, match="no size for produced blob"):
        sharing_summary(net, optim, {})
    with pytest.raises(UnsupportedNetError):
        sharing_summary(net, make_net([], [], []))


# --------------------------------------------------------------------------
# Properties with random nets

DEVICES = [None, CPU, GPU]


@st.composite
def random_nets(draw: st.DrawFn, /, **kwargs: Any) -> tuple[caffe2_pb2.NetDef, dict[str, int]]:
    rnet = draw(nets(max_ops=14, sizes=st.integers(1, 1000), **kwargs))
    net = from_random(rnet)
    for op in net.op:
        dev = draw(st.sampled_from(DEVICES))
        if dev is not None:
            op.device_option.CopyFrom(dev)
    assert rnet.blob_sizes is not None
    return net, rnet.blob_sizes


@st.composite
def sharing_nets(
    draw: st.DrawFn, /, *, max_ops: int = 16
) -> tuple[caffe2_pb2.NetDef, dict[str, int]]:
    """Nets with many intermediate blobs: ops read recent blobs, a final Sum reads the rest."""
    externals = ["in0", "in1"]
    blobs = list(externals)
    produced: list[str] = []
    read: set[str] = set()
    net = caffe2_pb2.NetDef(external_input=externals, external_output=["out"])
    for i in range(draw(st.integers(5, max_ops))):
        depth = min(5, len(blobs) - 1)
        inputs = list(
            dict.fromkeys(
                blobs[-1 - draw(st.integers(0, depth))] for _ in range(draw(st.integers(1, 3)))
            )
        )
        outputs: list[str] = []
        if inputs[0] in produced and draw(st.integers(0, 4)) == 0:
            outputs.append(inputs[0])  # in place
        else:
            for _ in range(draw(st.integers(1, 2))):
                if produced and draw(st.integers(0, 5)) == 0:
                    again = draw(st.sampled_from(produced))  # written again
                    if again not in outputs:
                        outputs.append(again)
                        continue
                outputs.append(f"t{len(produced)}")
                produced.append(outputs[-1])
        controls = []
        if produced and draw(st.integers(0, 7)) == 0:
            controls.append(draw(st.sampled_from(produced)))
        op = net.op.add(
            type="Op", name=f"op{i}", input=inputs, output=outputs, control_input=controls
        )
        dev = draw(st.sampled_from(DEVICES))
        if dev is not None:
            op.device_option.CopyFrom(dev)
        read.update(inputs)
        blobs += [b for b in outputs if b not in blobs]
    net.op.add(type="Sum", name="sum", input=[b for b in produced if b not in read], output=["out"])
    sizes = {b: draw(st.integers(1, 100)) for b in [*externals, *produced, "out"]}
    return net, sizes


@given(st.one_of(sharing_nets(), random_nets()), st.data())
def test_dag_recycling_is_safe_for_every_order(
    drawn: tuple[caffe2_pb2.NetDef, dict[str, int]], data: st.DataObject
) -> None:
    net, sizes = drawn
    names = sorted({b for op in net.op for b in (*op.input, *op.output)})
    dont = data.draw(st.sets(st.sampled_from(names), max_size=3)) if names else set()
    keep = data.draw(st.sets(st.sampled_from(names), max_size=3)) if names else set()
    use_sizes = data.draw(st.booleans())
    before = unchanged_copy(net)
    optim = compute_blob_recycling_for_dag(
        net,
        lambda b: True,
        dont_share_blob_names=dont,
        keep_blob_names=keep,
        blob_shapes=sizes if use_sizes else None,
    )
    assert unchanged_copy(net) == before
    finals = final_results(net)
    check_rewrite(net, optim, keep=dont | keep | finals, orders=10)
    check_devices(net, optim)
    event(f"shared: {any(b != new for b, new in renaming(net, optim).items())}")
    stats = sharing_summary(net, optim, sizes)
    assert stats.blobs_after <= stats.blobs_before
    assert stats.bytes_after is not None
    assert stats.bytes_before is not None
    assert stats.bytes_after <= stats.bytes_before


@given(st.one_of(sharing_nets(), random_nets(rewrites=False, control_inputs=False)), st.data())
def test_inference_recycling_properties(
    drawn: tuple[caffe2_pb2.NetDef, dict[str, int]], data: st.DataObject
) -> None:
    net, sizes = drawn
    optim = optimize_inference_for_dag(
        net, list(net.external_input), blob_shapes=sizes if data.draw(st.booleans()) else None
    )
    check_rewrite(net, optim, keep=final_results(net), orders=10)
    check_devices(net, optim)
    event(f"shared: {any(b != new for b, new in renaming(net, optim).items())}")


@given(st.one_of(sharing_nets(), random_nets()), st.data())
def test_share_grad_blobs_properties(
    drawn: tuple[caffe2_pb2.NetDef, dict[str, int]], data: st.DataObject
) -> None:
    net, _ = drawn
    # put the blobs in a scope; those first written after a split point are
    # gradients (the backward pass follows the forward pass)
    external = set(net.external_input) | set(net.external_output)
    produced = list(dict.fromkeys(b for op in net.op for b in op.output if b not in external))
    split = data.draw(st.integers(0, len(produced)))
    to_grad = set(produced[split:])
    rename = {b: (f"s/{b}_grad" if b in to_grad else f"s/{b}") for b in produced}
    net = rename_all(net, rename)
    produced = sorted(produced_names(net) - set(net.external_input))
    losses = data.draw(st.lists(st.sampled_from(produced), max_size=2)) if produced else []
    grads = data.draw(st.sets(st.sampled_from(produced), max_size=3)) if produced else set()
    optim = share_grad_blobs(net, losses, grads, "s", share_activations=data.draw(st.booleans()))
    check_rewrite(net, optim, keep={*losses, *grads, *final_results(net)}, orders=10)
    check_devices(net, optim)
    event(f"shared: {any(b != new for b, new in renaming(net, optim).items())}")


def rename_all(net: caffe2_pb2.NetDef, mapping: Mapping[str, str]) -> caffe2_pb2.NetDef:
    out = caffe2_pb2.NetDef()
    out.CopyFrom(net)
    for op in out.op:
        for field in (op.input, op.output, op.control_input):
            for k, b in enumerate(field):
                field[k] = mapping.get(b, b)
    for field in (out.external_input, out.external_output):
        for k, b in enumerate(field):
            field[k] = mapping.get(b, b)
    return out


def final_results(net: caffe2_pb2.NetDef) -> set[str]:
    """Blobs no op reads after their last write."""
    last_write: dict[str, int] = {}
    last_read: dict[str, int] = {}
    for i, op in enumerate(net.op):
        for b in op.input:
            last_read[b] = i
        for b in op.output:
            last_write[b] = i
    return {b for b, w in last_write.items() if last_read.get(b, -1) <= w}


def check_devices(original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef) -> None:
    def key(op: caffe2_pb2.OperatorDef) -> tuple[int, int]:
        if op.device_option.device_type == 0:  # every CPU is one device
            return (0, 0)
        return (op.device_option.device_type, op.device_option.device_id)

    device: dict[str, tuple[int, int]] = {}
    for op in original.op:
        for b in op.output:
            device.setdefault(b, (0, 0) if op.type == "CopyGPUToCPU" else key(op))
    for op in original.op:
        for b in op.input:
            device.setdefault(b, key(op))
    groups: dict[str, set[tuple[int, int]]] = {}
    for b, new in renaming(original, optimized).items():
        groups.setdefault(new, set()).add(device[b])
    for new, devs in groups.items():
        assert len(devs) == 1, f"{new!r} is shared across devices {devs}"
