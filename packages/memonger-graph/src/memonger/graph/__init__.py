"""Op dependency graphs and always-valid topological orderings.

``memonger.graph`` depends on networkx and memonger-alloc (whose liveness
the memory-aware order counts).  :func:`compute_interference_graph`
builds the dependency graph of a net's ops (read-after-write, write-after-read,
write-after-write and control inputs) in linear time; the orderings return
valid, deterministic op orders: program order (:func:`topological_sort_traversal`),
Caffe2's longest-path order (:func:`topological_sort_traversal_longest_path`)
and a memory-aware order (:func:`topological_sort_min_memory`;
:func:`memory_order` also reports its peak and whether it is proven optimal,
:func:`order_peak_bytes` measures any order), all reachable through
:func:`order_ops`.  :func:`check_order` and :func:`check_acyclic` vet
orders and graphs built elsewhere.  Ops are any objects with ``input`` and
``output`` sequences of blob names.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memonger.graph.errors import (
        CycleError,
        GraphError,
        InvalidSizeError,
        MissingSizeError,
        OrderError,
    )
    from memonger.graph.interference import OpLike, compute_interference_graph
    from memonger.graph.memory import (
        MemoryOrder,
        memory_order,
        order_peak_bytes,
        topological_sort_min_memory,
    )
    from memonger.graph.ordering import STRATEGIES, UnknownStrategyError, order_ops
    from memonger.graph.traversal import (
        topological_sort_traversal,
        topological_sort_traversal_longest_path,
    )
    from memonger.graph.validation import check_acyclic, check_order, find_cycle

_LAZY: dict[str, tuple[str, str | None]] = {
    "CycleError": ("memonger.graph.errors", "CycleError"),
    "GraphError": ("memonger.graph.errors", "GraphError"),
    "InvalidSizeError": ("memonger.graph.errors", "InvalidSizeError"),
    "MemoryOrder": ("memonger.graph.memory", "MemoryOrder"),
    "MissingSizeError": ("memonger.graph.errors", "MissingSizeError"),
    "OpLike": ("memonger.graph.interference", "OpLike"),
    "OrderError": ("memonger.graph.errors", "OrderError"),
    "STRATEGIES": ("memonger.graph.ordering", "STRATEGIES"),
    "UnknownStrategyError": ("memonger.graph.ordering", "UnknownStrategyError"),
    "check_acyclic": ("memonger.graph.validation", "check_acyclic"),
    "check_order": ("memonger.graph.validation", "check_order"),
    "compute_interference_graph": ("memonger.graph.interference", "compute_interference_graph"),
    "find_cycle": ("memonger.graph.validation", "find_cycle"),
    "memory_order": ("memonger.graph.memory", "memory_order"),
    "order_ops": ("memonger.graph.ordering", "order_ops"),
    "order_peak_bytes": ("memonger.graph.memory", "order_peak_bytes"),
    "topological_sort_min_memory": ("memonger.graph.memory", "topological_sort_min_memory"),
    "topological_sort_traversal": ("memonger.graph.traversal", "topological_sort_traversal"),
    "topological_sort_traversal_longest_path": (
        "memonger.graph.traversal",
        "topological_sort_traversal_longest_path",
    ),
}


def __getattr__(name: str) -> Any:
    # Submodules are imported on first use, so that importing one of them (or
    # running the command's --help) does not import every dependency.
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "STRATEGIES",
    "CycleError",
    "GraphError",
    "InvalidSizeError",
    "MemoryOrder",
    "MissingSizeError",
    "OpLike",
    "OrderError",
    "UnknownStrategyError",
    "__version__",
    "check_acyclic",
    "check_order",
    "compute_interference_graph",
    "find_cycle",
    "memory_order",
    "order_ops",
    "order_peak_bytes",
    "topological_sort_min_memory",
    "topological_sort_traversal",
    "topological_sort_traversal_longest_path",
]
