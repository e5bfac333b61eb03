"""The Hypothesis strategies: argument validation, invariants, coverage."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, get_args

import networkx as nx
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.vendor.pretty import pretty

from memonger.alloc import testing as alloc_testing
from memonger.graph import STRATEGIES, compute_interference_graph, order_ops
from memonger.graph.ordering import OrderingName
from memonger.graph.testing import (
    Op,
    OracleError,
    RandomDAG,
    RandomNet,
    assert_valid_order,
    dags,
    nets,
    topological_orders,
)

if TYPE_CHECKING:
    from typing_extensions import assert_type


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (nets, {"min_ops": -1}),
        (nets, {"min_ops": 5, "max_ops": 2}),
        (nets, {"max_ops": 2.5}),
        (nets, {"max_outputs": 0}),
        (nets, {"in_place": 1}),
        (nets, {"max_ops": "5"}),
        (nets, {"min_ops": None}),
        (nets, {"sizes": "yes"}),
        (nets, {"sizes": [1, 2]}),
        (nets, {"sizes": st.integers(1, 5), "max_size": 5}),
        (nets, {"views": 1}),
        (nets, {"max_size": 0}),
        (nets, {"max_inputs": True}),
        (nets, {"max_inputs": None}),
        (dags, {"max_ops": -3}),
        (dags, {"max_ops": 1.5}),
        (dags, {"min_ops": 4, "max_ops": 3}),
        (dags, {"max_in_degree": -1}),
        (dags, {"max_in_degree": "3"}),
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


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (nets(), "nets()"),
        (nets(max_ops=5), "nets(max_ops=5)"),
        (nets(max_ops=None, views=True), "nets(max_ops=None, views=True)"),
        (nets(sizes=st.integers(1, 64)), "nets(sizes=integers(min_value=1, max_value=64))"),
        (dags(), "dags()"),
        (dags(min_ops=2, max_in_degree=None), "dags(min_ops=2, max_in_degree=None)"),
        (
            topological_orders(RandomDAG(nodes=[0, 1], edges=[(1, 0)])),
            "topological_orders(RandomDAG(nodes=[0, 1], edges=[(1, 0)]))",
        ),
    ],
)
def test_reprs_mirror_the_call(strategy: st.SearchStrategy[Any], expected: str) -> None:
    assert repr(strategy) == expected


@pytest.mark.parametrize(
    ("kwargs", "sizes", "message"),
    [
        ({"sizes": True}, (1, 1000), r"sizes=st\.integers\(1, 1000\)"),
        ({"sizes": True, "max_size": 50}, (1, 50), r"sizes=st\.integers\(1, 50\)"),
        ({"sizes": False}, None, "leave it out"),
        ({"max_size": 50}, None, "leave it out"),
    ],
)
def test_the_old_size_arguments_still_work_with_a_warning(
    kwargs: dict[str, Any], sizes: tuple[int, int] | None, message: str
) -> None:
    with pytest.warns(DeprecationWarning, match=message):
        strategy = nets(**kwargs)
    expected = nets() if sizes is None else nets(sizes=st.integers(*sizes))
    assert repr(strategy) == repr(expected)


@given(nets(max_ops=20, sizes=st.integers(1, 1000)))
def test_nets_are_well_formed(net: RandomNet) -> None:
    assert 1 <= len(net.op) <= 20
    readable = set(net.external_input)
    produced: set[str] = set()
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


@given(nets(min_ops=13, max_ops=None, max_external_inputs=0, sizes=st.integers(5, 7)))
def test_nets_take_max_ops_none_and_a_size_strategy(net: RandomNet) -> None:
    assert len(net.op) >= 13
    assert net.blob_sizes is not None
    assert all(5 <= size <= 7 for size in net.blob_sizes.values())


def test_nets_reject_sizes_out_of_domain_when_drawn() -> None:
    @settings(max_examples=5, database=None)
    @given(nets(sizes=st.just(-1)))
    def draw(_: RandomNet) -> None:
        pass

    with pytest.raises(InvalidArgument, match="sizes drew -1"):
        draw()


@given(nets(max_ops=10, views=True, sizes=st.integers(0, 9)))
def test_net_reprs_rebuild_the_net(net: RandomNet) -> None:
    assert eval(repr(net), {"Op": Op, "RandomNet": RandomNet}) == net
    assert "\n" not in repr(net)


def test_failing_examples_print_one_op_a_line() -> None:
    net = RandomNet(
        [Op("Relu", "op0", ("in0",), ("b0",)), Op("Add", "op1", ("b0", "in0"), ("b1",), ("b0",))],
        ["in0"],
        ["b1"],
        {"in0": 4, "b0": 4, "b1": 4},
    )
    assert pretty(net).splitlines() == [
        "RandomNet(",
        "    op=[",
        "        Op('Relu', 'op0', input=('in0',), output=('b0',)),",
        "        Op('Add', 'op1', input=('b0', 'in0'), output=('b1',), control_input=('b0',)),",
        "    ],",
        "    external_input=['in0'],",
        "    external_output=['b1'],",
        "    blob_sizes={'in0': 4, 'b0': 4, 'b1': 4},",
        ")",
    ]
    assert pretty(RandomDAG(nodes=[0, 1], edges=[(1, 0)])) == (
        "RandomDAG(nodes=[0, 1], edges=[(1, 0)])"
    )


@given(st.from_type(RandomNet))
def test_from_type_draws_nets(net: RandomNet) -> None:
    assert isinstance(net, RandomNet)
    assert all(isinstance(op, Op) for op in net.op)


@given(dags(min_ops=1, max_ops=12, max_in_degree=2))
def test_dags_respect_their_options(g: RandomDAG) -> None:
    assert isinstance(g, nx.DiGraph)
    assert 1 <= len(g) <= 12
    assert sorted(g) == list(range(len(g)))
    assert nx.is_directed_acyclic_graph(g)
    assert all(g.in_degree(v) <= 2 for v in g)


@given(dags(min_ops=25, max_ops=None, max_in_degree=None))
def test_dags_take_none_for_no_bound(g: RandomDAG) -> None:
    assert len(g) >= 25
    assert nx.is_directed_acyclic_graph(g)


def test_dag_labels_are_not_a_valid_order() -> None:
    g = find(dags(), lambda g: any(u > v for u, v in g.edges))
    assert repr(g) == "RandomDAG(nodes=[0, 1], edges=[(1, 0)])"  # shrunk to the least case


def test_dags_catch_code_that_assumes_numbered_nodes() -> None:
    @settings(max_examples=100, database=None, derandomize=True)
    @given(dags())
    def check(g: RandomDAG) -> None:
        assert_valid_order(g, sorted(g))  # a bug: node numbers are not an order

    with pytest.raises(OracleError, match="runs before its predecessor"):
        check()


def test_random_dags_are_plain_digraphs_with_a_readable_repr() -> None:
    g = RandomDAG(nodes=[0, 1, 2], edges=[(2, 0), (0, 1)])
    copy = g.copy()
    assert isinstance(copy, RandomDAG)
    assert repr(copy) == repr(g) == "RandomDAG(nodes=[0, 1, 2], edges=[(0, 1), (2, 0)])"
    rebuilt = eval(repr(g), {"RandomDAG": RandomDAG})
    assert sorted(rebuilt.edges) == sorted(g.edges)
    assert list(order_ops(g)) == [2, 0, 1]


@given(st.data())
def test_topological_orders_are_valid_and_reach_every_order(data: st.DataObject) -> None:
    g = data.draw(dags(max_ops=8))
    order = data.draw(topological_orders(g))
    assert sorted(order) == sorted(g)
    pos = {v: p for p, v in enumerate(order)}
    assert all(pos[u] < pos[v] for u, v in g.edges)


def test_orderings_are_typed_by_the_node_type() -> None:
    g: nx.DiGraph[int] = nx.DiGraph([(1, 0)])
    order = order_ops(g)
    labels: nx.DiGraph[str] = nx.DiGraph([("b", "a")])
    if TYPE_CHECKING:
        assert_type(order, list[int])
        assert_type(order_ops(labels, "longest-path"), list[str])
        assert_type(topological_orders(labels), st.SearchStrategy[list[str]])
    assert order == [1, 0]


def test_ordering_names_are_a_literal_of_the_strategies() -> None:
    assert sorted(get_args(OrderingName)) == sorted(STRATEGIES)


def test_order_oracle_accepts_valid_orders() -> None:
    g: nx.DiGraph[str] = nx.DiGraph([("a", "b"), ("c", "b")])
    g.add_node("d")
    assert_valid_order(g, ["c", "a", "d", "b"])
    assert_valid_order(g, iter(["d", "a", "c", "b"]))


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (["a", "b", "c", "d"], "node 'b' runs before its predecessor 'c' \\(positions 1, 2\\)"),
        (["a", "c", "b"], "node 'd' is missing"),
        (["a", "c", "a", "b", "d"], "node 'a' is at positions 0 and 2"),
        (["a", "c", "d", "b", "x"], "position 4: 'x' is not a node"),
    ],
)
def test_order_oracle_rejects(order: list[str], message: str) -> None:
    g: nx.DiGraph[str] = nx.DiGraph([("a", "b"), ("c", "b")])
    g.add_node("d")
    with pytest.raises(OracleError, match=message) as info:
        assert_valid_order(g, order)
    assert isinstance(info.value, AssertionError)
    tb: TracebackType | None = info.tb
    while tb is not None and tb.tb_frame.f_code.co_name != "assert_valid_order":
        tb = tb.tb_next
    assert tb is not None
    assert tb.tb_frame.f_locals.get("__tracebackhide__") is True


def test_the_oracles_share_one_exception() -> None:
    assert OracleError is alloc_testing.OracleError
    assert issubclass(OracleError, AssertionError)


def test_order_oracle_survives_python_dash_o() -> None:
    script = textwrap.dedent(
        """
        import networkx as nx
        from memonger.graph.testing import OracleError, assert_valid_order

        assert False, "asserts must be off under -O"
        try:
            assert_valid_order(nx.DiGraph([(0, 1)]), [1, 0])
        except OracleError as exc:
            print("raised:", exc)
        """
    )
    run = subprocess.run(
        [sys.executable, "-O", "-c", script], capture_output=True, text=True, check=True
    )
    assert run.stdout.startswith("raised: node 1 runs before its predecessor 0")


def test_import_without_hypothesis_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["hypothesis"] = None  # as if Hypothesis were not installed
        try:
            import memonger.graph.testing
        except ModuleNotFoundError as exc:
            print(exc)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert 'pip install "memonger-graph[testing]"' in run.stdout


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
