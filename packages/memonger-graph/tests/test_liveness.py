"""The memory-aware order counts bytes exactly as memonger.alloc does, views included.

Oracles here are written from the policy of ``memonger.alloc.liveness``,
apart from both packages' code: a storage-aware symbolic run (a write
through a view changes what every view of the storage reads) and a live
range per storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from memonger.alloc import compute_liveness, peak_live_bytes
from memonger.graph import (
    check_order,
    compute_interference_graph,
    memory_order,
    order_peak_bytes,
    topological_sort_traversal_longest_path,
)
from memonger.graph._indexed import index_graph
from memonger.graph.memory import _Model
from memonger.graph.testing import Op, RandomNet, nets, topological_orders


def _storages(ops: Sequence[Any]) -> dict[str, str]:
    parent = {b: b for op in ops for b in (*op.input, *op.output, *op.control_input)}

    def find(b: str) -> str:
        while parent[b] != b:
            b = parent[b]
        return b

    for op in ops:
        for o, i in op.views:
            parent[find(op.output[o])] = find(op.input[i])
    return {b: find(b) for b in parent}


def storage_run(ops: Sequence[Any], order: Sequence[int]) -> tuple[dict[int, Any], dict[str, Any]]:
    """What every op reads and what every storage holds at the end, by storage."""
    storage = _storages(ops)
    values: dict[str, Any] = {}
    seen: dict[int, Any] = {}
    for i in order:
        op = ops[i]
        read = tuple(values.get(storage[b], ("outside", storage[b])) for b in op.input)
        seen[i] = read
        created = {o for o, _ in op.views}
        for k, b in enumerate(op.output):
            if k not in created:
                values[storage[b]] = (i, k, read)
    return seen, values


def peak_by_storage(ops: Sequence[Any], order: Sequence[int], sizes: dict[str, int]) -> int:
    run = [ops[k] for k in order]
    storage = _storages(run)
    n = len(run)
    live = [0] * n
    groups: dict[str, list[str]] = {}
    for b, root in storage.items():
        groups.setdefault(root, []).append(b)
    for blobs in groups.values():
        written = any(
            b in op.output and op.output.index(b) not in {o for o, _ in op.views}
            for op in run
            for b in blobs
        )
        if not written:
            continue
        start, end = n, -1
        for b in blobs:
            acc = []
            for q, op in enumerate(run):
                acc += [(q, "r")] * (b in op.input) + [(q, "c")] * (b in op.control_input)
                acc += [(q, "w")] * (b in op.output)
            rw = [a for a in acc if a[1] != "c"]
            start = min(start, 0 if acc[0][1] != "w" else acc[0][0])
            end = max(end, n - 1 if rw and rw[-1][1] == "w" else acc[-1][0])
        for p in range(start, end + 1):
            live[p] += max(sizes[b] for b in blobs)
    return max(live, default=0)


def _view_nets(**kwargs: Any) -> st.SearchStrategy[RandomNet]:
    return nets(views=True, sizes=st.integers(1, 100), **kwargs)


@settings(max_examples=60)
@given(_view_nets(max_ops=14), st.data())
def test_every_valid_order_computes_the_same_by_storage(
    net: RandomNet, data: st.DataObject
) -> None:
    g = compute_interference_graph(net.op)
    program = list(range(len(net.op)))
    expected = storage_run(net.op, program)
    order = data.draw(topological_orders(g))
    assert storage_run(net.op, order) == expected
    result = memory_order(g, net.blob_sizes, budget=2000)
    check_order(g, result.order)
    assert storage_run(net.op, result.order) == expected


@settings(max_examples=60)
@given(_view_nets(max_ops=14), st.data())
def test_peaks_are_allocs_and_the_models(net: RandomNet, data: st.DataObject) -> None:
    assert net.blob_sizes is not None
    g = compute_interference_graph(net.op)
    order = data.draw(topological_orders(g))
    by_alloc = peak_live_bytes(
        compute_liveness([net.op[k] for k in order], net.blob_sizes).produced_ranges()
    )
    assert order_peak_bytes(net.op, order, net.blob_sizes) == by_alloc
    assert peak_by_storage(net.op, order, net.blob_sizes) == by_alloc
    ix = index_graph(g)
    assert _Model(ix, net.blob_sizes).peak(order) == by_alloc
    result = memory_order(g, net.blob_sizes, budget=data.draw(st.sampled_from([0, 50, 3000])))
    ranges = compute_liveness([net.op[k] for k in result.order], net.blob_sizes).produced_ranges()
    assert result.peak == peak_live_bytes(ranges)
    assert result.lower_bound <= result.peak <= result.program_peak
    assert result.lower_bound <= peak_by_storage(net.op, order, net.blob_sizes)


def test_views_through_a_callable_and_the_alias_case() -> None:
    # a = Relu(x); b = Alias(a); t = Relu(b); c = Sigmoid(t); y = Sum(b, c)
    ops = [
        SimpleNamespace(type="Relu", input=["x"], output=["a"]),
        SimpleNamespace(type="Alias", input=["a"], output=["b"]),
        SimpleNamespace(type="Relu", input=["b"], output=["t"]),
        SimpleNamespace(type="Sigmoid", input=["t"], output=["c"]),
        SimpleNamespace(type="Sum", input=["b", "c"], output=["y"]),
    ]
    sizes = {"x": 100, "a": 8, "b": 8, "t": 8, "c": 8, "y": 8}

    def alias(op: Any) -> list[tuple[int, int]]:
        return [(0, 0)] if op.type == "Alias" else []

    assert order_peak_bytes(ops, None, sizes) == 24  # b's own 8 bytes at y
    assert order_peak_bytes(ops, None, sizes, views=alias) == 24  # a lives until y
    g = compute_interference_graph(ops, views=alias)
    result = memory_order(g, sizes, views=alias)
    assert result.peak == peak_live_bytes(
        compute_liveness(ops, sizes, views=alias).produced_ranges()
    )


def test_a_view_read_after_its_base_is_rewritten_stays_after_the_rewrite() -> None:
    ops = [
        Op("ConstantFill", "op0", (), ("a",)),
        Op("Alias", "op1", ("a",), ("v",), views=((0, 0),)),
        Op("ConstantFill", "op2", (), ("w",)),
        Op("Relu", "op3", ("w",), ("a",)),  # rewrites the storage v views
        Op("Relu", "op4", ("v",), ("y",)),
    ]
    g = compute_interference_graph(ops)
    assert g.has_edge(3, 4)
    sizes = {"a": 50, "v": 50, "w": 1, "y": 1}
    for order in (memory_order(g, sizes).order, topological_sort_traversal_longest_path(g)):
        check_order(g, order)
        assert storage_run(ops, order) == storage_run(ops, range(5))
