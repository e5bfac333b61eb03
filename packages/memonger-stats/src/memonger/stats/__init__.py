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
