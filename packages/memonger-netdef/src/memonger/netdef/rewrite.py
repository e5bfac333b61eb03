"""Blob sharing by interference: reorder a net, share buffers, rename.

:func:`optimize_interference` is Caffe2's memonger entry point of the same
name: it orders the ops (any valid topological order of their dependencies,
design 3.3), computes the live range of every blob in that order, lets blobs
whose ranges never overlap share one buffer, and renames them.  Unlike the
original it never renames or shares external inputs and outputs, static
blobs, inputs of the net or blobs on different devices (design 3.2), treats
an op with nested nets as reading and writing every outer blob they
reference, and checks its result by symbolic execution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import networkx as nx

from memonger.alloc import (
    AllocationResult,
    AssignmentAlgorithm,
    Liveness,
    LiveRange,
    allocate,
    compute_blob_assignments,
    compute_liveness,
    naive_bytes,
    plan_bytes,
)
from memonger.graph import compute_interference_graph, topological_sort_traversal
from memonger.netdef import caffe2_pb2
from memonger.netdef.devices import CPU, Device, blob_devices_of
from memonger.netdef.errors import VerificationError
from memonger.netdef.nested import nested_nets, net_blob_names
from memonger.netdef.rename import as_netdef, rename_in_place
from memonger.netdef.views import ViewOps, ViewRule, view_rule

__all__ = [
    "InterferencePlan",
    "OpAccess",
    "Optimization",
    "blob_devices",
    "names_set",
    "net_accesses",
    "net_liveness",
    "optimize_interference",
    "plan_buffers",
    "plan_interference",
    "storage_accesses",
    "unshareable_blobs",
]

Assignment = list[tuple[str, LiveRange]]


class Optimization(NamedTuple):
    """Result of :func:`optimize_interference`.

    Attributes
    ----------
    net : caffe2_pb2.NetDef
        The reordered, renamed net.
    assignments : list of list of (str, LiveRange)
        The buffers: each one lists the blobs sharing it with their live
        ranges in the new op order.
    blob_assignments : dict of str to str
        New name of every renamed blob (members of buffers holding more than
        one blob, each mapped to the buffer's canonical blob, as in Caffe2).
    """

    net: caffe2_pb2.NetDef
    assignments: list[Assignment]
    blob_assignments: dict[str, str]


@dataclass(frozen=True)
class InterferencePlan:
    """Result of :func:`plan_interference`: the optimization and how good its plan is.

    Attributes
    ----------
    optimization : Optimization
        ``(net, assignments, blob_assignments)``, as
        :func:`optimize_interference` returns it.
    allocations : dict of Device to memonger.alloc.AllocationResult
        What the assignment algorithm found for each device's shareable
        blobs (``(device_type, device_id)``, CPU ``(0, 0)``), in order of
        first appearance.
    order : list of int
        The op order: ``order[k]`` is the index in the original net of the
        optimized net's op ``k``.
    plan_bytes : int
        Bytes of the plan (design 7): the shared buffers' bytes plus every
        produced blob that keeps a buffer of its own.  A blob without a size
        counts as 1.
    kept_bytes : int
        The part of ``plan_bytes`` that no plan can avoid: produced blobs
        (written by some op) that may not share -- external outputs, static
        blobs, inputs of the net written in place.
    """

    optimization: Optimization
    allocations: dict[Device, AllocationResult]
    order: list[int]
    plan_bytes: int
    kept_bytes: int

    @property
    def lower_bound(self) -> int:
        """No plan for this op order needs fewer bytes (each device's bound plus kept bytes)."""
        return self.kept_bytes + sum(r.lower_bound for r in self.allocations.values())

    @property
    def proven_optimal(self) -> bool:
        """Whether the plan is proven to need the fewest bytes for this op order.

        True when, on every device, the exact search completed or the plan
        meets the lower bound.
        """
        return all(r.proven_optimal for r in self.allocations.values())

    @property
    def search_proven(self) -> bool:
        """Whether the exact solver's search completed on every device (false for heuristics)."""
        return all(r.search_proven for r in self.allocations.values())


@dataclass(slots=True)
class OpAccess:
    """The blobs one op touches, nested nets included.

    ``input`` holds the op's inputs and the outer blobs its nested nets
    reference; ``output`` its outputs and those same outer blobs (an op owning
    a nested net counts as reading and writing them); ``control_input`` the
    op's control inputs, which order it after their producers and keep their
    buffers unshared up to the op without consuming the value (a blob whose
    last access is a write still lives to the end).  ``views`` are the
    ``(output_index, input_index)`` pairs of the views the op declares (its
    own, by :mod:`memonger.netdef.views`, and those its nested nets declare
    between outer blobs); ``nested_refs`` the outer blobs its nested nets
    reference.  ``type`` and ``name`` are the op's, for error messages.
    Instances are op-like for :mod:`memonger.graph` and :mod:`memonger.alloc`
    (:func:`memonger.alloc.compute_liveness` reads ``views``).
    """

    input: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    control_input: list[str] = field(default_factory=list)
    type: str = ""
    name: str = ""
    views: list[tuple[int, int]] = field(default_factory=list)
    nested_refs: list[str] = field(default_factory=list)


def names_set(names: Iterable[str] | None, what: str) -> set[str]:
    """Turn an iterable of blob names into a set, refusing a bare string.

    Raises
    ------
    TypeError
        ``names`` is a ``str`` or ``bytes`` (whose characters would be taken
        as names).

    Examples
    --------
    >>> sorted(names_set(["a", "b"], "static_blobs"))
    ['a', 'b']
    >>> names_set("ab", "static_blobs")
    Traceback (most recent call last):
    ...
    TypeError: static_blobs must be a collection of blob names, not a string: 'ab'
    """
    if names is None:
        return set()
    if isinstance(names, (str, bytes)):
        raise TypeError(f"{what} must be a collection of blob names, not a string: {names!r}")
    return set(names)


def _written_names(net: caffe2_pb2.NetDef) -> set[str]:
    """Blobs the ops of ``net`` (and of its nested nets) write."""
    names: set[str] = set()
    for op in net.op:
        names.update(op.output)
        for nested in nested_nets(op):
            names |= _written_names(nested.net)
    return names


def net_accesses(
    net: caffe2_pb2.NetDef,
    view_ops: ViewOps | ViewRule | None = None,
    *,
    read_only_refs: bool = False,
) -> list[OpAccess]:
    """The blobs each op of ``net`` reads and writes, nested nets included.

    Parameters
    ----------
    net : caffe2_pb2.NetDef
        The net.
    view_ops : iterable of str or mapping, optional
        The ops declaring views (:func:`memonger.netdef.views.view_rule`;
        default ``{"Alias"}``).
    read_only_refs : bool, optional
        When True, an outer blob that the nested nets only read (no op in
        them writes it and it is no output of the op) is an input of the op
        only; by default every referenced outer blob is read and written.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x", "W"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"], control_input=["x"])
    >>> op = net.op.add(type="RecurrentNetwork", input=["a"], output=["h"])
    >>> _ = op.arg.add(name="step_net").n.op.add(type="FC", input=["a_t", "W"], output=["h_t"])
    >>> _ = net.op.add(type="Alias", input=["h"], output=["v"])
    >>> [(acc.input, acc.output) for acc in net_accesses(net)]
    [(['x'], ['a']), (['a', 'W'], ['h', 'W']), (['h'], ['v'])]
    >>> net_accesses(net)[0].control_input, net_accesses(net)[2].views
    (['x'], [(0, 0)])
    >>> net_accesses(net, read_only_refs=True)[1].output
    ['h']
    """
    rule = view_rule(view_ops)
    outer: set[str] | None = None
    accesses: list[OpAccess] = []
    for op in net.op:
        reads = list(op.input)
        writes = list(op.output)
        views = list(rule(op))
        ordered: list[str] = []
        if op.arg:
            if outer is None:
                outer = set(net.external_input) | set(net.external_output)
                for other in net.op:
                    outer.update(other.input)
                    outer.update(other.output)
                    outer.update(other.control_input)
            refs: set[str] = set()
            written: set[str] = set()
            for nested in nested_nets(op):
                refs.update(net_blob_names(nested.net))
                if read_only_refs:
                    written |= _written_names(nested.net)
            refs &= outer
            if refs:
                ordered = sorted(refs)
                reads.extend(ordered)
                if read_only_refs:
                    own = set(op.output)
                    writes.extend(b for b in ordered if b in written or b in own)
                else:
                    writes.extend(ordered)
                for view, base in rule.nested_name_pairs(op):
                    if view in refs and base in refs and view != base:
                        out_index = writes.index(view, len(op.output))
                        views.append((out_index, reads.index(base, len(op.input))))
        accesses.append(
            OpAccess(
                reads,
                writes,
                list(op.control_input),
                type=op.type,
                name=op.name,
                views=views,
                nested_refs=ordered,
            )
        )
    return accesses


def net_liveness(
    accesses: Sequence[OpAccess],
    order: Sequence[int] | None = None,
    blob_sizes: Mapping[str, int | None] | None = None,
    *,
    partial_sizes: bool = True,
) -> Liveness:
    """:func:`memonger.alloc.compute_liveness` of the accesses run in ``order``.

    Views are those the accesses declare (:func:`net_accesses`).  With
    ``partial_sizes`` (the default) ``blob_sizes`` may lack blobs: they count
    as unknown (one byte, the project's one unknown-size policy); without,
    a missing blob raises :class:`memonger.alloc.MissingSizeError`.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef()
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"])
    >>> _ = net.op.add(type="Alias", input=["a"], output=["b"])
    >>> _ = net.op.add(type="Relu", input=["b"], output=["y"])
    >>> live = net_liveness(net_accesses(net), blob_sizes={"a": 8})
    >>> live.ranges["a"], live.members("a")
    (LiveRange(defined=0, used=2, size=8), ('a', 'b'))
    """
    linear = list(accesses) if order is None else [accesses[i] for i in order]
    sizes: Mapping[str, int | None] | None = blob_sizes
    if blob_sizes is not None and partial_sizes:
        sizes = _PartialSizes(blob_sizes)
    return compute_liveness(linear, sizes)


class _PartialSizes(Mapping[str, "int | None"]):
    """Sizes where a blob the mapping lacks is unknown (``None``) instead of missing."""

    __slots__ = ("_sizes",)

    def __init__(self, sizes: Mapping[str, int | None]) -> None:
        self._sizes = sizes

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> int | None:
        return self._sizes.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sizes)

    def __len__(self) -> int:
        return len(self._sizes)


def storage_accesses(accesses: Sequence[OpAccess], storage: Mapping[str, str]) -> list[OpAccess]:
    """The accesses with every name replaced by its storage root.

    Dependencies computed on them are dependencies between storages: a
    write through a view orders after every read of any view of the same
    storage.  Without views they equal ``accesses``.
    """
    if not any(name != root for name, root in storage.items()):
        return list(accesses)

    def resolve(names: Iterable[str]) -> list[str]:
        return [storage.get(name, name) for name in names]

    return [
        OpAccess(
            resolve(acc.input),
            resolve(acc.output),
            resolve(acc.control_input),
            type=acc.type,
            name=acc.name,
        )
        for acc in accesses
    ]


def blob_devices(
    net: caffe2_pb2.NetDef, accesses: Sequence[OpAccess] | None = None
) -> dict[str, Device]:
    """The device of every blob of ``net`` (design 3.2).

    A blob lives on the device of the first op writing it, except that the
    output of ``CopyGPUToCPU`` is a CPU blob; a blob no op writes lives on
    the device of its first reader.  An op without a DeviceOption runs on the
    net's device, and a net without one on the CPU.  Devices are
    ``(device_type, device_id)`` pairs; every CPU is ``(0, 0)``.  The DAG
    recyclers use the same rule (:func:`memonger.netdef.devices.blob_devices_of`);
    here an op owning a nested net reads and writes the outer blobs the
    nested net references (:func:`net_accesses`).

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(device_option=caffe2_pb2.DeviceOption(device_type=1))
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"])
    >>> _ = net.op.add(type="CopyGPUToCPU", input=["a"], output=["b"])
    >>> blob_devices(net)
    {'a': (1, 0), 'b': (0, 0), 'x': (1, 0)}
    """
    if accesses is None:
        accesses = net_accesses(net)
    return blob_devices_of(net, [a.input for a in accesses], [a.output for a in accesses])


def unshareable_blobs(
    net: caffe2_pb2.NetDef,
    ranges: Mapping[str, LiveRange],
    static_blobs: Iterable[str],
    liveness: Liveness | None = None,
) -> set[str]:
    """Blobs that may never be renamed or shared (design 3.2, devices aside).

    External inputs and outputs, ``static_blobs``, and every blob read before
    any op writes it (an input of the net).  With ``liveness``, each of them
    stands for its whole storage group (:meth:`memonger.alloc.Liveness.roots`).
    """
    fixed = set(static_blobs) | set(net.external_input) | set(net.external_output)
    if liveness is not None:
        fixed = liveness.roots(fixed)
    fixed.update(name for name, r in ranges.items() if r.defined < 0)
    return fixed


def _allocate_by_device(
    net: caffe2_pb2.NetDef,
    ranges: Mapping[str, LiveRange],
    static_blobs: Iterable[str],
    algo: AssignmentAlgorithm | str | Callable[..., Any],
    accesses: Sequence[OpAccess] | None,
    time_limit: float | None,
    liveness: Liveness | None = None,
) -> tuple[list[Assignment], dict[Device, AllocationResult]]:
    """Buffers of every device group, kept blobs last, and each group's allocation result."""
    fixed = unshareable_blobs(net, ranges, static_blobs, liveness)
    devices = blob_devices(net, accesses)
    groups: dict[Device, dict[str, LiveRange]] = {}
    for name, live in ranges.items():
        groups.setdefault(devices.get(name, CPU), {})[name] = live
    assignments: list[Assignment] = []
    results: dict[Device, AllocationResult] = {}
    for device, group in groups.items():
        static_here = fixed & group.keys()
        if time_limit is None:  # the solver's own budget
            found = allocate(group, static_here, algo)
        else:
            found = allocate(group, static_here, algo, time_limit=time_limit)
        results[device] = found
        assignments.extend(found.assignments)
        # as in Caffe2, blobs that keep their own buffer come last, by last use
        kept = sorted((name for name in group if name in static_here), key=lambda n: group[n].used)
        assignments.extend([(name, group[name])] for name in kept)
    return assignments, results


def plan_buffers(
    net: caffe2_pb2.NetDef,
    ranges: Mapping[str, LiveRange],
    static_blobs: Iterable[str],
    algo: AssignmentAlgorithm | str | Callable[..., Any] = AssignmentAlgorithm.GREEDY,
    accesses: Sequence[OpAccess] | None = None,
    *,
    time_limit: float | None = None,
) -> tuple[list[Assignment], dict[str, str]]:
    """Assign the blobs of ``net`` to buffers, one device at a time.

    The assignment step of :func:`optimize_interference`: ``ranges`` are the
    live ranges in the chosen op order; external inputs and outputs,
    ``static_blobs`` and inputs of the net keep a buffer of their own, listed
    after the shared ones as in Caffe2.  ``time_limit`` bounds the exact
    solver's search for each device's blobs (seconds; default: the solver's
    own budget).

    Returns
    -------
    assignments : list of list of (str, LiveRange)
    blob_assignments : dict of str to str
        Each member of a buffer with several blobs mapped to its canonical blob.

    Examples
    --------
    >>> from memonger.alloc import compute_ranges
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    >>> for i, o in [("x", "a"), ("a", "b"), ("b", "c"), ("c", "y")]:
    ...     _ = net.op.add(type="Relu", input=[i], output=[o])
    >>> assignments, renamed = plan_buffers(net, compute_ranges(net.op), [])
    >>> [[name for name, _ in buffer] for buffer in assignments]
    [['a', 'c'], ['b'], ['x'], ['y']]
    >>> renamed
    {'a': 'c', 'c': 'c'}
    """
    assignments, _ = _allocate_by_device(net, ranges, static_blobs, algo, accesses, time_limit)
    return assignments, compute_blob_assignments(assignments)


def _check_order(order: Sequence[int], graph: nx.DiGraph[Any], n_ops: int) -> None:
    if sorted(order) != list(range(n_ops)):
        raise VerificationError(
            f"ordering_function returned {len(order)} positions that are not a "
            f"permutation of the {n_ops} ops"
        )
    position = {node: pos for pos, node in enumerate(order)}
    for u, v in graph.edges():
        if position[u] > position[v]:
            raise VerificationError(
                f"ordering_function placed op {v} before op {u}, which it depends on"
            )


def plan_interference(
    net: Any,
    static_blobs: Iterable[str],
    ordering_function: Callable[[nx.DiGraph[Any]], Iterable[int]] = topological_sort_traversal,
    blob_sizes: Mapping[str, int] | None = None,
    algo: AssignmentAlgorithm | str | Callable[..., Any] = AssignmentAlgorithm.GREEDY,
    *,
    verify: bool = True,
    time_limit: float | None = None,
    view_ops: ViewOps | None = None,
) -> InterferencePlan:
    """Reorder a net, let blobs with disjoint lifetimes share buffers, and rate the plan.

    :func:`optimize_interference` with what the assignment algorithm found:
    the allocation result of each device, the plan's bytes, a lower bound
    and whether the plan is proven optimal for the chosen op order.

    1. Build the dependency graph of the ops (read-after-write,
       write-after-read, write-after-write and control dependencies) and
       order it with ``ordering_function``.
    2. Compute the live range of every storage in that order with
       :func:`memonger.alloc.compute_liveness` (the project's one liveness
       policy); an op with nested nets reads and writes every outer blob
       they reference.  A view (an ``Alias`` output, or an op of
       ``view_ops``) is no allocation: it and the blob it views form one
       storage, live until the last access to any of them.
    3. Assign storages to buffers with ``algo``, separately per device,
       never sharing external inputs or outputs, ``static_blobs`` or inputs
       of the net (nor any storage holding one of them).
    4. Rename each storage of a shared buffer to the buffer's canonical blob
       (as :func:`~memonger.netdef.rename.apply_assignments` does).  Views
       keep their names: only a storage's root (the member named first) is
       renamed, so the members of a storage are never renamed apart.

    Dependencies are those between storages: a write through a view orders
    after every earlier read of the storage, whatever name it is read by.

    Parameters
    ----------
    net : caffe2_pb2.NetDef or object with ``.Proto()``
        The net to optimize; it is not modified.
    static_blobs : iterable of str
        Blobs that must keep their own buffer (never a bare string).
    ordering_function : callable, optional
        Maps the dependency graph (nodes are op indices) to an op order, such
        as :func:`memonger.graph.topological_sort_traversal` (the default) or
        :func:`memonger.graph.topological_sort_traversal_longest_path`.
    blob_sizes : mapping of str to int, optional
        Bytes of every blob; without it every blob counts as size 1.
    algo : AssignmentAlgorithm, str or callable, optional
        The assignment algorithm (default ``GREEDY``), as accepted by
        :func:`memonger.alloc.compute_assignments`.
    verify : bool, optional
        Check the result by symbolic execution against ``net`` (default
        True) and raise :class:`VerificationError` if it differs.
    time_limit : float, optional
        Seconds the exact solver (``DYNAMIC_PROGRAMMING``) may search for
        each device's blobs; by default its own budget.  When the budget runs
        out the best plan found is used (never worse than greedy).
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs
        (:func:`memonger.netdef.views.view_rule`); default ``{"Alias"}``.

    Returns
    -------
    InterferencePlan

    Raises
    ------
    TypeError
        ``net`` is not a NetDef, or ``static_blobs`` is a string.
    VerificationError
        The ordering is not valid, or the result is not equivalent.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    >>> for i, o in [("x", "a"), ("a", "b"), ("b", "c"), ("c", "y")]:
    ...     _ = net.op.add(type="Relu", input=[i], output=[o])
    >>> sizes = {"x": 2, "a": 4, "b": 8, "c": 4, "y": 2}
    >>> plan = plan_interference(net, [], blob_sizes=sizes)
    >>> plan.optimization.blob_assignments
    {'a': 'c', 'c': 'c'}
    >>> plan.plan_bytes, plan.kept_bytes, plan.lower_bound, plan.proven_optimal
    (14, 2, 14, True)
    """
    original = as_netdef(net)
    static = names_set(static_blobs, "static_blobs")

    accesses = net_accesses(original, view_ops)
    storage = compute_liveness(accesses).storage
    graph = compute_interference_graph(storage_accesses(accesses, storage))
    order = list(ordering_function(graph))
    _check_order(order, graph, len(accesses))

    live = net_liveness(accesses, order, blob_sizes, partial_sizes=False)
    ranges = live.ranges
    fixed = unshareable_blobs(original, ranges, static, live)

    assignments, allocations = _allocate_by_device(
        original, ranges, static, algo, accesses, time_limit, live
    )
    blob_assignments = compute_blob_assignments(assignments)
    leaked = fixed & blob_assignments.keys()
    if leaked:  # pragma: no cover - guards the allocator's contract
        raise VerificationError(
            f"unshareable blobs were assigned a shared buffer: {sorted(leaked)}"
        )

    reordered = caffe2_pb2.NetDef()
    reordered.CopyFrom(original)
    del reordered.op[:]
    reordered.op.extend(original.op[i] for i in order)
    rename_in_place(reordered, blob_assignments, view_ops=view_ops)
    optimized = reordered

    if verify:
        from memonger.netdef.verify import verify_execution_equivalence

        result = verify_execution_equivalence(original, optimized, view_ops=view_ops)
        if not result.ok:
            raise VerificationError(f"optimized net is not equivalent: {result.message}")
    produced = live.produced_ranges()
    kept_bytes = naive_bytes({name: r for name, r in produced.items() if name in fixed})
    return InterferencePlan(
        Optimization(optimized, assignments, blob_assignments),
        allocations,
        order,
        plan_bytes(assignments, produced),
        kept_bytes,
    )


def optimize_interference(
    net: Any,
    static_blobs: Iterable[str],
    ordering_function: Callable[[nx.DiGraph[Any]], Iterable[int]] = topological_sort_traversal,
    blob_sizes: Mapping[str, int] | None = None,
    algo: AssignmentAlgorithm | str | Callable[..., Any] = AssignmentAlgorithm.GREEDY,
    *,
    verify: bool = True,
    time_limit: float | None = None,
    view_ops: ViewOps | None = None,
) -> Optimization:
    """Reorder a net and let blobs with disjoint lifetimes share buffers.

    Caffe2's entry point: :func:`plan_interference` (see it for the steps
    and parameters) returning only ``(net, assignments, blob_assignments)``.

    Returns
    -------
    Optimization
        ``(net, assignments, blob_assignments)``.

    Raises
    ------
    TypeError, VerificationError
        As :func:`plan_interference`.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    >>> for i, o in [("x", "a"), ("a", "b"), ("b", "c"), ("c", "y")]:
    ...     _ = net.op.add(type="Relu", input=[i], output=[o])
    >>> optimized, assignments, blob_assignments = optimize_interference(net, static_blobs=[])
    >>> blob_assignments
    {'a': 'c', 'c': 'c'}
    >>> [list(op.output) for op in optimized.op]
    [['c'], ['b'], ['c'], ['y']]
    """
    return plan_interference(
        net,
        static_blobs,
        ordering_function,
        blob_sizes,
        algo,
        verify=verify,
        time_limit=time_limit,
        view_ops=view_ops,
    ).optimization
