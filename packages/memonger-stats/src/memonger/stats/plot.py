"""PNG plot of memory over op positions (needs the ``plot`` extra: matplotlib).

One picture per net: what the original net holds when nothing is shared (every
blob kept from its first write), what the optimized net holds, the bytes
actually live at each op, and the bounds, with the peak annotated: the
**peak live bytes** (no plan for the op order needs fewer; an arena plan can
reach it) and, when known, the **shared-object bound** (the positional
maxima, the bound of plans that share whole buffers).  The plan's legend
entry gives its gap over the higher bound, in bytes and percent.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from memonger.stats.errors import MissingDependencyError, StatsError
from memonger.stats.report import NetReport, _write_atomic, format_gap, format_nbytes

__all__ = ["PLOT_HINT", "legend_labels", "plot_net_report", "render_png", "require_matplotlib"]

PLOT_HINT = 'plotting needs matplotlib: pip install "memonger-stats[plot]"'
"""The message given when matplotlib is missing."""

_UNITS = (("B", 1), ("KiB", 2**10), ("MiB", 2**20), ("GiB", 2**30), ("TiB", 2**40))


def _matplotlib() -> tuple[Any, Any]:
    try:
        import matplotlib  # noqa: F401  (the package itself, even if submodules are cached)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(PLOT_HINT) from exc
    return Figure, FigureCanvasAgg


def require_matplotlib() -> None:
    """Raise :class:`MissingDependencyError` (with :data:`PLOT_HINT`) without matplotlib.

    Commands call it before any work, so that a missing plotting library
    never costs a planning run.
    """
    _matplotlib()


def _short(name: str, limit: int = 44) -> str:
    return name if len(name) <= limit else "..." + name[-(limit - 3) :]


def _unit(largest: float) -> tuple[str, int]:
    chosen = _UNITS[0]
    for unit in _UNITS:
        if largest >= unit[1]:
            chosen = unit
    return chosen


def legend_labels(row: NetReport) -> dict[str, str]:
    """The legend entries of :func:`render_png`, by line (the bounds named apart).

    Keys: ``original``, ``optimized`` (with the plan's gap over the higher
    bound), ``live``, ``peak_live_bytes`` and, when the row knows a
    shared-object bound above the peak, ``shared_object_bound``.

    Examples
    --------
    >>> row = NetReport("n", ops=3, blobs_before=3, blobs_after=2, naive_nbytes=40,
    ...                 plan_nbytes=36, peak_nbytes=30, shared_object_bound_nbytes=32)
    >>> labels = legend_labels(row)
    >>> labels["peak_live_bytes"], labels["shared_object_bound"]
    ('peak live bytes (30 B)', 'shared-object bound (32 B)')
    >>> labels["optimized"]
    'optimized plan (36 B, gap 4 B (12.50%) over the shared-object bound)'
    """
    shared = row.shared_object_bound_nbytes
    over = (
        "the shared-object bound"
        if shared is not None and row.lower_bound > row.peak_nbytes
        else "peak live bytes"
    )
    labels = {
        "original": f"original, nothing shared ({format_nbytes(row.naive_nbytes)})",
        "optimized": f"optimized plan ({format_nbytes(row.plan_nbytes)}, "
        f"{format_gap(row.plan_nbytes, row.lower_bound)} over {over})",
        "live": "live bytes at each op",
        "peak_live_bytes": f"peak live bytes ({format_nbytes(row.peak_nbytes)})",
    }
    if shared is not None and shared != row.peak_nbytes:
        labels["shared_object_bound"] = f"shared-object bound ({format_nbytes(shared)})"
    return labels


def render_png(row: NetReport, *, width: int = 1200, height: int = 675, dpi: int = 100) -> bytes:
    """Render the timeline plot of one report row as PNG bytes of ``width`` x ``height`` pixels.

    Parameters
    ----------
    row : NetReport
        Needs ``timeline_original``; ``timeline_optimized`` is drawn when present.
    width, height : int
        Image size in pixels (at least 200 x 150).
    dpi : int
        Dots per inch: scales the text and lines, not the pixel size.

    Raises
    ------
    StatsError
        The row has no original timeline, or the size is too small.
    MissingDependencyError
        matplotlib is not installed (``pip install memonger-stats[plot]``).
    """
    if row.timeline_original is None:
        raise StatsError(f"net {row.name!r} has no timeline to plot")
    if width < 200 or height < 150 or dpi <= 0:
        raise StatsError(f"plot size {width}x{height} at {dpi} dpi is too small")
    figure_cls, canvas_cls = _matplotlib()
    labels = legend_labels(row)
    original = row.timeline_original
    optimized = row.timeline_optimized
    positions = np.arange(original.num_positions + 1)
    curves = [original.allocated_nbytes, original.live_nbytes]
    if optimized is not None:
        curves.append(optimized.allocated_nbytes)
    largest = max([float(np.max(c)) for c in curves if len(c)] + [float(row.lower_bound), 1.0])
    unit, scale = _unit(largest)

    def scaled(values: Any) -> Any:
        # one more point so that the last op's step has a width
        array = np.asarray(values, dtype=np.float64) / scale
        return np.append(array, array[-1:] if len(array) else [0.0])

    fig = figure_cls(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas_cls(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.step(
        positions,
        scaled(original.allocated_nbytes),
        where="post",
        color="tab:red",
        linewidth=2,
        label=labels["original"],
    )
    if optimized is not None:
        opt_positions = np.arange(optimized.num_positions + 1)
        ax.step(
            opt_positions,
            scaled(optimized.allocated_nbytes),
            where="post",
            color="tab:blue",
            linewidth=2,
            label=labels["optimized"],
        )
    ax.fill_between(
        positions,
        scaled(original.live_nbytes),
        step="post",
        color="tab:green",
        alpha=0.35,
        label=labels["live"],
    )
    ax.axhline(
        row.peak_nbytes / scale,
        color="black",
        linestyle="--",
        linewidth=1.2,
        label=labels["peak_live_bytes"],
    )
    if "shared_object_bound" in labels:
        assert row.shared_object_bound_nbytes is not None
        ax.axhline(
            row.shared_object_bound_nbytes / scale,
            color="tab:purple",
            linestyle=":",
            linewidth=1.4,
            label=labels["shared_object_bound"],
        )
    if original.peak_position >= 0:
        peak_x = original.peak_position
        peak_y = original.peak_nbytes / scale
        lines = [
            f"{_short(name)} ({format_nbytes(size)})" for name, size in original.peak_blobs[:3]
        ]
        more = len(original.peak_blobs) - 3
        if more > 0:
            lines.append(f"+{more} more blobs")
        top = "\n".join(lines)
        ax.plot([peak_x], [peak_y], marker="o", color="black", markersize=7)
        right_half = peak_x > 0.6 * max(original.num_positions - 1, 1)
        ax.annotate(
            f"peak {format_nbytes(original.peak_nbytes)} at op {peak_x}\n{top}",
            xy=(peak_x, peak_y),
            xytext=(-30 if right_half else 30, 30),
            textcoords="offset points",
            ha="right" if right_half else "left",
            multialignment="left",
            fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9},
            arrowprops={"arrowstyle": "->", "color": "black"},
        )
    ratio = row.plan_peak_ratio
    subtitle = f"{row.ops} ops, {row.blobs_before} blobs -> {row.blobs_after} buffers"
    if ratio is not None:
        subtitle += f", plan/peak {ratio:.2f}"
    subtitle += f", saved {100 * row.saving_ratio:.1f}%"
    ax.set_title(f"{row.name}\n{subtitle}", fontsize=11)
    ax.set_xlabel("op position")
    ax.set_ylabel(f"memory ({unit})")
    ax.set_xlim(0, max(original.num_positions, 1))
    ax.set_ylim(0, largest / scale * 1.15)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_net_report(
    row: NetReport,
    path: str | os.PathLike[str],
    *,
    width: int = 1200,
    height: int = 675,
    dpi: int = 100,
) -> None:
    """Write :func:`render_png` of ``row`` to ``path`` atomically (temp file, then rename)."""
    _write_atomic(os.fspath(path), render_png(row, width=width, height=height, dpi=dpi))
