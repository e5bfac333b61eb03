"""``memonger demo``: ResNet-50's training net, optimized with every mode.

The demo builds the net in code (:mod:`memonger.netdef.models`), sizes every
blob by shape inference (:func:`memonger.netdef.shapes.infer_shapes`),
optimizes it with each mode of ``memonger optimize``, checks every result by
symbolic execution, prints a before/after table with the lower bound (the
peak of live bytes), and writes a timeline plot of the best plan.
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
    check_result,
    measure,
    optimize_net,
    renaming,
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
    :func:`memonger.netdef.views.view_rule`).  The lower bound is the peak
    of live bytes in the result's op order, or the exact solver's bound
    where that is higher; the plan is the sum over buffers of their largest
    blob.  ``optimal`` is True when the plan meets
    the peak of live bytes or the exact solver proved it optimal, False when
    the exact solver ran out of time without a proof, and None otherwise (a
    heuristic's plan above the peak may or may not be optimal).
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
    bound = row.lower_bound
    if result.lower_bound is not None and result.lower_bound > bound:
        bound = result.lower_bound
    optimal = True if row.plan_nbytes <= bound else result.proven_optimal
    return replace(row, lower_bound_nbytes=bound, optimal=optimal)


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
        Budget of the dp search (default 5 s, 1 s with ``small``).
    batch_size : int, optional
        Batch size (default 32, 2 with ``small``).
    stream : text stream, optional
        Where to print (default stdout).
    modes : sequence of DemoMode
        The optimizations to run.
    """
    from memonger.netdef.shapes import infer_shapes
    from memonger.stats import MissingDependencyError
    from memonger.stats.report import MemoryReport, format_nbytes

    out = stream if stream is not None else sys.stdout
    started = time.perf_counter()
    if time_limit is None:
        time_limit = 1.0 if small else 5.0
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
            show_progress=show_progress,
        )
        check_result(net, result)
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
            "dp_time_limit_s": f"{time_limit:g}",
        },
    )
    naive = rows[0].naive_nbytes
    peak_program = rows[0].peak_nbytes if results[0][1].order is None else None
    out.write(report.to_text() + "\n\n")
    out.write(f"naive (every produced blob its own buffer): {format_nbytes(naive)}\n")
    if peak_program is not None:
        out.write(
            f"lower bound in program order (peak live bytes): {format_nbytes(peak_program)}\n"
        )
    best_spec, best, best_row = min(results, key=lambda item: item[2].plan_nbytes)
    out.write(
        f"best plan: {best_spec.label}, {format_nbytes(best_row.plan_nbytes)} "
        f"({naive / max(best_row.plan_nbytes, 1):.1f}x less than naive, "
        f"{best_row.plan_peak_ratio or 0:.3f} x its lower bound)\n"
    )
    for spec, result, row in results:
        if result.proven_optimal is not None:
            verdict = "proven optimal" if result.proven_optimal else "not proven optimal"
            out.write(
                f"{spec.label}: {verdict} for its op order by the exact solver "
                f"(shared-object bound {format_nbytes(row.lower_bound)})\n"
            )
    from memonger.netdef.arena import plan_net_offsets

    for label, ordering in (("program order", "program"), ("memory order", "memory")):
        arena = plan_net_offsets(net, sizes, ordering=ordering).plan
        proof = "proven optimal" if arena.proven_optimal else "not proven optimal"
        out.write(
            f"arena plan (byte offsets, {label}): {format_nbytes(arena.arena_bytes)} for the "
            f"shareable blobs, peak live bytes {format_nbytes(arena.lower_bound)}, {proof}\n"
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
