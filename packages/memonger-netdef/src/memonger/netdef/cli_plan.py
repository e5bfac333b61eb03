"""``memonger plan``: an arena plan (byte offsets) for a net or a MiniMalloc problem.

The input is detected by content: a MiniMalloc CSV (a header starting
``id,lower,upper,size``) or a Caffe2 NetDef (binary or text; sizes from
``--shapes`` or ``--init-net``/``--input``, as for ``optimize``).  ONNX
models are handled by memonger-onnx (see :mod:`memonger.netdef.cli`).  The
command prints the arena bytes, its bound (the peak live bytes: no arena is
smaller), the gap in bytes and percent and whether the arena is proven
optimal, then writes the plan JSON (memonger.alloc's ``memonger.plan``
schema), and with ``--csv`` / ``--plot`` / ``--report`` a MiniMalloc CSV
with offsets, the arena map and a ``memonger.report`` JSON carrying the plan,
its algorithm, ordering, budget and the package versions.  Everything is
rendered before anything is written; the files are then written together,
atomically.  ``-`` as the input reads stdin, ``-o -`` writes the plan JSON
to stdout (messages on stderr), ``--dry-run`` plans and reports without
writing the plan (nor its CSV).

Exit status: 0 a plan was written; 1 ``--capacity`` is proven too small;
2 errors (including a capacity the search could not decide within its
budget).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any, TextIO

from memonger.netdef.orderings import ORDERINGS

__all__ = ["add_plan_parser", "is_minimalloc_csv"]

EXIT_INFEASIBLE = 1
_CSV_HEADER = b"id,lower,upper,size"

_PLAN_EPILOG = """\
examples:
  memonger plan resnet50_train.pb --shapes resnet50_train.shapes.json -o plan.json
  memonger plan net.pb --shapes s.json -o plan.json --ordering memory --plot map.png
  memonger plan A.1048576.csv -o plan.json --capacity 1048576 --csv packed.csv
  memonger plan net.pb --shapes s.json --dry-run --report report.json --node-limit 1000000
  memonger plan - --shapes s.json -o - < net.pb | jq .arena_bytes
  memonger plan model.onnx -o plan.json --dim batch=1     (with memonger-onnx)
"""


def is_minimalloc_csv(path: str | bytes) -> bool:
    """Whether a file (or content, given as bytes) starts like a MiniMalloc CSV.

    Examples
    --------
    >>> is_minimalloc_csv(b"id,lower,upper,size\\n0,0,2,8\\n"), is_minimalloc_csv(b"op {}")
    (True, False)
    """
    if isinstance(path, bytes):
        head = path[:64]
    else:
        with open(path, "rb") as f:
            head = f.read(64)
    head = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return head.replace(b" ", b"").startswith(_CSV_HEADER)


def _positive(kind: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be an integer, not {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{kind} must be at least 1, not {value}")
        return value

    return parse


def add_plan_parser(sub: Any, fmt: Any) -> None:
    """Add the ``plan`` subcommand to the ``memonger`` parser's subparsers."""
    from memonger.alloc.offsets import DEFAULT_NODE_LIMIT, OFFSET_ALGORITHMS
    from memonger.netdef.cli import (
        _add_size_options,
        _add_view_option,
        add_budget_options,
        add_verbosity_options,
    )

    p = sub.add_parser(
        "plan",
        help="plan byte offsets in one arena (NetDef or MiniMalloc CSV)",
        description="Place every shareable blob at a byte offset in one arena, at the "
        "peak-live lower bound when the search can, and write the plan as JSON.",
        epilog=_PLAN_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument(
        "source",
        metavar="INPUT",
        help="a NetDef (binary or text) or a MiniMalloc CSV (- reads stdin)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="PLAN.json",
        help="the plan JSON (- for stdout; required unless --dry-run)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="plan and report (--report, --plot) without writing the plan or its CSV "
        "(default: off)",
    )
    p.add_argument(
        "--algorithm",
        choices=sorted(OFFSET_ALGORITHMS),
        default="auto",
        help="offset algorithm (default: auto: the heuristics, then the exact search)",
    )
    p.add_argument(
        "--alignment",
        type=_positive("--alignment"),
        default=1,
        metavar="BYTES",
        help="every offset is a multiple of it (default: 1)",
    )
    p.add_argument(
        "--capacity",
        type=_positive("--capacity"),
        default=None,
        metavar="BYTES",
        help="decide whether the blobs fit in this many bytes (exit 1 when proven not)",
    )
    add_budget_options(p, DEFAULT_NODE_LIMIT, "the exact offset search")
    p.add_argument(
        "--ordering",
        choices=ORDERINGS,
        default="program",
        help="op order of a net (default: program; memory lowers the peak, the arena's bound)",
    )
    p.add_argument(
        "--static",
        action="append",
        metavar="NAMES",
        help="blobs that keep their own memory (comma-separated, repeatable)",
    )
    _add_size_options(p)
    _add_view_option(p)
    p.add_argument("--csv", metavar="OUT.csv", help="also write MiniMalloc's CSV with offsets")
    p.add_argument(
        "--plot",
        metavar="MAP.png",
        help='also draw the arena as a memory map (needs pip install "memonger-stats[plot]")',
    )
    p.add_argument(
        "--report",
        metavar="FILE.json",
        help="also write a memonger.report JSON: the plan, algorithm, ordering, budget and "
        "package versions",
    )
    add_verbosity_options(p)
    p.set_defaults(run=_cmd_plan)


def _read_ranges(source: str, data: bytes | None) -> Any:
    """The live ranges of a MiniMalloc CSV, from its path or its content."""
    from memonger.alloc import read_minimalloc_csv

    if data is None:
        return read_minimalloc_csv(source)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "stdin.csv")
        with open(path, "wb") as f:
            f.write(data)
        return read_minimalloc_csv(path)


def _report(args: argparse.Namespace, name: str, ops: int, ranges: Any, plan: Any) -> bytes:
    """The ``memonger.report`` JSON of an arena plan (``--report``)."""
    from memonger.alloc import naive_bytes, plan_to_dict
    from memonger.stats.report import MemoryReport, NetReport, package_versions

    arena = plan_to_dict(plan, ranges)
    arena["peak_live_bytes"] = plan.lower_bound
    row = NetReport(
        name=name,
        ops=ops,
        blobs_before=len(ranges),
        blobs_after=len(ranges),
        naive_nbytes=naive_bytes(ranges),
        plan_nbytes=plan.arena_bytes,
        peak_nbytes=plan.lower_bound,
        algorithm=str(getattr(plan.algorithm, "value", plan.algorithm)),
        optimal=bool(plan.proven_optimal),
        seconds={"plan": float(plan.seconds)},
        ordering=args.ordering if ops else None,
        node_limit=args.node_limit,
        time_limit=args.time_limit,
        arena=arena,
        extra={"alignment": plan.alignment, "capacity": args.capacity},
    )
    report = MemoryReport(
        (row,),
        title=f"memonger plan {name}",
        metadata={"command": "plan", "input": name},
        versions=package_versions(),
    )
    return (report.to_json() + "\n").encode("utf-8")


def _cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from memonger.alloc import minimalloc_csv_text, plan_offsets, plan_to_dict
    from memonger.netdef.cli import (
        STDIO,
        CommandError,
        UsageError,
        _check_outputs_apart,
        _check_writable,
        _display,
        _gap,
        _load,
        _message_stream,
        _names,
        _read_stdin,
        _require_plot_library,
        _say,
        _sizes_from_args,
        _view_ops,
        format_bytes,
        write_outputs,
    )
    from memonger.netdef.io import load_net

    if args.output is None and not args.dry_run:
        raise UsageError(
            "plan: the following arguments are required: -o/--output (or --dry-run) "
            "(see 'memonger plan --help')"
        )
    _require_plot_library(args)  # before any work
    plan_output = None if args.dry_run else args.output
    csv_output = None if args.dry_run else args.csv
    out = _message_stream(out, plan_output, csv_output, args.plot, args.report)
    data: bytes | None = None
    if args.source == STDIO:
        data = _read_stdin()
    elif not os.path.exists(args.source):
        raise CommandError(f"input file not found: {args.source}")
    elif os.path.isdir(args.source):
        raise CommandError(f"input path is a directory: {args.source}")
    outputs = [
        (flag, path)
        for flag, path in (
            ("-o", plan_output),
            ("--csv", csv_output),
            ("--plot", args.plot),
            ("--report", args.report),
        )
        if path
    ]
    for _, target in outputs:
        _check_writable(target)
    _check_outputs_apart(outputs, [] if data is not None else [("input file", args.source)])
    options: dict[str, Any] = {
        "algorithm": args.algorithm,
        "alignment": args.alignment,
        "capacity": args.capacity,
        "time_limit": args.time_limit,
        "node_limit": args.node_limit,
    }
    source = _display(args.source)
    start = time.perf_counter()
    if is_minimalloc_csv(data if data is not None else args.source):
        ranges = _read_ranges(args.source, data)
        plan = plan_offsets(ranges, **options)
        kept = 0
        num_positions = max((r.used for r in ranges.values()), default=-1) + 1
        ops = 0
        title = os.path.basename(source)
        peak_label = ""
    else:
        from memonger.netdef.arena import plan_net_offsets

        net = load_net(data) if data is not None else _load(args.source)
        sizes = _sizes_from_args(args, net)
        if sizes is None:
            raise CommandError(
                "an arena plan needs blob sizes: give --shapes FILE, or --init-net and --input"
            )
        arena = plan_net_offsets(
            net,
            sizes,
            static_blobs=_names(args.static),
            ordering=args.ordering,
            view_ops=_view_ops(args),
            **options,
        )
        ranges, plan, kept = arena.ranges, arena.plan, arena.kept_bytes
        num_positions = ops = len(net.op)
        title = f"{net.name or os.path.basename(source)}: {args.ordering} order"
        peak_label = ""
        if args.plot and ranges:
            from memonger.alloc import live_bytes

            timeline = live_bytes(ranges, num_positions)
            peak_label = net.op[arena.order[timeline.index(max(timeline))]].type
    _say(args, f"planned {len(ranges)} tensors in {time.perf_counter() - start:.2f} s")
    if plan.stats:
        counters = ", ".join(f"{k} {v:,}" for k, v in plan.stats.items())
        _say(args, f"search: {counters}")
    if args.capacity is not None and plan.feasible is not True:
        if plan.feasible is False:
            if not args.quiet:
                out.write(
                    f"{source}: {len(ranges)} tensors do not fit in {args.capacity} bytes "
                    f"(proven; peak live bytes {plan.lower_bound}); nothing written\n"
                )
            return EXIT_INFEASIBLE
        raise CommandError(
            f"could not decide within the search budget whether {len(ranges)} tensors fit in "
            f"{args.capacity} bytes; raise --node-limit or --time-limit"
        )
    files: list[tuple[str, bytes]] = []
    if plan_output:
        files.append(
            (plan_output, (json.dumps(plan_to_dict(plan, ranges), indent=1) + "\n").encode())
        )
    if csv_output:
        files.append((csv_output, minimalloc_csv_text(ranges, plan.offsets).encode()))
    if args.plot:
        from memonger.stats import render_arena_png

        files.append(
            (
                args.plot,
                render_arena_png(
                    ranges,
                    plan.offsets,
                    title=title,
                    num_positions=num_positions,
                    peak_label=peak_label,
                ),
            )
        )
    if args.report:
        files.append((args.report, _report(args, os.path.basename(source), ops, ranges, plan)))
    write_outputs(files)
    if not args.quiet:
        verdict = "proven optimal" if plan.proven_optimal else "not proven optimal"
        algorithm = getattr(plan.algorithm, "value", plan.algorithm)
        out.write(
            f"{source}: {len(ranges)} tensors, arena {format_bytes(plan.arena_bytes)}, "
            f"peak live bytes {format_bytes(plan.lower_bound)}, "
            f"{_gap(plan.arena_bytes, plan.lower_bound)}, "
            f"{verdict} ({algorithm}, {plan.seconds:.2f} s)\n"
        )
        if kept:
            out.write(f"  outside the arena: {format_bytes(kept)} of external and static blobs\n")
        written = ["<stdout>" if path == STDIO else path for path, _ in files]
        if args.dry_run:
            also = f"; wrote {', '.join(written)}" if written else ""
            out.write(f"dry run: the plan was not written{also}\n")
        else:
            out.write(f"wrote {', '.join(written)}\n")
    return 0
