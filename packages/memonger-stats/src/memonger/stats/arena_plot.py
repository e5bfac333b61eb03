"""PNG memory map of an arena plan (needs the ``plot`` extra: matplotlib).

The picture people draw by hand: op positions run across, byte offsets up,
one rectangle per tensor from the op that makes it to the last op that needs
it, at its offset.  A dashed line marks the peak live bytes (the arena's
lower bound), a solid one the arena's top, and a dotted vertical line the
first position where live bytes peak; the arena's legend entry gives its
gap over the peak, in bytes and percent.  Blobs from outside the net start at
position -1, blobs live to the end stop at position ``n``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

from memonger.alloc import LiveRange, live_bytes
from memonger.stats.plot import _matplotlib, _unit
from memonger.stats.report import _write_atomic, format_gap

__all__ = ["plot_arena", "render_arena_png"]


def render_arena_png(
    ranges: Mapping[str, LiveRange],
    offsets: Mapping[str, int],
    *,
    title: str = "",
    num_positions: int | None = None,
    peak_label: str = "",
    width: int = 1200,
    height: int = 675,
    dpi: int = 100,
) -> bytes:
    """The arena map of an offset plan as PNG bytes.

    Parameters
    ----------
    ranges : mapping of str to LiveRange
        The planned blobs (as given to :func:`memonger.alloc.plan_offsets`).
    offsets : mapping of str to int
        Each blob's offset (``OffsetPlan.offsets``); blobs without one are
        not drawn.
    title : str, optional
        The figure's title.
    num_positions : int, optional
        Number of op positions (default: one past the largest ``used``).
    peak_label : str, optional
        Appended to the peak marker's legend entry (e.g. the op's type).

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.
    """
    Figure, FigureCanvasAgg = _matplotlib()
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    drawn = {name: r for name, r in ranges.items() if name in offsets}
    if num_positions is None:
        num_positions = max((r.used for r in drawn.values()), default=-1) + 1
    timeline = live_bytes(drawn, num_positions)
    peak = max(timeline, default=0)
    arena = max((offsets[n] + (r.size or 0) for n, r in drawn.items()), default=0)
    unit, scale = _unit(max(arena, peak, 1))
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax: Any = fig.add_subplot(1, 1, 1)
    rects = [
        Rectangle((r.defined - 0.5, offsets[n] / scale), r.used - r.defined + 1, r.size / scale)
        for n, r in drawn.items()
        if r.size
    ]
    ax.add_collection(
        PatchCollection(rects, facecolor="#4c72b0", edgecolor="#1b2a49", linewidth=0.3, alpha=0.75)
    )
    ax.axhline(
        peak / scale,
        color="#c44e52",
        linestyle="--",
        linewidth=1.2,
        label=f"peak live bytes {peak / scale:.2f} {unit}",
    )
    ax.axhline(
        arena / scale,
        color="#222222",
        linewidth=1.2,
        label=f"arena {arena / scale:.2f} {unit}, {format_gap(arena, peak)} over peak live bytes",
    )
    if peak:
        where = timeline.index(peak)
        label = f"peak at op #{where}" + (f" {peak_label}" if peak_label else "")
        ax.axvline(where, color="#c44e52", linestyle=":", linewidth=1.0, label=label)
    ax.set_xlim(-1.5, num_positions + 0.5)
    ax.set_ylim(0, max(arena, peak, 1) / scale * 1.05)
    ax.set_xlabel("op position")
    ax.set_ylabel(f"offset ({unit})")
    ax.set_title(title or f"{len(rects)} tensors")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_arena(
    ranges: Mapping[str, LiveRange],
    offsets: Mapping[str, int],
    path: str | os.PathLike[str],
    **options: Any,
) -> None:
    """Write :func:`render_arena_png` to ``path`` atomically (temp file, then rename)."""
    _write_atomic(os.fspath(path), render_arena_png(ranges, offsets, **options))
