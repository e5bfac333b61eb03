"""The ``memonger`` command for ONNX models, and the hand-over to Caffe2 nets.

memonger-onnx declares the ``memonger`` console script (``main``), so that
``pip install memonger-onnx`` alone gives a working ``memonger plan
model.onnx``.  memonger-netdef declares the same script; whichever is
installed last owns it, and both route every input to the right package:

- :func:`main` runs the ONNX subcommands below when the model argument is an
  ONNX model (detected by content, :func:`memonger.onnx.looks_like_onnx`;
  a name ending in ``.onnx`` also counts, so that a broken ``.onnx`` file
  gets an ONNX error).  Anything else (another subcommand, a Caffe2
  NetDef) goes to ``memonger.netdef.cli.main`` when memonger-netdef is
  installed, else fails with a message naming the package to install.
- :func:`run_onnx_command` is the entry for memonger-netdef's command: it
  returns the exit status when ``argv`` is an ONNX command it ran, and
  ``None`` (having done nothing) when the input is not ONNX.

Subcommands:

``memonger plan MODEL.onnx -o PLAN.json``
    Plan the activations: live ranges, a shared-object plan and an arena
    plan with offsets, written as plan JSON (memonger.alloc's plan format).
    Options: ``--dim NAME=VALUE`` (repeatable) for symbolic dimensions,
    ``--views``, ``--ordering program|memory|longest-path``,
    ``--algorithm`` (offset algorithm), ``--alignment N``,
    ``--capacity N``, ``--time-limit S`` (a wall-clock cap on top of
    memonger.alloc's node budgets; default none), ``--skip-unknown``,
    ``--csv OUT.csv`` (one row per tensor), ``--plot MAP.png`` (the arena
    map; needs matplotlib) and ``--dry-run`` (plan without writing).
``memonger stats MODEL.onnx``
    Nodes, tensors, naive and peak live bytes, the tensors at the peak, the
    shared-object and arena bytes, the gap to the lower bound.

Both print the arena bytes, its bound (the peak live bytes), the gap in
bytes and percent and whether the arena is proven optimal; both take
``-q/--quiet`` and ``-v/--verbose``, and ``memonger --version`` lists every
installed memonger package, as memonger-netdef's command does.  Exit status:
0 done (plan written), 1 the ``--capacity`` is proven too small, 2 errors
(a capacity the search could not decide within its budget included): one
line ``memonger: error: ...`` on stderr, no traceback and nothing written.
Every file is written to a temporary name first and renamed only when all
of them are ready.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from memonger.onnx.detect import looks_like_onnx

if TYPE_CHECKING:
    from memonger.onnx.plan import ModelPlan

__all__ = [
    "EXIT_ERROR",
    "EXIT_INFEASIBLE",
    "EXIT_OK",
    "build_parser",
    "is_onnx_file",
    "main",
    "run_onnx_command",
]

EXIT_OK = 0
#: ``--capacity`` cannot hold the tensors (proven).
EXIT_INFEASIBLE = 1
#: Bad input or a failure: a missing or unreadable file, unknown sizes...
EXIT_ERROR = 2

_SUBCOMMANDS = ("plan", "stats")
_VALUE_OPTIONS = frozenset(
    {
        "-o",
        "--output",
        "--dim",
        "--ordering",
        "--algorithm",
        "--shared",
        "--alignment",
        "--capacity",
        "--time-limit",
        "--csv",
        "--plot",
        "--top",
    }
)
NETDEF_HINT = "Caffe2 nets need memonger-netdef: pip install memonger-netdef"


class CommandError(Exception):
    """A failure reported as one line on stderr (exit status :data:`EXIT_ERROR`)."""


def format_bytes(n: int | None) -> str:
    """Bytes in binary units, e.g. ``'1.50 MiB'``; ``'-'`` for None.

    Examples
    --------
    >>> format_bytes(1536 * 1024), format_bytes(12), format_bytes(None)
    ('1.50 MiB', '12 B', '-')
    """
    if n is None:
        return "-"
    from memonger.stats import format_nbytes

    return format_nbytes(n)


def is_onnx_file(path: str) -> bool:
    """Whether the command treats ``path`` as an ONNX model.

    True for a name ending in ``.onnx`` (existing or not, so that its errors
    are ONNX errors) and for a file whose content is an ONNX model.

    Examples
    --------
    >>> is_onnx_file("missing.onnx"), is_onnx_file("/nonexistent/net.pb")
    (True, False)
    """
    if path.lower().endswith(".onnx"):
        return True
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return looks_like_onnx(data)


def _model_argument(argv: Sequence[str]) -> str | None:
    """The first positional argument after the subcommand (skipping option values)."""
    skip = False
    for token in argv[1:]:
        if skip:
            skip = False
            continue
        if token == "--":
            continue
        if token.startswith("-") and token != "-":
            skip = token in _VALUE_OPTIONS
            continue
        return token
    return None


class _VersionAction(argparse.Action):
    """``--version``: every installed memonger package (read only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, **kwargs
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from memonger.stats.report import package_versions

        for name, version in package_versions().items():
            sys.stdout.write(f"{name} {version}\n")
        sys.stdout.flush()
        parser.exit(EXIT_OK)


def _dim(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"the value of dimension {name.strip()!r} must be an integer, not {value!r}"
        ) from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"dimension {name.strip()!r} must be >= 0, not {number}")
    return name.strip(), number


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text}")
    return value


def _add_model_options(p: argparse.ArgumentParser) -> None:
    from memonger.onnx.ranges import ORDERS

    p.add_argument("model", help="the ONNX model (.onnx)")
    p.add_argument(
        "--dim",
        action="append",
        type=_dim,
        default=[],
        metavar="NAME=VALUE",
        help="value of a symbolic dimension, e.g. --dim batch=1 (repeatable)",
    )
    p.add_argument(
        "--views",
        action="store_true",
        help="Reshape/Flatten/Squeeze/Unsqueeze/Identity outputs alias their input",
    )
    p.add_argument(
        "--ordering",
        choices=ORDERS,
        default="program",
        help="op order to plan for (default: the model's node order)",
    )
    p.add_argument(
        "--algorithm",
        default="auto",
        help="offset algorithm: auto, greedy_by_size, greedy_by_breadth, best_fit, exact "
        "(default: auto)",
    )
    p.add_argument(
        "--shared",
        default="dp",
        help="shared-object algorithm of memonger.alloc.allocate (default: dp)",
    )
    p.add_argument(
        "--alignment",
        type=_positive_int,
        default=1,
        help="offsets are multiples of N bytes (default: 1)",
    )
    p.add_argument("--capacity", type=_non_negative_int, default=None, help="arena bytes available")
    p.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="a wall-clock cap on top of the node budget of each exact search (default: none)",
    )
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="leave tensors without a static size out of the plan instead of failing "
        "(default: off)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing on success (default: off)"
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print timings on stderr (default: off)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ONNX subcommands."""
    parser = argparse.ArgumentParser(
        prog="memonger",
        description="Plan the memory of ONNX models (Caffe2 nets: memonger-netdef).",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version of every installed memonger package and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "plan",
        help="write the memory plan of an ONNX model",
        description="Live ranges, a shared-object plan and an arena plan with offsets, "
        "written as plan JSON.",
        epilog="example: memonger plan model.onnx -o plan.json --dim batch=1 --plot map.png",
    )
    _add_model_options(p)
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="PLAN.json",
        help="plan JSON to write (required unless --dry-run)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="plan and print without writing any file (default: off)",
    )
    p.add_argument("--csv", metavar="OUT.csv", help="also write one row per tensor")
    p.add_argument("--plot", metavar="MAP.png", help="also draw the arena map (matplotlib)")
    p.set_defaults(run=_cmd_plan)
    p = sub.add_parser(
        "stats",
        help="memory statistics of an ONNX model",
        description="Nodes, tensors, naive and peak live bytes, the tensors at the peak, "
        "the shared-object and arena bytes.",
        epilog="example: memonger stats model.onnx --dim batch=1 --top 5",
    )
    _add_model_options(p)
    p.add_argument(
        "--top",
        type=_non_negative_int,
        default=5,
        help="tensors shown at the peak (default: 5)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text (default: text)")
    p.set_defaults(run=_cmd_stats)
    return parser


# ----------------------------------------------------------------------------- work


def _plan(args: argparse.Namespace, *, offsets: bool) -> ModelPlan:
    from memonger.onnx.graph import model_graph
    from memonger.onnx.plan import plan_model

    if not os.path.exists(args.model):
        raise CommandError(f"model not found: {args.model}")
    graph = model_graph(args.model, dims=dict(args.dim), views=args.views)
    return plan_model(
        graph,
        order=args.ordering,
        offsets=offsets,
        algorithm=args.algorithm,
        shared=args.shared,
        alignment=args.alignment,
        capacity=args.capacity,
        time_limit=args.time_limit,
        unknown="skip" if args.skip_unknown else "raise",
    )


def _summary(out: TextIO, path: str, plan: ModelPlan) -> None:
    graph = plan.graph
    static_ops = sum(1 for op in graph.ops if op.static)
    out.write(
        f"{path}: graph {graph.name!r}, {len(graph.ops)} nodes ({static_ops} static), "
        f"{len(plan.ranges)} planned tensors, {plan.order} order\n"
    )
    if plan.unknown:
        names = ", ".join(list(plan.unknown)[:5])
        out.write(f"  skipped (no static size): {len(plan.unknown)}: {names}\n")
    if graph.unused:
        out.write(f"  unused outputs: {len(graph.unused)}: {', '.join(list(graph.unused)[:5])}\n")
    shared = plan.allocation.algorithm
    shared_name = shared if isinstance(shared, str) else shared.name.lower()
    out.write(
        f"  naive {format_bytes(plan.naive_bytes)}, shared objects "
        f"{format_bytes(plan.shared_bytes)} ({shared_name}), "
        f"shared-object bound {format_bytes(plan.allocation.lower_bound)}\n"
    )
    bound = plan.lower_bound
    if plan.offsets is None:
        out.write(f"  lower bound (peak live bytes) {format_bytes(bound)}; no offset planner\n")
        return
    gap = plan.gap_bytes or 0
    percent = 100.0 * gap / bound if bound else 0.0
    proven = "proven optimal" if plan.offsets.proven_optimal else "not proven optimal"
    algorithm = getattr(plan.offsets.algorithm, "value", plan.offsets.algorithm)
    out.write(
        f"  arena {format_bytes(plan.arena_bytes)} ({algorithm}), lower bound (peak live "
        f"bytes) {format_bytes(bound)}, gap {gap} B ({percent:.2f}%), {proven}\n"
    )


def _csv_text(plan: ModelPlan) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["tensor", "offset", "size", "defined", "used", "buffer"])
    offsets = plan.offsets.offsets if plan.offsets is not None else {}
    buffers = {
        name: i for i, members in enumerate(plan.allocation.assignments) for name, _ in members
    }
    for name, r in plan.ranges.items():
        writer.writerow(
            [name, offsets.get(name, ""), r.size, r.defined, r.used, buffers.get(name, "")]
        )
    return buffer.getvalue()


def _write_all(plan: ModelPlan, output: str, others: Sequence[tuple[str, bytes]]) -> None:
    """Write the plan JSON and the other files, or none of them.

    The other files go to temporary names first; the plan JSON is written by
    memonger.alloc's :func:`~memonger.alloc.write_plan_json` (itself a
    temporary file and a rename); the temporaries are renamed last.
    """
    from memonger.alloc import write_plan_json

    temps: list[tuple[str, str]] = []
    try:
        for path in (output, *(p for p, _ in others)):
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise CommandError(f"cannot write {path}: no such directory {directory}")
        for path, data in others:
            directory = os.path.dirname(os.path.abspath(path))
            tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
            temps.append((tmp, path))
            with open(tmp, "wb") as f:
                f.write(data)
        assert plan.offsets is not None
        write_plan_json(output, plan.offsets, plan.ranges)
    except BaseException:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for tmp, path in temps:
        os.replace(tmp, path)


def _cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    if args.output is None and not args.dry_run:
        raise CommandError("plan: the following arguments are required: -o/--output (or --dry-run)")
    if args.plot:
        from memonger.onnx.plot import require_matplotlib

        require_matplotlib()
    started = time.perf_counter()
    plan = _plan(args, offsets=True)
    if args.verbose:
        sys.stderr.write(f"memonger: planned in {time.perf_counter() - started:.2f} s\n")
    if not args.quiet:
        _summary(out, args.model, plan)
    assert plan.offsets is not None
    if args.capacity is not None and plan.offsets.feasible is not True:
        if plan.offsets.feasible is False:
            sys.stderr.write(
                f"memonger: the tensors cannot fit in {args.capacity} bytes (proven; lower "
                f"bound {plan.lower_bound} B); nothing written\n"
            )
            return EXIT_INFEASIBLE
        # Undecided is not infeasible: an error, as in memonger-netdef's command.
        _error(
            f"could not decide within the search budget whether the tensors fit in "
            f"{args.capacity} bytes (best arena {plan.arena_bytes} B); raise --time-limit"
        )
        return EXIT_ERROR
    others: list[tuple[str, bytes]] = []
    if args.csv:
        others.append((args.csv, _csv_text(plan).encode()))
    if args.plot:
        from memonger.onnx.plot import render_arena_png

        others.append((args.plot, render_arena_png(plan)))
    if args.dry_run:
        if not args.quiet:
            out.write("dry run: nothing written\n")
        return EXIT_OK
    _write_all(plan, args.output, others)
    if not args.quiet:
        out.write(f"wrote {', '.join([args.output, *(path for path, _ in others)])}\n")
    return EXIT_OK


def _cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    plan = _plan(args, offsets=True)
    timeline = plan.timeline()
    graph = plan.graph
    peak_op = plan.ops[timeline.peak_position] if timeline.peak_position >= 0 else None
    info: dict[str, Any] = {
        "model": args.model,
        "graph": graph.name,
        "nodes": len(graph.ops),
        "static_nodes": sum(1 for op in graph.ops if op.static),
        "planned_tensors": len(plan.ranges),
        "static_tensors": len(graph.static),
        "static_bytes": graph.static_bytes,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "unused_outputs": dict(graph.unused),
        "skipped": dict(plan.unknown),
        "order": plan.order,
        "naive_bytes": plan.naive_bytes,
        "peak_live_bytes": plan.peak_bytes,
        "peak_position": timeline.peak_position,
        "peak_node": None if peak_op is None else peak_op.label,
        "peak_tensors": [[b, n] for b, n in timeline.peak_blobs[: args.top]],
        "peak_tensor_count": len(timeline.peak_blobs),
        "shared_object_bytes": plan.shared_bytes,
        "shared_object_bound": plan.allocation.lower_bound,
        "arena_bytes": plan.arena_bytes,
        "lower_bound_bytes": plan.lower_bound,
        "gap_bytes": plan.gap_bytes,
        "proven_optimal": None if plan.offsets is None else bool(plan.offsets.proven_optimal),
    }
    if args.json:
        out.write(json.dumps(info, indent=2) + "\n")
        return EXIT_OK
    _summary(out, args.model, plan)
    out.write(
        f"  static tensors: {info['static_tensors']} ({format_bytes(info['static_bytes'])}, "
        "weights and folded constants, not planned)\n"
    )
    out.write(
        f"  peak live bytes ({plan.order} order, the lower bound): "
        f"{format_bytes(plan.peak_bytes)} at node #{timeline.peak_position} {info['peak_node']}\n"
    )
    out.write(
        f"  top tensors at the peak ({len(info['peak_tensors'])} of {info['peak_tensor_count']}):\n"
    )
    for name, n in info["peak_tensors"]:
        out.write(f"    {format_bytes(n):>12}  {name}\n")
    return EXIT_OK


# ------------------------------------------------------------------------- dispatch


def _error(message: str) -> None:
    text = " ".join(str(message).split()) or "failed"
    sys.stderr.write(f"memonger: error: {text}\n")


def _run(argv: Sequence[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    from memonger.alloc import AllocError
    from memonger.graph import GraphError
    from memonger.onnx.errors import OnnxError
    from memonger.stats import StatsError

    try:
        status: int = args.run(args, sys.stdout)
        return status
    except KeyboardInterrupt:
        _error("interrupted; nothing written")
        return 130
    except (CommandError, OnnxError, AllocError, GraphError, StatsError) as exc:
        _error(str(exc))
        return EXIT_ERROR
    except BrokenPipeError:  # pragma: no cover - output closed early (| head)
        return EXIT_OK
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        return EXIT_ERROR


def run_onnx_command(argv: Sequence[str]) -> int | None:
    """Run ``argv`` if it is an ONNX command; ``None`` (nothing done) otherwise.

    An ONNX command is ``plan`` or ``stats`` whose model argument is an ONNX
    model (see :func:`is_onnx_file`).  memonger-netdef's command calls this
    first and handles the input itself when it returns ``None``.

    Examples
    --------
    >>> run_onnx_command(["stats", "/nonexistent/net.pb"]) is None
    True
    >>> run_onnx_command(["stats", "/nonexistent/model.onnx"])
    2
    """
    argv = list(argv)
    if not argv or argv[0] not in _SUBCOMMANDS:
        return None
    model = _model_argument(argv)
    if model is None or not is_onnx_file(model):
        return None
    return _run(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``memonger`` command; return its exit status.

    ONNX models are handled here; everything else goes to memonger-netdef's
    command when it is installed.

    Examples
    --------
    >>> main(["plan", "/nonexistent/model.onnx", "-o", "/nonexistent/plan.json"])
    2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    status = run_onnx_command(args)
    if status is not None:
        return status
    try:
        from memonger.netdef.cli import main as netdef_main
    except ImportError:
        pass
    else:
        return netdef_main(args)
    if args and args[0] in _SUBCOMMANDS:
        model = _model_argument(args)
        if model is not None:
            _error(f"{model} is not an ONNX model; {NETDEF_HINT}")
            return EXIT_ERROR
        return _run(args)  # usage errors and --help
    if args and not args[0].startswith("-"):
        _error(f"unknown command {args[0]!r} for ONNX models (plan, stats); {NETDEF_HINT}")
        return EXIT_ERROR
    return _run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
