"""Blob recycling that stays safe when a net runs as a DAG.

Caffe2's "dag" executor runs every op as soon as the ops it depends on have
finished, so a sharing decision must hold for *every* valid execution order,
not only the program order (design 3.4).  The recycler here lets blob ``B``
take the buffer of blob ``A`` only when every op touching ``A`` is an
ancestor of the op that first writes ``B`` in the original dependency graph
(read-after-write, write-after-read, write-after-write and control inputs, an
op that owns a nested net counting as reading and writing every outer blob
the nested net references).  Renaming then adds no ordering between ops that
could run in parallel, and the rewritten net computes the same values under
every order the executor may choose.

Ancestor sets are bitsets (Python integers) built in one pass over the
program order, so the whole analysis is near linear in the number of ops.

Three entry points with Caffe2's names:

- :func:`share_grad_blobs` -- recycle gradient blobs (and optionally forward
  activations) of a training net (Caffe2's signature);
- :func:`optimize_inference_for_dag` -- recycle every intermediate blob of an
  inference net (Caffe2's signature, plus optional sizes);
- :func:`compute_blob_recycling_for_dag` -- the general recycler they share,
  taking the blobs to share as names or a predicate (every op of the net
  takes part, so Caffe2's heads and op indices are gone).

:func:`sharing_summary` reports how many blobs and bytes a rewrite saved.
"""

from __future__ import annotations

import bisect
import heapq
import math
import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from memonger.alloc import Liveness, LiveRange, MissingSizeError, naive_bytes, plan_bytes
from memonger.netdef import caffe2_pb2
from memonger.netdef.devices import Device, blob_devices_of
from memonger.netdef.errors import UnsupportedNetError
from memonger.netdef.gradients import backward_start, is_gradient_op
from memonger.netdef.nested import nested_nets, net_blob_names
from memonger.netdef.netlike import NetLike, netdef_of
from memonger.netdef.rename import apply_assignments
from memonger.netdef.rewrite import net_accesses, net_liveness
from memonger.netdef.views import ViewOps, ViewRule, view_rule

__all__ = [
    "SharingStats",
    "compute_blob_recycling_for_dag",
    "optimize_inference_for_dag",
    "share_grad_blobs",
    "sharing_summary",
]

#: A blob's size: a shape (its number of elements is the product of the
#: dimensions) or a number of bytes.
BlobSize: TypeAlias = int | Sequence[int]


_AUTOSPLIT = re.compile(r"_grad_autosplit_\d+$")


# ---------------------------------------------------------------------------
# Small helpers shared with :mod:`memonger.netdef.fast`
# ---------------------------------------------------------------------------


def _names(value: Iterable[str] | None, what: str) -> set[str]:
    """A set of blob names from a collection, refusing a lone string."""
    if value is None:
        return set()
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{what} must be a collection of blob names, not a string ({value!r}); "
            f"wrap a single name in a list"
        )
    return {str(v) for v in value}


def _sizes(
    blob_shapes: Mapping[str, BlobSize] | None, names: Iterable[str] | None = None
) -> dict[str, int] | None:
    """Sizes from a mapping of shapes or sizes (a shape counts its elements).

    Only ``names`` are converted when given (those the mapping lacks are left
    out).
    """
    if blob_shapes is None:
        return None
    if names is None:
        items: Iterable[tuple[str, BlobSize]] = blob_shapes.items()
    else:
        items = ((b, blob_shapes[b]) for b in names if b in blob_shapes)
    sizes: dict[str, int] = {}
    for name, value in items:
        if hasattr(value, "__iter__"):
            size = math.prod(operator.index(d) for d in value)
        else:
            size = operator.index(value)
        if size < 0:
            raise ValueError(f"blob {name!r} has a negative size {size}")
        sizes[name] = size
    return sizes


@dataclass
class _Analysis:
    """Per-op accesses, ancestors and per-storage facts of one net.

    Liveness is :func:`memonger.alloc.compute_liveness` of the program order
    (:func:`memonger.netdef.rewrite.net_liveness`); storages are named by
    their roots, and only roots are ever planned or renamed.
    """

    reads: list[list[str]]
    writes: list[list[str]]
    ancestors: list[int]
    touches: dict[str, int]  # storage root -> ops touching any member (bitset)
    liveness: Liveness
    blocked: set[str]  # roots that never share: inputs of the net, final values, control inputs
    device: dict[str, Device]
    names: set[str]
    rule: ViewRule | None = None  # the views the plan was made with

    @property
    def ranges(self) -> dict[str, LiveRange]:
        return self.liveness.ranges


def _analyze(
    net: caffe2_pb2.NetDef,
    rule: ViewRule,
    *,
    need_ancestors: bool = True,
    sizes: Mapping[str, int] | None = None,
) -> _Analysis:
    """Accesses, ancestor bitsets and storage facts of ``net`` in program order.

    An op owning a nested net reads every outer blob the nested net
    references and writes those it writes (for the dependencies: all of
    them).  ``ancestors[i]`` has bit ``j`` set when op ``j`` must run before
    op ``i`` in every valid order -- by blob name, as the DAG executor orders
    ops.
    """
    accesses = net_accesses(net, rule, read_only_refs=True)
    reads = [list(dict.fromkeys(acc.input)) for acc in accesses]
    writes = [list(dict.fromkeys(acc.output + acc.nested_refs)) for acc in accesses]
    live = net_liveness(accesses, blob_sizes=sizes)

    n = len(accesses)
    ancestors = [0] * n
    touches: dict[str, int] = {}
    last_writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    storage = live.storage
    for i, acc in enumerate(accesses):
        bit = 1 << i
        anc = 0
        for b in reads[i]:
            w = last_writer.get(b)
            if w is not None and need_ancestors:
                anc |= ancestors[w] | (1 << w)
            root = storage[b]
            touches[root] = touches.get(root, 0) | bit
        for b in acc.control_input:
            w = last_writer.get(b)
            if w is not None and need_ancestors:
                anc |= ancestors[w] | (1 << w)
        for b in writes[i]:
            if need_ancestors:
                w = last_writer.get(b)
                if w is not None:
                    anc |= ancestors[w] | (1 << w)
                for r in readers.get(b, ()):
                    if r != i:
                        anc |= ancestors[r] | (1 << r)
            root = storage[b]
            touches[root] = touches.get(root, 0) | bit
        ancestors[i] = anc
        for b in reads[i]:
            readers.setdefault(b, []).append(i)
        for b in writes[i]:
            readers[b] = []
            last_writer[b] = i
    # Never shared: storages read before any write (inputs of the net), final
    # values (a caller may fetch them: they live to the end) and storages
    # named by control inputs.
    blocked = {root for root, r in live.ranges.items() if r.defined < 0 or r.used >= n}
    blocked |= live.roots(b for acc in accesses for b in acc.control_input)
    names = set(storage) | set(net.external_input) | set(net.external_output)
    for op in net.op:
        if op.arg:
            for nested in nested_nets(op):
                names |= net_blob_names(nested.net)
    return _Analysis(
        reads,
        writes,
        ancestors,
        touches,
        live,
        blocked,
        blob_devices_of(net, reads, writes),
        names,
        rule,
    )


def _buffer_names(count: int, namescope: str, taken: Collection[str]) -> list[str]:
    """``count`` fresh names ``<namescope>__m<k>_shared`` that are not in ``taken``."""
    names: list[str] = []
    k = 0
    while len(names) < count:
        name = f"{namescope}__m{k}_shared"
        if name not in taken:
            names.append(name)
        k += 1
    return names


@dataclass(eq=False)
class _Buffer:
    """A buffer being filled by a planner: its members in order of first write."""

    index: int
    device: Device
    size: int
    members: list[str]
    mask: int = 0
    last: int = 0


def _plan_online(
    info: _Analysis, blobs: Sequence[str], sizes: Mapping[str, int] | None, *, dag: bool
) -> list[list[str]]:
    """Walk the program order; each new blob takes a free buffer (best fit).

    With sizes the best fit is the smallest free buffer at least as large as
    the blob (ties: the most reused, then the oldest), else the largest;
    without, the most reused (then the oldest).  Free buffers are kept sorted
    by that preference, so the first usable one is the choice.
    """
    by_op: dict[int, list[str]] = {}
    for b in blobs:
        by_op.setdefault(info.ranges[b].defined, []).append(b)
    # free buffers per device, sorted by (size, -reuses, index) or (-reuses, index)
    pools: dict[Device, list[tuple[int, int, int, _Buffer]]] = {}
    release: list[tuple[int, int, _Buffer]] = []  # heap of (last touch, index, buffer)
    buffers: list[_Buffer] = []

    def key(buf: _Buffer) -> tuple[int, int, int, _Buffer]:
        if sizes is None:
            return (-len(buf.members), buf.index, 0, buf)
        return (buf.size, -len(buf.members), buf.index, buf)

    for i in sorted(by_op):
        while release and release[0][0] < i:
            freed = heapq.heappop(release)[2]
            bisect.insort(pools.setdefault(freed.device, []), key(freed))
        not_anc = ~info.ancestors[i] if dag else 0
        for b in by_op[i]:
            need = None if sizes is None else sizes.get(b, 1)
            dev = info.device[b]
            pool = pools.get(dev, [])
            chosen = -1
            if need is None:
                for k, entry in enumerate(pool):
                    if not entry[3].mask & not_anc:
                        chosen = k
                        break
            else:
                start = bisect.bisect_left(pool, (need,))
                for k in range(start, len(pool)):
                    if not pool[k][3].mask & not_anc:
                        chosen = k
                        break
                else:
                    for k in range(start - 1, -1, -1):
                        if not pool[k][3].mask & not_anc:
                            chosen = k
                            break
                    # among the largest, the most reused (then the oldest)
                    k = chosen - 1
                    while k >= 0 and chosen >= 0 and pool[k][0] == pool[chosen][0]:
                        if not pool[k][3].mask & not_anc:
                            chosen = k
                        k -= 1
            if chosen >= 0:
                buf = pool.pop(chosen)[3]
                buf.members.append(b)
                if need is not None and need > buf.size:
                    buf.size = need
            else:
                buf = _Buffer(len(buffers), dev, need or 0, [b])
                buffers.append(buf)
            if dag:
                buf.mask = info.touches[b]
            buf.last = info.ranges[b].used
            heapq.heappush(release, (buf.last, buf.index, buf))
    return [buf.members for buf in buffers]


def _plan_by_size(
    info: _Analysis, blobs: Sequence[str], sizes: Mapping[str, int], *, dag: bool
) -> list[list[str]]:
    """Place blobs largest first into the smallest buffer whose members they fit between.

    A buffer's members are totally ordered ("entirely before" is transitive),
    so a blob fits when it comes after its predecessor in first-write order
    and before its successor.
    """
    first = {b: info.ranges[b].defined for b in blobs}
    touches = info.touches
    last = {b: info.ranges[b].used for b in blobs}
    ancestors = info.ancestors
    position = {b: k for k, b in enumerate(blobs)}
    order = sorted(blobs, key=lambda b: (-sizes.get(b, 1), position[b]))
    # per device, buffers as (first writes, last touches, members) in order
    by_device: dict[Device, list[tuple[list[int], list[int], list[str]]]] = {}
    buffers: list[list[str]] = []
    bisect_right = bisect.bisect_right
    for b in order:
        f = first[b]
        end = last[b]
        mask_b = touches[b]
        not_anc_b = ~ancestors[f] if dag else 0
        same = by_device.setdefault(info.device[b], [])
        for firsts, lasts, members in reversed(same):
            k = bisect_right(firsts, f)
            # In program order the neighbours must end before b starts and
            # start after b ends; in DAG order they must also be ancestors.
            if k and lasts[k - 1] >= f:
                continue
            has_next = k < len(firsts)
            if has_next and end >= firsts[k]:
                continue
            if dag:
                if k and touches[members[k - 1]] & not_anc_b:
                    continue
                if has_next and mask_b & ~ancestors[firsts[k]]:
                    continue
            firsts.insert(k, f)
            lasts.insert(k, end)
            members.insert(k, b)
            break
        else:
            members = [b]
            same.append(([f], [end], members))
            buffers.append(members)
    return buffers


def _plan_bytes(info: _Analysis, groups: Iterable[Sequence[str]]) -> int:
    ranges = info.ranges
    return plan_bytes([[(b, ranges[b]) for b in group] for group in groups])


def _plan(
    info: _Analysis, blobs: Sequence[str], sizes: Mapping[str, int] | None, *, dag: bool
) -> list[list[str]]:
    """Group shareable blobs into buffers: the better of two greedy plans with sizes."""
    groups = _plan_online(info, blobs, sizes, dag=dag)
    if sizes is not None:
        other = _plan_by_size(info, blobs, sizes, dag=dag)
        if _plan_bytes(info, other) < _plan_bytes(info, groups):
            groups = other
    return groups


def _shareable_blobs(
    net: caffe2_pb2.NetDef, info: _Analysis, shareable: Callable[[str], bool], keep: set[str]
) -> list[str]:
    """Storages that may be renamed, by root, in order of first write (then output position).

    A kept or external blob keeps its whole storage.
    """
    live = info.liveness
    blocked = info.blocked | live.roots(keep | set(net.external_input) | set(net.external_output))
    storage, ranges = live.storage, live.ranges
    found: list[str] = []
    for i, writes in enumerate(info.writes):
        for b in writes:
            if storage.get(b) == b and ranges[b].defined == i and b not in blocked and shareable(b):
                found.append(b)
    return found


def _root_sizes(info: _Analysis, blobs: Iterable[str]) -> dict[str, int]:
    """Known sizes of the storages ``blobs`` (the largest member's; unknown ones left out)."""
    ranges = info.ranges
    return {b: size for b in blobs if (size := ranges[b].size) is not None}


def _rewrite(
    net: caffe2_pb2.NetDef,
    info: _Analysis,
    groups: Iterable[Sequence[str]],
    order: Sequence[str],
    namescope: str,
) -> caffe2_pb2.NetDef:
    """Rename every blob of a group of two or more to the group's buffer name."""
    position = {b: k for k, b in enumerate(order)}
    shared = sorted((g for g in groups if len(g) > 1), key=lambda g: min(position[b] for b in g))
    if not shared:
        return apply_assignments(net, {})
    names = _buffer_names(len(shared), namescope, info.names)
    mapping = {b: name for group, name in zip(shared, names, strict=True) for b in group}
    # the plan is for the program order, which the renamed net keeps
    return apply_assignments(net, mapping, view_ops=info.rule)


# ---------------------------------------------------------------------------
# The DAG recycler
# ---------------------------------------------------------------------------


def _recycle_dag(
    net: caffe2_pb2.NetDef,
    shareable: Callable[[str], bool],
    *,
    namescope: str,
    keep: set[str],
    blob_shapes: Mapping[str, BlobSize] | None,
    view_ops: ViewOps | None,
) -> caffe2_pb2.NetDef:
    sizes = _sizes(blob_shapes)
    info = _analyze(net, view_rule(view_ops), sizes=sizes)
    blobs = _shareable_blobs(net, info, shareable, keep)
    groups = _plan(info, blobs, None if sizes is None else _root_sizes(info, blobs), dag=True)
    return _rewrite(net, info, groups, blobs, namescope)


def compute_blob_recycling_for_dag(
    net: NetLike,
    shareable_blob_names: Iterable[str] | Callable[[str], bool],
    *,
    namescope: str = "",
    dont_share_blob_names: Iterable[str] | None = None,
    keep_blob_names: Iterable[str] | None = None,
    blob_shapes: Mapping[str, BlobSize] | None = None,
    view_ops: ViewOps | None = None,
) -> caffe2_pb2.NetDef:
    """Share buffers among blobs in a way that is safe for every execution order.

    Every op of ``net`` takes part in the dependency analysis; only blobs
    selected by ``shareable_blob_names`` are renamed.  Blob ``B`` reuses the
    buffer of ``A`` only when every op touching ``A`` is an ancestor of the op
    that first writes ``B``, both live on one device, and neither is kept.
    Never renamed: external inputs and outputs, ``dont_share_blob_names``,
    ``keep_blob_names``, blobs read before any op writes them, blobs named in
    control inputs, and final results (blobs no op reads after their last
    write, which a caller may fetch).

    Parameters
    ----------
    net : NetDef or object with ``.Proto()``
        The net; it is not modified.
    shareable_blob_names : iterable of str or callable
        The blobs that may be renamed, or a predicate on blob names.
    namescope : str, optional
        Prefix of the generated buffer names ``<namescope>__m<k>_shared``.
    dont_share_blob_names : iterable of str, optional
        Blobs that are never renamed and never lend their buffer.
    keep_blob_names : iterable of str, optional
        More blobs to keep (heads, losses...), with the same effect.
    blob_shapes : mapping of str to shape or int, optional
        A shape (its element count is the size) or a size per blob.  With
        sizes, a blob takes the best-fitting free buffer (the smallest one at
        least as large as the blob, else the largest), and of two placements
        -- in program order, and largest blob first -- the one with fewer
        bytes is kept; without, a blob takes the most reused free buffer.
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs
        (:func:`memonger.netdef.views.view_rule`; default ``{"Alias"}``).
        A view and the blob it views are one storage: it keeps its name, the
        storage is renamed (by its root) or kept as a whole, and no blob takes
        its buffer until every op touching any view of it has run.

    Returns
    -------
    caffe2_pb2.NetDef
        A new net whose ops are those of ``net``, in the same order, with
        shared blobs renamed to buffer names numbered in order of first use.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["z"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"])
    >>> _ = net.op.add(type="Relu", input=["a"], output=["b"])
    >>> _ = net.op.add(type="Relu", input=["b"], output=["c"])
    >>> _ = net.op.add(type="Relu", input=["c"], output=["z"])
    >>> out = compute_blob_recycling_for_dag(net, {"a", "b", "c"})
    >>> [list(op.output) for op in out.op]
    [['__m0_shared'], ['b'], ['__m0_shared'], ['z']]
    """
    proto = netdef_of(net)
    if callable(shareable_blob_names):
        predicate: Callable[[str], bool] = shareable_blob_names
    else:
        chosen = _names(shareable_blob_names, "shareable_blob_names")
        predicate = chosen.__contains__
    keep = _names(dont_share_blob_names, "dont_share_blob_names")
    keep |= _names(keep_blob_names, "keep_blob_names")
    return _recycle_dag(
        proto,
        predicate,
        namescope=namescope,
        keep=keep,
        blob_shapes=blob_shapes,
        view_ops=view_ops,
    )


def share_grad_blobs(
    net: NetLike,
    losses: Iterable[str],
    param_grads: Iterable[str],
    namescope: str,
    dont_share_blobs: Iterable[str] | None = None,
    share_activations: bool = False,
    blob_shapes: Mapping[str, BlobSize] | None = None,
    *,
    view_ops: ViewOps | None = None,
) -> caffe2_pb2.NetDef:
    """Share the buffers of gradient blobs in a training net (Torch's ``shareGradInput``).

    Shareable are the gradient blobs in the name scope -- names ending in
    ``_grad`` (or written in the backward pass by a gradient op) that start
    with ``namescope`` or ``"_" + namescope`` and are not parameter
    gradients -- and their auto-split partial gradients
    (``_<scope>x_grad_autosplit_<k>``).  The backward pass begins at the
    first op that reads a loss, writes a gradient blob or is a gradient op,
    as :mod:`memonger.netdef.gradients` defines them (``is_gradient_op``, or a
    ``<Type>Gradient`` type other than forward ops such as ``StopGradient``).
    With ``share_activations``, also the forward activations in the scope:
    blobs written before the backward pass, except the network's head
    (from the second-to-last op that reads a parameter on), which callers
    usually fetch.  The sharing is safe for every execution order of the DAG
    executor (see :func:`compute_blob_recycling_for_dag`); the losses,
    parameter gradients, ``dont_share_blobs``, external blobs and final
    results keep their names.

    Parameters
    ----------
    net : NetDef or object with ``.Proto()``
        A training net (forward and gradient ops); it is not modified.
    losses : iterable of str
        The heads of the gradient computation; never renamed.
    param_grads : iterable of str
        Parameter gradients; never renamed.
    namescope : str
        Name scope of the blobs to share.  A trailing ``/`` is added when
        missing; ``""`` puts every blob in scope.
    dont_share_blobs : iterable of str, optional
        Blobs that are never renamed and never lend their buffer.
    share_activations : bool, optional
        Also share forward activations in the scope.
    blob_shapes : mapping of str to shape or int, optional
        Shapes (or sizes) used to pick the best-fitting free buffer.
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs (default
        ``{"Alias"}``; see :func:`compute_blob_recycling_for_dag`).

    Returns
    -------
    caffe2_pb2.NetDef
        A new net with shared blobs renamed ``<namescope>__m<k>_shared``.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["x_grad"])
    >>> for t, i, o in [("Relu", ["x"], "s/a"), ("Loss", ["s/a"], "loss"),
    ...                 ("Fill", ["loss"], "loss_grad"),
    ...                 ("ReluGradient", ["s/a", "loss_grad"], "s/a_grad"),
    ...                 ("Scale", ["s/a_grad"], "s/b_grad"),
    ...                 ("Scale", ["s/b_grad"], "s/c_grad"),
    ...                 ("Scale", ["s/c_grad"], "x_grad")]:
    ...     _ = net.op.add(type=t, input=i, output=[o])
    >>> out = share_grad_blobs(net, ["loss"], [], "s")
    >>> [op.output[0] for op in out.op][3:]
    ['s/__m0_shared', 's/b_grad', 's/__m0_shared', 'x_grad']
    """
    proto = netdef_of(net)
    loss_names = _names(losses, "losses")
    grads = _names(param_grads, "param_grads")
    dont = _names(dont_share_blobs, "dont_share_blobs")
    if namescope and not namescope.endswith("/"):
        namescope += "/"
    scope = namescope
    underscored = "_" + scope

    def in_scope(b: str) -> bool:
        return not scope or b.startswith((scope, underscored))

    ops = proto.op
    grad_written: set[str] = set()
    first_backward = backward_start(ops, loss_names)
    for op in ops[first_backward:]:
        if is_gradient_op(op):
            grad_written.update(op.output)

    def is_grad_blob(b: str) -> bool:
        if not in_scope(b) or b in grads:
            return False
        if b.endswith("_grad") or b in grad_written:
            return True
        return b.startswith(underscored) and _AUTOSPLIT.search(b) is not None

    shareable: Callable[[str], bool] = is_grad_blob
    if share_activations:
        # The network's head (from the second-to-last layer with parameters
        # on) is usually fetched by callers, as Caffe2 assumed: keep it.
        layers = [
            i
            for i in range(first_backward)
            if any(
                b + "_grad" in grads or b in (o + "_w" for o in ops[i].output) for b in ops[i].input
            )
        ]
        head = layers[-2] if len(layers) >= 2 else (layers[0] if layers else first_backward)
        activations: set[str] = set()
        for i in range(head):
            activations.update(b for b in ops[i].output if in_scope(b) and b not in grads)

        def shareable(b: str) -> bool:
            return is_grad_blob(b) or b in activations

    return _recycle_dag(
        proto,
        shareable,
        namescope=namescope,
        keep=dont | loss_names | grads,
        blob_shapes=blob_shapes,
        view_ops=view_ops,
    )


def optimize_inference_for_dag(
    net: NetLike,
    input_blobs: Iterable[str],
    namescope: str = "",
    *,
    blob_shapes: Mapping[str, BlobSize] | None = None,
    view_ops: ViewOps | None = None,
) -> caffe2_pb2.NetDef:
    """Share the buffers of every intermediate blob of an inference net run as a DAG.

    Every blob that is neither an external input nor an external output (nor
    one of ``input_blobs``) may be shared, safely for every execution order
    (see :func:`compute_blob_recycling_for_dag`).

    Parameters
    ----------
    net : NetDef or object with ``.Proto()``
        An inference net (no gradient ops); it is not modified.
    input_blobs : iterable of str
        The data inputs fed by the caller; never renamed.
    namescope : str, optional
        Prefix of the generated buffer names.
    blob_shapes : mapping of str to shape or int, optional
        Shapes (or sizes) used to pick the best-fitting free buffer.
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs (default
        ``{"Alias"}``; see :func:`compute_blob_recycling_for_dag`).

    Returns
    -------
    caffe2_pb2.NetDef
        A new net with shared blobs renamed ``<namescope>__m<k>_shared``.

    Raises
    ------
    UnsupportedNetError
        An op is a gradient op (:func:`memonger.netdef.gradients.is_gradient_op`:
        flagged ``is_gradient_op`` or of a ``<Type>Gradient`` type; ``StopGradient``
        is a forward op), or reads a blob that no earlier op produced and
        that is not an external input.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["data", "w"], external_output=["out"])
    >>> for i, o in [("data", "a"), ("a", "b"), ("b", "c"), ("b", "d")]:
    ...     _ = net.op.add(type="FC", input=[i, "w"], output=[o])
    >>> _ = net.op.add(type="Sum", input=["c", "d"], output=["out"])
    >>> out = optimize_inference_for_dag(net, ["data"])
    >>> [list(op.output) for op in out.op]
    [['__m0_shared'], ['b'], ['__m0_shared'], ['d'], ['out']]

    ``c`` takes the buffer of ``a``; ``d`` cannot, as ``c`` and ``d`` may be
    computed at the same time.
    """
    proto = netdef_of(net)
    inputs = _names(input_blobs, "input_blobs")
    external = set(proto.external_input) | set(proto.external_output) | inputs
    seen: set[str] = set()
    for i, op in enumerate(proto.op):
        if is_gradient_op(op):
            raise UnsupportedNetError(
                f"op {i} ({op.name or op.type!r}, type {op.type!r}) is a gradient op; "
                f"optimize_inference_for_dag takes inference-only nets"
            )
        for b in op.input:
            if b not in seen and b not in external:
                raise UnsupportedNetError(
                    f"blob {b!r} read by op {i} ({op.name or op.type!r}) is produced by no "
                    f"earlier op and is not an external input"
                )
        seen.update(op.output)
    return _recycle_dag(
        proto,
        lambda b: b not in external,
        namescope=namescope,
        keep=inputs,
        blob_shapes=blob_shapes,
        view_ops=view_ops,
    )


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SharingStats:
    """How much a blob-sharing rewrite saved.

    Attributes
    ----------
    blobs_before, blobs_after : int
        Produced blobs (distinct names some op writes) before and after.
    bytes_before, bytes_after : int or None
        Naive bytes (sum of produced blob sizes) before, and plan bytes (sum
        over names of the largest original blob renamed to it) after; ``None``
        without sizes.
    """

    blobs_before: int
    blobs_after: int
    bytes_before: int | None = None
    bytes_after: int | None = None

    @property
    def blobs_saved(self) -> int:
        """Produced blobs the rewrite removed."""
        return self.blobs_before - self.blobs_after

    @property
    def bytes_saved(self) -> int | None:
        """Bytes the rewrite saved, or ``None`` without sizes."""
        if self.bytes_before is None or self.bytes_after is None:
            return None
        return self.bytes_before - self.bytes_after


def sharing_summary(
    original: NetLike,
    optimized: NetLike,
    blob_sizes: Mapping[str, BlobSize] | None = None,
    *,
    view_ops: ViewOps | None = None,
) -> SharingStats:
    """Compare a net with its rewrite: produced blobs and bytes before and after.

    The rewrite must keep the ops in their order (as the functions of this
    module do); op ``i``'s ``j``-th output in ``optimized`` is the renamed
    ``j``-th output of op ``i`` in ``original``.  The figures are the
    design-7 metrics of :mod:`memonger.alloc.liveness`: produced storages
    (a view counts with the storage it views, ``view_ops`` as in
    :func:`compute_blob_recycling_for_dag`), their naive bytes before and the
    plan bytes of the rewrite's buffers after.

    Parameters
    ----------
    original, optimized : NetDef or object with ``.Proto()``
        The net and its rewrite.
    blob_sizes : mapping of str to shape or int, optional
        Size (or shape) of every blob of ``original`` that an op produces.
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views (default ``{"Alias"}``).

    Returns
    -------
    SharingStats

    Raises
    ------
    UnsupportedNetError
        The nets do not have the same ops and output counts.
    memonger.alloc.MissingSizeError
        ``blob_sizes`` lacks a produced blob.

    Examples
    --------
    >>> a = caffe2_pb2.NetDef()
    >>> _ = a.op.add(type="Relu", input=["x"], output=["y"])
    >>> _ = a.op.add(type="Relu", input=["y"], output=["z"])
    >>> _ = a.op.add(type="Relu", input=["z"], output=["u"])
    >>> b = caffe2_pb2.NetDef()
    >>> b.CopyFrom(a)
    >>> b.op[0].output[0] = b.op[1].input[0] = b.op[2].output[0] = "m"
    >>> s = sharing_summary(a, b, {"y": 4, "z": 8, "u": 2})
    >>> (s.blobs_before, s.blobs_after, s.bytes_before, s.bytes_after)
    (3, 2, 14, 12)
    """
    a = netdef_of(original)
    b = netdef_of(optimized)
    if len(a.op) != len(b.op):
        raise UnsupportedNetError(
            f"the nets have {len(a.op)} and {len(b.op)} ops; sharing_summary needs the same ops"
        )
    new_name: dict[str, str] = {}
    outputs: dict[str, None] = {}
    for i, (op_a, op_b) in enumerate(zip(a.op, b.op, strict=True)):
        if len(op_a.output) != len(op_b.output) or op_a.type != op_b.type:
            raise UnsupportedNetError(
                f"op {i} ({op_a.name or op_a.type!r}) differs between the nets "
                f"(type or number of outputs)"
            )
        for old, new in zip(op_a.output, op_b.output, strict=True):
            outputs.setdefault(old, None)
            new_name.setdefault(old, new)
    sizes = _sizes(blob_shapes=blob_sizes, names=outputs)
    if sizes is not None:
        for name in outputs:
            if name not in sizes:
                raise MissingSizeError(f"no size for produced blob {name!r}")
    live = net_liveness(net_accesses(a, view_ops), blob_sizes=sizes)
    produced = live.produced_ranges()
    buffers: dict[str, list[tuple[str, LiveRange]]] = {}
    for root, r in produced.items():
        buffers.setdefault(new_name.get(root, root), []).append((root, r))
    if sizes is None:
        return SharingStats(len(produced), len(buffers))
    return SharingStats(
        len(produced),
        len(buffers),
        naive_bytes(produced),
        plan_bytes(buffers.values(), produced),
    )
