"""optimize_interference on random nets: every algorithm, every ordering.

Each result is checked with the independent oracles of ``harness_oracle``:
symbolic execution against the original (op reads, external outputs and
undeclared final results), fixed blobs untouched, plan bytes at least the
live-value bound of the result's op order, no new in-place pairs, and the
package's own graph-equality and in-place checks where the order is
unchanged.  The DP plan never exceeds a heuristic's on the same order, and
optimizing a result again stays equivalent to the original without growing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from harness_nets import Case, cases
from harness_oracle import (
    as_text,
    buffers,
    divergence,
    live_bound,
    naive_bytes,
    new_inplace_pairs,
    plan_bytes,
    produced,
    renamed_fixed,
    renamed_sizes,
)
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from memonger.alloc import AssignmentAlgorithm
from memonger.graph import (
    topological_sort_min_memory,
    topological_sort_traversal,
    topological_sort_traversal_longest_path,
)
from memonger.netdef import (
    Optimization,
    caffe2_pb2,
    optimize_interference,
    verify_execution_equivalence,
    verify_graph_equality,
    verify_inplace_blobs,
)
from memonger.stats import plan_nbytes

Ordering = Callable[[Any], Iterable[int]]
ORDERINGS = ("program", "longest-path", "memory")
ALGORITHMS = list(AssignmentAlgorithm)
HEURISTICS = [a for a in ALGORITHMS if a is not AssignmentAlgorithm.DYNAMIC_PROGRAMMING]


def ordering(name: str, sizes: dict[str, int]) -> Ordering:
    if name == "program":
        return topological_sort_traversal
    if name == "longest-path":
        return topological_sort_traversal_longest_path
    return lambda g: topological_sort_min_memory(g, sizes)


def run(
    case: Case,
    algo: AssignmentAlgorithm,
    order_name: str,
    net: caffe2_pb2.NetDef | None = None,
    sizes: dict[str, int] | None = None,
) -> Optimization:
    source = case.net if net is None else net
    sizes = case.sizes if sizes is None else sizes
    before = source.SerializeToString()
    static = list(case.static)
    static_copy = list(static)
    result = optimize_interference(
        source, static, ordering(order_name, sizes), blob_sizes=sizes, algo=algo, verify=False
    )
    assert source.SerializeToString() == before, "the input net was modified"
    assert static == static_copy, "static_blobs was modified"
    note(f"{algo.name} / {order_name} result:\n{as_text(result.net)}")
    return result


# A control input orders ops but reads nothing: a blob that only a control
# input names after its last write is a final result and keeps its value.
CONTROL_IS_READ = False


def check_result(case: Case, opt: caffe2_pb2.NetDef, order_name: str) -> int:
    """All the oracle checks; returns the plan bytes."""
    problem = divergence(case.net, opt, control_is_read=CONTROL_IS_READ)
    assert problem is None, problem
    assert renamed_fixed(case.net, opt, case.fixed) == []
    assert new_inplace_pairs(case.net, opt) == []
    # the package's own checker agrees
    assert verify_execution_equivalence(case.net, opt).ok
    if [op.name for op in opt.op] == [op.name for op in case.net.op]:
        assert verify_graph_equality(case.net, opt)
        assert verify_inplace_blobs(case.net, opt)
    plan = plan_bytes(case.net, opt, case.sizes)
    # the result's order, in the original's op positions
    position = {op.name: k for k, op in enumerate(case.net.op)}
    order = [position[op.name] for op in opt.op]
    bound = live_bound(case.net, case.sizes, order)
    assert bound <= plan <= naive_bytes(case.net, case.sizes)
    if order_name == "program":
        assert order == list(range(len(case.net.op))), "program ordering moved ops"
    return plan


@given(
    cases(max_ops=16, branches=2, clean=True),
    st.sampled_from(ALGORITHMS),
    st.sampled_from(ORDERINGS),
)
def test_every_algorithm_and_ordering(case: Case, algo: AssignmentAlgorithm, order: str) -> None:
    result = run(case, algo, order)
    plan = check_result(case, result.net, order)
    # the reported plan is the plan the net carries
    held = buffers(case.net, result.net)
    made = set(produced(case.net))
    for buffer in result.assignments:
        members = {name for name, _ in buffer} & made
        if members:
            homes = [new for new, olds in held.items() if olds & members]
            assert len(homes) == 1, f"buffer {sorted(members)} is spread over {homes}"
            assert held[homes[0]] == members
    assert plan_nbytes(result.assignments, case.sizes, produced=made) == plan
    for name, new in result.blob_assignments.items():
        assert name == new or name not in case.fixed


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(cases(max_ops=16, branches=2, clean=True), st.sampled_from(ORDERINGS))
def test_dp_never_worse_than_any_heuristic(case: Case, order: str) -> None:
    exact = plan_bytes(
        case.net, run(case, AssignmentAlgorithm.DYNAMIC_PROGRAMMING, order).net, case.sizes
    )
    for algo in HEURISTICS:
        heuristic = plan_bytes(case.net, run(case, algo, order).net, case.sizes)
        assert exact <= heuristic, f"DP {exact} > {algo.name} {heuristic}"


@given(cases(), st.sampled_from(ALGORITHMS), st.sampled_from(ORDERINGS))
def test_optimizing_twice(case: Case, algo: AssignmentAlgorithm, order: str) -> None:
    once = run(case, algo, order).net
    first = plan_bytes(case.net, once, case.sizes)
    sizes = renamed_sizes(case.net, once, case.sizes)
    twice = run(case, algo, order, net=once, sizes=sizes).net
    problem = divergence(case.net, twice, control_is_read=CONTROL_IS_READ)
    assert problem is None, problem
    assert verify_execution_equivalence(case.net, twice).ok
    assert renamed_fixed(case.net, twice, case.fixed) == []
    assert plan_bytes(case.net, twice, case.sizes) <= first


@given(cases(static=False))
def test_builtin_verification_accepts_every_result(case: Case) -> None:
    # with verify=True (the default) the package checks itself; it must not refuse
    for algo in ALGORITHMS:
        result = optimize_interference(case.net, [], blob_sizes=case.sizes, algo=algo)
        assert divergence(case.net, result.net, control_is_read=CONTROL_IS_READ) is None


def test_string_static_blobs_is_refused() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    net.op.add(type="Relu", name="op0", input=["x"], output=["ab"])
    net.op.add(type="Relu", name="op1", input=["ab"], output=["y"])
    with pytest.raises(TypeError):
        optimize_interference(net, "ab")


def test_control_input_only_blob_keeps_its_final_value() -> None:
    net = caffe2_pb2.NetDef()
    net.op.add(type="ConstantFill", name="op0", output=["a"])
    net.op.add(type="ConstantFill", name="op1", output=["c"], control_input=["a"])
    net.op.add(type="ConstantFill", name="op2", output=["d"])
    # without the control input, 'a' is a final result and keeps its own buffer
    plain = caffe2_pb2.NetDef()
    plain.CopyFrom(net)
    del plain.op[1].control_input[:]
    assert optimize_interference(plain, []).blob_assignments == {}
    result = optimize_interference(net, [])
    assert divergence(net, result.net) is None
