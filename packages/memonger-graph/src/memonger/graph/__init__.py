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
