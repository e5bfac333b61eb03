"""PNG memory map of an arena plan (needs matplotlib, imported only when called).

Op positions run across, byte offsets up; every planned tensor is one
rectangle from the op that makes it to the last op that needs it, at its
offset in the arena.  A dashed line marks the lower bound (peak live bytes),
a solid one the arena's top, and a dotted vertical line the first op where
live bytes peak.  Graph inputs start at position -1 (before the first op),
graph outputs end at position ``n`` (after the last).
"""

from __future__ import annotations

import os
from typing import Any

from memonger.onnx.errors import MissingDependencyError, OnnxError
from memonger.onnx.plan import ModelPlan

__all__ = ["PLOT_HINT", "plot_arena", "render_arena_png", "require_matplotlib"]

from memonger.stats.errors import MissingDependencyError as _StatsMissing
from memonger.stats.plot import PLOT_HINT
from memonger.stats.plot import require_matplotlib as _require_stats_matplotlib


def require_matplotlib() -> None:
    """Raise :class:`MissingDependencyError` (with :data:`PLOT_HINT`) without matplotlib.

    Commands call it before any work, so that a missing plotting library
    never costs a planning run.
    """
    try:
        _require_stats_matplotlib()
    except _StatsMissing as exc:
        raise MissingDependencyError(PLOT_HINT) from exc


def _map_arguments(plan: ModelPlan) -> dict[str, Any]:
    """What :func:`memonger.stats.render_arena_png` draws of ``plan``: blobs, offsets, labels."""
    if plan.offsets is None:
        raise OnnxError(f"{plan.graph.source}: the plan has no offsets to draw")
    timeline = plan.timeline()
    peak_label = ""
    if timeline.peak_position >= 0:
        peak_label = plan.ops[timeline.peak_position].type
    algorithm = getattr(plan.offsets.algorithm, "value", plan.offsets.algorithm)
    return {
        "ranges": plan.ranges,
        "offsets": plan.offsets.offsets,
        "title": f"{plan.graph.name or plan.graph.source}: {plan.order} order, {algorithm}",
        "num_positions": plan.num_positions,
        "peak_label": peak_label,
    }


def render_arena_png(
    plan: ModelPlan, *, width: int = 1200, height: int = 675, dpi: int = 100
) -> bytes:
    """The arena map of ``plan`` as PNG bytes.

    Raises
    ------
    OnnxError
        The plan has no offsets (it was made with ``offsets=False``).
    MissingDependencyError
        matplotlib is not installed.
    """
    arguments = _map_arguments(plan)
    require_matplotlib()
    from memonger.stats import render_arena_png as render

    return render(**arguments, width=width, height=height, dpi=dpi)


def plot_arena(plan: ModelPlan, path: str | os.PathLike[str], **options: int) -> None:
    """Write the arena map of ``plan`` to ``path`` (atomically: a temporary file, then a rename).

    ``options`` are those of :func:`render_arena_png`.
    """
    arguments = _map_arguments(plan)
    require_matplotlib()
    from memonger.stats import plot_arena as write

    write(path=path, **{**arguments, **options})
