"""Benchmark memonger.alloc's offset (arena) planners.

1. MiniMalloc's instances at capacity 1,048,576 (half-open ``[lower, upper)``
   lifespans read as closed ``[lower, upper - 1]``): whether ``plan_offsets``
   packs each within the capacity, the time, and MiniMalloc's own C++ time.
   The search gets a wall-clock cap of 10x MiniMalloc's time.
2. Every corpus net with shapes: live ranges in program order (external
   inputs and outputs, and blobs read before any write, are static; sizes
   from the shape file, unknown as 1); arena bytes of each algorithm divided
   by peak live bytes, ``auto``'s proof and time.
3. ``greedy_by_size`` on 100,000 ranges shaped like a network's (mostly
   short, some long skips), median of repeated runs.

Prints Markdown tables and writes ``benchmarks/results/offsets.md`` and
``benchmarks/results/offsets.json``.

Usage: ``python benchmarks/bench_offsets.py [--repeat N] [--skip-minimalloc]``;
the corpus comes from ``MEMONGER_CORPUS`` (default ``../shared/corpus``
beside the repository).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

from bench_alloc import median_s, net_problem, network_shaped  # the same problems and timing

from memonger.alloc import (
    OffsetAlgorithm,
    peak_live_bytes,
    plan_offsets,
    validate_offsets,
)
from memonger.netdef.corpus import CorpusCase, load_manifest, load_ranges
from memonger.netdef.errors import CorpusNotFoundError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CAPACITY = 1_048_576
MINIMALLOC_SECONDS = {"minimalloc_A": 4.6, "minimalloc_C": 0.6, "minimalloc_F": 6.1}
ALGORITHMS = [
    OffsetAlgorithm.GREEDY_BY_SIZE,
    OffsetAlgorithm.GREEDY_BY_BREADTH,
    OffsetAlgorithm.BEST_FIT,
    OffsetAlgorithm.AUTO,
]


def minimalloc_rows(cases: list[CorpusCase]) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        if case.kind != "allocation" or case.ranges is None:
            continue
        ranges = load_ranges(case)
        reference = MINIMALLOC_SECONDS.get(case.name)
        limit = 10 * reference if reference else 60.0
        plan = plan_offsets(ranges, capacity=CAPACITY, node_limit=10**9, time_limit=limit)
        if plan.feasible:
            validate_offsets(ranges, plan.offsets, capacity=CAPACITY)
        greedy = plan_offsets(ranges, algorithm="greedy_by_size")
        rows.append(
            {
                "name": case.name,
                "blobs": len(ranges),
                "peak_live_bytes": plan.lower_bound,
                "capacity": CAPACITY,
                "feasible": plan.feasible,
                "seconds": plan.seconds,
                "nodes": plan.stats["nodes"],
                "minimalloc_seconds": reference,
                "greedy_by_size_ratio": greedy.arena_bytes / CAPACITY,
            }
        )
        print(f"  {case.name}: feasible={plan.feasible} in {plan.seconds:.2f} s", flush=True)
    return rows


def net_rows(cases: list[CorpusCase]) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        if case.shapes is None:
            continue
        ranges, static = net_problem(case)
        peak = peak_live_bytes(ranges, static)
        row: dict[str, Any] = {"name": case.name, "kind": case.kind, "peak_live_bytes": peak}
        row["blobs"] = sum(1 for n in ranges if n not in static)
        for algo in ALGORITHMS:
            plan = plan_offsets(ranges, static, algorithm=algo)
            validate_offsets(ranges, plan.offsets, static_blobs=static)
            row[algo.value] = {
                "arena_bytes": plan.arena_bytes,
                "ratio": plan.arena_bytes / peak if peak else 1.0,
                "seconds": plan.seconds,
                "proven_optimal": plan.proven_optimal,
                "algorithm": plan.algorithm.value,
                "nodes": plan.stats["nodes"],
            }
        rows.append(row)
        print(f"  {case.name}: auto {row['auto']['ratio']:.4f} in {row['auto']['seconds']:.2f} s")
    return rows


def markdown(out: dict[str, Any]) -> str:
    lines = [f"# Offset planning benchmark (Python {out['python']}, {out['machine']})", ""]
    if out["minimalloc"]:
        lines += [
            "## MiniMalloc instances at capacity 1,048,576",
            "",
            "| instance | blobs | peak | packed | seconds | MiniMalloc s | nodes "
            "| greedy_by_size / capacity |",
            "|---|---:|---:|:-:|---:|---:|---:|---:|",
        ]
        for r in out["minimalloc"]:
            packed = {True: "yes", False: "infeasible", None: "undecided"}[r["feasible"]]
            lines.append(
                f"| {r['name']} | {r['blobs']} | {r['peak_live_bytes']} | {packed} "
                f"| {r['seconds']:.2f} | {r['minimalloc_seconds']} | {r['nodes']} "
                f"| {r['greedy_by_size_ratio']:.3f} |"
            )
        lines.append("")
    if out["nets"]:
        names = " | ".join(a.value for a in ALGORITHMS)
        lines += [
            "## Corpus nets: arena bytes / peak live bytes (program order)",
            "",
            f"| net | blobs | peak (MiB) | {names} | auto proven | auto s |",
            "|---|---:|---:|" + "---:|" * len(ALGORITHMS) + ":-:|---:|",
        ]
        for r in out["nets"]:
            ratios = " | ".join(f"{r[a.value]['ratio']:.4f}" for a in ALGORITHMS)
            lines.append(
                f"| {r['name']} | {r['blobs']} | {r['peak_live_bytes'] / 2**20:.2f} | {ratios} "
                f"| {'yes' if r['auto']['proven_optimal'] else 'no'} "
                f"| {r['auto']['seconds']:.3f} |"
            )
        lines.append("")
    g = out["greedy_100k"]
    lines += [
        "## greedy_by_size on 100,000 network-shaped ranges",
        "",
        "| blobs | seconds (median) | arena / peak |",
        "|---:|---:|---:|",
        f"| {g['blobs']} | {g['seconds']:.3f} | {g['ratio']:.4f} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-minimalloc", action="store_true")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeat": args.repeat,
    }
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        cases = []
        print(f"{exc}: skipping the corpus")
    print("MiniMalloc instances:")
    out["minimalloc"] = [] if args.skip_minimalloc else minimalloc_rows(cases)
    print("corpus nets:")
    out["nets"] = net_rows(cases)

    big = network_shaped(100_000, seed=1)
    seconds = median_s(lambda: plan_offsets(big, algorithm="greedy_by_size"), args.repeat)
    plan = plan_offsets(big, algorithm="greedy_by_size")
    out["greedy_100k"] = {
        "blobs": len(big),
        "seconds": seconds,
        "ratio": plan.arena_bytes / plan.lower_bound,
    }
    text = markdown(out)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "offsets.json").write_text(json.dumps(out, indent=1) + "\n")
    (RESULTS / "offsets.md").write_text(text)
    print(f"wrote {(RESULTS / 'offsets.md').relative_to(ROOT)} and offsets.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
