"""The Hypothesis strategies: argument validation, invariants, coverage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from memonger.graph import compute_interference_graph
from memonger.graph.testing import Op, RandomNet, dags, nets, topological_orders


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (nets, {"min_ops": -1}),
        (nets, {"min_ops": 5, "max_ops": 2}),
        (nets, {"max_ops": 2.5}),
        (nets, {"max_outputs": 0}),
        (nets, {"in_place": 1}),
        (nets, {"sizes": "yes"}),
        (nets, {"views": 1}),
        (nets, {"max_size": 0}),
        (nets, {"max_inputs": True}),
        (dags, {"max_ops": -3}),
        (dags, {"max_in_degree": -1}),
    ],
)
def test_bad_arguments_fail_at_once(factory: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        factory(**kwargs)  # eager: no draw needed


def test_topological_orders_rejects_bad_graphs() -> None:
    with pytest.raises(InvalidArgument, match="cycle"):
        topological_orders(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(InvalidArgument, match="DiGraph"):
        topological_orders(nx.Graph([(0, 1)]))  # type: ignore[arg-type]


def test_strategies_take_keyword_options_only() -> None:
    with pytest.raises(TypeError):
        nets(1, 5)  # type: ignore[misc]
    with pytest.raises(TypeError):
        dags(1, 5)  # type: ignore[misc]


@given(nets(max_ops=20, sizes=True))
def test_nets_are_well_formed(net: RandomNet) -> None:
    assert 1 <= len(net.op) <= 20
    readable = set(net.external_input)
    produced = set()
    for i, op in enumerate(net.op):
        assert isinstance(op, Op)
        assert op.name == f"op{i}"
        assert op.output
        assert len(set(op.output)) == len(op.output)
        for blob in (*op.input, *op.control_input):
            assert blob in readable, (i, blob)
        readable.update(op.output)
        produced.update(op.output)
    assert set(net.external_output) <= produced
    assert net.blob_sizes is not None
    assert set(net.blob_sizes) == readable
    assert all(1 <= size <= 1000 for size in net.blob_sizes.values())


@given(nets(in_place=False, rewrites=False, control_inputs=False))
def test_options_turn_features_off(net: RandomNet) -> None:
    written: set[str] = set()
    for op in net.op:
        assert not set(op.input) & set(op.output)
        assert not set(op.output) & (written | set(net.external_input))
        assert op.control_input == ()
        written.update(op.output)
    assert net.blob_sizes is None


def _writes(net: RandomNet) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in net.op:
        for blob in op.output:
            counts[blob] = counts.get(blob, 0) + 1
    return counts


def _rewrite_after_last_read(net: RandomNet) -> bool:
    for j, op in enumerate(net.op):
        for blob in op.output:
            earlier_reads = [i for i in range(j) if blob in net.op[i].input]
            earlier_writes = [i for i in range(j) if blob in net.op[i].output]
            later_reads = [i for i in range(j, len(net.op)) if blob in net.op[i].input]
            if earlier_writes and earlier_reads and not later_reads:
                return True
    return False


def _sinks(net: RandomNet) -> int:
    g = compute_interference_graph(net.op)
    return sum(1 for v in g if g.out_degree(v) == 0)


def _fan_out(net: RandomNet) -> int:
    readers: dict[str, int] = {}
    for op in net.op:
        for blob in set(op.input):
            readers[blob] = readers.get(blob, 0) + 1
    return max(readers.values(), default=0)


def _chain(net: RandomNet) -> int:
    g = compute_interference_graph(net.op)
    return len(nx.dag_longest_path(g)) if len(g) else 0


FEATURES: dict[str, Callable[[RandomNet], bool]] = {
    "in-place op": lambda net: any(set(op.input) & set(op.output) for op in net.op),
    "blob written twice": lambda net: any(c > 1 for c in _writes(net).values()),
    "rewrite after last read": _rewrite_after_last_read,
    "external input read": lambda net: any(
        b in net.external_input for op in net.op for b in op.input
    ),
    "external input overwritten": lambda net: any(
        b in net.external_input for op in net.op for b in op.output
    ),
    "control input": lambda net: any(op.control_input for op in net.op),
    "op without inputs": lambda net: any(not op.input for op in net.op),
    "op with several outputs": lambda net: any(len(op.output) > 1 for op in net.op),
    "several sinks": lambda net: _sinks(net) >= 3,
    "wide fan-out": lambda net: _fan_out(net) >= 8,
    "long chain": lambda net: _chain(net) >= 10,
    "external outputs": lambda net: len(net.external_output) >= 2,
}


def test_nets_show_every_awkward_case() -> None:
    seen: set[str] = set()

    @settings(
        max_examples=300,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(nets(max_ops=20))
    def collect(net: RandomNet) -> None:
        seen.update(name for name, has in FEATURES.items() if has(net))

    collect()
    assert seen == set(FEATURES)


def _views(net: RandomNet) -> list[tuple[int, Op]]:
    return [(j, op) for j, op in enumerate(net.op) if op.views]


def _view_read_after_rewrite(net: RandomNet) -> bool:
    for j, op in _views(net):
        base = op.input[0]
        rewrites = [k for k in range(j + 1, len(net.op)) if base in net.op[k].output]
        reads = [k for k in range(j + 1, len(net.op)) if op.output[0] in net.op[k].input]
        if rewrites and reads and max(reads) > min(rewrites):
            return True
    return False


VIEW_FEATURES: dict[str, Callable[[RandomNet], bool]] = {
    "view": lambda net: bool(_views(net)),
    "chain of views": lambda net: any(
        op.input[0] in {v.output[0] for _, v in _views(net)} for _, op in _views(net)
    ),
    "view of an external input": lambda net: any(
        op.input[0] in net.external_input for _, op in _views(net)
    ),
    "view read after its base is rewritten": _view_read_after_rewrite,
    "view with a control input": lambda net: any(op.control_input for _, op in _views(net)),
}


def test_nets_with_views_show_every_view_case() -> None:
    seen: set[str] = set()

    @settings(
        max_examples=300,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(nets(max_ops=20, views=True))
    def collect(net: RandomNet) -> None:
        for _, op in _views(net):
            assert op.views == ((0, 0),)
            assert op.type in ("Alias", "Reshape")
        seen.update(name for name, has in VIEW_FEATURES.items() if has(net))

    collect()
    assert seen == set(VIEW_FEATURES)


@given(nets(max_ops=12))
def test_views_are_off_by_default(net: RandomNet) -> None:
    assert all(op.views == () for op in net.op)


@given(dags(min_ops=1, max_ops=12, max_in_degree=2))
def test_dags_respect_their_options(g: nx.DiGraph[int]) -> None:
    assert 1 <= len(g) <= 12
    assert sorted(g) == list(range(len(g)))
    assert all(u < v for u, v in g.edges)
    assert all(g.in_degree(v) <= 2 for v in g)


@given(st.data())
def test_topological_orders_are_valid_and_reach_every_order(data: st.DataObject) -> None:
    g = data.draw(dags(max_ops=8))
    order = data.draw(topological_orders(g))
    assert sorted(order) == sorted(g)
    pos = {v: p for p, v in enumerate(order)}
    assert all(pos[u] < pos[v] for u, v in g.edges)


def test_topological_orders_can_draw_every_order() -> None:
    g: nx.DiGraph[int] = nx.DiGraph([(0, 3), (1, 3), (2, 3)])
    every = {tuple(o) for o in nx.all_topological_sorts(g)}
    seen: set[tuple[int, ...]] = set()

    @settings(max_examples=300, database=None)
    @given(topological_orders(g))
    def collect(order: list[int]) -> None:
        seen.add(tuple(order))

    collect()
    assert seen == every
