"""Blob sizes, memory estimates, statistics, timelines and reports.

``memonger.stats`` knows every blob's bytes without a workspace: from shapes
and dtypes (:func:`blob_nbytes`, :func:`collect_blob_sizes`, shape files).
It estimates what a net allocates (:func:`estimate_memory_usage`), measures
plans (naive, plan and peak live bytes), draws live bytes over op positions
(:func:`compute_timeline`) and renders reports as text, JSON or a PNG plot
(:class:`MemoryReport`).

Liveness, naive, plan and peak bytes are memonger.alloc's
(:mod:`memonger.alloc.liveness`, the one definition of the project); the
device rule lives in :mod:`memonger.stats.devices` and the dtype table in
:mod:`memonger.stats.dtypes`, for every package.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memonger.stats.arena_plot import plot_arena, render_arena_png
    from memonger.stats.dtypes import (
        DTYPE_BY_NAME,
        DataType,
        DTypeLike,
        as_datatype,
        blob_nbytes,
        dtype_name,
        dtype_nbytes,
        has_fixed_size,
    )
    from memonger.stats.errors import (
        InvalidShapeError,
        InvalidSizeError,
        MissingDependencyError,
        MissingSizeError,
        ShapeFileError,
        StatsError,
        UnsupportedDtypeError,
    )
    from memonger.stats.estimate import MemoryEstimate, estimate_memory_usage
    from memonger.stats.metrics import (
        Assignments,
        Statistics,
        compute_statistics,
        naive_nbytes,
        peak_live_nbytes,
        plan_nbytes,
        produced_blobs,
        renamed_sizes,
    )
    from memonger.stats.plot import plot_net_report, render_png
    from memonger.stats.report import (
        SCHEMA,
        SCHEMA_VERSION,
        MemoryReport,
        NetReport,
        build_net_report,
        format_nbytes,
    )
    from memonger.stats.shapes import (
        BlobShape,
        collect_blob_sizes,
        net_blobs,
        read_blob_sizes,
        read_shape_file,
    )
    from memonger.stats.timeline import Timeline, compute_timeline, timeline_from_ranges

_LAZY: dict[str, tuple[str, str | None]] = {
    "Assignments": ("memonger.stats.metrics", "Assignments"),
    "BlobShape": ("memonger.stats.shapes", "BlobShape"),
    "DTYPE_BY_NAME": ("memonger.stats.dtypes", "DTYPE_BY_NAME"),
    "DTypeLike": ("memonger.stats.dtypes", "DTypeLike"),
    "DataType": ("memonger.stats.dtypes", "DataType"),
    "InvalidShapeError": ("memonger.stats.errors", "InvalidShapeError"),
    "InvalidSizeError": ("memonger.stats.errors", "InvalidSizeError"),
    "MemoryEstimate": ("memonger.stats.estimate", "MemoryEstimate"),
    "MemoryReport": ("memonger.stats.report", "MemoryReport"),
    "MissingDependencyError": ("memonger.stats.errors", "MissingDependencyError"),
    "MissingSizeError": ("memonger.stats.errors", "MissingSizeError"),
    "NetReport": ("memonger.stats.report", "NetReport"),
    "SCHEMA": ("memonger.stats.report", "SCHEMA"),
    "SCHEMA_VERSION": ("memonger.stats.report", "SCHEMA_VERSION"),
    "ShapeFileError": ("memonger.stats.errors", "ShapeFileError"),
    "Statistics": ("memonger.stats.metrics", "Statistics"),
    "StatsError": ("memonger.stats.errors", "StatsError"),
    "Timeline": ("memonger.stats.timeline", "Timeline"),
    "UnsupportedDtypeError": ("memonger.stats.errors", "UnsupportedDtypeError"),
    "as_datatype": ("memonger.stats.dtypes", "as_datatype"),
    "blob_nbytes": ("memonger.stats.dtypes", "blob_nbytes"),
    "build_net_report": ("memonger.stats.report", "build_net_report"),
    "collect_blob_sizes": ("memonger.stats.shapes", "collect_blob_sizes"),
    "compute_statistics": ("memonger.stats.metrics", "compute_statistics"),
    "compute_timeline": ("memonger.stats.timeline", "compute_timeline"),
    "dtype_name": ("memonger.stats.dtypes", "dtype_name"),
    "dtype_nbytes": ("memonger.stats.dtypes", "dtype_nbytes"),
    "estimate_memory_usage": ("memonger.stats.estimate", "estimate_memory_usage"),
    "format_nbytes": ("memonger.stats.report", "format_nbytes"),
    "has_fixed_size": ("memonger.stats.dtypes", "has_fixed_size"),
    "naive_nbytes": ("memonger.stats.metrics", "naive_nbytes"),
    "net_blobs": ("memonger.stats.shapes", "net_blobs"),
    "peak_live_nbytes": ("memonger.stats.metrics", "peak_live_nbytes"),
    "plan_nbytes": ("memonger.stats.metrics", "plan_nbytes"),
    "plot_arena": ("memonger.stats.arena_plot", "plot_arena"),
    "plot_net_report": ("memonger.stats.plot", "plot_net_report"),
    "produced_blobs": ("memonger.stats.metrics", "produced_blobs"),
    "read_blob_sizes": ("memonger.stats.shapes", "read_blob_sizes"),
    "read_shape_file": ("memonger.stats.shapes", "read_shape_file"),
    "renamed_sizes": ("memonger.stats.metrics", "renamed_sizes"),
    "render_arena_png": ("memonger.stats.arena_plot", "render_arena_png"),
    "render_png": ("memonger.stats.plot", "render_png"),
    "timeline_from_ranges": ("memonger.stats.timeline", "timeline_from_ranges"),
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
    "DTYPE_BY_NAME",
    "SCHEMA",
    "SCHEMA_VERSION",
    "Assignments",
    "BlobShape",
    "DTypeLike",
    "DataType",
    "InvalidShapeError",
    "InvalidSizeError",
    "MemoryEstimate",
    "MemoryReport",
    "MissingDependencyError",
    "MissingSizeError",
    "NetReport",
    "ShapeFileError",
    "Statistics",
    "StatsError",
    "Timeline",
    "UnsupportedDtypeError",
    "__version__",
    "as_datatype",
    "blob_nbytes",
    "build_net_report",
    "collect_blob_sizes",
    "compute_statistics",
    "compute_timeline",
    "dtype_name",
    "dtype_nbytes",
    "estimate_memory_usage",
    "format_nbytes",
    "has_fixed_size",
    "naive_nbytes",
    "net_blobs",
    "peak_live_nbytes",
    "plan_nbytes",
    "plot_arena",
    "plot_net_report",
    "produced_blobs",
    "read_blob_sizes",
    "read_shape_file",
    "renamed_sizes",
    "render_arena_png",
    "render_png",
    "timeline_from_ranges",
]
