"""Benchmark memonger.onnx on every light model of the installed onnx wheel.

For each model: nodes, planned tensors, naive bytes, peak live bytes (the
lower bound), the shared-object plan (``dp``) and the arena of the offset
plan (``auto``), and the time of each phase: reading the model with shape
inference (``graph``), live ranges, the shared-object plan and the offset
plan.  Medians of repeated runs.  Prints a Markdown table and writes
``benchmarks/results/onnx.md`` and ``benchmarks/results/onnx.json``.

Usage: ``python benchmarks/bench_onnx.py [--repeat N] [--ordering ORDER] [NAME ...]``.
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

import onnx

from memonger.alloc import allocate, plan_offsets
from memonger.onnx import model_graph, model_ranges, plan_model

RESULTS = Path(__file__).resolve().parent / "results"
LIGHT = Path(onnx.__file__).resolve().parent / "backend" / "test" / "data" / "light"


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_model(path: Path, repeat: int, ordering: str) -> dict[str, Any]:
    graph = model_graph(path)
    live = model_ranges(graph, order=ordering)
    plan = plan_model(graph, order=ordering)
    assert plan.offsets is not None
    return {
        "name": path.stem.removeprefix("light_"),
        "nodes": len(graph.ops),
        "static_nodes": sum(1 for op in graph.ops if op.static),
        "planned_tensors": len(plan.ranges),
        "naive_bytes": plan.naive_bytes,
        "peak_bytes": plan.peak_bytes,
        "shared_object_bytes": plan.shared_bytes,
        "shared_object_bound": plan.allocation.lower_bound,
        "shared_object_proven": plan.allocation.proven_optimal,
        "arena_bytes": plan.arena_bytes,
        "arena_algorithm": plan.offsets.algorithm.value,
        "arena_proven": plan.offsets.proven_optimal,
        "graph_s": median_s(lambda: model_graph(path), repeat),
        "ranges_s": median_s(lambda: model_ranges(graph, order=ordering), repeat),
        "shared_s": median_s(lambda: allocate(live.ranges), repeat),
        "offsets_s": median_s(lambda: plan_offsets(live.ranges), repeat),
    }


def ms(value: float) -> str:
    return f"{1000 * value:.1f}"


def mib(n: int) -> str:
    return f"{n / 2**20:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| model | nodes | planned | naive MiB | peak MiB | shared MiB | arena MiB "
        "| arena/peak | graph ms | ranges ms | shared ms | offsets ms |"
    )
    lines = [head, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        ratio = r["arena_bytes"] / r["peak_bytes"] if r["peak_bytes"] else 1.0
        star = "*" if r["arena_proven"] else ""
        shared_star = "*" if r["shared_object_proven"] else ""
        lines.append(
            f"| {r['name']} | {r['nodes']} | {r['planned_tensors']} | {mib(r['naive_bytes'])} "
            f"| {mib(r['peak_bytes'])} | {mib(r['shared_object_bytes'])}{shared_star} "
            f"| {mib(r['arena_bytes'])}{star} | {ratio:.2f} | {ms(r['graph_s'])} "
            f"| {ms(r['ranges_s'])} | {ms(r['shared_s'])} | {ms(r['offsets_s'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ordering", default="program")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    models = sorted(LIGHT.glob("light_*.onnx")) if LIGHT.is_dir() else []
    if not models:
        print(f"onnx {onnx.__version__} ships no light models in {LIGHT}", file=sys.stderr)
        return 0
    rows = []
    for path in models:
        if args.names and not any(n in path.stem for n in args.names):
            continue
        rows.append(bench_model(path, args.repeat, args.ordering))
        print(f"{path.stem}: done", file=sys.stderr)
    text = table(rows)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = f"CPython {platform.python_version()}, {platform.machine()}, onnx {onnx.__version__}"
    (RESULTS / "onnx.md").write_text(
        "# memonger.onnx on the light models of the onnx wheel\n\n"
        f"{args.ordering} order; shared objects with `dp`, arena with `auto` "
        f"(`*`: proven optimal); medians of {args.repeat} runs; {machine}.\n"
        "MiB = 2**20 bytes; peak = peak live bytes, the lower bound of both plans.\n\n"
        f"{text}\n"
    )
    (RESULTS / "onnx.json").write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "onnx": onnx.__version__,
                "repeat": args.repeat,
                "ordering": args.ordering,
                "models": rows,
            },
            indent=1,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
