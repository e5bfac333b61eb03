"""Memory plans of ONNX models: shared objects and an arena with offsets.

:func:`plan_model` sizes a model (:func:`~memonger.onnx.model_graph`), takes
the live ranges of its planned tensors (:func:`~memonger.onnx.tensor_ranges`)
and runs memonger.alloc's two planners on them: shared objects
(:func:`memonger.alloc.allocate`: tensors share whole buffers) and an offset
plan (:func:`memonger.alloc.plan_offsets`: every tensor at a byte offset in
one arena).  The two bounds are reported apart (design 7): *peak live bytes*
(no arena and no shared-object plan is smaller) and the shared-object
*positional-maxima* bound (:attr:`ModelPlan.allocation` ``.lower_bound``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from memonger.alloc import (
    AllocationResult,
    LiveRange,
    OffsetPlan,
    allocate,
    naive_bytes,
    peak_live_bytes,
    plan_offsets,
)
from memonger.onnx.graph import ModelGraph, OnnxOp, model_graph
from memonger.onnx.load import ModelSource
from memonger.onnx.ranges import UnknownPolicy, model_ranges

if TYPE_CHECKING:
    from memonger.stats import NetReport, Timeline

__all__ = ["ModelPlan", "plan_model"]


@dataclass(frozen=True)
class ModelPlan:
    """What :func:`plan_model` found.

    Attributes
    ----------
    graph : ModelGraph
        The model's ops, sizes and static tensors.
    ranges : dict of str to LiveRange
        Live range of every planned storage.
    ops : tuple of OnnxOp
        The ops in the planned order.
    num_positions : int
        Number of ops.
    order : str
        The order's name.
    allocation : AllocationResult
        The shared-object plan.
    offsets : OffsetPlan or None
        The arena plan (None with ``offsets=False``).
    peak_bytes : int
        Peak live bytes of the planned tensors in this order: the lower bound
        of every arena and shared-object plan.
    naive_bytes : int
        Every planned tensor in a buffer of its own.
    unknown : dict of str to str
        Planned tensors left out for want of a static size -> the reason.
    seconds : dict of str to float
        Wall time per phase: ``graph`` (reading, shape inference),
        ``ranges``, ``shared``, ``offsets``.
    """

    graph: ModelGraph
    ranges: dict[str, LiveRange]
    ops: tuple[OnnxOp, ...]
    num_positions: int
    order: str
    allocation: AllocationResult
    offsets: OffsetPlan | None
    peak_bytes: int
    naive_bytes: int
    unknown: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def shared_bytes(self) -> int:
        """Bytes of the shared-object plan (sum over buffers of the largest member)."""
        return self.allocation.nbytes

    @property
    def arena_bytes(self) -> int | None:
        """Bytes of the arena (None without an offset plan)."""
        return None if self.offsets is None else self.offsets.arena_bytes

    @property
    def lower_bound(self) -> int:
        """The arena's lower bound: peak live bytes (sizes rounded to the alignment)."""
        return self.peak_bytes if self.offsets is None else self.offsets.lower_bound

    @property
    def gap_bytes(self) -> int | None:
        """Arena bytes above the lower bound (None without an offset plan)."""
        arena = self.arena_bytes
        return None if arena is None else arena - self.lower_bound

    def timeline(self) -> Timeline:
        """Live bytes at every op position, as a :class:`memonger.stats.Timeline`.

        Graph inputs count from position 0; graph outputs until the last op.
        """
        from memonger.stats import timeline_from_ranges

        return timeline_from_ranges(
            self.ranges, num_positions=self.num_positions, produced=self.graph.inputs
        )

    def net_report(self, name: str | None = None) -> NetReport:
        """This plan as a row of a :class:`memonger.stats.MemoryReport`.

        The row's plan bytes are the arena's when there is an offset plan
        (else the shared-object plan's); its ``extra`` columns carry the
        other figures.
        """
        from memonger.stats import NetReport

        plan = self.arena_bytes if self.arena_bytes is not None else self.shared_bytes
        timeline = self.timeline()
        return NetReport(
            name or self.graph.name or self.graph.source,
            ops=self.num_positions,
            blobs_before=len(self.ranges),
            blobs_after=len(self.allocation.assignments),
            naive_nbytes=self.naive_bytes,
            plan_nbytes=plan,
            peak_nbytes=self.peak_bytes,
            lower_bound_nbytes=self.lower_bound,
            algorithm=None if self.offsets is None else self.offsets.algorithm.value,
            optimal=None if self.offsets is None else self.offsets.proven_optimal,
            seconds=dict(self.seconds),
            timeline_original=timeline,
            timeline_optimized=timeline,
            extra={
                "shared_object_bytes": self.shared_bytes,
                "shared_object_bound": self.allocation.lower_bound,
                "order": self.order,
            },
        )


def plan_model(
    model: ModelSource | ModelGraph,
    *,
    dims: Mapping[str, int] | None = None,
    order: str = "program",
    views: bool = False,
    offsets: bool = True,
    algorithm: str = "auto",
    shared: str = "dp",
    alignment: int = 1,
    capacity: int | None = None,
    time_limit: float | None = 2.0,
    unknown: UnknownPolicy = "raise",
) -> ModelPlan:
    """Plan the memory of an ONNX model's activations.

    Parameters
    ----------
    model : ModelProto, path, bytes or ModelGraph
        The model (or what :func:`~memonger.onnx.model_graph` made of it;
        ``dims`` and ``views`` are then fixed already).
    dims : mapping of str to int, optional
        Values of symbolic dimensions.
    order : {"program", "memory", "longest-path"}, optional
        The op order to plan for.
    views : bool, optional
        Reshape-like outputs share their input's storage.
    offsets : bool, optional
        Also make the arena plan (:func:`memonger.alloc.plan_offsets`).
    algorithm : str, optional
        Offset algorithm (``"auto"``, ``"greedy_by_size"``, ``"exact"``...).
    shared : str, optional
        Shared-object algorithm of :func:`memonger.alloc.allocate`.
    alignment : int, optional
        Every arena offset is a multiple of it.
    capacity : int, optional
        Arena bytes available: the offset plan then reports whether the
        tensors fit (``offsets.feasible``).
    time_limit : float or None, optional
        Seconds each exact search may take.
    unknown : {"raise", "skip"}, optional
        Tensors without a static size raise (default) or are left out.

    Returns
    -------
    ModelPlan

    Raises
    ------
    UnknownSizeError
        A planned tensor has no static size and ``unknown="raise"``.
    OnnxError
        The model cannot be read or sized.
    AllocError
        An option of the planners is not valid.

    Examples
    --------
    >>> from onnx import helper, TensorProto
    >>> info = helper.make_tensor_value_info
    >>> nodes = [helper.make_node("Relu", ["x"], ["a"]),
    ...          helper.make_node("Relu", ["a"], ["b"]),
    ...          helper.make_node("Relu", ["b"], ["y"])]
    >>> g = helper.make_graph(nodes, "chain", [info("x", TensorProto.FLOAT, [256])],
    ...                       [info("y", TensorProto.FLOAT, [256])])
    >>> plan = plan_model(helper.make_model(g), offsets=False)
    >>> plan.naive_bytes, plan.peak_bytes, plan.shared_bytes
    (4096, 2048, 2048)
    """
    start = time.perf_counter()
    if isinstance(model, ModelGraph):  # model_ranges refuses dims and views with a graph
        after_graph = start
        live = model_ranges(model, dims=dims, order=order, views=views, unknown=unknown)
    else:
        graph = model_graph(model, dims=dims, views=views)
        after_graph = time.perf_counter()
        live = model_ranges(graph, order=order, unknown=unknown)
    after_ranges = time.perf_counter()
    allocation = allocate(live.ranges, algorithm=shared, time_limit=time_limit)
    after_shared = time.perf_counter()
    offset_plan: OffsetPlan | None = None
    if offsets:
        offset_plan = plan_offsets(
            live.ranges,
            algorithm=algorithm,
            alignment=alignment,
            capacity=capacity,
            time_limit=time_limit,
        )
    end = time.perf_counter()
    return ModelPlan(
        graph=live.graph,
        ranges=live.ranges,
        ops=live.ops,
        num_positions=live.num_positions,
        order=order,
        allocation=allocation,
        offsets=offset_plan,
        peak_bytes=peak_live_bytes(live.ranges),
        naive_bytes=naive_bytes(live.ranges),
        unknown=dict(live.skipped),
        seconds={
            "graph": after_graph - start,
            "ranges": after_ranges - after_graph,
            "shared": after_shared - after_ranges,
            "offsets": end - after_shared,
        },
    )
