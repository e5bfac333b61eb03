"""Examples: the dependency graph, the orderings' documented results, errors."""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import pytest

from memonger.graph import (
    STRATEGIES,
    CycleError,
    GraphError,
    InvalidSizeError,
    MissingSizeError,
    OrderError,
    UnknownStrategyError,
    check_acyclic,
    check_order,
    compute_interference_graph,
    order_ops,
    order_peak_bytes,
    topological_sort_min_memory,
    topological_sort_traversal,
    topological_sort_traversal_longest_path,
)


def op(
    type_: str, inputs: list[str], outputs: list[str], control: list[str] | None = None
) -> SimpleNamespace:
    fields = {"type": type_, "input": inputs, "output": outputs}
    if control is not None:
        fields["control_input"] = control
    return SimpleNamespace(**fields)


def edges(g: nx.DiGraph[int]) -> dict[tuple[int, int], set[str]]:
    return {(u, v): set(d) for u, v, d in g.edges(data="deps")}


def test_read_after_write_edges_carry_their_blobs() -> None:
    ops = [op("A", ["x"], ["a", "b"]), op("B", ["a", "b", "x"], ["c"])]
    g = compute_interference_graph(ops)
    assert edges(g) == {(0, 1): {"a", "b"}}
    assert g.nodes[0]["op"] is ops[0]
    assert g.nodes[1]["op"] is ops[1]


def test_write_after_read_and_write_after_write() -> None:
    ops = [
        op("W", [], ["a"]),  # 0
        op("R", ["a"], ["b"]),  # 1 reads a
        op("R", ["a"], ["c"]),  # 2 reads a
        op("W", [], ["a"]),  # 3 rewrites a: after both readers
        op("W", [], ["d"]),  # 4
        op("W", [], ["d"]),  # 5 rewrites d, never read: after 4
    ]
    g = compute_interference_graph(ops)
    assert nx.has_path(g, 1, 3)
    assert nx.has_path(g, 2, 3)
    assert nx.has_path(g, 4, 5)
    assert not nx.has_path(g, 1, 2)
    assert not nx.has_path(g, 4, 3)
    assert edges(g)[(0, 1)] == {"a"}
    assert edges(g)[(1, 3)] == set()


def test_external_blob_read_then_overwritten_in_place() -> None:
    ops = [op("R", ["w"], ["y"]), op("Update", ["w", "g"], ["w"]), op("R", ["w"], ["z"])]
    g = compute_interference_graph(ops)
    assert set(g.edges) == {(0, 1), (1, 2)}
    assert edges(g)[(1, 2)] == {"w"}


def test_control_inputs_follow_the_latest_writer() -> None:
    ops = [
        op("W", [], ["flag"]),  # 0
        op("W", [], ["flag"]),  # 1
        op("X", ["in"], ["out"], control=["flag", "never_written"]),  # 2
        op("W", [], ["flag"]),  # 3: rewrites flag, so it waits for op 2
        op("W", [], ["other"]),  # 4: unrelated
    ]
    g = compute_interference_graph(ops)
    assert g.has_edge(1, 2)
    # op 2 keeps waiting on op 1's flag: the next writer of flag follows it.
    assert nx.has_path(g, 2, 3)
    assert not nx.has_path(g, 2, 4)
    assert not nx.has_path(g, 4, 2)


def test_graph_is_built_from_any_iterable_and_empty_nets() -> None:
    assert len(compute_interference_graph([])) == 0
    g = compute_interference_graph(iter([op("A", [], ["a"])]))
    assert list(g) == [0]
    for ordering in (
        topological_sort_traversal,
        topological_sort_traversal_longest_path,
        topological_sort_min_memory,
    ):
        assert ordering(nx.DiGraph()) == []
        assert ordering(g) == [0]


CONV_OPS = [
    op("Copy", ["conv0_w_comp"], ["conv0_w"]),
    op("Conv", ["data", "conv0_w", "conv0_b"], ["conv0"]),
    op("Copy", ["conv2_w"], ["conv2_w"]),
    op("Conv", ["conv0", "conv2_w", "conv2_b"], ["conv2"]),
]


def test_longest_path_documented_cases() -> None:
    g = compute_interference_graph(CONV_OPS)
    assert topological_sort_traversal_longest_path(g) == [0, 1, 2, 3]
    more = [*CONV_OPS, op("Copy", ["data1"], ["data2"]), op("Copy", ["data2"], ["data3"])]
    g = compute_interference_graph(more)
    assert topological_sort_traversal_longest_path(g) == [0, 1, 2, 3, 4, 5]
    g = compute_interference_graph([op("Copy", ["a"], ["b"])])
    assert topological_sort_traversal_longest_path(g) == [0]


def test_longest_path_runs_the_longest_chain_first() -> None:
    ops = [
        op("A", ["x"], ["a1"]),  # 0: short chain
        op("B", ["y"], ["b1"]),  # 1: long chain
        op("B", ["b1"], ["b2"]),  # 2
        op("B", ["b2"], ["b3"]),  # 3
        op("A", ["a1"], ["a2"]),  # 4
    ]
    g = compute_interference_graph(ops)
    assert topological_sort_traversal_longest_path(g) == [1, 2, 3, 0, 4]
    assert topological_sort_traversal(g) == [0, 1, 2, 3, 4]


def test_orderings_do_not_depend_on_node_insertion_order() -> None:
    g: nx.DiGraph[int] = nx.DiGraph()
    g.add_nodes_from([3, 1, 2, 0])
    g.add_edges_from([(2, 3), (0, 1)])
    assert topological_sort_traversal(g) == [0, 1, 2, 3]
    assert topological_sort_traversal_longest_path(g) == [0, 1, 2, 3]


def test_non_comparable_nodes_tie_by_insertion_order() -> None:
    g: nx.DiGraph[object] = nx.DiGraph()
    g.add_nodes_from(["b", 1, "a"])
    assert topological_sort_traversal(g) == ["b", 1, "a"]


def test_check_order_names_the_dependency_and_blob() -> None:
    ops = [
        op("W", [], ["a"]),
        op("R", ["a"], ["b"]),
        op("W", ["x"], ["a"]),
    ]
    g = compute_interference_graph(ops)
    with pytest.raises(
        OrderError, match=r"op 2 \(W\) runs before op 1 \(R\): write-after-read of blob 'a'"
    ) as info:
        check_order(g, [0, 2, 1])
    assert (info.value.before, info.value.after, info.value.blob) == (1, 2, "a")
    with pytest.raises(OrderError, match="read-after-write of blob 'a'"):
        check_order(g, [1, 0, 2])


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ([0, 1], "lacks op 2"),
        ([0, 1, 1, 2], "lists op 1 .* twice"),
        ([0, 1, 2, 7], "names 7, which is not an op"),
    ],
)
def test_check_order_rejects_non_permutations(order: list[int], message: str) -> None:
    g = compute_interference_graph([op("A", [], ["a"]), op("B", [], ["b"]), op("C", [], ["c"])])
    with pytest.raises(OrderError, match=message):
        check_order(g, order)


def test_errors_are_graph_errors_and_value_errors() -> None:
    for cls in (CycleError, OrderError, UnknownStrategyError, InvalidSizeError):
        assert issubclass(cls, GraphError)
        assert issubclass(cls, ValueError)


def test_cycle_error_names_the_ops() -> None:
    g: nx.DiGraph[int] = nx.DiGraph([(0, 1), (1, 2), (2, 1), (2, 3)])
    g.nodes[1]["op"] = SimpleNamespace(type="Relu", name="r1", input=[], output=[])
    with pytest.raises(CycleError, match=r"op 1 \(Relu 'r1'\) -> op 2 -> op 1") as info:
        check_acyclic(g)
    assert info.value.cycle == [1, 2]
    with pytest.raises(CycleError):
        check_acyclic(nx.DiGraph([(5, 5)]))


def test_order_ops_strategies() -> None:
    g = compute_interference_graph(CONV_OPS)
    assert set(STRATEGIES) == {"program", "longest-path", "memory"}
    assert order_ops(g) == [0, 1, 2, 3]
    sizes = {
        blob: 10 if blob == "conv0" else None for op in CONV_OPS for blob in (*op.input, *op.output)
    }
    assert order_ops(g, "memory", blob_sizes=sizes) == topological_sort_min_memory(g, sizes)
    with pytest.raises(MissingSizeError, match="has no entry"):
        order_ops(g, "memory", blob_sizes={"conv0": 10})  # a missing size is an error
    assert order_ops(g, lambda graph: [0, 2, 1, 3]) == [0, 2, 1, 3]
    with pytest.raises(UnknownStrategyError, match="'fastest'"):
        order_ops(g, "fastest")
    with pytest.raises(UnknownStrategyError):
        order_ops(g, 3)  # type: ignore[arg-type]
    with pytest.raises(OrderError):
        order_ops(g, lambda graph: [3, 2, 1, 0])


def test_memory_order_lowers_the_peak_of_a_branchy_net() -> None:
    # an inception-like block: four branches off one input, joined at the end
    ops = [op("In", [], ["x"])]
    branches = []
    for b in range(4):
        ops.append(op("Conv", ["x"], [f"big{b}"]))
        ops.append(op("Pool", [f"big{b}"], [f"small{b}"]))
        branches.append(f"small{b}")
    ops.append(op("Concat", branches, ["y"]))
    # program order runs all four big convs first
    program = [0, 1, 3, 5, 7, 2, 4, 6, 8, 9]
    reordered = [ops[i] for i in program]
    sizes = (
        {"x": 10, "y": 4} | {f"big{b}": 100 for b in range(4)} | {f"small{b}": 1 for b in range(4)}
    )
    g = compute_interference_graph(reordered)
    order = topological_sort_min_memory(g, sizes)
    assert order_peak_bytes(reordered, None, sizes) == 410
    assert order_peak_bytes(reordered, order, sizes) == 113
    check_order(g, order)


def test_memory_order_options() -> None:
    g = compute_interference_graph(CONV_OPS)
    assert topological_sort_min_memory(g, budget=0) == [0, 1, 2, 3]
    assert topological_sort_min_memory(g, time_limit=0.0) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="budget"):
        topological_sort_min_memory(g, budget=-1)


def test_order_peak_bytes_conventions() -> None:
    ops = [op("A", ["ext"], ["a"]), op("B", ["a"], ["b"]), op("C", [], ["c"])]
    # unknown sizes count 1; external blobs (never written) never count
    assert order_peak_bytes(ops) == 2
    assert order_peak_bytes(ops, blob_sizes={"ext": 99, "a": 5, "b": 7, "c": None}) == 12
    with pytest.raises(MissingSizeError, match="'ext'"):
        order_peak_bytes(ops, blob_sizes={"a": 5, "b": 7, "c": 1})
    # a control input keeps its blob live up to the op naming it (memonger.alloc)
    ordered = [op("A", [], ["a"]), op("B", ["a"], ["b"]), op("C", ["b"], ["c"], ["a"])]
    assert order_peak_bytes(ordered, blob_sizes={"a": 10, "b": 40, "c": 60}) == 110
    assert order_peak_bytes([]) == 0
    # a blob read before any write is live from the start
    ops = [op("R", ["w"], ["y"]), op("Upd", ["w"], ["w"])]
    assert order_peak_bytes(ops, blob_sizes={"w": 10, "y": 1}) == 11


@pytest.mark.parametrize("size", [-1, 2.5, "3", True])
def test_bad_sizes_are_named(size: object) -> None:
    ops = [op("A", [], ["a"])]
    with pytest.raises(InvalidSizeError, match="blob 'a'"):
        order_peak_bytes(ops, None, {"a": size})  # type: ignore[dict-item]
    with pytest.raises(InvalidSizeError, match="blob 'a'"):
        topological_sort_min_memory(compute_interference_graph(ops), {"a": size})  # type: ignore[dict-item]
