"""``memonger plan``: an arena plan (byte offsets) for a net or a MiniMalloc problem.

The input is detected by content: a MiniMalloc CSV (a header starting
``id,lower,upper,size``) or a Caffe2 NetDef (binary or text; sizes from
``--shapes`` or ``--init-net``/``--input``, as for ``optimize``).  ONNX
models are handled by memonger-onnx (see :mod:`memonger.netdef.cli`).  The
command prints the arena bytes, the lower bound (peak live bytes), the gap
in bytes and percent and whether the arena is proven optimal, then writes
the plan JSON (memonger.alloc's ``memonger.plan`` schema), and with
``--csv`` / ``--plot`` a MiniMalloc CSV with offsets and the arena map.
Everything is rendered before anything is written; the files are then
written together, atomically.

Exit status: 0 a plan was written; 1 ``--capacity`` is proven too small;
2 errors (including a capacity the search could not decide within its
budget).
"""

from __future__ import annotations

import argparse
import json
import os
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
  memonger plan model.onnx -o plan.json --dim batch=1     (with memonger-onnx)
"""


def is_minimalloc_csv(path: str) -> bool:
    """Whether the file at ``path`` starts like a MiniMalloc CSV (``id,lower,upper,size``)."""
    with open(path, "rb") as f:
        head = f.read(64).lstrip(b"\xef\xbb\xbf").lstrip()
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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"the time limit must be a positive number, not {text}")
    return value


def add_plan_parser(sub: Any, fmt: Any) -> None:
    """Add the ``plan`` subcommand to the ``memonger`` parser's subparsers."""
    from memonger.alloc.offsets import OFFSET_ALGORITHMS
    from memonger.netdef.cli import _add_size_options, _add_view_option

    p = sub.add_parser(
        "plan",
        help="plan byte offsets in one arena (NetDef or MiniMalloc CSV)",
        description="Place every shareable blob at a byte offset in one arena, at the "
        "peak-live lower bound when the search can, and write the plan as JSON.",
        epilog=_PLAN_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("source", metavar="INPUT", help="a NetDef (binary or text) or a MiniMalloc CSV")
    p.add_argument("-o", "--output", required=True, metavar="PLAN.json", help="the plan JSON")
    p.add_argument(
        "--algorithm",
        choices=sorted(OFFSET_ALGORITHMS),
        default="auto",
        help="offset algorithm (default: auto: the heuristics, then the exact search)",
    )
    p.add_argument("--alignment", type=_positive("--alignment"), default=1, metavar="BYTES")
    p.add_argument(
        "--capacity",
        type=_positive("--capacity"),
        default=None,
        metavar="BYTES",
        help="decide whether the blobs fit in this many bytes (exit 1 when proven not)",
    )
    p.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="a wall-clock cap on top of the search's work budget",
    )
    p.add_argument(
        "--node-limit",
        type=_positive("--node-limit"),
        default=None,
        metavar="NODES",
        help="search nodes (default: memonger.alloc's budget)",
    )
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
    p.add_argument("--plot", metavar="MAP.png", help="also draw the arena as a memory map")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(run=_cmd_plan)


def _cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from memonger.alloc import minimalloc_csv_text, plan_offsets, plan_to_dict
    from memonger.netdef.cli import (
        CommandError,
        _check_writable,
        _load,
        _names,
        _sizes_from_args,
        _view_ops,
        format_bytes,
    )
    from memonger.netdef.io import write_files_atomically

    if args.plot:
        from memonger.stats.plot import require_matplotlib

        require_matplotlib()  # before any work
    if not os.path.exists(args.source):
        raise CommandError(f"input file not found: {args.source}")
    if os.path.isdir(args.source):
        raise CommandError(f"input path is a directory: {args.source}")
    targets = [t for t in (args.output, args.csv, args.plot) if t]
    for target in targets:
        _check_writable(target)
        if os.path.exists(target) and os.path.samefile(target, args.source):
            raise CommandError(f"{target} is the input file; choose another output")
    options: dict[str, Any] = {
        "algorithm": args.algorithm,
        "alignment": args.alignment,
        "capacity": args.capacity,
        "time_limit": args.time_limit,
        "node_limit": args.node_limit,
    }
    if is_minimalloc_csv(args.source):
        from memonger.alloc import read_minimalloc_csv

        ranges = read_minimalloc_csv(args.source)
        plan = plan_offsets(ranges, **options)
        kept = 0
        num_positions = max((r.used for r in ranges.values()), default=-1) + 1
        title = os.path.basename(args.source)
        peak_label = ""
    else:
        from memonger.netdef.arena import plan_net_offsets

        net = _load(args.source)
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
        num_positions = len(net.op)
        title = f"{net.name or os.path.basename(args.source)}: {args.ordering} order"
        peak_label = ""
        if args.plot and ranges:
            from memonger.alloc import live_bytes

            timeline = live_bytes(ranges, num_positions)
            peak_label = net.op[arena.order[timeline.index(max(timeline))]].type
    if args.capacity is not None and plan.feasible is not True:
        if plan.feasible is False:
            if not args.quiet:
                out.write(
                    f"{args.source}: {len(ranges)} tensors do not fit in {args.capacity} bytes "
                    f"(proven; peak live bytes {plan.lower_bound}); nothing written\n"
                )
            return EXIT_INFEASIBLE
        raise CommandError(
            f"could not decide within the search budget whether {len(ranges)} tensors fit in "
            f"{args.capacity} bytes; raise --node-limit or --time-limit"
        )
    files: list[tuple[str, bytes]] = [
        (args.output, (json.dumps(plan_to_dict(plan, ranges), indent=1) + "\n").encode())
    ]
    if args.csv:
        files.append((args.csv, minimalloc_csv_text(ranges, plan.offsets).encode()))
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
    write_files_atomically(files)
    if not args.quiet:
        gap = plan.arena_bytes - plan.lower_bound
        share = gap / plan.lower_bound * 100 if plan.lower_bound else 0.0
        verdict = "proven optimal" if plan.proven_optimal else "not proven optimal"
        algorithm = getattr(plan.algorithm, "value", plan.algorithm)
        out.write(
            f"{args.source}: {len(ranges)} tensors, arena {format_bytes(plan.arena_bytes)}, "
            f"peak live bytes {format_bytes(plan.lower_bound)}, gap {gap} B ({share:.2f}%), "
            f"{verdict} ({algorithm}, {plan.seconds:.2f} s)\n"
        )
        if kept:
            out.write(f"  outside the arena: {format_bytes(kept)} of external and static blobs\n")
        out.write(f"wrote {', '.join(path for path, _ in files)}\n")
    return 0
