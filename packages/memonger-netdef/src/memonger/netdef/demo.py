"""``memonger demo``: ResNet-50's training net, optimized with every mode.

The demo builds the net in code (:mod:`memonger.netdef.models`), sizes every
blob by shape inference (:func:`memonger.netdef.shapes.infer_shapes`),
optimizes it with each mode of ``memonger optimize``, checks every result by
symbolic execution, prints a before/after table with both bounds (the peak
live bytes of the op order and, for the interference plans, the
shared-object bound) and the gap over each, and writes a timeline plot of
the best plan.  The exact solver gets memonger.alloc's work budget
(:data:`memonger.alloc.DEFAULT_NODE_LIMIT` search nodes) unless told
otherwise, so the demo prints the same plans on every machine.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from memonger.netdef import caffe2_pb2
from memonger.netdef.cli import (
    EXIT_OK,
    OptimizeResult,
    _gap,
    check_result,
    measure,
    optimize_net,
    renaming,
    shared_buffers,
)
from memonger.netdef.models import TrainingNet, resnet50_training, small_resnet_training
from memonger.netdef.views import ViewOps

__all__ = ["DEMO_MODES", "DemoMode", "report_row", "run_demo"]


@dataclass(frozen=True)
class DemoMode:
    """One optimization the demo runs (arguments of :func:`~memonger.netdef.cli.optimize_net`)."""

    label: str
    slug: str
    """Short name, used in the names of the files written with ``--out``."""
    mode: str
    algorithm: str = "greedy"
    ordering: str = "program"
    share_activations: bool = False


#: The optimizations the demo compares.
DEMO_MODES: tuple[DemoMode, ...] = (
    DemoMode("interference greedy", "greedy", "interference", "greedy"),
    DemoMode("interference dp", "dp", "interference", "dp"),
    DemoMode("interference dp, memory order", "dp_memory", "interference", "dp", "memory"),
    DemoMode("grad (DAG-safe)", "grad", "grad"),
    DemoMode("grad + activations (DAG-safe)", "grad_activations", "grad", share_activations=True),
    DemoMode("fast (linear scan)", "fast", "fast"),
)


def report_row(
    name: str,
    original: caffe2_pb2.NetDef,
    result: OptimizeResult,
    sizes: Mapping[str, int],
    *,
    extra: Mapping[str, str | int | float | bool | None] | None = None,
    view_ops: ViewOps | None = None,
) -> Any:
    """A :class:`memonger.stats.NetReport` row for one optimization of ``original``.

    Its figures are those of :func:`memonger.netdef.cli.measure` (the
    design-7 metrics of :mod:`memonger.alloc.liveness`, views with the
    storage they view, ``view_ops`` as in
    :func:`memonger.netdef.views.view_rule`).  The row carries both bounds:
    the peak live bytes of the original order and, for the interference
    mode, the shared-object bound of the result's order
    (``shared_object_bound_nbytes``); ``lower_bound_nbytes`` is the higher
    of the two.  The plan is the sum over buffers of their largest blob.
    ``optimal`` is True when the plan meets that bound or the exact solver
    proved it optimal, False when the exact solver ran out of budget without
    a proof, and None otherwise (a heuristic's plan above the bound may or
    may not be optimal).  The row also says which blobs share which buffer
    (``buffers``), and the algorithm, ordering and budget used.
    """
    from memonger.stats.report import build_net_report

    mapping = renaming(original, result.net, result.order)
    row = build_net_report(
        name,
        original,
        dict(sizes),
        optimized=result.net,
        blob_assignments=mapping,
        order=result.order,
        seconds={"optimize": result.seconds, "verify": result.verify_seconds},
        extra=dict(extra or {}),
    )
    from dataclasses import replace

    m = measure(original, result, sizes, view_ops=view_ops)
    assert m.naive_bytes is not None
    assert m.plan_bytes is not None
    assert m.peak_bytes is not None
    row = replace(
        row,
        blobs_before=m.blobs_before,
        blobs_after=m.blobs_after,
        naive_nbytes=m.naive_bytes,
        plan_nbytes=m.plan_bytes,
        peak_nbytes=m.peak_bytes,
    )
    bound = max(row.peak_nbytes, result.shared_object_bound or 0)
    optimal = True if row.plan_nbytes <= bound else result.proven_optimal
    mode, _, rest = result.label.partition("/")
    algorithm, _, ordering = rest.partition("/")
    return replace(
        row,
        lower_bound_nbytes=bound,
        shared_object_bound_nbytes=result.shared_object_bound,
        optimal=optimal,
        algorithm=algorithm or mode,
        ordering=(ordering or "program") if mode == "interference" else None,
        node_limit=result.node_limit,
        time_limit=result.time_limit,
        buffers=shared_buffers(original, result, sizes),
    )


def _model(small: bool, batch_size: int | None) -> TrainingNet:
    if small:
        return small_resnet_training(batch_size=batch_size or 2)
    return resnet50_training(batch_size=batch_size or 32)


def _shape_file(
    shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, str], sizes: Mapping[str, int]
) -> dict[str, Any]:
    return {
        blob: {"shape": list(shape), "dtype": dtypes[blob], "bytes": sizes[blob]}
        for blob, shape in shapes.items()
        if blob in sizes
    }


def run_demo(
    *,
    small: bool = False,
    plot: str | None = None,
    out_dir: str | None = None,
    time_limit: float | None = None,
    batch_size: int | None = None,
    stream: TextIO | None = None,
    show_progress: bool = False,
    modes: Sequence[DemoMode] = DEMO_MODES,
    node_limit: int | None = None,
    verbose: bool = False,
) -> int:
    """Run the demo; return the exit status.

    Parameters
    ----------
    small : bool
        A small ResNet (width 8, 32x32 images) instead of ResNet-50.
    plot : str, optional
        Path of the PNG plot (default ``demo_timeline.png`` in ``out_dir`` or
        the current directory).
    out_dir : str, optional
        Also write there the net, its init net, its shape file, every
        optimized net and the JSON report.
    time_limit : float, optional
        A wall-clock cap in seconds on the dp search (default: none).
    batch_size : int, optional
        Batch size (default 32, 2 with ``small``).
    stream : text stream, optional
        Where to print (default stdout).
    modes : sequence of DemoMode
        The optimizations to run.
    node_limit : int, optional
        Search nodes of the dp search (default
        :data:`memonger.alloc.DEFAULT_NODE_LIMIT`).
    verbose : bool, optional
        Also print each optimization's time on stderr as it ends.
    """
    from memonger.alloc import DEFAULT_NODE_LIMIT
    from memonger.netdef.shapes import infer_shapes
    from memonger.stats import MissingDependencyError
    from memonger.stats.report import MemoryReport, format_nbytes, package_versions

    out = stream if stream is not None else sys.stdout
    started = time.perf_counter()
    nodes = DEFAULT_NODE_LIMIT if node_limit is None else node_limit
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    plot_path = plot or os.path.join(out_dir or os.curdir, "demo_timeline.png")

    t = time.perf_counter()
    model = _model(small, batch_size)
    net = model.net
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    inferred = infer_shapes(
        net,
        model.input_shapes,
        weight_shapes=model.weight_shapes,
        input_types=dict(model.input_dtypes),
    )
    sizes = inferred.blob_sizes()
    shape_s = time.perf_counter() - t
    produced = list(dict.fromkeys(b for op in net.op for b in op.output))
    unsized = [b for b in produced if b not in sizes]
    if unsized:  # pragma: no cover - the built-in models are fully covered
        raise RuntimeError(f"shape inference left {len(unsized)} blobs unsized: {unsized[:3]}")
    data_shape = model.input_shapes[model.namescope + "data"]
    n, c, h, w = data_shape
    out.write(
        f"{model.name} training net, batch {n}, {c}x{h}x{w} images: {len(net.op)} ops "
        f"({sum(op.is_gradient_op for op in net.op)} gradient ops), {len(produced)} produced "
        f"blobs, {len(model.params)} parameters\n"
        f"  built in {build_s:.2f} s; every blob sized by shape inference in {shape_s:.2f} s\n\n"
    )

    rows = []
    results: list[tuple[DemoMode, OptimizeResult, Any]] = []
    for spec in modes:
        result = optimize_net(
            net,
            mode=spec.mode,
            algorithm=spec.algorithm,
            ordering=spec.ordering,
            sizes=sizes,
            losses=list(model.losses),
            param_grads=list(model.param_grads),
            namescope=model.namescope,
            share_activations=spec.share_activations,
            time_limit=time_limit,
            node_limit=nodes,
            show_progress=show_progress,
        )
        check_result(net, result)
        if verbose:
            sys.stderr.write(
                f"memonger: {spec.label}: {result.seconds:.2f} s, verified in "
                f"{result.verify_seconds:.2f} s\n"
            )
        row = report_row(
            spec.label,
            net,
            result,
            sizes,
            extra={"verified": "yes", "reordered": result.order is not None},
        )
        rows.append(row)
        results.append((spec, result, row))

    report = MemoryReport(
        tuple(rows),
        title=f"{model.name} training: memory plans",
        metadata={
            "net": net.name,
            "batch_size": str(n),
            "image": f"{c}x{h}x{w}",
            "dp_node_limit": str(nodes),
            "dp_time_limit_s": "none" if time_limit is None else f"{time_limit:g}",
        },
        versions=package_versions(),
    )
    naive = rows[0].naive_nbytes
    peak_program = rows[0].peak_nbytes if results[0][1].order is None else None
    out.write(report.to_text() + "\n\n")
    out.write(f"naive (every produced blob its own buffer): {format_nbytes(naive)}\n")
    if peak_program is not None:
        out.write(
            f"peak live bytes in program order (no plan for it needs fewer): "
            f"{format_nbytes(peak_program)}\n"
        )
    best_spec, best, best_row = min(results, key=lambda item: item[2].plan_nbytes)
    out.write(
        f"best plan: {best_spec.label}, {format_nbytes(best_row.plan_nbytes)} "
        f"({naive / max(best_row.plan_nbytes, 1):.1f}x less than naive, "
        f"{best_row.plan_peak_ratio or 0:.3f} x peak live bytes)\n"
    )
    for spec, result, row in results:
        if result.proven_optimal is not None:
            verdict = "proven optimal" if result.proven_optimal else "not proven optimal"
            bound = row.shared_object_bound_nbytes
            out.write(
                f"{spec.label}: {verdict} for its op order by the exact solver "
                f"(shared-object bound {format_nbytes(bound or 0)}, "
                f"{_gap(row.plan_nbytes, bound)})\n"
            )
    from memonger.netdef.arena import plan_net_offsets

    for label, ordering in (("program order", "program"), ("memory order", "memory")):
        arena = plan_net_offsets(net, sizes, ordering=ordering).plan
        proof = "proven optimal" if arena.proven_optimal else "not proven optimal"
        out.write(
            f"arena plan (byte offsets, {label}): {format_nbytes(arena.arena_bytes)} for the "
            f"shareable blobs, peak live bytes {format_nbytes(arena.lower_bound)}, "
            f"{_gap(arena.arena_bytes, arena.lower_bound)}, {proof}\n"
        )
    out.write("every plan was checked by symbolic execution (grad: also under random DAG orders)\n")

    best_report = MemoryReport(
        (
            report_row(
                f"{model.name} training, batch {n}: {best_spec.label}",
                net,
                best,
                sizes,
            ),
        ),
        title=report.title,
        versions=report.versions,
    )
    try:
        best_report.plot(plot_path)
    except MissingDependencyError:
        if plot:  # asked for explicitly: an error
            raise
        out.write("no plot: matplotlib is not installed (pip install 'memonger-stats[plot]')\n")
    else:
        out.write(f"wrote {plot_path}\n")

    if out_dir:
        from memonger.netdef.io import save_net

        stem = net.name
        save_net(net, os.path.join(out_dir, f"{stem}.pb"))
        save_net(model.init_net, os.path.join(out_dir, f"{stem}_init.pb"))
        shape_path = os.path.join(out_dir, f"{stem}.shapes.json")
        with open(shape_path, "w", encoding="utf-8") as f:
            json.dump(_shape_file(inferred.shapes, inferred.dtypes, sizes), f)
        for spec, result, _ in results:
            save_net(result.net, os.path.join(out_dir, f"{stem}.{spec.slug}.pb"))
        report.write_json(os.path.join(out_dir, "demo_report.json"))
        out.write(f"wrote the nets, their shapes and demo_report.json to {out_dir}\n")
    out.write(f"done in {time.perf_counter() - started:.1f} s\n")
    return EXIT_OK
