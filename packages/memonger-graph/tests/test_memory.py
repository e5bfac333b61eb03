"""The memory-aware ordering: its search phases, its report, the corpus."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memonger.graph import (
    MemoryOrder,
    check_order,
    compute_interference_graph,
    memory_order,
    order_peak_bytes,
)
from memonger.graph._indexed import index_graph
from memonger.graph.memory import (
    _cut_bound,
    _improve,
    _lower_bound,
    _Model,
    _regroup,
    _Search,
    _shift,
)
from memonger.graph.testing import RandomNet, nets


def _wide_nets(**kwargs: Any) -> st.SearchStrategy[RandomNet]:
    return nets(min_ops=10, max_ops=40, sizes=st.integers(1, 100), **kwargs)


@settings(max_examples=40)
@given(_wide_nets(views=True), st.sampled_from([0, 5, 60, 400, 3000]))
def test_every_budget_gives_a_valid_order_no_worse_than_program(
    net: RandomNet, budget: int
) -> None:
    g = compute_interference_graph(net.op)
    result = memory_order(g, net.blob_sizes, budget=budget)
    check_order(g, result.order)
    assert result.peak == order_peak_bytes(net.op, result.order, net.blob_sizes)
    assert result.program_peak == order_peak_bytes(net.op, None, net.blob_sizes)
    assert result.lower_bound <= result.peak <= result.program_peak
    assert result.optimal == (result.peak == result.lower_bound)
    if budget == 0:
        assert not result.optimal or len(net.op) <= 1 or result.peak == 0


@settings(max_examples=40)
@given(_wide_nets(views=True))
def test_single_op_moves_are_scored_exactly(net: RandomNet) -> None:
    g = compute_interference_graph(net.op)
    ix = index_graph(g)
    model = _Model(ix, net.blob_sizes)
    # verify=True recomputes each move's score from scratch and asserts
    order, _ = _shift(ix, model, list(range(len(net.op))), 10**6, None, verify=True)
    check_order(g, order)
    assert model.peak(order) <= model.peak(list(range(len(net.op))))
    assert model.peak(order) == order_peak_bytes(net.op, order, net.blob_sizes)


@settings(max_examples=40)
@given(_wide_nets(), st.integers(2, 12), st.sampled_from([1, 4, 64]))
def test_stretch_reordering_keeps_orders_valid_and_never_worse(
    net: RandomNet, span: int, width: int
) -> None:
    g = compute_interference_graph(net.op)
    ix = index_graph(g)
    model = _Model(ix, net.blob_sizes)
    program = list(range(len(net.op)))
    order = _improve(_Search(ix, model), program, span, width, 10**6, None)
    check_order(g, order)
    assert model.peak(order) <= model.peak(program)


@settings(max_examples=40)
@given(_wide_nets(views=True))
def test_group_moves_keep_orders_valid_and_never_worse(net: RandomNet) -> None:
    g = compute_interference_graph(net.op)
    ix = index_graph(g)
    model = _Model(ix, net.blob_sizes)
    program = list(range(len(net.op)))
    order, _ = _regroup(ix, model, program, 10**6, None)
    check_order(g, order)
    assert model.peak(order) == order_peak_bytes(net.op, order, net.blob_sizes)
    assert model.peak(order) <= model.peak(program)


def _least_peak(net: RandomNet, g: nx.DiGraph[int]) -> int:
    """The least peak over every valid order (brute force)."""
    return min(order_peak_bytes(net.op, o, net.blob_sizes) for o in nx.all_topological_sorts(g))


def _live_at(net: RandomNet, order: list[int], p: int) -> int:
    """Live bytes at position ``p`` of ``order``, by the definition (design 7, alloc's policy).

    Storages join a view and its base; a storage is live from its first write
    (the start, if a blob of it is read first) to the last read, write or
    control input of one of its blobs, and to the end if one of them is not
    read after its last write.  Creating a view writes nothing.
    """
    run = [net.op[k] for k in order]
    n = len(run)
    root = {b: b for op in run for b in (*op.input, *op.output, *op.control_input)}

    def find(b: str) -> str:
        while root[b] != b:
            b = root[b]
        return b

    for op in run:
        for o, i in op.views:
            root[find(op.output[o])] = find(op.input[i])
    groups: dict[str, list[str]] = {}
    for b in root:
        groups.setdefault(find(b), []).append(b)
    total = 0
    for blobs in groups.values():
        produced = any(
            b in op.output and op.output.index(b) not in {o for o, _ in op.views}
            for op in run
            for b in blobs
        )
        if not produced:
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
        if start <= p <= end:
            total += max((net.blob_sizes or {}).get(b) or 1 for b in blobs)
    return total


@settings(max_examples=40)
@given(nets(max_ops=7, sizes=st.integers(1, 50), views=True), st.data())
def test_cut_bounds_never_exceed_any_orders_peak(net: RandomNet, data: st.DataObject) -> None:
    g = compute_interference_graph(net.op)
    ix = index_graph(g)
    model = _Model(ix, net.blob_sizes)
    least = _least_peak(net, g)
    n = len(net.op)
    if n == 0:
        return
    v = data.draw(st.integers(0, n - 1))
    # the cut bound of v is the least live bytes while v runs, over valid orders
    least_at_v = min(_live_at(net, o, o.index(v)) for o in nx.all_topological_sorts(g))
    assert _cut_bound(ix, model, v) == least_at_v
    assert _lower_bound(ix, model, list(range(n)), None) <= least


@settings(max_examples=30)
@given(nets(max_ops=7, sizes=st.integers(1, 50)))
def test_proven_optimal_orders_are_optimal(net: RandomNet) -> None:
    g = compute_interference_graph(net.op)
    result = memory_order(g, net.blob_sizes, budget=1)
    least = _least_peak(net, g)
    assert result.lower_bound <= least <= result.peak
    if result.optimal:
        assert result.peak == least


def test_memory_order_reports_optimality() -> None:
    g = compute_interference_graph([])
    assert memory_order(g) == MemoryOrder([], 0, 0, True, 0)
    from types import SimpleNamespace as Op

    ops = [Op(input=["x"], output=[f"b{i}"]) for i in range(3)]
    ops.append(Op(input=["b0", "b1", "b2"], output=["y"]))
    sizes = {"x": 0, "b0": 5, "b1": 5, "b2": 5, "y": 1}
    result = memory_order(compute_interference_graph(ops), sizes)
    assert result == MemoryOrder([0, 1, 2, 3], 16, 16, True, 16)


def _corpus() -> Path:
    env = os.environ.get("MEMONGER_CORPUS")
    root = Path(env) if env else Path(__file__).resolve().parents[4] / "shared" / "corpus"
    if not (root / "MANIFEST.json").is_file():
        pytest.skip(f"corpus not found at {root} (set MEMONGER_CORPUS)")
    return root


@pytest.mark.corpus
def test_memory_order_on_corpus_nets() -> None:
    text_format = pytest.importorskip("google.protobuf.text_format")
    caffe2_pb2 = pytest.importorskip("memonger.netdef.caffe2_pb2")
    root = _corpus()
    for entry in json.loads((root / "MANIFEST.json").read_text()):
        if not entry.get("net") or not entry.get("shapes"):
            continue
        net = caffe2_pb2.NetDef()
        text_format.Parse((root / entry["net"]).read_text(), net)
        with gzip.open(root / entry["shapes"], "rt") as f:
            sizes = {b: int(info["bytes"]) for b, info in json.load(f).items() if info}
        ops = list(net.op)
        g = compute_interference_graph(ops)
        result = memory_order(g, sizes, budget=200_000)
        check_order(g, result.order)
        assert result.peak == order_peak_bytes(ops, result.order, sizes), entry["name"]
        assert result.lower_bound <= result.peak <= result.program_peak, entry["name"]


@pytest.mark.corpus
def test_memory_order_reaches_the_bound_on_corpus_training_nets() -> None:
    """The default search proves its order optimal on the traced training graphs."""
    text_format = pytest.importorskip("google.protobuf.text_format")
    caffe2_pb2 = pytest.importorskip("memonger.netdef.caffe2_pb2")
    root = _corpus()
    for entry in json.loads((root / "MANIFEST.json").read_text()):
        if entry.get("kind") != "training" or not entry.get("shapes"):
            continue
        net = caffe2_pb2.NetDef()
        text_format.Parse((root / entry["net"]).read_text(), net)
        with gzip.open(root / entry["shapes"], "rt") as f:
            sizes = {b: int(info["bytes"]) for b, info in json.load(f).items() if info}
        ops = list(net.op)
        result = memory_order(compute_interference_graph(ops), sizes)
        assert result.optimal, entry["name"]
        assert result.peak == result.lower_bound == order_peak_bytes(ops, result.order, sizes)
