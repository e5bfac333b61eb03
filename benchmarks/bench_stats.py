"""Benchmark memonger.stats on every corpus net that has shapes, plus a large synthetic net.

For each net: reading its shape file, the live-bytes timeline, the memory
estimate of the net with ``Free`` ops inserted by ``release_blobs_when_used``,
a report row of the net and its optimized form, its JSON and its PNG plot
(when matplotlib is installed).  Medians of repeated runs.  Prints a
Markdown table and writes ``benchmarks/results/stats.json``.

Usage: ``python benchmarks/bench_stats.py [--repeat N] [NAME ...]``; the
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
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from memonger.netdef import optimize_interference, release_blobs_when_used
from memonger.netdef.corpus import load_case, load_manifest
from memonger.netdef.errors import CorpusNotFoundError
from memonger.stats import (
    MemoryReport,
    build_net_report,
    compute_timeline,
    estimate_memory_usage,
    format_nbytes,
    read_blob_sizes,
    render_png,
)

RESULTS = Path(__file__).resolve().parent / "results" / "stats.json"
SYNTHETIC_OPS = 200_000


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def bench_net(
    name: str,
    net: Any,
    sizes: dict[str, int],
    repeat: int,
    optimized: Any = None,
    renames: dict[str, str] | None = None,
    read: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    released = release_blobs_when_used(net, set()) if hasattr(net, "SerializeToString") else net
    row = build_net_report(name, net, sizes, optimized=optimized, blob_assignments=renames)
    report = MemoryReport((row,))
    result: dict[str, Any] = {
        "name": name,
        "ops": row.ops,
        "blobs": row.blobs_before,
        "naive_bytes": row.naive_nbytes,
        "plan_bytes": row.plan_nbytes,
        "peak_bytes": row.peak_nbytes,
        "highwater_with_free_bytes": estimate_memory_usage(released, sizes=sizes).highwater,
        "read_s": median_s(read, repeat) if read else None,
        "timeline_s": median_s(lambda: compute_timeline(net, sizes), repeat),
        "estimate_s": median_s(lambda: estimate_memory_usage(released, sizes=sizes), repeat),
        "report_s": median_s(
            lambda: build_net_report(
                name, net, sizes, optimized=optimized, blob_assignments=renames
            ),
            repeat,
        ),
        "json_s": median_s(report.to_json, repeat),
        "png_s": median_s(lambda: render_png(row), repeat) if has_matplotlib() else None,
    }
    return result


def synthetic(n: int) -> tuple[Any, dict[str, int]]:
    ops = []
    sizes = {}
    for i in range(n):
        inputs = [f"a{i - 1}"] if i else ["x"]
        if i >= 3:
            inputs.append(f"a{i - 3}")  # a skip connection keeps three blobs live
        ops.append(SimpleNamespace(type="Op", input=inputs, output=[f"a{i}"]))
        sizes[f"a{i}"] = (i % 7 + 1) * 4096
    return SimpleNamespace(op=ops, external_input=["x"], external_output=[]), sizes


def ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| net | ops | blobs | naive | peak | highwater (Free) | read ms | timeline ms "
        "| estimate ms | report ms | json ms | png ms |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['ops']} | {r['blobs']} | {format_nbytes(r['naive_bytes'])} "
            f"| {format_nbytes(r['peak_bytes'])} | {format_nbytes(r['highwater_with_free_bytes'])} "
            f"| {ms(r['read_s'])} | {ms(r['timeline_s'])} | {ms(r['estimate_s'])} "
            f"| {ms(r['report_s'])} | {ms(r['json_s'])} | {ms(r['png_s'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    rows = []
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        cases = []
        print(f"{exc}; synthetic net only", file=sys.stderr)
    for case in cases:
        if case.net is None or case.shapes is None:
            continue
        if args.names and not any(n in case.name for n in args.names):
            continue
        net, sizes = load_case(case)
        assert sizes is not None
        static = set(net.external_input) | set(net.external_output)
        opt = optimize_interference(net, static, blob_sizes=sizes, verify=False)
        rows.append(
            bench_net(
                case.name,
                net,
                sizes,
                args.repeat,
                opt.net,
                dict(opt.blob_assignments),
                read=lambda p=case.shapes: read_blob_sizes(p),
            )
        )
        print(f"{case.name}: done", file=sys.stderr)
    if not args.names or "synthetic" in args.names:
        net, sizes = synthetic(SYNTHETIC_OPS)
        rows.append(bench_net(f"synthetic-{SYNTHETIC_OPS}", net, sizes, args.repeat))
    print(table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "repeat": args.repeat,
                "nets": rows,
            },
            indent=1,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
