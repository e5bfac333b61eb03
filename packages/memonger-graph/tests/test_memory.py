"""The memory-aware ordering: its search phases, its report, the corpus."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

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
from memonger.graph.memory import _improve, _Model, _Search, _shift
from memonger.graph.testing import RandomNet, nets


def _wide_nets(**kwargs: Any) -> st.SearchStrategy[RandomNet]:
    return nets(min_ops=10, max_ops=40, sizes=True, max_size=100, **kwargs)


@settings(max_examples=40)
@given(_wide_nets(), st.sampled_from([0, 5, 60, 400, 3000]))
def test_every_budget_gives_a_valid_order_no_worse_than_program(
    net: RandomNet, budget: int
) -> None:
    g = compute_interference_graph(net.op)
    result = memory_order(g, net.blob_sizes, budget=budget)
    check_order(g, result.order)
    assert result.peak == order_peak_bytes(net.op, result.order, net.blob_sizes)
    assert result.program_peak == order_peak_bytes(net.op, None, net.blob_sizes)
    assert result.peak <= result.program_peak
    if budget == 0:
        assert not result.optimal or len(net.op) <= 1


@settings(max_examples=40)
@given(_wide_nets())
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


def test_memory_order_reports_optimality() -> None:
    g = compute_interference_graph([])
    assert memory_order(g) == MemoryOrder([], 0, 0, True)
    from types import SimpleNamespace as Op

    ops = [Op(input=["x"], output=[f"b{i}"]) for i in range(3)]
    ops.append(Op(input=["b0", "b1", "b2"], output=["y"]))
    result = memory_order(compute_interference_graph(ops), {"b0": 5, "b1": 5, "b2": 5, "y": 1})
    assert result == MemoryOrder([0, 1, 2, 3], 16, 16, True)


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
        assert result.peak <= result.program_peak, entry["name"]
