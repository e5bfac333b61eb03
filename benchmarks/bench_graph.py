"""Benchmark memonger.graph: graph building and orderings at scale, and the
memory-aware ordering on every corpus net with shapes.

Part 1 builds the dependency graph of 100,000-op nets (a chain, a wide
fan-out/fan-in, and a layered net of four-way branches) and orders them;
it reports the median time of each step over repeated runs (target: under 2 s
each).

Part 2 orders every corpus net with shapes three ways -- program order, the
longest-path order and the memory-aware order -- and reports their peak live
bytes (design 7), the memory-aware order's reduction against program order and
its median time (target: under 5 s per net), the search's lower bound on
the peak of any valid order ("bound"; the reduction no order can beat is
program minus bound) and whether the order is proven optimal (its peak is
the bound).  "width" is the most
ops at one depth of the graph, a rough measure of how branchy it is.  Nets
without shapes (the SSD training net) are measured in blobs (every blob 1).

Prints Markdown tables and writes ``benchmarks/results/graph.json``.

Usage: ``python benchmarks/bench_graph.py [--repeat N] [--skip-scale] [NAME ...]``;
the corpus comes from ``MEMONGER_CORPUS`` (default ``../shared/corpus``
beside the repository); without it part 2 is skipped.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import networkx as nx

from memonger.graph import (
    check_order,
    compute_interference_graph,
    memory_order,
    order_peak_bytes,
    topological_sort_min_memory,
    topological_sort_traversal,
    topological_sort_traversal_longest_path,
)
from memonger.netdef.corpus import CorpusCase, load_case, load_manifest
from memonger.netdef.errors import CorpusNotFoundError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "graph.json"
SCALE_OPS = 100_000
SCALE_TARGET_S = 2.0
MEMORY_TARGET_S = 5.0


def median_time(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def chain_net(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(input=[f"b{i}"], output=[f"b{i + 1}"]) for i in range(n)]


def wide_net(n: int) -> list[SimpleNamespace]:
    ops = [SimpleNamespace(input=["x"], output=["h"])]
    ops += [SimpleNamespace(input=["h"], output=[f"o{i}"]) for i in range(n - 2)]
    ops.append(SimpleNamespace(input=[f"o{i}" for i in range(n - 2)], output=["y"]))
    return ops


def layered_net(n: int) -> list[SimpleNamespace]:
    """Blocks of four two-op branches joined by a concat (inception-like)."""
    ops = [SimpleNamespace(input=["data"], output=["x0"])]
    block = 0
    while len(ops) + 9 <= n:
        x = f"x{block}"
        joins = []
        for b in range(4):
            ops.append(SimpleNamespace(input=[x], output=[f"c{block}_{b}"]))
            ops.append(SimpleNamespace(input=[f"c{block}_{b}"], output=[f"r{block}_{b}"]))
            joins.append(f"r{block}_{b}")
        block += 1
        ops.append(SimpleNamespace(input=joins, output=[f"x{block}"]))
    while len(ops) < n:
        ops.append(SimpleNamespace(input=[f"x{block}"], output=[f"x{block}"]))
    return ops


def bench_scale(repeat: int) -> list[dict[str, Any]]:
    rows = []
    for name, make in (("chain", chain_net), ("wide", wide_net), ("layered", layered_net)):
        ops = make(SCALE_OPS)
        build_s, g = median_time(partial(compute_interference_graph, ops), repeat)
        row: dict[str, Any] = {
            "net": name,
            "ops": len(ops),
            "edges": g.number_of_edges(),
            "build_s": build_s,
        }
        for key, ordering in (
            ("program_s", topological_sort_traversal),
            ("longest_path_s", topological_sort_traversal_longest_path),
            ("memory_s", topological_sort_min_memory),
        ):
            row[key], _ = median_time(partial(ordering, g), repeat)
        rows.append(row)
    return rows


def bench_corpus(cases: list[CorpusCase], names: list[str], repeat: int) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        if case.net is None:
            continue
        if names and not any(n in case.name for n in names):
            continue
        net, known = load_case(case)
        # nets without shapes count blobs (every blob 1 byte)
        sizes = known or {}
        ops = list(net.op)
        g = compute_interference_graph(ops)
        memory_s, result = median_time(partial(memory_order, g, sizes), repeat)
        check_order(g, result.order)
        longest = topological_sort_traversal_longest_path(g)
        program = order_peak_bytes(ops, None, sizes)
        memory = order_peak_bytes(ops, result.order, sizes)
        assert (memory, program) == (result.peak, result.program_peak)
        longest_peak = order_peak_bytes(ops, longest, sizes)
        rows.append(
            {
                "net": case.name,
                "kind": case.kind,
                "unit_sizes": case.shapes is None,
                "ops": len(ops),
                "max_width": max_antichain_estimate(g),
                "program_peak": program,
                "longest_path_peak": longest_peak,
                "memory_peak": memory,
                "reduction_pct": 100.0 * (program - memory) / program if program else 0.0,
                "lower_bound": result.lower_bound,
                "bound_reduction_pct": (
                    100.0 * (program - result.lower_bound) / program if program else 0.0
                ),
                "proven_optimal": result.optimal,
                "memory_s": memory_s,
            }
        )
    return rows


def max_antichain_estimate(g: nx.DiGraph[int]) -> int:
    """Largest number of ops at one depth (longest path from a source)."""
    depth: dict[int, int] = {}
    for v in topological_sort_traversal(g):
        depth[v] = max((depth[u] + 1 for u in g.pred[v]), default=0)
    counts: dict[int, int] = {}
    for d in depth.values():
        counts[d] = counts.get(d, 0) + 1
    return max(counts.values(), default=0)


def amount(row: dict[str, Any], key: str) -> str:
    if row["unit_sizes"]:
        return f"{row[key]} blobs"
    return f"{row[key] / 2**20:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    parser.add_argument("--skip-scale", action="store_true", help="skip the 100,000-op nets")
    parser.add_argument("names", nargs="*", help="corpus nets to run (substring match)")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "networkx": nx.__version__,
        "machine": platform.machine(),
        "repeat": args.repeat,
    }
    if not args.skip_scale:
        scale = bench_scale(args.repeat)
        results["scale"] = scale
        print(f"## 100,000-op nets (median of {args.repeat}; target < {SCALE_TARGET_S} s)\n")
        print("| net | ops | edges | build s | program s | longest-path s | memory s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in scale:
            print(
                f"| {r['net']} | {r['ops']} | {r['edges']} | {r['build_s']:.2f} "
                f"| {r['program_s']:.2f} | {r['longest_path_s']:.2f} | {r['memory_s']:.2f} |"
            )
        print()
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        cases = None
        print(f"{exc}; skipping corpus nets")
    if cases is not None:
        corpus = bench_corpus(cases, args.names, args.repeat)
        results["corpus"] = corpus
        print(
            f"## Peak live bytes (MiB, or blobs where noted) by order, corpus nets "
            f"(memory-order time: median of {args.repeat}; target < {MEMORY_TARGET_S} s)\n"
        )
        print(
            "| net | kind | ops | width | program | longest-path | memory-aware "
            "| reduction | bound | most possible | optimal | time s |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|")
        for r in corpus:
            print(
                f"| {r['net']} | {r['kind']} | {r['ops']} | {r['max_width']} "
                f"| {amount(r, 'program_peak')} | {amount(r, 'longest_path_peak')} "
                f"| {amount(r, 'memory_peak')} | {r['reduction_pct']:.1f}% "
                f"| {amount(r, 'lower_bound')} | {r['bound_reduction_pct']:.1f}% "
                f"| {'proven' if r['proven_optimal'] else '-'} | {r['memory_s']:.2f} |"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
