"""Benchmark memonger.alloc: plan quality on real nets, greedy speed, exact solver.

1. Every corpus net with shapes: live ranges in program order (external
   inputs and outputs, and blobs read before any write, are static; sizes
   from the shape file, unknown as 1); bytes of each algorithm divided by the
   positional-maxima lower bound, the exact solver's proof and times.
   MiniMalloc's instances (half-open ``[lower, upper)`` become closed
   ``[lower, upper - 1]``) are solved the same way as shared-buffer problems.
2. Greedy on 100,000 ranges shaped like a network's (mostly short, some
   long): time of Caffe2's rule and of ``compute_assignments``.
3. The exact solver on random families of 20, 40 and 80 shareable blobs:
   fraction proven optimal, median and worst time, gap to the lower bound
   when not proven.

Medians of repeated runs.  Prints Markdown tables and writes
``benchmarks/results/alloc.json``.

Usage: ``python benchmarks/bench_alloc.py [--repeat N] [--instances N] [--time-limit S]``;
the corpus comes from ``MEMONGER_CORPUS`` (default ``../shared/corpus``
beside the repository).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from memonger.alloc import (
    AssignmentAlgorithm,
    LiveRange,
    allocate,
    compute_assignments,
    compute_assignments_greedy,
    compute_ranges,
    peak_live_bytes,
)
from memonger.alloc.ranges import sort_by_used
from memonger.netdef.corpus import CorpusCase, blob_sizes_for, load_case, load_manifest, load_ranges
from memonger.netdef.errors import CorpusNotFoundError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "alloc.json"
HEURISTICS = [
    AssignmentAlgorithm.GREEDY,
    AssignmentAlgorithm.GREEDY_BY_SIZE,
    AssignmentAlgorithm.POSITIONAL_MAXIMA,
]
SHORT = {
    AssignmentAlgorithm.GREEDY: "greedy",
    AssignmentAlgorithm.GREEDY_BY_SIZE: "by_size",
    AssignmentAlgorithm.POSITIONAL_MAXIMA: "pos_max",
    AssignmentAlgorithm.DYNAMIC_PROGRAMMING: "exact",
}


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def net_problem(case: CorpusCase) -> tuple[dict[str, LiveRange], set[str]]:
    net, known = load_case(case)
    ranges = compute_ranges(net.op, blob_sizes_for(net, known))
    static = set(net.external_input) | set(net.external_output)
    static |= {name for name, r in ranges.items() if r.defined < 0}
    return ranges, static


def minimalloc_problem(case: CorpusCase) -> tuple[dict[str, LiveRange], set[str]]:
    return {f"b{name}": r for name, r in load_ranges(case).items()}, set()


def quality_row(
    name: str, ranges: dict[str, LiveRange], static: set[str], repeat: int, time_limit: float
) -> dict[str, Any]:
    shareable = {n: r for n, r in ranges.items() if n not in static}
    exact = allocate(shareable, algorithm="dp", time_limit=time_limit)
    bound = exact.lower_bound
    row: dict[str, Any] = {
        "name": name,
        "blobs": len(shareable),
        "naive_bytes": sum(1 if r.size is None else r.size for r in shareable.values()),
        "peak_live_bytes": peak_live_bytes(shareable),
        "positional_maxima_bound": bound,
    }
    for algo in HEURISTICS:
        res = allocate(shareable, algorithm=algo)
        seconds = median_s(partial(compute_assignments, shareable, (), algo), repeat)
        row[SHORT[algo]] = {"bytes": res.nbytes, "ratio": res.nbytes / bound, "seconds": seconds}
    row["exact"] = {
        "bytes": exact.nbytes,
        "ratio": exact.nbytes / bound,
        "seconds": exact.seconds,
        "proven_optimal": exact.proven_optimal,
        "stats": dict(exact.stats),
    }
    return row


def network_shaped(n: int, seed: int) -> dict[str, LiveRange]:
    """Ranges like a long net's: activations used by the next ops, a few long skips."""
    rng = random.Random(seed)
    sizes = [4 * c * hw * hw for c in (64, 128, 256, 512) for hw in (7, 14, 28, 56)]
    ranges = {}
    for i in range(n):
        if rng.random() < 0.95:
            used = i + rng.randint(1, 3)
        else:
            used = i + rng.randint(10, 2000)
        ranges[f"t{i}"] = LiveRange(i, min(used, n), rng.choice(sizes))
    return ranges


def random_family(n: int, seed: int) -> dict[str, LiveRange]:
    """``n`` shareable blobs on a horizon of ``n`` positions, lengths up to n/4, sizes 1-100."""
    rng = random.Random(seed)
    ranges = {}
    for i in range(n):
        defined = rng.randint(0, n)
        used = min(n, defined + rng.randint(0, max(1, n // 4)))
        ranges[f"b{i}"] = LiveRange(defined, used, rng.randint(1, 100))
    return ranges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--instances", type=int, default=30, help="random instances per size")
    parser.add_argument("--time-limit", type=float, default=2.0, help="exact solver budget (s)")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeat": args.repeat,
        "time_limit": args.time_limit,
    }

    # 1. Plan quality.
    rows = []
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        cases = []
        print(f"{exc}: skipping plan quality")
    for case in cases:
        if case.shapes is not None:
            ranges, static = net_problem(case)
        elif case.kind == "allocation":
            ranges, static = minimalloc_problem(case)
        else:
            continue
        rows.append(quality_row(case.name, ranges, static, args.repeat, args.time_limit))
    out["quality"] = rows
    if rows:
        print("\n### Plan bytes / positional-maxima bound\n")
        print(
            "| problem | blobs | bound (MiB) | greedy | by_size | pos_max | exact | proven "
            "| exact s | greedy ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|:-:|---:|---:|")
        for r in rows:
            print(
                f"| {r['name']} | {r['blobs']} | {r['positional_maxima_bound'] / 2**20:.2f} "
                f"| {r['greedy']['ratio']:.4f} | {r['by_size']['ratio']:.4f} "
                f"| {r['pos_max']['ratio']:.4f} | {r['exact']['ratio']:.5f} "
                f"| {'yes' if r['exact']['proven_optimal'] else 'no'} "
                f"| {r['exact']['seconds']:.3f} | {r['greedy']['seconds'] * 1e3:.1f} |"
            )

    # 2. Greedy speed.
    big = network_shaped(100_000, seed=1)
    ranges_sorted = sort_by_used(big.items())
    rule_s = median_s(lambda: compute_assignments_greedy(ranges_sorted), args.repeat)
    full_s = median_s(lambda: compute_assignments(big, (), "greedy"), args.repeat)
    allocate_s = median_s(lambda: allocate(big, algorithm="greedy"), args.repeat)
    exact_big = allocate(big, algorithm="dp", time_limit=args.time_limit)
    out["greedy_100k"] = {
        "blobs": len(big),
        "rule_seconds": rule_s,
        "compute_assignments_seconds": full_s,
        "allocate_greedy_seconds": allocate_s,
        "allocate_dp_seconds": exact_big.seconds,
        "allocate_dp_ratio": exact_big.nbytes / exact_big.lower_bound,
    }
    print("\n### Greedy on 100,000 network-shaped ranges\n")
    print("| step | seconds |\n|---|---:|")
    print(f"| compute_assignments_greedy (sorted input) | {rule_s:.3f} |")
    print(f"| compute_assignments (validate, sort, assign) | {full_s:.3f} |")
    print(f"| allocate, greedy (bound left for later) | {allocate_s:.3f} |")
    print(
        f"| allocate, dp ({args.time_limit:g} s budget; plan / bound "
        f"{exact_big.nbytes / exact_big.lower_bound:.4f}) | {exact_big.seconds:.3f} |"
    )

    # 3. Exact solver on random families.
    families = []
    print("\n### Exact solver on random families\n")
    print("| blobs | instances | proven | median s | worst s | worst gap to bound (unproven) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in (20, 40, 80):
        seconds, gaps, proven = [], [], 0
        for seed in range(args.instances):
            res = allocate(random_family(n, seed), time_limit=args.time_limit)
            seconds.append(res.seconds)
            if res.proven_optimal:
                proven += 1
            else:
                gaps.append(res.nbytes / res.lower_bound - 1)
        fam = {
            "blobs": n,
            "instances": args.instances,
            "proven": proven,
            "median_seconds": statistics.median(seconds),
            "worst_seconds": max(seconds),
            "worst_gap_unproven": max(gaps) if gaps else None,
        }
        families.append(fam)
        gap = f"{fam['worst_gap_unproven']:.2%}" if gaps else "-"
        print(
            f"| {n} | {args.instances} | {proven}/{args.instances} | {fam['median_seconds']:.3f} "
            f"| {fam['worst_seconds']:.3f} | {gap} |"
        )
    out["exact_random"] = families

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
