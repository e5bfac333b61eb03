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
import os
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
from memonger.netdef.io import load_net
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


def corpus_dir() -> Path:
    env = os.environ.get("MEMONGER_CORPUS")
    return Path(env) if env else ROOT.parent / "shared" / "corpus"


@contextmanager
def timer(times: dict[str, list[float]], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    times.setdefault(phase, []).append(time.perf_counter() - start)


def blob_count(net: caffe2_pb2.NetDef) -> int:
    names = set(net.external_input) | set(net.external_output)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
    return len(names)


def bench_net(entry: dict[str, Any], root: Path, repeat: int) -> dict[str, Any]:
    net_path = root / entry["net"]
    sizes = read_blob_sizes(root / entry["shapes"]) if entry.get("shapes") else None
    static = entry.get("inputs") or []
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
            raise SystemExit(f"{entry['name']}: optimized net is not equivalent: {check.message}")
        cpu = time.process_time()
        with timer(times, "end_to_end"):
            optimize_interference(load_net(net_path), static, blob_sizes=sizes)
        times.setdefault("end_to_end_cpu", []).append(time.process_time() - cpu)
    median = {phase: statistics.median(values) for phase, values in times.items()}

    row: dict[str, Any] = {
        "name": entry["name"],
        "kind": entry.get("kind"),
        "ops": len(net.op),
        "blobs_before": blob_count(net),
        "blobs_after": blob_count(optimized),
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
    root = corpus_dir()
    manifest = root / "MANIFEST.json"
    if not manifest.is_file():
        print(f"corpus not found at {root} (set MEMONGER_CORPUS); nothing to benchmark")
        return 0
    entries = [e for e in json.loads(manifest.read_text()) if e.get("net")]
    if args.names:
        entries = [e for e in entries if any(n in e["name"] for n in args.names)]
    rows = [bench_net(e, root, args.repeat) for e in entries]
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
