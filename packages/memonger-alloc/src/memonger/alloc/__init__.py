"""Live ranges and blob-sharing algorithms for neural-network memory planning.

``memonger.alloc`` has no third-party dependencies.  It computes the live
range of every blob of a linearized net (:func:`compute_ranges`) and decides
which blobs share one buffer (:func:`compute_assignments`), with Caffe2's
greedy rule, better heuristics and an exact solver, plus lower bounds and an
independent validator.
"""

from memonger.alloc.errors import (
    AllocError,
    InvalidAssignmentError,
    InvalidRangeError,
    MissingSizeError,
    UnknownAlgorithmError,
)
from memonger.alloc.ranges import LiveRange, OpLike, compute_ranges

__all__ = [
    "AllocError",
    "InvalidAssignmentError",
    "InvalidRangeError",
    "LiveRange",
    "MissingSizeError",
    "OpLike",
    "UnknownAlgorithmError",
    "compute_ranges",
]
