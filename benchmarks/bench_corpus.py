"""The whole corpus through every mode: one table of memory and time.

For each corpus net and mode -- ``interference`` (greedy and the exact
solver in program order, greedy in the memory-aware order), ``dag``
(inference nets), ``grad`` (training nets) and ``fast`` -- the table gives
ops, produced blobs before and after, naive / plan / peak-live bytes
(design 7; peak live in the result's op order), plan / peak, for the exact
solver whether optimality was proven, and the median wall time of each
phase (load, optimize, verify by execution equivalence) over repeated runs.
Then the MiniMalloc instances as live ranges (half-open ``[lower, upper)``
read as closed ``[lower, upper - 1]``): the greedy and exact allocators'
bytes against the peak-live bound, and their time.

Writes ``benchmarks/results/corpus.md`` and ``benchmarks/results/corpus.json``
and prints the Markdown.  Usage::

    python benchmarks/bench_corpus.py [--repeat N] [--dp-seconds S] [NAME ...]

The corpus comes from ``MEMONGER_CORPUS`` (default ``../shared/corpus``
beside the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memonger.alloc import AllocationResult, AssignmentAlgorithm, LiveRange, allocate
from memonger.graph import topological_sort_min_memory, topological_sort_traversal
from memonger.netdef import (
    caffe2_pb2,
    load_net,
    optimize_inference_fast,
    optimize_inference_for_dag,
    plan_interference,
    share_grad_blobs,
    verify_execution_equivalence,
)
from memonger.netdef.corpus import (
    CorpusCase,
    blob_sizes_for,
    load_manifest,
    load_ranges,
    parameter_gradients,
    training_losses,
)
from memonger.netdef.errors import CorpusNotFoundError
from memonger.stats import naive_nbytes, peak_live_nbytes, read_blob_sizes

RESULTS = Path(__file__).resolve().parent / "results"
PHASES = ("load", "optimize", "verify")
DAG_RANDOM_ORDERS = 4


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------------------
# Metrics (design 7)
# ---------------------------------------------------------------------------


def produced(net: caffe2_pb2.NetDef) -> set[str]:
    return {b for op in net.op for b in op.output}


def plan_bytes(
    original: caffe2_pb2.NetDef,
    optimized: caffe2_pb2.NetDef,
    order: Sequence[int],
    sizes: dict[str, int],
) -> int:
    """Sum over the optimized net's produced names of the largest original blob renamed to it.

    ``order[i]`` is the original index of the optimized net's op ``i``.
    """
    largest: dict[str, int] = {}
    for i, k in enumerate(order):
        for old, new in zip(original.op[k].output, optimized.op[i].output, strict=True):
            largest[new] = max(largest.get(new, 0), sizes.get(old, 1))
    return sum(largest.values())


# ---------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------


class Outcome:
    """What one optimization returned: the net, its op order, exact-solver results."""

    def __init__(
        self,
        net: caffe2_pb2.NetDef,
        order: list[int] | None = None,
        exact: list[AllocationResult] | None = None,
    ) -> None:
        self.net = net
        self.order = order
        self.exact = exact or []


Mode = Callable[[caffe2_pb2.NetDef, CorpusCase, dict[str, int] | None], Outcome]


def interference(algorithm: str, ordering: str, dp_seconds: float) -> Mode:
    def run(net: caffe2_pb2.NetDef, case: CorpusCase, sizes: dict[str, int] | None) -> Outcome:
        def order(g: Any) -> list[int]:
            if ordering == "memory":
                return list(topological_sort_min_memory(g, sizes, time_limit=5.0))
            return list(topological_sort_traversal(g))

        exact = algorithm == "dp"
        plan = plan_interference(
            net,
            list(case.inputs),
            order,
            blob_sizes=sizes,
            algo=AssignmentAlgorithm.DYNAMIC_PROGRAMMING if exact else AssignmentAlgorithm.GREEDY,
            verify=False,
            time_limit=dp_seconds if exact else None,
        )
        found = list(plan.allocations.values()) if exact else None
        return Outcome(plan.optimization.net, plan.order, found)

    return run


def dag(net: caffe2_pb2.NetDef, case: CorpusCase, sizes: dict[str, int] | None) -> Outcome:
    return Outcome(optimize_inference_for_dag(net, list(case.inputs), blob_shapes=sizes))


def grad(net: caffe2_pb2.NetDef, case: CorpusCase, sizes: dict[str, int] | None) -> Outcome:
    out = share_grad_blobs(
        net, training_losses(net), parameter_gradients(net), "", blob_shapes=sizes
    )
    return Outcome(out)


def fast(net: caffe2_pb2.NetDef, case: CorpusCase, sizes: dict[str, int] | None) -> Outcome:
    return Outcome(optimize_inference_fast(net, list(case.inputs), blob_shapes=sizes))


def modes(kind: str, dp_seconds: float) -> dict[str, tuple[Mode, bool]]:
    """Mode name -> (function, whether it is checked under random DAG orders)."""
    chosen: dict[str, tuple[Mode, bool]] = {
        "interference/greedy": (interference("greedy", "program", dp_seconds), False),
        "interference/dp": (interference("dp", "program", dp_seconds), False),
        "interference/greedy/memory": (interference("greedy", "memory", dp_seconds), False),
    }
    if kind == "inference":
        chosen["dag"] = (dag, True)
    if kind == "training":
        chosen["grad"] = (grad, True)
    chosen["fast"] = (fast, False)
    return chosen


# ---------------------------------------------------------------------------
# Nets
# ---------------------------------------------------------------------------


def bench_net(case: CorpusCase, repeat: int, dp_seconds: float) -> list[Any]:
    assert case.net is not None
    path = case.net
    known = read_blob_sizes(case.shapes) if case.shapes is not None else None
    rows = []
    for mode, (function, is_dag) in modes(case.kind, dp_seconds).items():
        times: dict[str, list[float]] = {p: [] for p in PHASES}
        outcome: Outcome | None = None
        net = caffe2_pb2.NetDef()
        sizes: dict[str, int] | None = None
        runs = 1 if mode == "interference/dp" else repeat
        for _ in range(runs):
            start = time.perf_counter()
            net = load_net(path)
            times["load"].append(time.perf_counter() - start)
            if known is not None:
                sizes = blob_sizes_for(net, known)
            start = time.perf_counter()
            outcome = function(net, case, sizes)
            times["optimize"].append(time.perf_counter() - start)
            start = time.perf_counter()
            check = verify_execution_equivalence(
                net, outcome.net, random_orders=DAG_RANDOM_ORDERS if is_dag else 0
            )
            times["verify"].append(time.perf_counter() - start)
            if not check.ok:
                raise SystemExit(f"{case.name} {mode}: not equivalent: {check.message}")
        assert outcome is not None
        order = outcome.order or list(range(len(net.op)))
        row: dict[str, Any] = {
            "net": case.name,
            "kind": case.kind,
            "mode": mode,
            "ops": len(net.op),
            "blobs_before": len(produced(net)),
            "blobs_after": len(produced(outcome.net)),
            "naive_bytes": None,
            "plan_bytes": None,
            "peak_live_bytes": None,
            "plan_over_peak": None,
            "dp_proven": None,
            "dp_lower_bound": None,
            "seconds": {p: statistics.median(v) for p, v in times.items()},
            "runs": runs,
        }
        if outcome.exact:
            row["dp_proven"] = [r.proven_optimal for r in outcome.exact]
            row["dp_lower_bound"] = sum(r.lower_bound for r in outcome.exact)
        if sizes is not None:
            row["naive_bytes"] = naive_nbytes(net, sizes)
            row["plan_bytes"] = plan_bytes(net, outcome.net, order, sizes)
            row["peak_live_bytes"] = peak_live_nbytes(net, sizes, order=order)
            if row["peak_live_bytes"]:
                row["plan_over_peak"] = row["plan_bytes"] / row["peak_live_bytes"]
        rows.append(row)
        print(f"  {case.name:32} {mode:28} {sum(row['seconds'].values()):.3f} s", flush=True)
    return rows


# ---------------------------------------------------------------------------
# MiniMalloc instances
# ---------------------------------------------------------------------------


def peak(ranges: dict[str, LiveRange]) -> int:
    """Largest total size of closed ranges covering one point."""
    events: list[tuple[int, int]] = []
    for r in ranges.values():
        events.append((r.defined, r.size or 0))
        events.append((r.used + 1, -(r.size or 0)))
    best = live = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        live += delta
        best = max(best, live)
    return best


def bench_ranges(case: CorpusCase, repeat: int, dp_seconds: float) -> list[Any]:
    ranges = load_ranges(case)
    bound = peak(ranges)
    rows = []
    for name, algo, limit in (
        ("greedy", "greedy", None),
        ("greedy-by-size", "greedy_by_size", None),
        ("positional-maxima", "positional_maxima", None),
        ("dp", "dp", dp_seconds),
    ):
        runs = 1 if algo == "dp" else repeat
        seconds = []
        result: AllocationResult | None = None
        for _ in range(runs):
            start = time.perf_counter()
            result = allocate(ranges, algorithm=algo, time_limit=limit)
            seconds.append(time.perf_counter() - start)
        assert result is not None
        rows.append(
            {
                "instance": case.name,
                "algorithm": name,
                "blobs": len(ranges),
                "capacity": case.capacity,
                "peak_live_bytes": bound,
                "lower_bound": result.lower_bound,
                "bytes": result.nbytes,
                "over_peak": result.nbytes / bound,
                "over_capacity": result.nbytes / case.capacity if case.capacity else None,
                "proven_optimal": result.proven_optimal,
                "seconds": statistics.median(seconds),
                "runs": runs,
            }
        )
    return rows


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def ms(value: float) -> str:
    return f"{1000 * value:.1f}"


def proven(row: dict[str, Any]) -> str:
    flags = row["dp_proven"]
    if flags is None:
        return ""
    return f"{sum(flags)}/{len(flags)}"


def markdown(info: dict[str, Any], rows: list[Any], ranges: list[Any], args: Any) -> str:
    out = [
        "# Corpus benchmark",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['implementation']} "
        f"{info['python']} on {info['platform']}.",
        f"Times are medians of {args.repeat} runs (the exact solver: one run, "
        f"{args.dp_seconds:g} s budget per device).  Bytes in MiB; peak = peak live bytes "
        "in the result's op order (design 7); 'dp proven' = device groups whose exact plan "
        "is proven optimal.  DAG results are also verified under "
        f"{DAG_RANDOM_ORDERS} random valid orders.",
        "",
        "| net | mode | ops | blobs before | after | naive | plan | peak | plan/peak "
        "| dp proven | load ms | optimize ms | verify ms |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        ratio = "-" if r["plan_over_peak"] is None else f"{r['plan_over_peak']:.3f}"
        cells = [
            r["net"],
            r["mode"],
            str(r["ops"]),
            str(r["blobs_before"]),
            str(r["blobs_after"]),
            mib(r["naive_bytes"]),
            mib(r["plan_bytes"]),
            mib(r["peak_live_bytes"]),
            ratio,
            proven(r),
            ms(r["seconds"]["load"]),
            ms(r["seconds"]["optimize"]),
            ms(r["seconds"]["verify"]),
        ]
        out.append("| " + " | ".join(cells) + " |")
    dp_rows = [r for r in rows if r["dp_proven"] is not None]
    if dp_rows:
        groups = [flag for r in dp_rows for flag in r["dp_proven"]]
        nets = sum(all(r["dp_proven"]) for r in dp_rows)
        out += [
            "",
            f"Exact solver: proven optimal on {nets} of {len(dp_rows)} nets "
            f"({sum(groups)} of {len(groups)} device groups).",
        ]
    if ranges:
        out += [
            "",
            "## MiniMalloc instances as live ranges",
            "",
            "Half-open lifespans `[lower, upper)` as closed ranges `[lower, upper - 1]`; "
            "shared-buffer plans (sum over buffers of the largest member), not offset "
            "packing.  Bound: peak live bytes.",
            "",
            "| instance | blobs | algorithm | bytes | peak | plan/peak | plan/capacity "
            "| lower bound | proven | ms |",
            "|---|--:|---|--:|--:|--:|--:|--:|---|--:|",
        ]
        for r in ranges:
            cap = "-" if r["over_capacity"] is None else f"{r['over_capacity']:.3f}"
            out.append(
                f"| {r['instance']} | {r['blobs']} | {r['algorithm']} | {r['bytes']} "
                f"| {r['peak_live_bytes']} | {r['over_peak']:.3f} | {cap} | {r['lower_bound']} "
                f"| {'yes' if r['proven_optimal'] else 'no'} | {ms(r['seconds'])} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per net and mode (median)")
    parser.add_argument(
        "--dp-seconds", type=float, default=2.0, help="exact solver budget per device group"
    )
    parser.add_argument("names", nargs="*", help="only cases whose name contains one of these")
    args = parser.parse_args(argv)
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        print(f"{exc}; nothing to benchmark")
        return 0
    if args.names:
        cases = [c for c in cases if any(n in c.name for n in args.names)]
    info = machine()
    rows: list[Any] = []
    ranges: list[Any] = []
    for case in cases:
        if case.net is not None:
            rows += bench_net(case, args.repeat, args.dp_seconds)
        elif case.ranges is not None:
            ranges += bench_ranges(case, args.repeat, args.dp_seconds)
    text = markdown(info, rows, ranges, args)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "corpus.md").write_text(text)
    report = {
        "benchmark": "corpus",
        "machine": info,
        "repeat": args.repeat,
        "dp_seconds": args.dp_seconds,
        "dag_random_orders": DAG_RANDOM_ORDERS,
        "nets": rows,
        "minimalloc": ranges,
    }
    (RESULTS / "corpus.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'corpus.md'} and {RESULTS / 'corpus.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
