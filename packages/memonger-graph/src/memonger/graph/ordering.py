"""One entry point for every ordering: :func:`order_ops` and its strategies.

Like networkx's ``greedy_color``, the strategy is a name from
:data:`STRATEGIES` or any callable taking the graph (and keyword options) and
returning an order.  Whatever the strategy, the order returned is checked
against the graph, so a faulty custom strategy cannot slip through.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Literal, TypeVar, cast

import networkx as nx

from memonger.graph.errors import GraphError
from memonger.graph.memory import topological_sort_min_memory
from memonger.graph.traversal import (
    topological_sort_traversal,
    topological_sort_traversal_longest_path,
)
from memonger.graph.validation import check_order

__all__ = ["STRATEGIES", "OrderingName", "UnknownStrategyError", "order_ops"]

_Node = TypeVar("_Node", bound=Hashable)

Strategy = Callable[..., list[Any]]
"""A custom ordering: ``strategy(g, **kwargs)`` returning an order of ``g``."""

OrderingName = Literal["program", "longest-path", "memory"]
"""The names of :data:`STRATEGIES`, for type checkers."""

STRATEGIES: dict[str, Strategy] = {
    "program": topological_sort_traversal,
    "longest-path": topological_sort_traversal_longest_path,
    "memory": topological_sort_min_memory,
}
"""Named orderings: ``"program"`` (ready op of least index first, so program
order when it is valid), ``"longest-path"`` (Caffe2's intent) and
``"memory"`` (least peak live bytes found; takes ``blob_sizes``...)."""


class UnknownStrategyError(GraphError, ValueError):
    """:func:`order_ops` got a strategy name that is not in :data:`STRATEGIES`."""


def order_ops(
    g: nx.DiGraph[_Node], strategy: OrderingName | str | Strategy = "program", **kwargs: Any
) -> list[_Node]:
    """Order the ops of a dependency graph with a named or custom strategy.

    Parameters
    ----------
    g : networkx.DiGraph
        A dependency graph (an edge ``u -> v``: ``u`` runs before ``v``).
    strategy : {"program", "longest-path", "memory"} or callable, optional
        A key of :data:`STRATEGIES` (:data:`OrderingName`), or a callable
        ``strategy(g, **kwargs)`` returning an order.
    **kwargs
        Passed to the strategy (e.g. ``blob_sizes=`` for ``"memory"``).

    Returns
    -------
    list
        A valid order of ``g``, of ``g``'s node type (``list[int]`` for the
        integer ops of :func:`~memonger.graph.compute_interference_graph`).

    Raises
    ------
    UnknownStrategyError
        ``strategy`` is a name not in :data:`STRATEGIES`.
    CycleError
        ``g`` has a cycle.
    OrderError
        A custom strategy returned an invalid order.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph([(0, 1), (2, 3), (3, 4)])
    >>> order_ops(g)
    [0, 1, 2, 3, 4]
    >>> order_ops(g, "longest-path")
    [2, 3, 4, 0, 1]
    >>> order_ops(g, lambda g: sorted(g, reverse=True))
    Traceback (most recent call last):
        ...
    memonger.graph.errors.OrderError: op 4 runs before op 3, its predecessor
    """
    if isinstance(strategy, str):
        func = STRATEGIES.get(strategy)
        if func is None:
            known = ", ".join(repr(s) for s in STRATEGIES)
            raise UnknownStrategyError(f"unknown ordering strategy {strategy!r}; known: {known}")
    elif callable(strategy):
        func = strategy
    else:
        raise UnknownStrategyError(f"strategy must be a name or a callable, got {strategy!r}")
    order = cast("list[_Node]", list(func(g, **kwargs)))
    check_order(g, order)
    return order
