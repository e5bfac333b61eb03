"""100,000-op nets: everything builds and orders without recursion limits.

Speed targets live in benchmarks/bench_graph.py; these tests only check that
deep and wide graphs work at all and give the expected orders.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from memonger.graph import (
    check_order,
    compute_interference_graph,
    topological_sort_min_memory,
    topological_sort_traversal,
    topological_sort_traversal_longest_path,
)

N = 100_000


def chain() -> list[SimpleNamespace]:
    return [SimpleNamespace(input=[f"b{i}"], output=[f"b{i + 1}"]) for i in range(N)]


def wide() -> list[SimpleNamespace]:
    ops = [SimpleNamespace(input=["x"], output=["h"])]
    ops += [SimpleNamespace(input=["h"], output=[f"o{i}"]) for i in range(N - 2)]
    ops.append(SimpleNamespace(input=[f"o{i}" for i in range(N - 2)], output=["y"]))
    return ops


@pytest.fixture(scope="module", params=[chain, wide], ids=["chain", "wide"])
def big(request: pytest.FixtureRequest) -> tuple[str, Any]:
    ops = request.param()
    return request.param.__name__, compute_interference_graph(ops)


@pytest.fixture(autouse=True)
def _low_recursion_limit() -> object:
    # anything recursive would need about N frames; leave far fewer
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    yield None
    sys.setrecursionlimit(old)


def test_big_nets_build_and_order(big: tuple[str, Any]) -> None:
    name, g = big
    assert len(g) == N
    program = topological_sort_traversal(g)
    assert program == list(range(N))
    longest = topological_sort_traversal_longest_path(g)
    check_order(g, longest)
    if name == "chain":
        assert longest == program
        assert g.number_of_edges() == N - 1
    else:
        assert longest[0] == 0
        assert longest[-1] == N - 1


@pytest.mark.slow
def test_big_nets_memory_order(big: tuple[str, Any]) -> None:
    _, g = big
    order = topological_sort_min_memory(g)
    check_order(g, order)
