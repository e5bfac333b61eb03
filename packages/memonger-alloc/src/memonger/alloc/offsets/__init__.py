"""Offset (arena) planning: every blob at a byte offset of one arena.

One algorithm per module behind one dispatcher, :func:`plan_offsets`;
shared records in :mod:`._types`; a validator that returns a reason
(:mod:`.validate`); MiniMalloc's CSV format (:mod:`.minimalloc`) and the
versioned plan JSON (:mod:`.plan_json`).

Examples
--------
>>> from memonger.alloc import LiveRange, plan_offsets, validate_offsets
>>> rs = {"a": LiveRange(0, 1, 8), "b": LiveRange(1, 2, 8), "c": LiveRange(2, 3, 8)}
>>> plan = plan_offsets(rs)
>>> plan.arena_bytes, plan.lower_bound, plan.proven_optimal
(16, 16, True)
>>> validate_offsets(rs, plan.offsets)
"""

from memonger.alloc.offsets._types import OFFSET_ALGORITHMS, OffsetAlgorithm, OffsetPlan
from memonger.alloc.offsets.minimalloc import (
    minimalloc_csv_text,
    read_minimalloc_csv,
    write_minimalloc_csv,
)
from memonger.alloc.offsets.plan_json import (
    PLAN_SCHEMA,
    PLAN_VERSION,
    plan_to_dict,
    write_plan_json,
)
from memonger.alloc.offsets.planner import DEFAULT_NODE_LIMIT, plan_offsets
from memonger.alloc.offsets.validate import (
    OffsetError,
    OffsetViolation,
    offset_violation,
    validate_offsets,
)

__all__ = [
    "DEFAULT_NODE_LIMIT",
    "OFFSET_ALGORITHMS",
    "PLAN_SCHEMA",
    "PLAN_VERSION",
    "OffsetAlgorithm",
    "OffsetError",
    "OffsetPlan",
    "OffsetViolation",
    "minimalloc_csv_text",
    "offset_violation",
    "plan_offsets",
    "plan_to_dict",
    "read_minimalloc_csv",
    "validate_offsets",
    "write_minimalloc_csv",
    "write_plan_json",
]
