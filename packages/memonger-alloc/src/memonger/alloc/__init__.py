"""Live ranges and blob-sharing algorithms for neural-network memory planning.

``memonger.alloc`` has no third-party dependencies.  It computes the live
range of every blob of a linearized net (:func:`compute_ranges`) and decides
which blobs share one buffer (:func:`allocate`, :func:`compute_assignments`),
with Caffe2's greedy rule, better heuristics and an exact solver, plus lower
bounds and a validator.  :mod:`memonger.alloc.testing` (extra ``testing``)
holds Hypothesis strategies and an oracle for any allocator.

Examples
--------
>>> from types import SimpleNamespace as Op
>>> from memonger.alloc import allocate, compute_ranges
>>> ops = [Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"]),
...        Op(input=["b"], output=["c"]), Op(input=["c"], output=["y"])]
>>> ranges = compute_ranges(ops, {"x": 4, "a": 8, "b": 8, "c": 8, "y": 4})
>>> result = allocate(ranges, static_blobs={"x", "y"})
>>> [[name for name, _ in buffer] for buffer in result.assignments]
[['a', 'c'], ['b']]
>>> result.nbytes, result.proven_optimal
(16, True)
"""

from memonger.alloc.bounds import peak_live_bytes, positional_maxima, positional_maxima_bound
from memonger.alloc.errors import (
    AllocError,
    InvalidAssignmentError,
    InvalidRangeError,
    MissingSizeError,
    UnknownAlgorithmError,
)
from memonger.alloc.exact import DEFAULT_NODE_LIMIT, compute_assignments_dp
from memonger.alloc.greedy import compute_assignments_greedy, is_compatible
from memonger.alloc.liveness import (
    Liveness,
    ViewsOf,
    compute_liveness,
    compute_ranges,
    declared_views,
    live_bytes,
    naive_bytes,
    plan_bytes,
)
from memonger.alloc.offsets import (
    OffsetAlgorithm,
    OffsetError,
    OffsetPlan,
    OffsetViolation,
    minimalloc_csv_text,
    offset_violation,
    plan_offsets,
    plan_to_dict,
    read_minimalloc_csv,
    validate_offsets,
    write_minimalloc_csv,
    write_plan_json,
)
from memonger.alloc.planner import (
    ALGORITHMS,
    AllocationResult,
    AssignmentAlgorithm,
    Strategy,
    allocate,
    compute_assignments,
    compute_blob_assignments,
    get_memory_usage,
)
from memonger.alloc.ranges import (
    Item,
    LiveRange,
    OpLike,
    RangesLike,
    get_updated_ranges,
    nbytes,
)
from memonger.alloc.verify import verify_assignments

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "DEFAULT_NODE_LIMIT",
    "AllocError",
    "AllocationResult",
    "AssignmentAlgorithm",
    "InvalidAssignmentError",
    "InvalidRangeError",
    "Item",
    "LiveRange",
    "Liveness",
    "MissingSizeError",
    "OffsetAlgorithm",
    "OffsetError",
    "OffsetPlan",
    "OffsetViolation",
    "OpLike",
    "RangesLike",
    "Strategy",
    "UnknownAlgorithmError",
    "ViewsOf",
    "__version__",
    "allocate",
    "compute_assignments",
    "compute_assignments_dp",
    "compute_assignments_greedy",
    "compute_blob_assignments",
    "compute_liveness",
    "compute_ranges",
    "declared_views",
    "get_memory_usage",
    "get_updated_ranges",
    "is_compatible",
    "live_bytes",
    "minimalloc_csv_text",
    "naive_bytes",
    "nbytes",
    "offset_violation",
    "peak_live_bytes",
    "plan_bytes",
    "plan_offsets",
    "plan_to_dict",
    "positional_maxima",
    "positional_maxima_bound",
    "read_minimalloc_csv",
    "validate_offsets",
    "verify_assignments",
    "write_minimalloc_csv",
    "write_plan_json",
]
