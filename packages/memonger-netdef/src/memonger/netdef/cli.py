"""The ``memonger`` command: optimize, inspect and verify Caffe2 nets.

Subcommands:

``memonger optimize NET -o OUT``
    Share blob buffers (interference, DAG-safe gradient or inference sharing,
    linear scan), check the result by symbolic execution, and write it only
    when it is equivalent.
``memonger stats NET``
    Blobs, naive and peak live bytes, the blobs that make the peak, and what
    a single-threaded run allocates per op type.
``memonger verify ORIGINAL OPTIMIZED``
    Execution equivalence, graph equality and the in-place check, always all
    three (ops are matched by identity, so reordered nets are checked too).
``memonger demo``
    ResNet-50's training net, built in code, sized by shape inference and
    optimized with every mode; prints a table and writes a timeline plot.

Every figure (naive, plan and peak live bytes) is a design-7 metric of
:mod:`memonger.alloc.liveness`, over storages: ``--view-op TYPE``
(repeatable) adds op types whose output 0 is a view of input 0 to Caffe2's
``Alias``.

Two bounds are named apart in every output: **peak live bytes** (no plan for
the op order needs fewer; an arena plan can reach it) and the
**shared-object bound** (the positional maxima: no plan of shared buffers
needs fewer).  Each is printed with the plan's gap over it, in bytes and
percent (:func:`memonger.stats.report.format_gap`).

Conventions: ``-`` as the input net reads it from stdin and ``-o -`` writes
the result to stdout (every message then goes to stderr); ``--quiet`` and
``--verbose`` on every subcommand; ``--dry-run`` plans, verifies and
reports without writing the net; ``--version`` prints the version of every
installed memonger package.  ``optimize`` uses the exact solver by default
(``--algorithm dp``, as :func:`memonger.alloc.allocate`) with
memonger.alloc's work budget (``--node-limit``, default
:data:`memonger.alloc.DEFAULT_NODE_LIMIT` search nodes; ``--time-limit`` is an
extra wall-clock cap), so a plan is the same on every machine.

Errors (a missing file, an unreadable net, a blob without a size, a name
collision, an interrupted run) print one line ``memonger: error: ...`` on
stderr and exit with a non-zero status; no output file is left behind.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from memonger.netdef.orderings import ORDERINGS

if TYPE_CHECKING:  # imported lazily: `memonger --help` loads no protobuf, numpy or networkx
    from memonger.netdef import caffe2_pb2
    from memonger.netdef.views import ViewOps

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_EQUIVALENT",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "MODES",
    "OptimizeResult",
    "build_parser",
    "main",
    "measure",
    "optimize_net",
    "verify_nets",
]

EXIT_OK = 0
#: A check failed: the nets are not equivalent (``verify``), or ``optimize``
#: refused to write a result that failed its checks.
EXIT_NOT_EQUIVALENT = 1
#: Bad input: a missing or unreadable file, missing sizes, a name collision...
EXIT_ERROR = 2
#: Interrupted (Ctrl-C); as shells report SIGINT.
EXIT_INTERRUPTED = 130
#: Terminated (SIGTERM); as shells report it.
EXIT_TERMINATED = 143

#: ``memonger optimize`` prints the arena figure (greedy by size) up to this many ops;
#: the heuristic grows faster than linearly on training nets.
ARENA_FIGURE_MAX_OPS = 5_000

#: Optimization modes of ``memonger optimize``.
MODES = ("interference", "dag", "grad", "fast")
ALGORITHMS = ("greedy", "dp")
#: The default of ``--algorithm``: the exact solver, as :func:`memonger.alloc.allocate`.
DEFAULT_ALGORITHM = "dp"

#: The name ``-`` stands for stdin (an input) or stdout (``-o -``).
STDIO = "-"

#: Seconds a search runs before its progress line appears (on a terminal).
PROGRESS_DELAY = 1.0

#: Random valid execution orders checked for results of the DAG modes.
DAG_RANDOM_ORDERS = 16


class CommandError(Exception):
    """A failure to report as one line on stderr (exit status :data:`EXIT_ERROR`)."""


class CheckFailed(Exception):
    """A result failed its safety checks (exit status :data:`EXIT_NOT_EQUIVALENT`)."""


class UsageError(CommandError):
    """A mistyped command line (exit status :data:`EXIT_ERROR`, one line on stderr)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (exit status :data:`EXIT_TERMINATED`).

    A ``KeyboardInterrupt`` so that every cleanup that runs on Ctrl-C (temporary
    files removed, nothing half written) also runs on SIGTERM.
    """


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``memonger: error:`` line."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------


def format_bytes(n: int | None) -> str:
    """Bytes in binary units, e.g. ``'1.50 MiB'``; ``'-'`` for None.

    :func:`memonger.stats.report.format_nbytes`, the one rendering of bytes
    of the project, imported when first needed (``--help`` stays light).

    Examples
    --------
    >>> format_bytes(1536 * 1024), format_bytes(12), format_bytes(None)
    ('1.50 MiB', '12 B', '-')
    """
    if n is None:
        return "-"
    from memonger.stats.report import format_nbytes

    return format_nbytes(n)


def _gap(value: int | None, bound: int | None) -> str:
    """``gap N (p%)`` of a figure over its bound (:func:`memonger.stats.report.format_gap`).

    Examples
    --------
    >>> _gap(110, 100), _gap(None, 100)
    ('gap 10 B (10.00%)', 'gap -')
    """
    from memonger.stats.report import format_gap

    return format_gap(value, bound)


def _device_label(device: tuple[int, int]) -> str:
    """A device as ``--device`` spells it: ``cpu``, ``cuda:0``, ``hip:1``.

    Examples
    --------
    >>> _device_label((0, 0)), _device_label((1, 2)), _device_label((6, 0)), _device_label((9, 1))
    ('cpu', 'cuda:2', 'hip:0', 'device_type 9:1')
    """
    kind, index = device
    names = {1: "cuda", 6: "hip"}
    if kind == 0:
        return "cpu"
    return f"{names.get(kind, f'device_type {kind}')}:{index}"


def _say(args: argparse.Namespace, message: str) -> None:
    """A ``--verbose`` message on stderr."""
    if getattr(args, "verbose", False):
        sys.stderr.write(f"memonger: {message}\n")


def _names(values: Sequence[str] | None) -> list[str]:
    """Split repeatable, comma-separated name options into one list."""
    result: list[str] = []
    for value in values or ():
        result.extend(name.strip() for name in value.split(",") if name.strip())
    return list(dict.fromkeys(result))


def _view_ops(args: argparse.Namespace) -> frozenset[str]:
    """Caffe2's view ops plus those of ``--view-op``."""
    from memonger.netdef.views import CAFFE2_VIEW_OPS

    return CAFFE2_VIEW_OPS | frozenset(getattr(args, "view_op", None) or ())


def _parse_input(text: str) -> tuple[str, tuple[int, ...], str | None]:
    """Parse ``NAME=D0,D1,...[:DTYPE]`` (``--input``).

    Examples
    --------
    >>> _parse_input("data=32,3,224,224")
    ('data', (32, 3, 224, 224), None)
    >>> _parse_input("label=32:int32")
    ('label', (32,), 'int32')
    """
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=D0,D1,... but got {text!r}")
    dims_text, _, dtype = rest.partition(":")
    try:
        dims = tuple(int(d) for d in dims_text.split(",") if d.strip()) if dims_text else ()
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad dimensions in {text!r}") from None
    if any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"negative dimension in {text!r}")
    return name, dims, dtype or None


def _count(text: str) -> int:
    """A whole number, zero or more (``--random-orders``, ``--top``).

    Examples
    --------
    >>> _count("3")
    3
    >>> _count("-3")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a whole number >= 0, got '-3'
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _positive_count(text: str) -> int:
    """A whole number, one or more (``--batch-size``).

    Examples
    --------
    >>> _positive_count("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a whole number >= 1, got '0'
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _nodes(text: str) -> int:
    """A search budget, one node or more (``--node-limit``).

    Examples
    --------
    >>> _nodes("5000")
    5000
    >>> _nodes("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a number of search nodes >= 1, got '0'
    """
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of search nodes >= 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (``--time-limit``).

    Examples
    --------
    >>> _seconds("2.5")
    2.5
    >>> _seconds("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a positive number of seconds, got 'nan'
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


# ---------------------------------------------------------------------------
# Loading nets and sizes
# ---------------------------------------------------------------------------


def _read_stdin() -> bytes:
    """All of stdin, as bytes (``-`` as an input)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        data: bytes = stream.read()
        return data
    return str(sys.stdin.read()).encode("utf-8")


def _load(path: str, what: str = "net") -> caffe2_pb2.NetDef:
    from memonger.netdef.io import load_net

    if path == STDIO and what != "init net":
        net = load_net(_read_stdin())
        _warn_empty_externals(net, "<stdin>")
        return net
    if not os.path.exists(path):
        raise CommandError(f"{what} file not found: {path}")
    if os.path.isdir(path):
        raise CommandError(f"{what} path is a directory: {path}")
    net = load_net(path)
    if what != "init net":
        _warn_empty_externals(net, path)
    return net


def _warn_empty_externals(net: caffe2_pb2.NetDef, path: str) -> None:
    """Warn when a net with ops declares neither external inputs nor outputs.

    It may be legitimate, but it is also what a binary file cut short looks
    like (the external lists are serialized last).
    """
    if net.op and not net.external_input and not net.external_output:
        sys.stderr.write(
            f"memonger: warning: {path}: {len(net.op)} ops but the external_input and "
            "external_output lists are both empty (is the file truncated?)\n"
        )


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (the same path, a link to it, a hard link)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _check_outputs_apart(
    outputs: Sequence[tuple[str, str]], inputs: Sequence[tuple[str, str]]
) -> None:
    """Refuse an output naming an input file, or two outputs naming one file."""
    if sum(1 for _, path in outputs if path == STDIO) > 1:
        raise CommandError("only one output can go to stdout ('-')")
    outputs = [(flag, path) for flag, path in outputs if path != STDIO]
    inputs = [(what, path) for what, path in inputs if path != STDIO]
    for k, (flag, path) in enumerate(outputs):
        for what, source in inputs:
            if _same_file(path, source):
                raise CommandError(
                    f"{flag} {path} is the {what} {source}; write the result to another file"
                )
        for other_flag, other in outputs[:k]:
            if _same_file(path, other):
                raise CommandError(f"{flag} {path} and {other_flag} {other} name the same file")


def _check_known_names(net: caffe2_pb2.NetDef, named: Iterable[tuple[str, Sequence[str]]]) -> None:
    """Refuse names given to an option that are no blob of ``net`` (nested nets included)."""
    from memonger.netdef.nested import net_blob_names

    known = net_blob_names(net)
    for option, names in named:
        unknown = [name for name in names if name not in known]
        if unknown:
            listed = ", ".join(repr(name) for name in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise CommandError(f"{option} names no blob of the net: {listed}{more}")


def _check_writable(path: str) -> None:
    """Fail early when ``path`` cannot be written (before any long work); ``-`` is stdout."""
    if path == STDIO:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CommandError(f"output path is a directory: {path}")
    if not os.path.isdir(directory):
        raise CommandError(f"output directory does not exist: {directory}")
    if not os.access(directory, os.W_OK):
        raise CommandError(f"output directory is not writable: {directory}")


def _sizes_from_args(args: argparse.Namespace, net: caffe2_pb2.NetDef) -> dict[str, int] | None:
    """Blob sizes from ``--shapes`` and/or ``--init-net`` + ``--input`` (None without)."""
    sizes: dict[str, int] | None = None
    inputs = list(getattr(args, "input", None) or ())
    init_path = getattr(args, "init_net", None)
    if inputs or init_path:
        from memonger.netdef.shapes import infer_shapes

        if not inputs:
            raise CommandError("--init-net needs the data input shapes (--input NAME=N,C,H,W)")
        seen: set[str] = set()
        for name, _, _ in inputs:
            if name in seen:
                raise CommandError(f"--input gives blob {name!r} twice")
            seen.add(name)
        _check_known_names(net, [("--input", list(seen))])
        init = _load(init_path, "init net") if init_path else None
        shapes = {name: dims for name, dims, _ in inputs}
        types = {name: dtype for name, _, dtype in inputs if dtype}
        result = infer_shapes(net, shapes, init_net=init, input_types=types or None)
        sizes = result.blob_sizes()
        missing = [b for b in _produced(net) if b not in sizes]
        if missing and not args.shapes:
            first = missing[0]
            reason = result.unknown.get(first, "no shape")
            raise CommandError(
                f"shape inference could not size {len(missing)} produced blob(s), "
                f"first {first!r} ({reason}); give their sizes with --shapes"
            )
    if args.shapes:
        from memonger.stats import read_blob_sizes

        if not os.path.exists(args.shapes):
            raise CommandError(f"shape file not found: {args.shapes}")
        sizes = {**(sizes or {}), **read_blob_sizes(args.shapes)}
    if sizes is not None:
        missing = [b for b in _produced(net) if b not in sizes]
        if missing:
            raise CommandError(
                f"no size for {len(missing)} produced blob(s), first {missing[0]!r} "
                f"(sizes from {args.shapes or 'shape inference'})"
            )
    return sizes


def _produced(net: caffe2_pb2.NetDef) -> list[str]:
    seen: dict[str, None] = {}
    for op in net.op:
        for out in op.output:
            seen.setdefault(out, None)
    return list(seen)


def _is_seed_type(op_type: str) -> bool:
    t = op_type.lower()
    return "fill" in t or t in ("ones_like", "oneslike", "full_like")


def default_losses(net: caffe2_pb2.NetDef) -> list[str]:
    """Losses of a training net: the blobs gradient seeds are filled from.

    A seed is a fill op (``ConstantFill``, or ``ones_like`` in traced graphs)
    with one input that a forward op produced, whose output a gradient op
    reads (as ``AddGradientOperators`` makes them) or which is itself flagged
    as a gradient op.

    Examples
    --------
    >>> from memonger.netdef.models import small_resnet_training
    >>> default_losses(small_resnet_training().net)
    ['loss']
    """
    from memonger.netdef.gradients import is_gradient_op

    forward: set[str] = set()
    seeds: list[str] = []
    grad_inputs = {b for op in net.op if is_gradient_op(op) for b in op.input}
    for op in net.op:
        if (
            _is_seed_type(op.type)
            and len(op.input) == 1
            and op.input[0] in forward
            and (op.is_gradient_op or any(o in grad_inputs for o in op.output))
        ):
            seeds.append(op.input[0])
        if not is_gradient_op(op):
            forward.update(op.output)
    return list(dict.fromkeys(seeds))


def default_param_grads(net: caffe2_pb2.NetDef) -> list[str]:
    """Parameter gradients found from the net (:func:`memonger.netdef.gradients.find_param_grads`).

    External outputs named ``<p>_grad`` with ``p`` an external input, and the
    ``<p>_grad`` inputs of update ops (``WeightedSum``, ``Adagrad``...) that
    also read ``p``.

    Examples
    --------
    >>> from memonger.netdef.models import small_resnet_training
    >>> default_param_grads(small_resnet_training().net)[:2]
    ['conv1_w_grad', 'conv1_spatbn_relu_s_grad']
    """
    from memonger.netdef.gradients import find_param_grads

    return list(find_param_grads(net).names)


# ---------------------------------------------------------------------------
# Optimizing and measuring
# ---------------------------------------------------------------------------


@dataclass
class OptimizeResult:
    """One optimization of a net and how it was checked.

    Attributes
    ----------
    label : str
        E.g. ``"interference/greedy"``.
    net : caffe2_pb2.NetDef
        The optimized net.
    order : list of int or None
        For each op of ``net``, the index of the original op it is (None:
        the original program order).
    seconds : float
        Time spent optimizing (verification excluded).
    checks : list of str
        The checks that passed.
    verify_seconds : float
        Time spent verifying.
    proven_optimal : bool or None
        For the exact solver (``interference`` mode, ``--algorithm dp``):
        whether its search proved the plan to need the fewest bytes for the
        op order; None for the other modes and algorithms.
    lower_bound : int or None
        Alias of ``shared_object_bound`` (given either, both hold it).
    notes : list of str
        What the optimization chose on its own and the caller should know
        (which parameter gradients were found and how, which op order's plan
        was kept); the command prints them on stderr.
    shared_object_bound : int or None
        ``interference`` mode: the shared-object bound of the op order (the
        positional maxima of the shareable blobs plus the bytes of those that
        may not share): no plan of shared buffers needs fewer bytes (blobs
        without a size count as 1).  None for the DAG modes.
    node_limit, time_limit : int or float or None
        The exact solver's budget (search nodes, a wall-clock cap in seconds);
        None for the heuristics.
    search : dict of str to int
        The exact solver's counters over every device (``nodes``,
        ``budget_exhausted``...); empty for the heuristics.
    """

    label: str
    net: caffe2_pb2.NetDef
    order: list[int] | None
    seconds: float
    checks: list[str] = field(default_factory=list)
    verify_seconds: float = 0.0
    proven_optimal: bool | None = None
    lower_bound: int | None = None
    notes: list[str] = field(default_factory=list)
    shared_object_bound: int | None = None
    node_limit: int | None = None
    time_limit: float | None = None
    search: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shared_object_bound is None:
            self.shared_object_bound = self.lower_bound
        self.lower_bound = self.shared_object_bound


@dataclass(frozen=True)
class Measure:
    """Blob and byte counts of an original net and its optimization (design 7)."""

    ops: int
    blobs_before: int
    blobs_after: int
    naive_bytes: int | None
    plan_bytes: int | None
    peak_bytes: int | None

    @property
    def plan_over_peak(self) -> float | None:
        if self.plan_bytes is None or not self.peak_bytes:
            return None
        return self.plan_bytes / self.peak_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "ops": self.ops,
            "blobs_before": self.blobs_before,
            "blobs_after": self.blobs_after,
            "naive_bytes": self.naive_bytes,
            "plan_bytes": self.plan_bytes,
            "peak_live_bytes": self.peak_bytes,
            "plan_over_peak": self.plan_over_peak,
        }


def renaming(
    original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef, order: Sequence[int] | None
) -> dict[str, str]:
    """Map every produced blob of ``original`` to its name in ``optimized``.

    ``order[k]`` is the original index of the optimized net's op ``k`` (None:
    same order).
    """
    mapping: dict[str, str] = {}
    positions = range(len(original.op)) if order is None else order
    for new_op, old_index in zip(optimized.op, positions, strict=True):
        old_op = original.op[old_index]
        for old, new in zip(old_op.output, new_op.output, strict=True):
            mapping.setdefault(old, new)
    return mapping


def measure(
    original: caffe2_pb2.NetDef,
    result: OptimizeResult | None,
    sizes: Mapping[str, int] | None,
    *,
    view_ops: ViewOps | None = None,
) -> Measure:
    """Blobs before/after, naive, plan and peak live bytes of an optimization.

    The design-7 metrics of :mod:`memonger.alloc.liveness` over the produced
    storages of ``original`` run in the result's op order (a view counts
    with the storage it views, ``view_ops`` as in
    :func:`memonger.netdef.views.view_rule`): ``naive_bytes``,
    ``plan_bytes`` of the buffers the rewrite's names make and
    ``peak_live_bytes``.  Without ``result`` the "after" figures are those
    of ``original`` itself.
    """
    from memonger.alloc import naive_bytes, peak_live_bytes, plan_bytes
    from memonger.netdef.rewrite import net_accesses, net_liveness

    if result is None:
        mapping: dict[str, str] = {}
        order: Sequence[int] | None = None
    else:
        mapping = renaming(original, result.net, result.order)
        order = result.order
    live = net_liveness(net_accesses(original, view_ops), order, sizes)
    produced = live.produced_ranges()
    buffers: dict[str, list[Any]] = {}
    for root, r in produced.items():
        buffers.setdefault(mapping.get(root, root), []).append((root, r))
    if sizes is None:
        return Measure(len(original.op), len(produced), len(buffers), None, None, None)
    return Measure(
        len(original.op),
        len(produced),
        len(buffers),
        naive_bytes(produced),
        plan_bytes(buffers.values(), produced),
        peak_live_bytes(produced),
    )


@contextmanager
def _progress(
    label: str,
    enabled: bool,
    limit: float | None = None,
    *,
    status: Callable[[], str] | None = None,
    delay: float = PROGRESS_DELAY,
) -> Iterator[None]:
    """Show a progress line on stderr while a step runs longer than ``delay`` seconds.

    The command enables it only when stderr is a terminal and ``--quiet`` is
    not given.  The line shows the elapsed time (of ``limit`` seconds when
    there is a cap) and what ``status()`` says (the search's blobs, bound and
    budget); it is cleared at the end, and never written for a step that
    ends within ``delay``.
    """
    if not enabled:
        yield
        return
    stop = threading.Event()
    start = time.perf_counter()
    stream = sys.stderr
    shown = False

    def tick() -> None:
        nonlocal shown
        if stop.wait(delay):
            return
        while True:
            elapsed = time.perf_counter() - start
            budget = f" of {limit:g} s" if limit else ""
            try:
                detail = f", {status()}" if status is not None else ""
            except Exception:  # a progress line never fails the command
                detail = ""
            stream.write(f"\rmemonger: {label}: {elapsed:5.1f} s{budget}{detail}\033[K")
            stream.flush()
            shown = True
            if stop.wait(0.25):
                return

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if shown:
            stream.write("\r\033[K")
            stream.flush()


class _ExactSearch:
    """The exact solver as a strategy of :func:`~memonger.netdef.rewrite.plan_interference`.

    It runs :func:`memonger.alloc.allocate` with the command's budget on each
    device's shareable blobs and keeps every :class:`~memonger.alloc.AllocationResult`
    (the proof, the shared-object bound, the search counters), and says how
    far it got for the progress line.  The solver reports nothing while it
    searches, so the line shows what is known: the blobs placed in finished
    device groups, the plan it starts from (the best heuristic, never worse
    than the result) and the shared-object bound.
    """

    __name__ = "dynamic_programming"

    def __init__(self, node_limit: int | None, time_limit: float | None) -> None:
        self.node_limit = node_limit
        self.time_limit = time_limit
        self.results: list[Any] = []
        self.placed = 0
        self._current: Sequence[Any] = ()
        self._figures: tuple[int, int] | None = None

    def __call__(self, items: Sequence[Any]) -> Sequence[Sequence[Any]]:
        from memonger.alloc import AssignmentAlgorithm, allocate

        self._current, self._figures = items, None
        found = allocate(
            items,
            (),
            AssignmentAlgorithm.DYNAMIC_PROGRAMMING,
            node_limit=self.node_limit,
            time_limit=self.time_limit,
        )
        self.results.append(found)
        self.placed += len(items)
        self._current = ()
        assignments: list[list[Any]] = found.assignments
        return assignments

    def status(self) -> str:
        """``N of M blobs placed, best so far X (start), shared-object bound Y, budget Z``."""
        from memonger.alloc import allocate, positional_maxima_bound

        items = self._current
        if self._figures is None and items:
            starts = [allocate(items, (), name).nbytes for name in ("greedy", "by_size", "maxima")]
            self._figures = (min(starts), positional_maxima_bound(items))
        budget = f"{self.node_limit:,} nodes" if self.node_limit else "no node limit"
        if self._figures is None:
            return f"{self.placed} blobs placed, budget {budget}"
        start, bound = self._figures
        return (
            f"{self.placed} of {self.placed + len(items)} blobs placed, best so far "
            f"{format_bytes(start)} (start), shared-object bound {format_bytes(bound)}, "
            f"budget {budget}"
        )

    @property
    def proven_optimal(self) -> bool:
        """Whether every device's plan is proven to need the fewest bytes."""
        return all(r.proven_optimal for r in self.results)

    @property
    def shared_object_bound(self) -> int:
        """The shared-object bounds of every device's shareable blobs, summed."""
        return sum(int(r.shared_object_bound) for r in self.results)

    def counters(self) -> dict[str, int]:
        """The search counters summed over the devices."""
        total: dict[str, int] = {}
        for r in self.results:
            for key in ("nodes", "memo_hits", "pruned", "budget_exhausted"):
                total[key] = total.get(key, 0) + int(r.stats.get(key, 0))
        return total


def optimize_net(
    net: caffe2_pb2.NetDef,
    *,
    mode: str = "interference",
    algorithm: str = DEFAULT_ALGORITHM,
    ordering: str = "program",
    sizes: Mapping[str, int] | None = None,
    static: Sequence[str] = (),
    losses: Sequence[str] | None = None,
    param_grads: Sequence[str] | None = None,
    namescope: str = "",
    share_activations: bool = False,
    input_blobs: Sequence[str] = (),
    time_limit: float | None = None,
    show_progress: bool = False,
    view_ops: ViewOps | None = None,
    node_limit: int | None = None,
) -> OptimizeResult:
    """Optimize ``net`` with one mode; the result is not yet verified.

    Parameters
    ----------
    net : caffe2_pb2.NetDef
        The net (not modified).
    mode : {"interference", "dag", "grad", "fast"}
        ``interference``: :func:`~memonger.netdef.rewrite.optimize_interference`
        with ``algorithm`` and ``ordering``; ``dag``:
        :func:`~memonger.netdef.dag.optimize_inference_for_dag`; ``grad``:
        :func:`~memonger.netdef.dag.share_grad_blobs` (losses and parameter
        gradients found automatically unless given); ``fast``:
        :func:`~memonger.netdef.fast.optimize_inference_fast`.
    algorithm : {"dp", "greedy"}
        ``interference`` mode: the exact solver (default, as
        :func:`memonger.alloc.allocate`) or Caffe2's greedy rule.
    sizes : mapping of str to int, optional
        Bytes of the blobs.
    time_limit : float, optional
        A wall-clock cap in seconds on the exact search of each device (and
        on the memory ordering); default: none, the node budget alone.
    show_progress : bool, optional
        Show a progress line on stderr while the search runs over a second.
    node_limit : int, optional
        Search nodes the exact solver may expand (default
        :data:`memonger.alloc.DEFAULT_NODE_LIMIT`: the same plan on every
        machine).
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs
        (:func:`memonger.netdef.views.view_rule`; default ``{"Alias"}``).

    Returns
    -------
    OptimizeResult
    """
    static_list = list(static)
    start = time.perf_counter()
    if mode == "interference":
        from memonger.alloc import DEFAULT_NODE_LIMIT, AssignmentAlgorithm, compute_liveness
        from memonger.graph import compute_interference_graph
        from memonger.netdef.orderings import ordering_function
        from memonger.netdef.rewrite import net_accesses, plan_interference, storage_accesses

        if algorithm not in ALGORITHMS:
            raise CommandError(
                f"unknown algorithm {algorithm!r} (choose from {', '.join(ALGORITHMS)})"
            )
        exact = algorithm == "dp"
        nodes = (node_limit if node_limit is not None else DEFAULT_NODE_LIMIT) if exact else None
        limit = time_limit if exact else None

        accesses = net_accesses(net, view_ops)
        live = compute_liveness(accesses)
        graph = compute_interference_graph(storage_accesses(accesses, live.storage))
        unshareable = live.roots({*static_list, *net.external_input, *net.external_output})
        searches: dict[str, _ExactSearch] = {}

        def plan_for(chosen: str) -> tuple[str, list[int], Any]:
            order = list(
                ordering_function(chosen, sizes, time_limit=time_limit, unshareable=unshareable)(
                    graph
                )
            )
            label = f"{mode}/{algorithm}" + ("" if chosen == "program" else f"/{chosen}")
            search = searches[chosen] = _ExactSearch(nodes, limit)
            with _progress(f"{label} search", show_progress and exact, limit, status=search.status):
                plan = plan_interference(
                    net,
                    static_list,
                    ordering_function=lambda _g: order,
                    blob_sizes=dict(sizes) if sizes is not None else None,
                    algo=search if exact else AssignmentAlgorithm.GREEDY,
                    verify=False,
                    view_ops=view_ops,
                )
            return label, order, plan

        label, order, plan = plan_for(ordering)
        kept_order = ordering
        notes: list[str] = []
        if ordering != "program":
            # No option may make the plan worse than the default's: an order
            # with a lower peak can still need more bytes of shared buffers.
            _, program_order, program_plan = plan_for("program")
            mine, theirs = plan.plan_bytes, program_plan.plan_bytes
            if theirs < mine:
                notes.append(
                    f"kept the program order's plan ({format_bytes(theirs)}): the {ordering} "
                    f"order's plan needs more ({format_bytes(mine)})"
                )
                label, order, plan = f"{mode}/{algorithm}", program_order, program_plan
                kept_order = "program"
            else:
                notes.append(
                    f"kept the {ordering} order's plan ({format_bytes(mine)}; the program "
                    f"order's needs {format_bytes(theirs)})"
                )
        identity = order == list(range(len(net.op)))
        search = searches[kept_order]
        if exact:
            bound = plan.kept_bytes + search.shared_object_bound
        else:
            bound = plan.kept_bytes + sum(
                int(r.shared_object_bound) for r in plan.allocations.values()
            )
        return OptimizeResult(
            label,
            plan.optimization.net,
            None if identity else order,
            time.perf_counter() - start,
            proven_optimal=search.proven_optimal if exact else None,
            notes=notes,
            shared_object_bound=bound,
            node_limit=nodes,
            time_limit=limit,
            search=search.counters() if exact else {},
        )
    if mode == "dag":
        from memonger.netdef.dag import optimize_inference_for_dag

        # The inputs and the --static blobs are never shared (nor renamed).
        out = optimize_inference_for_dag(
            net,
            list(input_blobs) + static_list,
            namescope,
            blob_shapes=dict(sizes) if sizes is not None else None,
            view_ops=view_ops,
        )
    elif mode == "grad":
        from memonger.netdef.dag import share_grad_blobs

        found_losses = list(losses) if losses else default_losses(net)
        if not found_losses:
            raise CommandError(
                "grad mode needs the loss blobs: none found (no gradient seed "
                "ConstantFill); give them with --loss"
            )
        grad_notes: list[str] = []
        if param_grads is not None:
            grads = list(param_grads)
            grad_notes.append(f"grad mode: {len(grads)} parameter gradients from --param-grad")
        else:
            from memonger.netdef.gradients import find_param_grads

            found = find_param_grads(net)
            grads = list(found.names)
            grad_notes.append(f"grad mode: {found.describe()} (override with --param-grad)")
        out = share_grad_blobs(
            net,
            found_losses,
            grads,
            namescope,
            dont_share_blobs=static_list,
            share_activations=share_activations,
            blob_shapes=dict(sizes) if sizes is not None else None,
            view_ops=view_ops,
        )
        return OptimizeResult(mode, out, None, time.perf_counter() - start, notes=grad_notes)
    elif mode == "fast":
        from memonger.netdef.fast import optimize_inference_fast

        out = optimize_inference_fast(
            net,
            static_list,
            blob_shapes=dict(sizes) if sizes is not None else None,
            namescope=namescope,
            view_ops=view_ops,
        )
    else:
        raise CommandError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    return OptimizeResult(mode, out, None, time.perf_counter() - start)


def _nondeterministic_ops(args: argparse.Namespace) -> frozenset[str]:
    """Caffe2's nondeterministic op types plus those of ``--nondeterministic-op``."""
    from memonger.netdef.verify import CAFFE2_NONDETERMINISTIC_OPS

    return CAFFE2_NONDETERMINISTIC_OPS | frozenset(getattr(args, "nondeterministic_op", None) or ())


def verify_nets(
    original: caffe2_pb2.NetDef,
    optimized: caffe2_pb2.NetDef,
    *,
    order: Sequence[int] | None = None,
    random_orders: int = 0,
    view_ops: ViewOps | None = None,
    nondeterministic_ops: Iterable[str] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Run every check; return ``(passed, failed, skipped)`` messages.

    Execution equivalence, graph equality and the in-place check always run
    (``skipped`` is always empty; it is kept for callers that unpack three
    lists).  Graph equality and the in-place check match ops by identity, so
    they apply to reordered nets too; with a known ``order`` (the original
    index of each optimized op) they use that correspondence.  Each failure
    is one line naming the check and its first divergence.
    """
    from memonger.netdef.verify import (
        graph_difference,
        inplace_difference,
        verify_execution_equivalence,
    )

    passed: list[str] = []
    failed: list[str] = []
    result = verify_execution_equivalence(
        original,
        optimized,
        random_orders=random_orders,
        view_ops=view_ops,
        nondeterministic_ops=nondeterministic_ops,
    )
    what = "execution equivalence"
    if random_orders:
        what += f" ({result.orders_checked} orders)"
    if result.ok:
        passed.append(what)
    else:
        failed.append(f"{what}: {result.message}")
    for what, problem in (
        ("graph equality", graph_difference(original, optimized, order=order)),
        (
            "in-place blobs",
            inplace_difference(original, optimized, order=order, view_ops=view_ops),
        ),
    ):
        if problem is None:
            passed.append(what)
        else:
            failed.append(f"{what}: {problem}")
    return passed, failed, []


def check_result(
    original: caffe2_pb2.NetDef,
    result: OptimizeResult,
    *,
    view_ops: ViewOps | None = None,
    nondeterministic_ops: Iterable[str] | None = None,
) -> None:
    """Verify ``result`` against ``original``; raise :class:`CheckFailed` when unsafe."""
    start = time.perf_counter()
    dag = result.label in ("dag", "grad")
    passed, failed, _ = verify_nets(
        original,
        result.net,
        order=result.order if result.order is not None else None,
        random_orders=DAG_RANDOM_ORDERS if dag else 0,
        view_ops=view_ops,
        nondeterministic_ops=nondeterministic_ops,
    )
    result.verify_seconds = time.perf_counter() - start
    if failed:
        raise CheckFailed(f"{result.label} result failed its checks: {failed[0]}")
    result.checks = passed


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------


def _add_size_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("blob sizes")
    g.add_argument(
        "--shapes",
        metavar="FILE",
        help="blob sizes: a shape file {blob: {shape, dtype, bytes}} or {blob: bytes} "
        "(JSON, optionally gzipped)",
    )
    g.add_argument(
        "--init-net",
        metavar="FILE",
        help="parameter init net whose fill ops give weight shapes (with --input)",
    )
    g.add_argument(
        "--input",
        metavar="NAME=DIMS[:DTYPE]",
        action="append",
        type=_parse_input,
        help="shape of a data input for shape inference, e.g. data=32,3,224,224 or "
        "label=32:int32 (repeatable)",
    )


def _add_view_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--view-op",
        action="append",
        metavar="TYPE",
        help="an op type whose output 0 is a view of (shares the storage of) its input 0, "
        "in addition to Alias (repeatable)",
    )


def _add_nondeterministic_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nondeterministic-op",
        action="append",
        metavar="TYPE",
        help="an op type whose outputs are new values at each run (random, sampling, "
        "reading), in addition to Caffe2's Dropout, UniformFill, GaussianFill... (repeatable)",
    )


def _display(path: str) -> str:
    """How messages name a path (``<stdin>`` for ``-``)."""
    return "<stdin>" if path == STDIO else path


def _message_stream(out: TextIO, *paths: str | None) -> TextIO:
    """Where messages go: stderr when a result goes to stdout (``-``)."""
    return sys.stderr if STDIO in paths else out


def write_outputs(files: Sequence[tuple[str, bytes]]) -> None:
    """Write the files all or nothing (:func:`~memonger.netdef.io.write_files_atomically`).

    An entry named ``-`` goes to stdout, after every file is in place.
    """
    from memonger.netdef.io import write_files_atomically

    write_files_atomically([(path, data) for path, data in files if path != STDIO])
    for path, data in files:
        if path == STDIO:
            stream = getattr(sys.stdout, "buffer", None)
            if stream is not None:
                sys.stdout.flush()
                stream.write(data)
                stream.flush()
            else:  # a text-only stream (tests): text formats only
                sys.stdout.write(data.decode("utf-8", "replace"))
                sys.stdout.flush()


def _require_plot_library(args: argparse.Namespace) -> None:
    """Fail before any work when ``--plot`` is asked for without matplotlib."""
    if getattr(args, "plot", None):
        from memonger.stats.plot import require_matplotlib

        require_matplotlib()


def shared_buffers(
    original: caffe2_pb2.NetDef, result: OptimizeResult, sizes: Mapping[str, int]
) -> tuple[Any, ...]:
    """Which blobs of ``original`` share which buffer of ``result`` (for the report).

    One :class:`memonger.stats.report.SharedBuffer` per buffer of the
    optimized net that holds more than one produced blob of the original: its
    name, its bytes (the largest member) and its members, in order of first
    write.
    """
    from memonger.stats.report import SharedBuffer

    groups: dict[str, list[str]] = {}
    for old, new in renaming(original, result.net, result.order).items():
        groups.setdefault(new, []).append(old)
    return tuple(
        SharedBuffer(name, max(int(sizes.get(b, 1)) for b in members), tuple(members))
        for name, members in groups.items()
        if len(members) > 1
    )


def _cmd_optimize(args: argparse.Namespace, out: TextIO) -> int:
    """Optimize, verify, render every output, then write them all or none.

    Nothing is written until the result is verified and every output (the
    net, the report, the plot) is rendered in memory; the files are then
    written together by :func:`memonger.netdef.io.write_files_atomically`.
    With ``--dry-run`` the net is not written (the report and plot are).
    """
    from memonger.netdef.io import serialize_net

    if args.output is None and not args.dry_run:
        raise UsageError(
            "optimize: the following arguments are required: -o/--output (or --dry-run) "
            "(see 'memonger optimize --help')"
        )
    _require_plot_library(args)
    net_output = None if args.dry_run else args.output
    out = _message_stream(out, net_output, args.report, args.plot)
    outputs = [
        (flag, path)
        for flag, path in (("-o", net_output), ("--report", args.report), ("--plot", args.plot))
        if path
    ]
    for _, target in outputs:
        _check_writable(target)
    inputs = [
        (what, path)
        for what, path in (
            ("input net", args.net),
            ("shape file", args.shapes),
            ("init net", args.init_net),
        )
        if path
    ]
    _check_outputs_apart(outputs, inputs)
    t = time.perf_counter()
    net = _load(args.net)
    _say(args, f"read {_display(args.net)}: {len(net.op)} ops ({time.perf_counter() - t:.2f} s)")
    static = _names(args.static)
    _check_known_names(
        net,
        [
            ("--static", static),
            ("--loss", _names(args.loss)),
            ("--param-grad", _names(args.param_grad)),
            ("--input-blob", _names(args.input_blob)),
        ],
    )
    t = time.perf_counter()
    sizes = _sizes_from_args(args, net)
    if sizes is not None:
        _say(args, f"sized {len(sizes)} blobs ({time.perf_counter() - t:.2f} s)")
    if (args.plot or args.report) and sizes is None:
        raise CommandError(
            "--report and --plot need blob sizes (--shapes, or --init-net with --input)"
        )
    view_ops = _view_ops(args)
    result = optimize_net(
        net,
        mode=args.mode,
        algorithm=args.algorithm,
        ordering=args.ordering,
        sizes=sizes,
        static=static,
        losses=_names(args.loss) or None,
        param_grads=_names(args.param_grad) if args.param_grad else None,
        namescope=args.namescope,
        share_activations=args.share_activations,
        input_blobs=_names(args.input_blob),
        time_limit=args.time_limit,
        node_limit=args.node_limit,
        show_progress=sys.stderr.isatty() and not args.quiet,
        view_ops=view_ops,
    )
    _say(args, f"{result.label}: planned in {result.seconds:.2f} s")
    if result.search:
        counters = ", ".join(f"{k} {v:,}" for k, v in result.search.items())
        budget = f"{result.node_limit:,} nodes" if result.node_limit else "no node limit"
        cap = f", cap {result.time_limit:g} s" if result.time_limit else ""
        _say(args, f"exact search: {counters} (budget {budget}{cap})")
    check_result(net, result, view_ops=view_ops, nondeterministic_ops=_nondeterministic_ops(args))
    _say(args, f"verified: {', '.join(result.checks)} ({result.verify_seconds:.2f} s)")
    m = measure(net, result, sizes, view_ops=view_ops)
    arena = None
    if sizes is not None and len(net.op) <= ARENA_FIGURE_MAX_OPS:
        from memonger.netdef.arena import plan_net_offsets

        # The arena figure beside the shared-object plan, for the same op order:
        # greedy by size only, no search (memonger plan searches).
        arena = plan_net_offsets(
            net,
            sizes,
            static_blobs=static,
            order=result.order,
            view_ops=view_ops,
            algorithm="greedy_by_size",
        )
    elif sizes is not None:
        result.notes.append(
            f"no arena figure for nets over {ARENA_FIGURE_MAX_OPS:,} ops "
            "(memonger plan computes one)"
        )
    files: list[tuple[str, bytes]] = []
    if net_output:
        files.append((net_output, serialize_net(result.net, net_output, format=args.format)))
    if args.report or args.plot:
        from memonger.netdef.demo import report_row
        from memonger.stats.report import MemoryReport, package_versions

        assert sizes is not None
        extra: dict[str, str | int | float | bool | None] = {
            "mode": args.mode,
            "output": net_output,
            "reordered": result.order is not None,
            "checks": "; ".join(result.checks),
        }
        if args.mode == "interference":
            extra.update(algorithm=args.algorithm, ordering=args.ordering)
        if arena is not None:
            extra.update(
                arena_bytes=arena.plan.arena_bytes,
                arena_peak_live_bytes=arena.plan.lower_bound,
                arena_proven_optimal=arena.plan.proven_optimal,
            )
        row = report_row(
            os.path.basename(_display(args.net)), net, result, sizes, extra=extra, view_ops=view_ops
        )
        if args.report:
            report = MemoryReport(
                (row,),
                title=f"memonger optimize {_display(args.net)}",
                metadata={"command": "optimize", "net": _display(args.net)},
                versions=package_versions(),
            )
            files.append((args.report, (report.to_json() + "\n").encode("utf-8")))
        if args.plot:
            from memonger.stats.plot import render_png

            files.append((args.plot, render_png(row)))
    write_outputs(files)
    if not args.quiet:
        for note in result.notes:
            sys.stderr.write(f"memonger: {note}\n")
        _print_summary(out, _display(args.net), result, m, arena)
        written = [_display_output(path) for path, _ in files]
        if args.dry_run:
            also = f"; wrote {', '.join(written)}" if written else ""
            out.write(f"dry run: the net was not written{also}\n")
        elif written:
            out.write(f"wrote {', '.join(written)}\n")
    return EXIT_OK


def _display_output(path: str) -> str:
    return "<stdout>" if path == STDIO else path


def _print_summary(
    out: TextIO, path: str, result: OptimizeResult, m: Measure, arena: Any = None
) -> None:
    out.write(
        f"{path}: {m.ops} ops, produced blobs {m.blobs_before} -> {m.blobs_after} "
        f"({result.label}, {result.seconds:.2f} s)\n"
    )
    if m.naive_bytes is not None:
        ratio = m.plan_over_peak
        out.write(
            f"  naive {format_bytes(m.naive_bytes)}, plan {format_bytes(m.plan_bytes)}, "
            f"peak live bytes {format_bytes(m.peak_bytes)} ({_gap(m.plan_bytes, m.peak_bytes)})"
            + (f", plan/peak {ratio:.3f}" if ratio is not None else "")
            + "\n"
        )
    bound = result.shared_object_bound
    where = f"shared-object bound {format_bytes(bound)}, {_gap(m.plan_bytes, bound)}"
    if result.proven_optimal is not None:
        verdict = (
            "proven optimal for this op order"
            if result.proven_optimal
            else "best plan found within the search budget, not proven optimal"
        )
        budget = ""
        if result.node_limit:
            used = result.search.get("nodes")
            spent = f"{used:,} of " if used is not None else ""
            budget = f"; {spent}{result.node_limit:,} search nodes"
        if result.time_limit:
            budget += f", cap {result.time_limit:g} s"
        out.write(f"  exact solver: {verdict} ({where}{budget})\n")
    elif bound is not None:
        proof = (
            "the plan meets it"
            if m.plan_bytes is not None and m.plan_bytes <= bound
            else "optimality not searched for (--algorithm dp does)"
        )
        out.write(f"  {where}: {proof}\n")
    if arena is not None:
        plan = arena.plan
        proof = "proven optimal" if plan.proven_optimal else "not proven optimal"
        out.write(
            f"  arena (memonger plan): {format_bytes(plan.arena_bytes)} for the shared blobs, "
            f"peak live bytes {format_bytes(plan.lower_bound)}, "
            f"{_gap(plan.arena_bytes, plan.lower_bound)}, {proof}\n"
        )
    out.write(f"  verified: {', '.join(result.checks)} ({result.verify_seconds:.2f} s)\n")


def _cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    from memonger.netdef.rewrite import net_accesses, net_liveness
    from memonger.stats import estimate_memory_usage, timeline_from_ranges

    t = time.perf_counter()
    net = _load(args.net)
    _say(args, f"read {_display(args.net)}: {len(net.op)} ops ({time.perf_counter() - t:.2f} s)")
    _device(args.device, net)  # a mistyped device is an error, sizes or not
    sizes = _sizes_from_args(args, net)
    produced = _produced(net)
    info: dict[str, Any] = {
        "net": _display(args.net),
        "name": net.name,
        "ops": len(net.op),
        "external_inputs": len(net.external_input),
        "external_outputs": len(net.external_output),
        "produced_blobs": len(produced),
        "blobs": len(
            {b for op in net.op for b in (*op.input, *op.output)} | set(net.external_input)
        ),
        "gradient_ops": sum(1 for op in net.op if op.is_gradient_op),
    }
    if sizes is not None:
        # the live ranges of memonger.alloc, over storages (views with their base)
        produced_ranges = net_liveness(
            net_accesses(net, _view_ops(args)), blob_sizes=sizes
        ).produced_ranges()
        timeline = timeline_from_ranges(
            produced_ranges, num_positions=len(net.op), produced=produced_ranges
        )
        device = _device(args.device, net)
        estimate = estimate_memory_usage(net, sizes=sizes, devicescope=device)
        peak_op = net.op[timeline.peak_position] if timeline.peak_position >= 0 else None
        info.update(
            {
                "naive_bytes": timeline.total_nbytes,
                "peak_live_bytes": timeline.peak_nbytes,
                "peak_position": timeline.peak_position,
                "peak_op_type": peak_op.type if peak_op is not None else None,
                "peak_blobs": [[b, n] for b, n in timeline.peak_blobs[: args.top]],
                "peak_blob_count": len(timeline.peak_blobs),
                "estimate": {
                    "device": _device_label(device),
                    "total_bytes": estimate.total,
                    "highwater_bytes": estimate.highwater,
                    "by_op_type": dict(
                        sorted(estimate.by_op_type.items(), key=lambda kv: (-kv[1], kv[0]))
                    ),
                },
            }
        )
    if args.json:
        out.write(json.dumps(info, indent=2) + "\n")
        return EXIT_OK
    out.write(
        f"{_display(args.net)}: net {net.name!r}, {info['ops']} ops "
        f"({info['gradient_ops']} gradient ops)\n"
    )
    out.write(
        f"  blobs: {info['blobs']} ({info['produced_blobs']} produced, "
        f"{info['external_inputs']} external inputs, {info['external_outputs']} external outputs)\n"
    )
    if sizes is None:
        out.write("  bytes: unknown (give --shapes, or --init-net with --input)\n")
        return EXIT_OK
    out.write(
        f"  naive bytes (every produced blob its own buffer): {format_bytes(info['naive_bytes'])}\n"
    )
    out.write(
        f"  peak live bytes (program order; no plan for this order needs fewer): "
        f"{format_bytes(info['peak_live_bytes'])} at op #{info['peak_position']} "
        f"{info['peak_op_type']}\n"
    )
    out.write(
        f"  top blobs at the peak ({len(info['peak_blobs'])} of {info['peak_blob_count']}):\n"
    )
    for blob, n in info["peak_blobs"]:
        out.write(f"    {format_bytes(n):>12}  {blob}\n")
    est = info["estimate"]
    out.write(
        f"  estimated allocation on device {est['device']}: total "
        f"{format_bytes(est['total_bytes'])}, high water {format_bytes(est['highwater_bytes'])}\n"
    )
    out.write("  by op type:\n")
    for op_type, n in list(est["by_op_type"].items())[: args.top]:
        out.write(f"    {format_bytes(n):>12}  {op_type}\n")
    return EXIT_OK


def _device(text: str | None, net: caffe2_pb2.NetDef) -> tuple[int, int]:
    if text is None:
        for op in net.op:
            if op.HasField("device_option"):
                d = op.device_option
                return (0, 0) if d.device_type == 0 else (d.device_type, d.device_id)
        return (0, 0)
    kind, _, index = text.partition(":")
    types = {"cpu": 0, "cuda": 1, "gpu": 1, "hip": 6}
    if kind.lower() not in types:
        raise CommandError(f"unknown device {text!r} (use cpu, cuda:N or hip:N)")
    try:
        number = int(index) if index else 0
    except ValueError:
        raise CommandError(f"bad device index in {text!r}") from None
    return (0, 0) if types[kind.lower()] == 0 else (types[kind.lower()], number)


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    if args.original == STDIO and args.optimized == STDIO:
        raise CommandError("only one of the two nets can be read from stdin ('-')")
    original = _load(args.original, "original net")
    optimized = _load(args.optimized, "optimized net")
    t = time.perf_counter()
    passed, failed, _ = verify_nets(
        original,
        optimized,
        random_orders=args.random_orders,
        view_ops=_view_ops(args),
        nondeterministic_ops=_nondeterministic_ops(args),
    )
    _say(args, f"checked in {time.perf_counter() - t:.2f} s")
    if not args.quiet:
        for line in passed:
            out.write(f"ok      {line}\n")
        for line in failed:
            out.write(f"FAILED  {line}\n")
    if failed:
        # One line: the first divergence of the first failing check (each check's
        # own first divergence is on stdout, one line each).
        sys.stderr.write(f"memonger: not equivalent: {failed[0]}\n")
        return EXIT_NOT_EQUIVALENT
    if not args.quiet:
        out.write(f"{_display(args.optimized)} is a safe rewrite of {_display(args.original)}\n")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    import io

    from memonger.netdef.demo import run_demo

    _require_plot_library(args)  # asked for explicitly: fail before the work
    return run_demo(
        small=args.small,
        plot=args.plot,
        out_dir=args.out,
        time_limit=args.time_limit,
        node_limit=args.node_limit,
        batch_size=args.batch_size,
        stream=io.StringIO() if args.quiet else out,
        show_progress=sys.stderr.isatty() and not args.quiet,
        verbose=args.verbose,
    )


_OPTIMIZE_EPILOG = """\
examples:
  memonger optimize train.pb -o train_opt.pb --shapes train.shapes.json
  memonger optimize train.pb -o train_opt.pb --node-limit 50000 --time-limit 10 \\
      --init-net init.pb --input data=32,3,224,224 --input label=32:int32
  memonger optimize train.pb -o train_opt.pbtxt --mode grad --namescope gpu_0/ \\
      --report report.json --plot timeline.png --shapes train.shapes.json
  memonger optimize predict.pb -o predict_opt.pb --mode dag --input-blob data
  memonger optimize train.pb --dry-run --shapes train.shapes.json --report report.json
  cat train.pb | memonger optimize - -o - --shapes train.shapes.json > train_opt.pb

modes:
  interference  reorder (--ordering), compute live ranges, share buffers with
                --algorithm dp (the exact solver: optimal when its search
                completes within --node-limit) or greedy (Caffe2's rule);
                never shares external inputs/outputs
  dag           every intermediate blob, safe under any execution order of a
                DAG executor (inference nets only)
  grad          gradient blobs of a training net, DAG-safe (share_grad_blobs);
                losses and parameter gradients found unless given
  fast          one linear scan in program order

bounds (printed with the plan's gap over each, in bytes and percent):
  peak live bytes      no plan for the op order needs fewer bytes
  shared-object bound  no plan of shared buffers (a rename) needs fewer

The result is checked by symbolic execution (under random valid orders for
dag/grad) and written only if it is equivalent (exit status 1 otherwise).
NET '-' reads stdin and '-o -' writes the net to stdout (messages go to stderr).
"""

_STATS_EPILOG = """\
examples:
  memonger stats train.pb
  memonger stats train.pb --shapes train.shapes.json --top 5 --device cuda:0
  memonger stats train.pb --init-net init.pb --input data=32,3,224,224 --json
  memonger stats - --shapes train.shapes.json < train.pb
"""

_VERIFY_EPILOG = """\
examples:
  memonger verify train.pb train_opt.pb
  memonger verify predict.pb predict_opt.pb --random-orders 50
  memonger verify train.pb train_opt.pb --nondeterministic-op MyRandomFill

Exit status 0 when every check holds, 1 when one fails, 2 when a net cannot be
read.
"""

_DEMO_EPILOG = """\
examples:
  memonger demo
  memonger demo --small --plot /tmp/demo.png
  memonger demo --out results/
  memonger demo --small --node-limit 20000 --quiet
"""


def version_text() -> str:
    """What ``memonger --version`` prints: every installed memonger package and its version.

    Examples
    --------
    >>> "memonger-netdef " in version_text()
    True
    """
    from memonger.stats.report import package_versions

    return "".join(f"{name} {version}\n" for name, version in package_versions().items())


class _VersionAction(argparse.Action):
    """``--version``: the versions, read only when asked (``--help`` stays light)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version of every installed memonger package and exit")
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
        sys.stdout.write(version_text())
        sys.stdout.flush()
        parser.exit(EXIT_OK)


def add_version_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--version`` (also used by memonger-onnx's command)."""
    parser.add_argument("--version", action=_VersionAction)


def add_verbosity_options(
    p: argparse.ArgumentParser, quiet: str = "print nothing on success"
) -> None:
    """Add ``-q/--quiet`` and ``-v/--verbose`` (one of them) to a subcommand."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help=f"{quiet} (default: off)")
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print timings and search statistics on stderr (default: off)",
    )


def add_budget_options(p: argparse.ArgumentParser, nodes: int, what: str) -> None:
    """Add ``--node-limit`` (the work budget, ``nodes`` by default) and ``--time-limit``."""
    p.add_argument(
        "--node-limit",
        type=_nodes,
        default=None,
        metavar="N",
        help=f"search nodes {what} may expand (default: {nodes:,}, memonger.alloc's "
        "budget: the same plan on every machine)",
    )
    p.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="a wall-clock cap on top of the node budget (default: none)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``memonger`` command."""
    from memonger.alloc import DEFAULT_NODE_LIMIT

    parser = _ArgumentParser(
        prog="memonger",
        description="Static memory optimizer for Caffe2 nets: share the buffers of "
        "blobs whose lifetimes never overlap, and prove the rewrite safe.",
        epilog="run 'memonger COMMAND --help' for a command's options and examples",
    )
    add_version_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    sub.required = True
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "optimize",
        help="share blob buffers and write the verified net",
        description="Optimize a net's memory and write the result (verified first).",
        epilog=_OPTIMIZE_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("net", metavar="NET", help="the net (binary or text NetDef; - reads stdin)")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="OUT",
        help="where to write it (- for stdout; required unless --dry-run)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="plan, verify and report (--report, --plot) without writing the net (default: off)",
    )
    p.add_argument(
        "--mode", choices=MODES, default="interference", help="how to share (default: interference)"
    )
    p.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default=DEFAULT_ALGORITHM,
        help=f"interference assignment algorithm: dp, the exact solver as in "
        f"memonger.alloc.allocate, or greedy, Caffe2's rule (default: {DEFAULT_ALGORITHM})",
    )
    add_budget_options(p, DEFAULT_NODE_LIMIT, "the dp search")
    p.add_argument(
        "--ordering",
        choices=ORDERINGS,
        default="program",
        help="interference op order (default: program)",
    )
    p.add_argument(
        "--static",
        action="append",
        metavar="NAMES",
        help="blobs never shared or renamed (comma-separated, repeatable)",
    )
    p.add_argument(
        "--loss",
        action="append",
        metavar="NAMES",
        help="grad mode: loss blobs (default: the blobs gradient seeds are filled from)",
    )
    p.add_argument(
        "--param-grad",
        action="append",
        metavar="NAMES",
        help="grad mode: parameter gradients (default: external outputs <param>_grad and "
        "the <param>_grad inputs of update ops such as WeightedSum that read <param>)",
    )
    p.add_argument(
        "--input-blob",
        action="append",
        metavar="NAMES",
        help="dag mode: data inputs fed by the caller (default: none)",
    )
    p.add_argument(
        "--namescope",
        default="",
        metavar="SCOPE",
        help="grad mode: the name scope to share in; dag/fast: prefix of buffer names "
        "(default: none)",
    )
    p.add_argument(
        "--share-activations",
        action="store_true",
        help="grad mode: also share forward activations (default: off)",
    )
    _add_size_options(p)
    p.add_argument(
        "--format",
        choices=("binary", "text"),
        default=None,
        help="output format (default: from the suffix, .pbtxt/.txt is text)",
    )
    _add_view_option(p)
    _add_nondeterministic_option(p)
    p.add_argument(
        "--report",
        metavar="FILE.json",
        help="write a JSON report: figures, bounds, which blobs share which buffer, the "
        "algorithm, ordering, budget and package versions (schema memonger.report)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help='write a live-bytes timeline plot (needs pip install "memonger-stats[plot]")',
    )
    add_verbosity_options(p)
    p.set_defaults(run=_cmd_optimize)

    p = sub.add_parser(
        "stats",
        help="blobs, naive/peak bytes, what a run allocates",
        description="Memory statistics of a net.",
        epilog=_STATS_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("net", metavar="NET", help="the net (binary or text NetDef; - reads stdin)")
    _add_size_options(p)
    p.add_argument(
        "--top",
        type=_count,
        default=10,
        metavar="K",
        help="how many blobs and op types to list (default: 10)",
    )
    p.add_argument(
        "--device",
        default=None,
        metavar="DEV",
        help="device of the allocation estimate: cpu, cuda:N (default: "
        "that of the first op with a device option)",
    )
    _add_view_option(p)
    p.add_argument("--json", action="store_true", help="print JSON (default: text)")
    add_verbosity_options(p, "no warnings on stderr")
    p.set_defaults(run=_cmd_stats)

    from memonger.netdef.cli_plan import add_plan_parser

    add_plan_parser(sub, fmt)

    p = sub.add_parser(
        "verify",
        help="check that a rewritten net computes what the original does",
        description="Check an optimized net against its original: execution "
        "equivalence, graph equality and in-place blobs, each reporting its first "
        "divergence (ops are matched by identity, so reordered nets are checked too).",
        epilog=_VERIFY_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("original", metavar="ORIGINAL", help="the original net (- reads stdin)")
    p.add_argument("optimized", metavar="OPTIMIZED", help="its rewrite (- reads stdin)")
    p.add_argument(
        "--random-orders",
        type=_count,
        default=0,
        metavar="N",
        help="also run N random valid concurrent orders (DAG nets; default: 0)",
    )
    _add_view_option(p)
    _add_nondeterministic_option(p)
    add_verbosity_options(p, "only the exit status")
    p.set_defaults(run=_cmd_verify)

    p = sub.add_parser(
        "demo",
        help="optimize ResNet-50's training net with every mode",
        description="Build ResNet-50's training net (forward and gradient ops, as "
        "Caffe2's model helpers make it), size it by shape inference, optimize it with "
        "every mode, print a before/after table and write a timeline plot.",
        epilog=_DEMO_EPILOG,
        formatter_class=fmt,
    )
    p.add_argument(
        "--small",
        action="store_true",
        help="a small ResNet (width 8, 32x32 images) for a quick run (default: ResNet-50)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        default=None,
        help="plot file (default: demo_timeline.png in --out or here)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="also write the nets, their shapes and a JSON report there (default: none)",
    )
    add_budget_options(p, DEFAULT_NODE_LIMIT, "the dp search")
    p.add_argument(
        "--batch-size",
        type=_positive_count,
        default=None,
        metavar="N",
        help="batch size (default: 32, 2 with --small)",
    )
    add_verbosity_options(p, "print nothing (the files are still written)")
    p.set_defaults(run=_cmd_demo)
    return parser


def _error(message: str) -> None:
    text = " ".join(str(message).split()) or "failed"
    sys.stderr.write(f"memonger: error: {text}\n")


def _onnx_command(argv: Sequence[str] | None) -> int | None:
    """Run ``argv`` with memonger-onnx when it names an ONNX model; None otherwise.

    Without memonger-onnx installed, an input that looks like an ONNX model
    (a ``.onnx`` name) gets an error naming the package to install.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("plan", "stats"):
        return None  # no ONNX subcommand: nothing to import
    try:
        from memonger.onnx.cli import run_onnx_command
    except ImportError:
        if any(a.endswith(".onnx") for a in args[1:] if not a.startswith("-")):
            _error("ONNX models need memonger-onnx: pip install memonger-onnx")
            return EXIT_ERROR
        return None
    return run_onnx_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``memonger`` command; return its exit status.

    Examples
    --------
    >>> main(["verify", "/nonexistent/a.pb", "/nonexistent/b.pb"])
    2
    """
    with _sigterm_interrupts():
        return _run(argv)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while the command runs (main thread only).

    Every cleanup then runs as on Ctrl-C: temporary files are removed and
    previous outputs stay as they were.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except (AttributeError, ValueError, OSError):  # pragma: no cover - no SIGTERM here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(argv: Sequence[str] | None) -> int:
    """:func:`main` without the signal handling: every failure is one line on stderr."""
    from memonger.alloc.errors import AllocError
    from memonger.graph.errors import GraphError
    from memonger.netdef.errors import NetDefError
    from memonger.stats.errors import StatsError

    try:
        handed = _onnx_command(argv)
        if handed is not None:
            return handed
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
        status: int = args.run(args, sys.stdout)
        return status
    except Terminated:
        _error("terminated")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except CheckFailed as exc:
        _error(f"{exc}; nothing written")
        return EXIT_NOT_EQUIVALENT
    except (CommandError, NetDefError, StatsError, AllocError, GraphError) as exc:
        _error(str(exc))
        return EXIT_ERROR
    except BrokenPipeError:  # pragma: no cover - output closed early (| head)
        return EXIT_OK
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        return EXIT_ERROR
    except Exception as exc:  # never a traceback: report what failed, in one line
        _error(f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
