"""Benchmark the DAG recyclers and the linear-scan recycler on the corpus.

For every corpus net and function -- ``optimize_inference_for_dag`` and
``optimize_inference_fast`` on inference nets, ``share_grad_blobs`` (gradients
only, and with activations) on training nets -- report produced blobs before
and after, naive, plan and peak-live bytes (design 7, peak live in program
order), plan/peak, and the median wall-clock and CPU time over repeated runs
(CPU time also per 1,000 ops).  On inference nets also a lower bound on the
bytes of any plan of the same kind (see :func:`bounds`): renaming blobs onto
shared buffers cannot always reach peak live bytes, and a plan safe for every
order of a DAG even less, so ``plan/bound`` measures the planner against what
is reachable.  Prints a Markdown table and writes
``benchmarks/results/dag.json``.

Usage: ``python benchmarks/bench_dag.py [--repeat N] [NAME ...]``;
the corpus comes from ``MEMONGER_CORPUS`` (default ``../shared/corpus``
beside the repository).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx

from memonger.graph import compute_interference_graph
from memonger.netdef import caffe2_pb2
from memonger.netdef.corpus import (
    CorpusCase,
    load_case,
    load_manifest,
    parameter_gradients,
    training_losses,
)
from memonger.netdef.dag import optimize_inference_for_dag, share_grad_blobs, sharing_summary
from memonger.netdef.errors import CorpusNotFoundError
from memonger.netdef.fast import optimize_inference_fast
from memonger.stats import naive_nbytes, peak_live_nbytes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "dag.json"
TARGET_MS_PER_1000_OPS = 50.0
TARGET_PLAN_OVER_PEAK = 1.10


def bounds(net: caffe2_pb2.NetDef, sizes: dict[str, int], keep: set[str]) -> tuple[int, int]:
    """Lower bounds on the bytes of buffer-sharing plans: program order, and DAG-safe.

    Blobs that are never shared (external, kept, read before written, final
    results) count in full.  For the others:

    - in program order, the blobs live at one position need distinct
      buffers, so the k-th largest buffer is at least the k-th largest blob
      live at any position: the sum over k of those maxima bounds every plan
      (it exceeds peak live bytes when sizes differ);
    - safe for every order: blobs form a partial order (``a < b`` when both
      live on one device and every op touching ``a`` is an ancestor of the op
      that first writes ``b``); the blobs of a buffer form a chain, so a plan
      needs at least the heaviest antichain -- by weighted Dilworth, the total
      weight minus a maximum flow.  A DAG-safe plan is also a plan for the
      program order, so the larger of the two bounds it.
    """
    graph = compute_interference_graph(net.op)
    ancestors = {v: nx.ancestors(graph, v) for v in graph}
    external = set(net.external_input) | set(net.external_output) | keep
    touches: dict[str, set[int]] = {}
    first: dict[str, int] = {}
    device: dict[str, tuple[int, int]] = {}
    last_read: dict[str, int] = {}
    last_write: dict[str, int] = {}
    unproduced_reads: set[str] = set()
    for i, op in enumerate(net.op):
        dev = (op.device_option.device_type, op.device_option.device_id)
        for b in op.input:
            if b not in first:
                unproduced_reads.add(b)
            touches.setdefault(b, set()).add(i)
            last_read[b] = i
        for b in op.output:
            touches.setdefault(b, set()).add(i)
            last_write[b] = i
            if b not in first:
                first[b] = i
                device[b] = (0, 0) if op.type == "CopyGPUToCPU" else dev
    produced = list(first)
    shareable = [
        b
        for b in produced
        if b not in external and b not in unproduced_reads and last_read.get(b, -1) > last_write[b]
    ]
    fixed = sum(sizes[b] for b in produced if b not in set(shareable))
    live: list[list[int]] = [[] for _ in net.op]
    for b in shareable:
        end = max(touches[b])
        for p in range(first[b], end + 1):
            live[p].append(sizes[b])
    for at in live:
        at.sort(reverse=True)
    depth = max((len(at) for at in live), default=0)
    linear = fixed + sum(max(at[k] if k < len(at) else 0 for at in live) for k in range(depth))
    flow: nx.DiGraph[Any] = nx.DiGraph()
    for b in shareable:
        flow.add_edge("s", ("L", b), capacity=sizes[b])
        flow.add_edge(("R", b), "t", capacity=sizes[b])
    for a in shareable:
        for b in shareable:
            if a != b and device[a] == device[b] and touches[a] <= ancestors[first[b]]:
                flow.add_edge(("L", a), ("R", b))  # no capacity: unbounded
    total = sum(sizes[b] for b in shareable)
    if not shareable:
        return linear, linear
    value = nx.maximum_flow_value(flow, "s", "t")
    return linear, max(linear, fixed + total - int(value))


def median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Median wall-clock and CPU milliseconds of ``fn`` over ``repeat`` runs.

    CPU time (of this process) is what the targets are checked against: it
    does not count the time other processes on a busy machine take.
    """
    wall = []
    cpu = []
    result = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3, result


def bench_entry(case: CorpusCase, repeat: int) -> list[dict[str, Any]]:
    net, sizes = load_case(case)
    inputs = list(case.inputs)
    runs: list[tuple[str, bool, Callable[[], caffe2_pb2.NetDef]]] = []
    if case.kind == "inference":
        runs.append(
            (
                "optimize_inference_for_dag",
                True,
                lambda: optimize_inference_for_dag(net, inputs, blob_shapes=sizes),
            )
        )
        runs.append(
            (
                "optimize_inference_fast",
                False,
                lambda: optimize_inference_fast(net, inputs, blob_shapes=sizes),
            )
        )
    else:
        losses = training_losses(net)
        grads = parameter_gradients(net)
        runs.append(
            (
                "share_grad_blobs",
                True,
                lambda: share_grad_blobs(net, losses, grads, "", blob_shapes=sizes),
            )
        )
        runs.append(
            (
                "share_grad_blobs(acts)",
                True,
                lambda: share_grad_blobs(
                    net, losses, grads, "", share_activations=True, blob_shapes=sizes
                ),
            )
        )
    naive = peak = None
    linear_bound = dag_bound = None
    if sizes is not None:
        naive = naive_nbytes(net, sizes)
        peak = peak_live_nbytes(net, sizes)
        if case.kind == "inference":
            linear_bound, dag_bound = bounds(net, sizes, set(inputs))
    rows = []
    for function, is_dag, fn in runs:
        ms, cpu_ms, optimized = median_ms(fn, repeat)
        stats = sharing_summary(net, optimized, sizes)
        plan = stats.bytes_after
        bound = dag_bound if is_dag else linear_bound
        row: dict[str, Any] = {
            "net": case.name,
            "kind": case.kind,
            "function": function,
            "ops": len(net.op),
            "blobs_before": stats.blobs_before,
            "blobs_after": stats.blobs_after,
            "naive_bytes": naive,
            "plan_bytes": plan,
            "peak_live_bytes": peak,
            "plan_over_peak": None if plan is None or not peak else plan / peak,
            "bound_bytes": bound,
            "plan_over_bound": None if plan is None or not bound else plan / bound,
            "time_ms": ms,
            "cpu_ms": cpu_ms,
            "ms_per_1000_ops": cpu_ms * 1000 / max(len(net.op), 1),
        }
        rows.append(row)
    return rows


def fmt_bytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per net and function")
    parser.add_argument("names", nargs="*", help="corpus nets to run (default: all)")
    args = parser.parse_args(argv)
    try:
        cases = [c for c in load_manifest() if c.net is not None]
    except CorpusNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.names:
        cases = [c for c in cases if c.name in args.names]
    rows: list[dict[str, Any]] = []
    for case in cases:
        rows.extend(bench_entry(case, args.repeat))

    print(
        "| net | function | ops | blobs before | blobs after | naive MiB | plan MiB "
        "| peak MiB | plan/peak | bound MiB | plan/bound | wall ms | CPU ms | CPU ms/1000 ops |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['net']} | {r['function']} | {r['ops']} | {r['blobs_before']} "
            f"| {r['blobs_after']} | {fmt_bytes(r['naive_bytes'])} | {fmt_bytes(r['plan_bytes'])} "
            f"| {fmt_bytes(r['peak_live_bytes'])} | {fmt_ratio(r['plan_over_peak'])} "
            f"| {fmt_bytes(r['bound_bytes'])} | {fmt_ratio(r['plan_over_bound'])} "
            f"| {r['time_ms']:.1f} | {r['cpu_ms']:.1f} | {r['ms_per_1000_ops']:.1f} |"
        )
    slow = [r for r in rows if r["ms_per_1000_ops"] > TARGET_MS_PER_1000_OPS]
    print(
        f"\nspeed target < {TARGET_MS_PER_1000_OPS:.0f} ms per 1,000 ops: "
        + (
            "met"
            if not slow
            else "missed on " + ", ".join(f"{r['net']}/{r['function']}" for r in slow)
        )
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeat": args.repeat,
        "targets": {
            "ms_per_1000_ops": TARGET_MS_PER_1000_OPS,
            "plan_over_peak_inference": TARGET_PLAN_OVER_PEAK,
        },
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
