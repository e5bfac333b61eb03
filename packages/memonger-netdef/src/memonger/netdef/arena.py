"""Arena plans for nets: a byte offset for every shareable blob, in one arena.

:func:`plan_net_offsets` takes a net's live ranges in an op order (program,
longest-path or memory-aware; memonger.alloc's liveness over storages, views
included) and hands the shareable storages to
:func:`memonger.alloc.plan_offsets`.  What a Caffe2 rename cannot express --
blobs of different sizes overlapping in time inside one buffer -- an arena
can: its lower bound is the peak live bytes itself.  Blobs that keep their
own memory whatever the plan (external inputs and outputs, static blobs and
everything sharing a storage with them, blobs read before any op writes
them) are not planned; their bytes are reported apart as ``kept_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memonger.alloc import LiveRange, OffsetAlgorithm, OffsetPlan, naive_bytes, plan_offsets
from memonger.netdef.netlike import as_netdef
from memonger.netdef.views import ViewOps

__all__ = ["NetArenaPlan", "plan_net_offsets"]


@dataclass(frozen=True)
class NetArenaPlan:
    """An arena plan of a net, with the ranges it was made from.

    Attributes
    ----------
    plan : memonger.alloc.OffsetPlan
        Offsets, arena bytes, the peak-live lower bound, proof and budget.
    ranges : dict of str to LiveRange
        The planned storages (roots) in the chosen order.
    order : list of int
        The op order: ``order[k]`` is the original index of the ``k``-th op.
    kept_bytes : int
        Bytes of the produced storages that were not planned (externals,
        static blobs): memory outside the arena.
    """

    plan: OffsetPlan
    ranges: dict[str, LiveRange]
    order: list[int]
    kept_bytes: int


def plan_net_offsets(
    net: Any,
    blob_sizes: Mapping[str, int],
    *,
    static_blobs: Iterable[str] = (),
    ordering: str = "program",
    order: Sequence[int] | None = None,
    view_ops: ViewOps | None = None,
    algorithm: OffsetAlgorithm | str = "auto",
    alignment: int = 1,
    capacity: int | None = None,
    time_limit: float | None = None,
    node_limit: int | None = None,
) -> NetArenaPlan:
    """Plan the shareable blobs of ``net`` as byte offsets in one arena.

    Parameters
    ----------
    net : NetDef or object with ``.Proto()``
        The net (not modified).
    blob_sizes : mapping of str to int
        Bytes of every blob the ops touch.
    static_blobs : iterable of str
        Blobs that keep their own memory (with externals, never planned).
    ordering : {"program", "longest-path", "memory"}
        The op order (:func:`memonger.netdef.orderings.ordering_function`).
    order : sequence of int, optional
        An explicit op order (``order[k]``: the original index of the
        ``k``-th op), e.g. the one a rewrite chose; overrides ``ordering``.
    view_ops : optional
        Op types making views (:mod:`memonger.netdef.views`).
    algorithm, alignment, capacity, time_limit, node_limit
        As for :func:`memonger.alloc.plan_offsets`.

    Returns
    -------
    NetArenaPlan

    Examples
    --------
    >>> from memonger.netdef import caffe2_pb2
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    >>> for i, o in [("x", "a"), ("a", "b"), ("b", "c"), ("c", "y")]:
    ...     _ = net.op.add(type="Relu", input=[i], output=[o])
    >>> arena = plan_net_offsets(net, {"x": 4, "a": 8, "b": 16, "c": 8, "y": 4})
    >>> arena.plan.arena_bytes, arena.plan.lower_bound, arena.plan.proven_optimal
    (24, 24, True)
    >>> sorted(arena.ranges), arena.kept_bytes
    (['a', 'b', 'c'], 4)
    """
    from memonger.alloc.ranges import name_set
    from memonger.graph import compute_interference_graph
    from memonger.netdef.orderings import ordering_function
    from memonger.netdef.rewrite import net_accesses, net_liveness, storage_accesses

    netdef = as_netdef(net)
    fixed = name_set(static_blobs) | set(netdef.external_input) | set(netdef.external_output)
    accesses = net_accesses(netdef, view_ops)
    if order is not None:
        order = list(order)
    elif ordering == "program":
        order = list(range(len(netdef.op)))
    else:
        program = net_liveness(accesses, None, blob_sizes)
        graph = compute_interference_graph(storage_accesses(accesses, program.storage))
        order = ordering_function(
            ordering, blob_sizes, time_limit=time_limit, unshareable=program.roots(fixed)
        )(graph)
    live = net_liveness(accesses, order, blob_sizes)
    kept = live.roots(fixed) | {name for name, r in live.ranges.items() if r.defined < 0}
    produced = live.produced_ranges()
    planned = {name: r for name, r in produced.items() if name not in kept}
    plan = plan_offsets(
        planned,
        algorithm=algorithm,
        alignment=alignment,
        capacity=capacity,
        time_limit=time_limit,
        node_limit=node_limit,
    )
    kept_ranges = {name: r for name, r in produced.items() if name in kept}
    return NetArenaPlan(plan, planned, list(order), naive_bytes(kept_ranges))
