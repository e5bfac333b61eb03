"""The op orderings of memonger's planners, by name.

``program`` keeps the net's order; ``longest-path`` and ``memory`` are
:mod:`memonger.graph`'s longest-path traversal and memory-aware order.  The
memory-aware order minimizes the peak of the blobs that may share: blobs
that keep a buffer of their own whatever the order (externals, static blobs)
weigh nothing, since creating them later frees nothing for a plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from memonger.netdef.errors import NetDefError

__all__ = ["ORDERINGS", "ordering_function"]

ORDERINGS = ("program", "longest-path", "memory")
"""The names :func:`ordering_function` accepts."""


def ordering_function(
    name: str,
    sizes: Mapping[str, int] | None = None,
    *,
    time_limit: float | None = None,
    unshareable: Iterable[str] = (),
) -> Callable[[Any], list[int]]:
    """The ordering called ``name``: a function from an interference graph to an op order.

    Parameters
    ----------
    name : {"program", "longest-path", "memory"}
        The ordering.
    sizes : mapping of str to int, optional
        Blob bytes for the memory-aware order (a blob without one counts one
        byte, memonger.alloc's unknown-size policy).
    time_limit : float, optional
        Seconds the memory-aware search may take (an extra cap on its work
        budget).
    unshareable : iterable of str
        Blobs that weigh nothing in the memory-aware order.

    Raises
    ------
    NetDefError
        ``name`` is not an ordering.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> from memonger.graph import compute_interference_graph
    >>> g = compute_interference_graph([Op(input=["x"], output=["a"]), Op(input=[], output=["b"])])
    >>> ordering_function("program")(g)
    [0, 1]
    """
    from memonger.graph import (
        topological_sort_min_memory,
        topological_sort_traversal,
        topological_sort_traversal_longest_path,
    )

    if name == "program":
        return lambda g: list(topological_sort_traversal(g))
    if name == "longest-path":
        return lambda g: list(topological_sort_traversal_longest_path(g))
    if name == "memory":
        fixed = set(unshareable)
        known = dict(sizes) if sizes is not None else {}

        def memory(g: Any) -> list[int]:
            # Every blob gets a weight: fixed blobs 0, unknown sizes None (one byte).
            weights: dict[str, int | None] = {}
            for node in g:
                op = g.nodes[node]["op"]
                for blob in (*op.input, *op.output, *getattr(op, "control_input", ())):
                    weights[blob] = 0 if blob in fixed else known.get(blob)
            return list(topological_sort_min_memory(g, weights, time_limit=time_limit))

        return memory
    raise NetDefError(f"unknown ordering {name!r} (choose from {', '.join(ORDERINGS)})")
