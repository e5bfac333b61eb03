"""Tests of memonger.netdef.rewrite: optimize_interference."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import networkx as nx
import pytest
from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st

from memonger import graph
from memonger.alloc import AssignmentAlgorithm
from memonger.graph.testing import RandomNet, nets
from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import VerificationError
from memonger.netdef.nested import outer_references
from memonger.netdef.rewrite import Optimization, blob_devices, net_accesses, optimize_interference
from memonger.netdef.verify import graph_difference, verify_graph_equality, verify_inplace_blobs

Ordering = Callable[["nx.DiGraph[Any]"], Iterable[int]]

ORDERINGS: list[Ordering] = [
    graph.topological_sort_traversal,
    graph.topological_sort_traversal_longest_path,
]
ALGORITHMS = list(AssignmentAlgorithm)

# --------------------------------------------------------------------------
# An oracle independent of the code under test: run both nets symbolically
# (every value is the op that computed it, its output position and the values
# it read) and compare what each op reads and what the net leaves behind.
# Ops are matched by their unique names.


def _outer(net: caffe2_pb2.NetDef) -> set[str]:
    names = set(net.external_input)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
        names.update(op.control_input)
    return names


def trace(net: caffe2_pb2.NetDef) -> tuple[dict[str, Any], dict[str, Any]]:
    outer = _outer(net)
    state: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    for op in net.op:
        assert op.name, "test nets name every op"
        assert op.name not in seen, "test nets give every op a unique name"
        reads = tuple(state.get(b, ("in", b)) for b in op.input)
        control = tuple(state.get(b, ("in", b)) for b in op.control_input)
        nested = sorted(repr(state.get(b, ("in", b))) for b in outer_references(op, outer))
        seen[op.name] = (reads, control, nested)
        for pos, b in enumerate(op.output):
            state[b] = (op.name, pos, reads)
    return seen, state


def assert_equivalent(original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef) -> None:
    seen_a, state_a = trace(original)
    seen_b, state_b = trace(optimized)
    assert seen_a.keys() == seen_b.keys()
    for name, reads in seen_a.items():
        assert seen_b[name] == reads, f"op {name} reads other values"
    assert list(optimized.external_input) == list(original.external_input)
    assert list(optimized.external_output) == list(original.external_output)
    for b in original.external_output:
        assert state_b.get(b, ("in", b)) == state_a.get(b, ("in", b)), b


def names_of(net: caffe2_pb2.NetDef) -> set[str]:
    return _outer(net) | set(net.external_output)


def assert_fixed_blobs_kept(
    original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef, fixed: set[str]
) -> None:
    """Every access to a fixed blob keeps its name, and no other blob takes it."""
    by_name = {op.name: op for op in optimized.op}
    for op in original.op:
        new = by_name[op.name]
        for old_list, new_list in ((op.input, new.input), (op.output, new.output)):
            for old, renamed in zip(old_list, new_list, strict=True):
                assert (old in fixed) == (renamed in fixed) or old == renamed
                if old in fixed:
                    assert renamed == old


# --------------------------------------------------------------------------
# Nets built as Caffe2 would build them.


def add_op(
    net: caffe2_pb2.NetDef,
    op_type: str,
    inputs: list[str],
    outputs: list[str],
    *,
    grad: bool = False,
    device: int | None = None,
) -> caffe2_pb2.OperatorDef:
    op = net.op.add(type=op_type, input=inputs, output=outputs, is_gradient_op=grad)
    op.name = f"op{len(net.op) - 1}"
    if device is not None:
        op.device_option.device_type = device
    return op


def mlp_with_gradients() -> caffe2_pb2.NetDef:
    """A 3-FC MLP with SoftmaxWithLoss, AveragedLoss and its gradient ops."""
    net = caffe2_pb2.NetDef(name="mlp")
    params = [f"fc{i}_{p}" for i in (1, 2, 3) for p in ("w", "b")]
    net.external_input.extend(["data", "label", *params])
    x = "data"
    for i in (1, 2, 3):
        add_op(net, "FC", [x, f"fc{i}_w", f"fc{i}_b"], [f"fc{i}"])
        x = f"fc{i}"
        if i < 3:
            add_op(net, "Relu", [x], [f"relu{i}"])
            x = f"relu{i}"
    add_op(net, "SoftmaxWithLoss", ["fc3", "label"], ["softmax", "loss"])
    add_op(net, "AveragedLoss", ["loss"], ["avg_loss"])
    seed = add_op(net, "ConstantFill", ["avg_loss"], ["avg_loss_grad"], grad=True)
    seed.arg.add(name="value", f=1.0)
    add_op(net, "AveragedLossGradient", ["loss", "avg_loss_grad"], ["loss_grad"], grad=True)
    add_op(
        net,
        "SoftmaxWithLossGradient",
        ["fc3", "label", "softmax", "loss", "loss_grad"],
        ["fc3_grad"],
        grad=True,
    )
    for i in (3, 2, 1):
        x = f"relu{i - 1}" if i > 1 else "data"
        outs = [f"fc{i}_w_grad", f"fc{i}_b_grad"] + ([f"{x}_grad"] if i > 1 else [])
        add_op(net, "FCGradient", [x, f"fc{i}_w", f"fc{i}_grad"], outs, grad=True)
        if i > 1:
            add_op(net, "ReluGradient", [x, f"{x}_grad"], [f"fc{i - 1}_grad"], grad=True)
    net.external_output.extend(["avg_loss", *(f"{p}_grad" for p in params)])
    return net


def count_blobs(net: caffe2_pb2.NetDef) -> int:
    return len(names_of(net))


@pytest.mark.parametrize("algo", ALGORITHMS, ids=lambda a: a.name)
@pytest.mark.parametrize("ordering", ORDERINGS, ids=lambda f: f.__name__)
def test_mlp_with_gradients_uses_fewer_blobs(algo: AssignmentAlgorithm, ordering: Ordering) -> None:
    net = mlp_with_gradients()
    before = net.SerializeToString()
    opt = optimize_interference(net, static_blobs=[], ordering_function=ordering, algo=algo)
    assert net.SerializeToString() == before
    assert isinstance(opt, Optimization)
    assert count_blobs(opt.net) < count_blobs(net)
    assert_equivalent(net, opt.net)
    fixed = set(net.external_input) | set(net.external_output)
    assert_fixed_blobs_kept(net, opt.net, fixed)
    assert not fixed & opt.blob_assignments.keys()
    assert sorted(b for a in opt.assignments for b, _ in a) == sorted(names_of(net))


def test_mlp_with_sizes_and_static_blobs() -> None:
    net = mlp_with_gradients()
    sizes = {b: 4 * (len(b) + 1) for b in names_of(net)}
    static = {"fc1", "relu2_grad"}
    opt = optimize_interference(net, static, blob_sizes=sizes)
    assert not static & opt.blob_assignments.keys()
    assert not static & set(opt.blob_assignments.values())
    assert_fixed_blobs_kept(net, opt.net, static)
    assert_equivalent(net, opt.net)
    for assignment in opt.assignments:
        assert all(r.size == sizes[b] for b, r in assignment)


def plan_bytes(opt: Optimization) -> int:
    return sum(max(r.size or 1 for _, r in buffer) for buffer in opt.assignments)


def test_exact_solver_by_name_with_a_time_limit_never_loses_to_greedy() -> None:
    net = mlp_with_gradients()
    sizes = {b: 4 * (len(b) + 1) ** 2 for b in names_of(net)}
    greedy = optimize_interference(net, [], blob_sizes=sizes)
    exact = optimize_interference(net, [], blob_sizes=sizes, algo="dp", time_limit=0.5)
    assert plan_bytes(exact) <= plan_bytes(greedy)
    assert_equivalent(net, exact.net)
    with pytest.raises(ValueError, match="nonsense"):
        optimize_interference(net, [], algo="nonsense", time_limit=0.5)


def test_blob_assignments_name_a_member_of_the_buffer() -> None:
    opt = optimize_interference(mlp_with_gradients(), [])
    for assignment in opt.assignments:
        members = [b for b, _ in assignment]
        if len(members) > 1:
            canonical = {opt.blob_assignments[b] for b in members}
            assert len(canonical) == 1
            assert canonical <= set(members)
        else:
            assert members[0] not in opt.blob_assignments


def test_buffers_hold_disjoint_ranges() -> None:
    opt = optimize_interference(mlp_with_gradients(), [])
    for assignment in opt.assignments:
        spans = sorted((r.defined, r.used) for _, r in assignment)
        for (_, used), (defined, _) in itertools.pairwise(spans):
            assert defined > used


def test_net_that_writes_a_blob_twice() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    add_op(net, "Relu", ["x"], ["y"])
    add_op(net, "Relu", ["y"], ["a"])
    add_op(net, "Relu", ["x"], ["y"])  # y written again after op1 read it
    add_op(net, "Relu", ["y"], ["b"])
    add_op(net, "Relu", ["x"], ["c"])
    add_op(net, "Sum", ["a", "b", "c"], ["out"])
    for algo in ALGORITHMS:
        for ordering in ORDERINGS:
            opt = optimize_interference(net, [], ordering_function=ordering, algo=algo)
            assert_equivalent(net, opt.net)


def test_reversed_independent_ops_order_stays_valid() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    add_op(net, "Relu", ["x"], ["y"])
    add_op(net, "Relu", ["y"], ["a"])
    add_op(net, "Relu", ["x"], ["y"])
    add_op(net, "Sum", ["a", "y"], ["out"])

    def reverse_ready(g: nx.DiGraph[Any]) -> list[int]:
        return list(nx.lexicographical_topological_sort(g, key=lambda n: -n))

    opt = optimize_interference(net, [], ordering_function=reverse_ready)
    assert_equivalent(net, opt.net)


def test_three_inplace_copies() -> None:
    net = caffe2_pb2.NetDef(external_input=["b1"])
    for _ in range(3):
        add_op(net, "Copy", ["b1"], ["b1"])
    opt = optimize_interference(net, [])
    assert [(list(op.input), list(op.output)) for op in opt.net.op] == [(["b1"], ["b1"])] * 3
    assert opt.blob_assignments == {}
    assert_equivalent(net, opt.net)


def test_inputs_of_the_net_are_never_shared() -> None:
    # "w" is read before any op writes it but is not declared external.
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    add_op(net, "FC", ["x", "w"], ["a"])
    add_op(net, "Relu", ["a"], ["b"])
    add_op(net, "Relu", ["b"], ["c"])
    add_op(net, "Relu", ["c"], ["d"])
    add_op(net, "Relu", ["d"], ["out"])
    opt = optimize_interference(net, [])
    assert "w" not in opt.blob_assignments
    assert "w" not in opt.blob_assignments.values()
    assert opt.blob_assignments  # something was shared
    assert_equivalent(net, opt.net)


def test_undeclared_final_output_is_not_overwritten() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"])
    add_op(net, "Relu", ["x"], ["a"])
    add_op(net, "Relu", ["a"], ["b"])
    add_op(net, "Relu", ["b"], ["c"])
    add_op(net, "Relu", ["c"], ["d"])
    opt = optimize_interference(net, [])
    # d is never read: it lives to the end; nothing may take its buffer later
    final = {b for op in opt.net.op for b in op.output}
    assert "d" in final or opt.blob_assignments.get("d") in final
    _, state = trace(net)
    _, state_opt = trace(opt.net)
    name = opt.blob_assignments.get("d", "d")
    assert state_opt[name] == state["d"]


def test_static_blobs_must_not_be_a_string() -> None:
    with pytest.raises(TypeError, match="string"):
        optimize_interference(mlp_with_gradients(), "fc1")


def test_unknown_algorithm_raises() -> None:
    algo: Any = "fastest"
    with pytest.raises(ValueError, match="fastest"):
        optimize_interference(mlp_with_gradients(), [], algo=algo)


def test_invalid_ordering_is_refused() -> None:
    net = mlp_with_gradients()
    with pytest.raises(VerificationError, match="before op"):
        optimize_interference(net, [], ordering_function=lambda g: reversed(range(len(g))))
    with pytest.raises(VerificationError, match="permutation"):
        optimize_interference(net, [], ordering_function=lambda g: [0, 1])


def test_accepts_objects_with_proto() -> None:
    class Wrapper:
        def Proto(self) -> caffe2_pb2.NetDef:
            return mlp_with_gradients()

    opt = optimize_interference(Wrapper(), [])
    assert_equivalent(mlp_with_gradients(), opt.net)


def test_cpu_and_gpu_blobs_never_share() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    add_op(net, "Relu", ["x"], ["c1"])
    add_op(net, "CopyCPUToGPU", ["c1"], ["g1"], device=1)
    add_op(net, "Relu", ["g1"], ["g2"], device=1)
    add_op(net, "Relu", ["g2"], ["g3"], device=1)
    add_op(net, "CopyGPUToCPU", ["g3"], ["c2"], device=1)
    add_op(net, "Relu", ["c2"], ["c3"])
    add_op(net, "Relu", ["c3"], ["c4"])
    add_op(net, "Relu", ["c4"], ["out"])
    gpu = {"g1", "g2", "g3"}
    opt = optimize_interference(net, [])
    for assignment in opt.assignments:
        members = {b for b, _ in assignment}
        assert members <= gpu or not members & gpu, members
    assert opt.blob_assignments  # blobs of one device still share
    assert_equivalent(net, opt.net)


def test_net_device_option_applies_to_ops_without_one() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    net.device_option.device_type = 1
    add_op(net, "Relu", ["x"], ["g1"])
    add_op(net, "CopyGPUToCPU", ["g1"], ["c1"])
    add_op(net, "Relu", ["c1"], ["c2"], device=0)
    add_op(net, "Relu", ["c2"], ["c3"], device=0)
    add_op(net, "Relu", ["c3"], ["out"], device=0)
    devices = blob_devices(net)
    assert devices["g1"] == (1, 0)
    assert devices["c1"] == (0, 0)
    opt = optimize_interference(net, [])
    assert opt.blob_assignments.get("g1") is None


def test_gpu_ids_are_distinct_devices() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    for i, (src, dst) in enumerate([("x", "a"), ("a", "b"), ("b", "c"), ("c", "out")]):
        op = add_op(net, "Relu", [src], [dst], device=1)
        op.device_option.device_id = i
    opt = optimize_interference(net, [])
    assert opt.blob_assignments == {}


@pytest.mark.parametrize("form", ["n", "s"])
def test_recurrent_op_reading_outer_blobs(form: str) -> None:
    from google.protobuf import text_format

    net = caffe2_pb2.NetDef(external_input=["x", "W"], external_output=["out"])
    add_op(net, "Relu", ["x"], ["a"])
    add_op(net, "Relu", ["a"], ["b"])
    add_op(net, "Relu", ["b"], ["s"])  # read by the step net only
    add_op(net, "Relu", ["b"], ["c"])
    rnn = add_op(net, "RecurrentNetwork", ["c", "W"], ["h"])
    step = caffe2_pb2.NetDef(external_input=["s", "W"])
    step.op.add(type="FC", input=["h_prev", "W", "s"], output=["h_t"])
    if form == "n":
        rnn.arg.add(name="step_net").n.CopyFrom(step)
    else:
        rnn.arg.add(name="step_net").s = text_format.MessageToString(step).encode()
    add_op(net, "Relu", ["h"], ["d"])
    add_op(net, "Relu", ["d"], ["e"])
    add_op(net, "Sum", ["e", "d"], ["out"])
    opt = optimize_interference(net, [])
    assert_equivalent(net, opt.net)
    assert opt.blob_assignments
    new_rnn = next(op for op in opt.net.op if op.name == rnn.name)
    arg = next(a for a in new_rnn.arg if a.name == "step_net")
    new_step = arg.n if form == "n" else text_format.Parse(arg.s.decode(), caffe2_pb2.NetDef())
    s_name = opt.blob_assignments.get("s", "s")
    assert list(new_step.external_input) == [s_name, "W"]
    assert list(new_step.op[0].input) == ["h_prev", "W", s_name]
    # s is live across the recurrent op: nothing written there or before takes it
    renamed = {a.name: a.s.decode() for a in new_rnn.arg if a.name.endswith(".rename")}
    for blob in ("c", "h", "s"):
        if blob in opt.blob_assignments:
            assert renamed[blob + ".rename"] == opt.blob_assignments[blob]
    for out in new_rnn.output:
        assert out != s_name


def test_verification_catches_a_bad_ordering_function_result() -> None:
    # An ordering that is valid: verification passes and finds nothing.
    opt = optimize_interference(
        mlp_with_gradients(), [], ordering_function=graph.topological_sort_traversal, verify=True
    )
    assert_equivalent(mlp_with_gradients(), opt.net)


def test_graph_equality_when_order_is_unchanged() -> None:
    net = mlp_with_gradients()
    opt = optimize_interference(net, [])
    assert [op.name for op in opt.net.op] == [op.name for op in net.op]
    assert verify_graph_equality(net, opt.net), graph_difference(net, opt.net)
    assert verify_inplace_blobs(net, opt.net)


# --------------------------------------------------------------------------
# Properties on random nets.


def to_netdef(random_net: RandomNet, devices: list[int | None]) -> caffe2_pb2.NetDef:
    """A NetDef with the ops of a RandomNet, each on the CPU or a GPU (or unset)."""
    net = caffe2_pb2.NetDef(
        external_input=random_net.external_input, external_output=random_net.external_output
    )
    for op, device in zip(random_net.op, devices, strict=False):
        new = add_op(net, op.type, list(op.input), list(op.output), device=device)
        new.control_input.extend(op.control_input)
    return net


@st.composite
def random_netdefs(draw: st.DrawFn) -> tuple[caffe2_pb2.NetDef, dict[str, int] | None]:
    """Random nets from memonger.graph.testing, with rewrites, in-place ops and two devices."""
    random_net = draw(nets(max_ops=20, sizes=st.integers(1, 1000) if draw(st.booleans()) else None))
    n = len(random_net.op)
    devices = draw(st.lists(st.sampled_from([None, None, 0, 1]), min_size=n, max_size=n))
    return to_netdef(random_net, devices), random_net.blob_sizes


@settings(deadline=None)
@given(drawn=random_netdefs(), algo=st.sampled_from(ALGORITHMS), index=st.integers(0, 1))
def test_optimized_random_nets_are_equivalent(
    drawn: tuple[caffe2_pb2.NetDef, dict[str, int] | None], algo: AssignmentAlgorithm, index: int
) -> None:
    net, sizes = drawn
    before = net.SerializeToString()
    static = {b for b in names_of(net) if b.endswith("3")}
    opt = optimize_interference(
        net, static, ordering_function=ORDERINGS[index], blob_sizes=sizes, algo=algo
    )
    assert net.SerializeToString() == before
    assert_equivalent(net, opt.net)
    fixed = static | set(net.external_input) | set(net.external_output)
    assert_fixed_blobs_kept(net, opt.net, fixed)
    assert count_blobs(opt.net) <= count_blobs(net)
    assert len(opt.assignments) <= count_blobs(net)
    # blobs on different devices never share (the test's own device rule)
    device: dict[str, int] = {}
    for op in net.op:
        for b in op.output:
            device.setdefault(b, op.device_option.device_type if op.type != "CopyGPUToCPU" else 0)
    for assignment in opt.assignments:
        assert len({device.get(b, -1) for b, _ in assignment}) == 1
    if [op.name for op in opt.net.op] == [op.name for op in net.op]:
        assert verify_graph_equality(net, opt.net), graph_difference(net, opt.net)


def test_ordering_with_memory_aware_function() -> None:
    min_memory = getattr(graph, "topological_sort_min_memory", None)
    if min_memory is None:
        pytest.skip("memonger.graph.topological_sort_min_memory is not available")
    net = mlp_with_gradients()
    sizes = dict.fromkeys(names_of(net), 16)
    ordering = functools.partial(min_memory, blob_sizes=sizes)
    opt = optimize_interference(net, [], ordering_function=ordering, blob_sizes=sizes)
    assert_equivalent(net, opt.net)


def test_net_accesses_include_nested_references() -> None:
    net = caffe2_pb2.NetDef(external_input=["x", "W"])
    add_op(net, "Relu", ["x"], ["a"])
    op = add_op(net, "If", ["x"], ["y"])
    op.arg.add(name="then_net").n.op.add(type="Copy", input=["a"], output=["y"])
    accesses = net_accesses(net)
    assert accesses[1].input == ["x", "a", "y"]
    assert accesses[1].output == ["y", "a", "y"]


@st.composite
def nested_netdefs(draw: st.DrawFn) -> caffe2_pb2.NetDef:
    """Random nets where some ops carry nested nets that read outer blobs."""
    random_net = draw(nets(max_ops=15, control_inputs=False))
    net = to_netdef(random_net, [None] * len(random_net.op))
    known = list(net.external_input)
    for i, op in enumerate(net.op):
        if known and draw(st.integers(0, 3)) == 0:
            refs = draw(st.lists(st.sampled_from(known), min_size=1, max_size=3, unique=True))
            arg_name, form = draw(
                st.sampled_from([("then_net", "n"), ("step_net", "n"), ("step_net", "s")])
            )
            if arg_name == "step_net":
                op.type = "RecurrentNetwork"
            inner = caffe2_pb2.NetDef(external_input=refs[:1])
            inner.op.add(type="Inner", input=refs, output=[f"inner_{i}"])
            arg = op.arg.add(name=arg_name)
            if form == "n":
                arg.n.CopyFrom(inner)
            else:
                arg.s = text_format.MessageToString(inner).encode()
        known.extend(b for b in op.output if b not in known)
    return net


@settings(deadline=None)
@given(net=nested_netdefs(), algo=st.sampled_from(ALGORITHMS))
def test_optimized_nets_with_nested_nets_are_equivalent(
    net: caffe2_pb2.NetDef, algo: AssignmentAlgorithm
) -> None:
    opt = optimize_interference(net, [], algo=algo)
    assert_equivalent(net, opt.net)
    fixed = set(net.external_input) | set(net.external_output)
    assert_fixed_blobs_kept(net, opt.net, fixed)
    by_name = {op.name: op for op in opt.net.op}
    for op in net.op:
        new = by_name[op.name]
        referenced = set(op.input) | set(op.output)
        for arg, new_arg in zip(op.arg, new.arg, strict=False):
            if arg.name not in ("then_net", "step_net"):
                continue
            old_inner, new_inner = inner_net(arg), inner_net(new_arg)
            # the nested net reads the same (renamed) blobs as the op around it sees them
            renamed = [opt.blob_assignments.get(b, b) for b in old_inner.op[0].input]
            assert list(new_inner.op[0].input) == renamed
            assert list(new_inner.external_input) == renamed[:1]
            referenced.update(old_inner.op[0].input)
        rename_args = {a.name: a.s for a in new.arg if a.name.endswith(".rename")}
        if op.type == "RecurrentNetwork":
            expected = {
                b + ".rename": opt.blob_assignments[b].encode()
                for b in opt.blob_assignments
                if b in referenced
            }
            assert rename_args == expected
        else:
            assert not rename_args


def inner_net(arg: caffe2_pb2.Argument) -> caffe2_pb2.NetDef:
    if arg.HasField("n"):
        return arg.n
    return text_format.Parse(arg.s.decode(), caffe2_pb2.NetDef())
