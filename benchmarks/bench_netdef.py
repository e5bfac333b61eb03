"""Benchmark optimize_interference on every net of the corpus.

For each corpus net: naive, plan and peak-live bytes (design 7), plan/peak,
blob count before and after, and the median time of each phase over
repeated runs (load, graph, order, ranges, assign, rewrite, equivalence
check) plus the end-to-end time of ``load_net`` + ``optimize_interference``
(which checks equivalence itself).  Prints a Markdown table and writes
``benchmarks/results/netdef.json``.

Usage: ``python benchmarks/bench_netdef.py [--repeat N] [NAME ...]``; the
corpus comes from ``MEMONGER_CORPUS`` (default ``../shared/corpus`` beside
the repository).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memonger.alloc import AssignmentAlgorithm, compute_ranges
from memonger.graph import compute_interference_graph, topological_sort_traversal
from memonger.netdef import caffe2_pb2
from memonger.netdef.corpus import CorpusCase, load_manifest
from memonger.netdef.errors import CorpusNotFoundError
from memonger.netdef.io import load_net
from memonger.netdef.nested import net_blob_names
from memonger.netdef.rename import rename_in_place
from memonger.netdef.rewrite import net_accesses, optimize_interference, plan_buffers
from memonger.netdef.verify import verify_execution_equivalence
from memonger.stats import (
    naive_nbytes,
    peak_live_nbytes,
    plan_nbytes,
    produced_blobs,
    read_blob_sizes,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "netdef.json"
PHASES = ("load", "graph", "order", "ranges", "assign", "rewrite", "check")
TARGET_S = 1.0


@contextmanager
def timer(times: dict[str, list[float]], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    times.setdefault(phase, []).append(time.perf_counter() - start)


def bench_net(case: CorpusCase, repeat: int) -> dict[str, Any]:
    assert case.net is not None
    net_path = case.net
    sizes = read_blob_sizes(case.shapes) if case.shapes is not None else None
    static = list(case.inputs)
    times: dict[str, list[float]] = {}
    for _ in range(repeat):
        with timer(times, "load"):
            net = load_net(net_path)
        with timer(times, "graph"):
            accesses = net_accesses(net)
            graph = compute_interference_graph(accesses)
        with timer(times, "order"):
            order = topological_sort_traversal(graph)
        with timer(times, "ranges"):
            ranges = compute_ranges([accesses[i] for i in order], sizes)
        with timer(times, "assign"):
            assignments, renamed = plan_buffers(
                net, ranges, static, AssignmentAlgorithm.GREEDY, accesses
            )
        with timer(times, "rewrite"):
            optimized = caffe2_pb2.NetDef()
            optimized.CopyFrom(net)
            del optimized.op[:]
            optimized.op.extend(net.op[i] for i in order)
            rename_in_place(optimized, renamed)
        with timer(times, "check"):
            check = verify_execution_equivalence(net, optimized)
        if not check.ok:
            raise SystemExit(f"{case.name}: optimized net is not equivalent: {check.message}")
        cpu = time.process_time()
        with timer(times, "end_to_end"):
            optimize_interference(load_net(net_path), static, blob_sizes=sizes)
        times.setdefault("end_to_end_cpu", []).append(time.process_time() - cpu)
    median = {phase: statistics.median(values) for phase, values in times.items()}

    row: dict[str, Any] = {
        "name": case.name,
        "kind": case.kind,
        "ops": len(net.op),
        "blobs_before": len(net_blob_names(net)),
        "blobs_after": len(net_blob_names(optimized)),
        "buffers": len(assignments),
        "seconds": median,
        "naive_bytes": None,
        "plan_bytes": None,
        "peak_live_bytes": None,
        "plan_over_peak": None,
    }
    row["dp_plan_bytes"] = None
    row["dp_seconds"] = None
    if sizes is not None:
        produced = produced_blobs(net)
        row["naive_bytes"] = naive_nbytes(net, sizes)
        row["plan_bytes"] = plan_nbytes(assignments, sizes, produced=produced)
        row["peak_live_bytes"] = peak_live_nbytes(net, sizes, order=order)
        row["plan_over_peak"] = row["plan_bytes"] / row["peak_live_bytes"]
        # once: the exact solver (budgeted) on the same order, for comparison
        start = time.perf_counter()
        exact = optimize_interference(
            net, static, blob_sizes=sizes, algo=AssignmentAlgorithm.DYNAMIC_PROGRAMMING
        )
        row["dp_seconds"] = time.perf_counter() - start
        row["dp_plan_bytes"] = plan_nbytes(exact.assignments, sizes, produced=produced)
    return row


def mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def ms(value: float) -> str:
    return f"{1000 * value:.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| net | ops | naive MiB | plan MiB | peak MiB | plan/peak | blobs before | after | "
        + " | ".join(f"{p} ms" for p in PHASES)
        + " | end-to-end ms | end-to-end CPU ms | DP plan MiB | DP s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ratio = "-" if r["plan_over_peak"] is None else f"{r['plan_over_peak']:.3f}"
        cells = [
            r["name"],
            str(r["ops"]),
            mib(r["naive_bytes"]),
            mib(r["plan_bytes"]),
            mib(r["peak_live_bytes"]),
            ratio,
            str(r["blobs_before"]),
            str(r["blobs_after"]),
            *(ms(r["seconds"][p]) for p in PHASES),
            ms(r["seconds"]["end_to_end"]),
            ms(r["seconds"]["end_to_end_cpu"]),
            mib(r["dp_plan_bytes"]),
            "-" if r["dp_seconds"] is None else f"{r['dp_seconds']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per net (median reported)")
    parser.add_argument("names", nargs="*", help="only nets whose name contains one of these")
    args = parser.parse_args(argv)
    try:
        cases = [c for c in load_manifest() if c.net is not None]
    except CorpusNotFoundError as exc:
        print(f"{exc}; nothing to benchmark")
        return 0
    if args.names:
        cases = [c for c in cases if any(n in c.name for n in args.names)]
    rows = [bench_net(c, args.repeat) for c in cases]
    print(table(rows))
    largest = max(rows, key=lambda r: r["ops"])
    total = largest["seconds"]["end_to_end"]
    cpu = largest["seconds"]["end_to_end_cpu"]
    verdict = "meets" if total < TARGET_S else "MISSES"
    print(
        f"\nlargest net {largest['name']} ({largest['ops']} ops): load + optimize_interference "
        f"(with equivalence check) {total:.3f} s wall ({cpu:.3f} s CPU), "
        f"{verdict} the {TARGET_S:.0f} s target"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "netdef",
        "algorithm": "GREEDY (dp_* fields: DYNAMIC_PROGRAMMING, one run)",
        "ordering": "topological_sort_traversal",
        "repeat": args.repeat,
        "statistic": "median seconds",
        "python": platform.python_version(),
        "target_seconds_largest_end_to_end": TARGET_S,
        "largest": {
            "name": largest["name"],
            "end_to_end_seconds": total,
            "end_to_end_cpu_seconds": cpu,
        },
        "nets": rows,
    }
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
