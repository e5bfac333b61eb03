"""One liveness model across packages, and storage-safe rewrites of nets with views.

Random nets from ``memonger.graph.testing.nets(views=True)`` carry ops that
make an output a view of an input's storage (``Alias``; ``Reshape`` with a
shape input), chains of views, views of external inputs, views read after
their base is rewritten, control inputs, in-place ops and rewrites.

1. Every package reports the same figures for the same net: the ranges of
   ``memonger.alloc.compute_liveness``, the timeline and peak of
   ``memonger.stats``, the peak of ``memonger.graph``'s orderings, and the
   liveness, peak, naive and plan bytes of ``memonger.netdef`` and its
   command.
2. Every mode rewrites such nets safely, judged by a concrete interpreter
   over storage cells written here, apart from the packages: an ``Alias`` or
   ``Reshape`` binds its output name to its input's cell, every other op
   writes fresh values into the cells of its outputs.  Each op of the
   rewrite must read what it read in the original, and every external
   output and every fetchable result (a blob whose last access is a write)
   must end with the same value.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from harness_oracle import as_text, to_netdef
from hypothesis import given, note
from hypothesis import strategies as st

from memonger.alloc import (
    compute_liveness,
    live_bytes,
    naive_bytes,
    peak_live_bytes,
    plan_bytes,
)
from memonger.graph import compute_interference_graph, memory_order, order_peak_bytes
from memonger.graph.testing import nets
from memonger.netdef import (
    caffe2_pb2,
    optimize_inference_fast,
    optimize_inference_for_dag,
    plan_interference,
    release_blobs_when_used,
    share_grad_blobs,
)
from memonger.netdef.cli import measure, optimize_net
from memonger.netdef.rewrite import net_accesses, net_liveness
from memonger.stats import compute_timeline, naive_nbytes, plan_nbytes

VIEW_OPS = {"Alias": [(0, 0)], "Reshape": [(0, 0)]}
VIEW_TYPES = frozenset(VIEW_OPS)

random_nets = nets(
    min_ops=1,
    max_ops=10,
    views=True,
    sizes=st.integers(1, 64),
    control_inputs=True,
    in_place=True,
    rewrites=True,
)


# --------------------------------------------------------------------------
# 1. One model, the same figures everywhere
# --------------------------------------------------------------------------


@given(random_nets)
def test_every_package_reports_the_same_liveness(rn: Any) -> None:
    ops, sizes = list(rn.op), dict(rn.blob_sizes)
    net = to_netdef(rn)
    note(as_text(net))
    live = compute_liveness(ops, sizes)
    produced = live.produced_ranges()
    peak = peak_live_bytes(produced)
    timeline = live_bytes(produced, len(ops))

    # stats
    stats_timeline = compute_timeline(ops, sizes)
    assert stats_timeline.live_nbytes.tolist() == timeline
    assert stats_timeline.peak_nbytes == peak
    assert naive_nbytes(ops, sizes) == naive_bytes(produced)

    # graph: program order and the memory-aware order
    assert order_peak_bytes(ops, None, sizes) == peak
    found = memory_order(compute_interference_graph(ops), sizes)
    assert found.program_peak == peak
    reordered = [ops[k] for k in found.order]
    assert found.peak == peak_live_bytes(compute_liveness(reordered, sizes).produced_ranges())
    assert found.peak <= peak

    # netdef: the same ranges through its own access lists, and the command's figures
    netdef_live = net_liveness(net_accesses(net, VIEW_OPS), None, sizes)
    assert netdef_live.ranges == live.ranges
    assert netdef_live.storage == live.storage
    figures = measure(net, None, sizes, view_ops=VIEW_OPS)
    assert figures.peak_bytes == peak
    assert figures.naive_bytes == naive_bytes(produced)


@given(random_nets, st.sampled_from(["program", "longest-path", "memory"]))
def test_every_package_reports_the_same_plan_bytes(rn: Any, ordering: str) -> None:
    sizes = dict(rn.blob_sizes)
    net = to_netdef(rn)
    note(as_text(net))
    result = optimize_net(
        net,
        mode="interference",
        algorithm="greedy",  # the same algorithm as plan_interference's default below
        ordering=ordering,
        sizes=sizes,
        view_ops=VIEW_OPS,
    )
    order = result.order if result.order is not None else list(range(len(net.op)))
    plan = plan_interference(
        net, [], lambda _g: order, blob_sizes=sizes, view_ops=VIEW_OPS, verify=False
    )
    live = net_liveness(net_accesses(net, VIEW_OPS), order, sizes)
    produced = live.produced_ranges()
    assignments = [list(buffer) for buffer in plan.optimization.assignments]
    alloc_bytes = plan_bytes(assignments, produced)
    storage_sizes = {root: r.size or 0 for root, r in live.ranges.items()}
    assert plan.plan_bytes == alloc_bytes
    assert plan_nbytes(assignments, storage_sizes, produced=produced) == alloc_bytes
    assert measure(net, result, sizes, view_ops=VIEW_OPS).plan_bytes == alloc_bytes


# --------------------------------------------------------------------------
# 2. Storage-safe rewrites, by a concrete interpreter written here
# --------------------------------------------------------------------------


class Outcome:
    """What one concrete run saw: values read per op, and the final value of every name."""

    def __init__(self, reads: dict[str, tuple[Any, ...]], final: dict[str, Any]) -> None:
        self.reads = reads
        self.final = final


def run_concrete(net: caffe2_pb2.NetDef, order: Sequence[int] | None = None) -> Outcome:
    cell_of: dict[str, int] = {}
    cells: dict[int, Any] = {}
    fresh = itertools.count()

    def cell(name: str) -> int:
        if name not in cell_of:
            cell_of[name] = next(fresh)
            cells[cell_of[name]] = ("outside", name)
        return cell_of[name]

    reads: dict[str, tuple[Any, ...]] = {}
    for k in range(len(net.op)) if order is None else order:
        op = net.op[k]
        if op.type == "Free":
            for name in op.output:
                cells[cell(name)] = ("freed",)
            continue
        values = tuple(cells[cell(name)] for name in op.input)
        reads[op.name] = values
        if op.type in VIEW_TYPES:
            cell_of[op.output[0]] = cell(op.input[0])  # the output names the input's storage
            continue
        for index, name in enumerate(op.output):
            cells[cell(name)] = (op.name, index, values)
    return Outcome(reads, {name: cells[c] for name, c in cell_of.items()})


def fetchable(net: caffe2_pb2.NetDef) -> set[str]:
    """External outputs, and every blob whose last read-or-write is a write."""
    last: dict[str, bool] = {}
    for op in net.op:
        for name in op.input:
            last[name] = False
        for name in op.output:
            last[name] = True
    return set(net.external_output) | {name for name, written in last.items() if written}


def storage_divergence(
    original: caffe2_pb2.NetDef, rewritten: caffe2_pb2.NetDef, order: Sequence[int] | None = None
) -> str | None:
    """The first difference between the two nets' concrete runs, or None."""
    before = run_concrete(original)
    after = run_concrete(rewritten, order)
    for op in original.op:
        if before.reads[op.name] != after.reads.get(op.name):
            found = after.reads.get(op.name)
            return f"op {op.name} ({op.type}) reads {found}, not {before.reads[op.name]}"
    for name in sorted(fetchable(original)):
        if before.final.get(name) != after.final.get(name):
            return (
                f"final value of {name!r} is {after.final.get(name)}, not {before.final.get(name)}"
            )
    return None


def _interference(algo: str, ordering: str) -> Callable[[caffe2_pb2.NetDef, dict[str, int]], Any]:
    def run(
        net: caffe2_pb2.NetDef, sizes: dict[str, int]
    ) -> tuple[caffe2_pb2.NetDef, list[int] | None]:
        result = optimize_net(
            net,
            mode="interference",
            algorithm=algo,
            ordering=ordering,
            sizes=sizes,
            view_ops=VIEW_OPS,
        )
        return result.net, None  # the rewritten net holds its ops in the new order

    return run


MODES: dict[str, Callable[[caffe2_pb2.NetDef, dict[str, int]], Any]] = {
    "greedy/program": _interference("greedy", "program"),
    "greedy/longest-path": _interference("greedy", "longest-path"),
    "greedy/memory": _interference("greedy", "memory"),
    "dp/program": _interference("dp", "program"),
    "fast": lambda net, sizes: (optimize_inference_fast(net, [], view_ops=VIEW_OPS), None),
    "dag": lambda net, sizes: (
        optimize_inference_for_dag(net, list(net.external_input), view_ops=VIEW_OPS),
        None,
    ),
    "grad": lambda net, sizes: (
        share_grad_blobs(net, [], [], "", share_activations=True, view_ops=VIEW_OPS),
        None,
    ),
    "release": lambda net, sizes: (release_blobs_when_used(net, [], view_ops=VIEW_OPS), None),
}


@pytest.mark.parametrize("mode", sorted(MODES))
@given(rn=random_nets)
def test_every_mode_is_storage_safe(mode: str, rn: Any) -> None:
    net = to_netdef(rn)
    note(as_text(net))
    from memonger.netdef.errors import UnsupportedNetError

    try:
        rewritten, order = MODES[mode](net, dict(rn.blob_sizes))
    except UnsupportedNetError:
        return  # the mode refuses this net (e.g. dag: a blob read before any write)
    note(as_text(rewritten))
    problem = storage_divergence(net, rewritten, order)
    assert problem is None, problem


def _hand_made_bad_rewrite() -> tuple[caffe2_pb2.NetDef, caffe2_pb2.NetDef]:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    for k, (kind, inputs, output) in enumerate(
        [
            ("Relu", ["x"], "a"),
            ("Alias", ["a"], "b"),
            ("Relu", ["b"], "t"),
            ("Sigmoid", ["t"], "c"),
            ("Sum", ["b", "c"], "y"),
        ]
    ):
        net.op.add(type=kind, name=f"op{k}", input=inputs, output=[output])
    bad = caffe2_pb2.NetDef()
    bad.CopyFrom(net)
    for op in bad.op:  # t placed in a's buffer while b still views it
        op.input[:] = ["a" if n == "t" else n for n in op.input]
        op.output[:] = ["a" if n == "t" else n for n in op.output]
    return net, bad


def test_interpreter_catches_a_rewrite_that_ignores_views() -> None:
    net, bad = _hand_made_bad_rewrite()
    assert storage_divergence(net, bad) is not None
    assert storage_divergence(net, net) is None
