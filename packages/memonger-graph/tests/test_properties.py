"""Property tests: every order any function returns computes what program order does.

The oracle never looks at the package's graph.  It re-runs the ops
symbolically -- each output value is a hash of the op's index, the output's
position and the values the op read -- and compares every op's input values
and every blob's final value with a run in program order; control inputs are
checked against the op positions directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memonger.graph import (
    CycleError,
    OrderError,
    check_acyclic,
    check_order,
    compute_interference_graph,
    find_cycle,
    order_ops,
    order_peak_bytes,
    topological_sort_min_memory,
    topological_sort_traversal,
    topological_sort_traversal_longest_path,
)
from memonger.graph.testing import RandomNet, dags, nets, topological_orders


def symbolic_run(
    ops: Sequence[Any], order: Sequence[int]
) -> tuple[dict[int, tuple[int, ...]], dict[str, int]]:
    values: dict[str, int] = {}
    seen: dict[int, tuple[int, ...]] = {}
    for i in order:
        op = ops[i]
        read = tuple(values.get(b, hash(("outside", b))) for b in op.input)
        seen[i] = read
        for k, b in enumerate(op.output):
            values[b] = hash((i, k, read))
    return seen, values


def controls_kept(ops: Sequence[Any], order: Sequence[int]) -> bool:
    pos = {i: p for p, i in enumerate(order)}
    last_writer: dict[str, int] = {}
    for j, op in enumerate(ops):
        for blob in op.control_input:
            w = last_writer.get(blob)
            if w is not None and w != j and pos[w] > pos[j]:
                return False
        for blob in op.output:
            last_writer[blob] = j
    return True


def equivalent(ops: Sequence[Any], order: Sequence[int]) -> bool:
    """True when ``order`` is a permutation computing exactly what program order does."""
    order = list(order)
    if sorted(order) != list(range(len(ops))):
        return False
    return symbolic_run(ops, order) == symbolic_run(ops, range(len(ops))) and controls_kept(
        ops, order
    )


def naive_peak(ops: Sequence[Any], order: Sequence[int], sizes: dict[str, int] | None) -> int:
    """Peak live bytes by definition: at each position, sum over live produced blobs.

    A produced blob is live from its first write (from the start if an op reads
    it first, counting an in-place op's read as coming first) to its last read,
    write or control input, or to the end if nothing reads it after its last
    write (memonger.alloc's policy; these nets have no views).
    """
    run = [ops[i] for i in order]
    n = len(run)
    peak = 0
    for p in range(n):
        total = 0
        for blob in {b for op in run for b in op.output}:
            writes = [q for q, op in enumerate(run) if blob in op.output]
            reads = [q for q, op in enumerate(run) if blob in op.input]
            touches = [q for q, op in enumerate(run) if blob in (*op.input, *op.control_input)]
            start = 0 if touches and touches[0] <= writes[0] else writes[0]
            end = touches[-1] if reads and reads[-1] > writes[-1] else n - 1
            if start <= p <= end:
                total += 1 if sizes is None else sizes.get(blob, 1)
        peak = max(peak, total)
    return peak


ORDERINGS = [
    topological_sort_traversal,
    topological_sort_traversal_longest_path,
    topological_sort_min_memory,
]


@given(nets(max_ops=16, sizes=st.integers(1, 1000)))
def test_every_ordering_computes_the_same_values(net: RandomNet) -> None:
    g = compute_interference_graph(net.op)
    for ordering in ORDERINGS:
        order = ordering(g)
        assert equivalent(net.op, order), ordering.__name__
    order = topological_sort_min_memory(g, net.blob_sizes)
    assert equivalent(net.op, order)
    for strategy in ("program", "longest-path", "memory"):
        assert equivalent(net.op, order_ops(g, strategy))  # type: ignore[arg-type]


@given(st.data())
def test_every_topological_order_of_the_graph_is_equivalent(data: st.DataObject) -> None:
    net = data.draw(nets(max_ops=16))
    g = compute_interference_graph(net.op)
    order = data.draw(topological_orders(g))
    assert equivalent(net.op, order)
    check_order(g, order)


@given(st.data())
def test_check_order_rejects_every_order_that_changes_results(data: st.DataObject) -> None:
    net = data.draw(nets(min_ops=2, max_ops=12))
    g = compute_interference_graph(net.op)
    order = data.draw(topological_orders(g))
    i = data.draw(st.integers(0, len(order) - 2))
    order[i], order[i + 1] = order[i + 1], order[i]
    err: OrderError | None = None
    try:
        check_order(g, order)
    except OrderError as exc:
        err = exc
    if err is None:
        assert equivalent(net.op, order)
    else:
        # the dependency named is real: program order has it, the order breaks it
        assert isinstance(err.before, int)
        assert isinstance(err.after, int)
        assert err.before < err.after
        assert order.index(err.after) < order.index(err.before)
        first, second = net.op[err.before], net.op[err.after]
        assert err.blob is not None
        assert err.blob in {*first.input, *first.output, *first.control_input}
        assert err.blob in {*second.input, *second.output, *second.control_input}
        assert f"op {err.after}" in str(err)
        assert repr(err.blob) in str(err)


@given(nets(max_ops=16))
def test_program_order_comes_back_unchanged(net: RandomNet) -> None:
    g = compute_interference_graph(net.op)
    assert sorted(g) == list(range(len(net.op)))
    assert topological_sort_traversal(g) == list(range(len(net.op)))
    check_order(g, range(len(net.op)))


@given(nets(max_ops=16, sizes=st.integers(1, 1000)), st.randoms(use_true_random=False))
def test_orders_are_deterministic_and_ignore_edge_insertion_order(
    net: RandomNet, random: Any
) -> None:
    g = compute_interference_graph(net.op)
    shuffled: nx.DiGraph[int] = nx.DiGraph()
    nodes = list(g.nodes(data=True))
    edges = list(g.edges(data=True))
    random.shuffle(nodes)
    random.shuffle(edges)
    shuffled.add_nodes_from(nodes)
    shuffled.add_edges_from(edges)
    for ordering in ORDERINGS:
        assert ordering(g) == ordering(g) == ordering(shuffled)
    first = topological_sort_min_memory(g, net.blob_sizes)
    assert first == topological_sort_min_memory(shuffled, net.blob_sizes)
    again = compute_interference_graph(net.op)
    assert first == topological_sort_min_memory(again, net.blob_sizes)


@given(nets(max_ops=20, sizes=st.integers(1, 1000)))
def test_memory_order_never_raises_the_peak(net: RandomNet) -> None:
    g = compute_interference_graph(net.op)
    order = topological_sort_min_memory(g, net.blob_sizes)
    program = list(range(len(net.op)))
    assert naive_peak(net.op, order, net.blob_sizes) <= naive_peak(net.op, program, net.blob_sizes)
    for o in (order, program):
        assert order_peak_bytes(net.op, o, net.blob_sizes) == naive_peak(net.op, o, net.blob_sizes)


@settings(max_examples=30)
@given(nets(max_ops=7, sizes=st.integers(1, 50)))
def test_memory_order_is_optimal_on_small_nets(net: RandomNet) -> None:
    g = compute_interference_graph(net.op)
    order = topological_sort_min_memory(g, net.blob_sizes)
    best = min(naive_peak(net.op, o, net.blob_sizes) for o in nx.all_topological_sorts(g))
    assert naive_peak(net.op, order, net.blob_sizes) == best


@given(st.data())
def test_cycles_are_named_by_every_function(data: st.DataObject) -> None:
    g = data.draw(dags(min_ops=1, max_ops=12)).copy()
    u = data.draw(st.sampled_from(sorted(g)))
    descendants = sorted(nx.descendants(g, u) | {u})
    v = data.draw(st.sampled_from(descendants))
    g.add_edge(v, u)  # closes a cycle (a self-loop when v == u)
    cycle = find_cycle(g)
    assert cycle is not None
    assert all(g.has_edge(a, b) for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True))
    for check in (check_acyclic, *ORDERINGS, order_ops):
        with pytest.raises(CycleError) as info:
            check(g)
        assert info.value.cycle == cycle
        assert all(f"op {node}" in str(info.value) for node in cycle)


@given(dags(max_ops=15), st.data())
def test_orders_of_plain_graphs_respect_edges(g: nx.DiGraph[int], data: st.DataObject) -> None:
    check_acyclic(g)
    assert find_cycle(g) is None
    for ordering in ORDERINGS:
        order = ordering(g)
        assert sorted(order) == sorted(g)
        pos = {v: p for p, v in enumerate(order)}
        assert all(pos[a] < pos[b] for a, b in g.edges)
    drawn = data.draw(topological_orders(g))
    pos = {v: p for p, v in enumerate(drawn)}
    assert all(pos[a] < pos[b] for a, b in g.edges)
