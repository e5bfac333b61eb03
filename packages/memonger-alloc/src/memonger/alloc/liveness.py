"""Liveness: when each blob's storage must exist, the one definition memonger uses.

Every package of memonger takes its live ranges, peaks and plan bytes from
this module; nothing else computes them.  The policy, over a *linearized* op
order (positions ``0 .. n - 1``):

Accesses
    An op **reads** the names in its ``input``, **writes** the names in its
    ``output`` and **orders on** the names in its optional ``control_input``.
    A control input extends the range of the blob it names up to the op (the
    op waits on the blob's producer, so the buffer must not change hands
    before it) but does not consume the blob's value: a blob whose last
    ``input``/``output`` access is a write still lives to the end.

Ranges
    A blob's range is the closed interval ``[defined, used]``
    (:class:`memonger.alloc.LiveRange`): ``defined`` is the first op writing
    it, ``-1`` when an op reads it first (it comes from outside the net);
    ``used`` is the last op reading, writing or ordering on it, except that a
    blob whose last read-or-write is a write lives to the end
    (``used = n``) because a caller may fetch it.

Views
    An op may declare that an output is a *view* of one of its inputs'
    storage: an optional ``views`` attribute, a sequence of
    ``(output_index, input_index)`` pairs (absent = no views), as Caffe2's
    ``Alias`` does for ``(0, 0)``.  A view is not an allocation.  The names
    joined by views (transitively: a view of a view) form one *storage
    group*, named by its member that appears first in the ops (its *root*).
    The group has one range: from the earliest ``defined`` of its members to
    the latest ``used`` of its members, each member's ``used`` computed by
    the rule above (so a write through a view is a write to the storage, and
    a member fetchable at the end keeps the whole storage to the end).  Its
    size is the largest known size of its members.  Only roots appear in the
    ranges; planners therefore never assign the members of one group to
    different buffers, and never give a buffer holding a storage to another
    blob while any view of it is live.  A group is *produced* when some op
    writes one of its members other than by creating a view; the creation of
    a view allocates nothing.

Sizes
    ``size=None`` means unknown.  The one unknown-size policy of the project:
    an unknown size counts as **one byte** wherever bytes are summed or
    compared (:func:`nbytes`, as Caffe2 did); a *mapping* of sizes that lacks
    a blob it is asked for is an error (:class:`MissingSizeError`).

Metrics (design 7)
    :func:`naive_bytes` (every planned blob its own buffer), :func:`plan_bytes`
    (sum over buffers of the largest member), :func:`live_bytes` (the
    live-bytes timeline) and :func:`memonger.alloc.peak_live_bytes` are
    functions of the ranges alone; the caller chooses which ranges count
    (for a net, :meth:`Liveness.produced_ranges`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from memonger.alloc.errors import InvalidRangeError, MissingSizeError
from memonger.alloc.ranges import Item, LiveRange, OpLike, RangesLike, as_items, name_set, nbytes

__all__ = [
    "Liveness",
    "ViewsOf",
    "compute_liveness",
    "compute_ranges",
    "declared_views",
    "live_bytes",
    "naive_bytes",
    "names_of",
    "plan_bytes",
]

ViewsOf = Callable[[OpLike], Iterable[tuple[int, int]]]
"""A function giving an op's ``(output_index, input_index)`` view pairs."""


def declared_views(op: object) -> Iterable[tuple[int, int]]:
    """The ``(output_index, input_index)`` view pairs an op declares in its ``views`` attribute.

    The default reader of every function taking ``views=``; absent or None
    means no views.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> declared_views(Op(views=[(0, 0)])), declared_views(Op())
    ([(0, 0)], ())
    """
    return getattr(op, "views", None) or ()


def names_of(op: object, field_name: str, *, position: int | None = None) -> Sequence[str]:
    """An op's ``input``/``output``/``control_input`` names, checked to be a sequence.

    A ``str`` is refused with a :class:`TypeError` naming the op: it is a
    sequence of one-character names, never what the caller meant.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> names_of(Op(input=["a", "b"]), "input")
    ['a', 'b']
    >>> names_of(Op(input="ab", type="Relu"), "input", position=3)
    Traceback (most recent call last):
    ...
    TypeError: op #3 (Relu): input is a str ('ab'), not a sequence of blob names
    """
    value = getattr(op, field_name, ())
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        where = "op" if position is None else f"op #{position}"
        kind = getattr(op, "type", None)
        label = f"{where} ({kind})" if kind else where
        raise TypeError(
            f"{label}: {field_name} is a {type(value).__name__} ({value!r}), "
            "not a sequence of blob names"
        )
    return value  # type: ignore[no-any-return,unused-ignore]


@dataclass(frozen=True, eq=False)
class Liveness:
    """The live ranges of a linearized net, with its storage groups.

    Attributes
    ----------
    ranges : dict of str to LiveRange
        One range per storage, keyed by the storage's root, in order of first
        appearance.  Without views every blob is its own root.
    storage : dict of str to str
        Every blob the ops name -> the root of its storage (itself for roots).
    view_of : dict of str to str
        Every view -> the blob it was declared a view of (one step).
    produced : frozenset of str
        Roots of the storages some op writes (other than by creating a view).
    num_positions : int
        Number of ops.
    last_access : dict of str to int
        Root -> position of the last op reading, writing or ordering on any
        member of the storage, before the rule that a value never read after
        its last write lives to the end (so never ``num_positions``); for
        callers that act right after that op (inserting ``Free`` ops).

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [Op(input=["x"], output=["a"]),
    ...        Op(input=["a"], output=["b"], views=[(0, 0)]),
    ...        Op(input=["b"], output=["t"]),
    ...        Op(input=["t", "b"], output=["y"])]
    >>> live = compute_liveness(ops)
    >>> live.storage["b"], live.ranges["a"], sorted(live.produced)
    ('a', LiveRange(defined=0, used=3, size=None), ['a', 't', 'y'])
    >>> live.members("a")
    ('a', 'b')
    >>> live.ranges["y"], live.last_access["y"]
    (LiveRange(defined=3, used=4, size=None), 3)
    """

    ranges: dict[str, LiveRange]
    storage: dict[str, str]
    view_of: dict[str, str]
    produced: frozenset[str]
    num_positions: int
    _members: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    last_access: dict[str, int] = field(default_factory=dict, repr=False)

    def members(self, root: str) -> tuple[str, ...]:
        """Blobs of the storage whose root is ``root`` (the root first)."""
        return self._members.get(root, (root,))

    def root(self, name: str) -> str:
        """The root of ``name``'s storage (``name`` itself when it names no view)."""
        return self.storage.get(name, name)

    def roots(self, names: Iterable[str]) -> set[str]:
        """Roots of the storages of ``names`` (names the ops never touch are kept as they are).

        Use it to extend a set of blobs that must not be shared (externals,
        static blobs) to their whole storage groups.
        """
        return {self.storage.get(name, name) for name in names}

    def produced_ranges(self, static_blobs: Iterable[str] = ()) -> dict[str, LiveRange]:
        """Ranges of the produced storages, less those holding a blob of ``static_blobs``.

        These are the blobs the design-7 metrics count for a net.
        """
        static = self.roots(static_blobs)
        return {
            name: r
            for name, r in self.ranges.items()
            if name in self.produced and name not in static
        }


def compute_liveness(
    linearized_ops: Iterable[OpLike],
    blob_sizes: Mapping[str, int | None] | None = None,
    *,
    views: ViewsOf | None = None,
) -> Liveness:
    """Liveness of every blob the ops touch, with views resolved to their storage.

    Parameters
    ----------
    linearized_ops : iterable of op-like objects
        Ops in execution order with ``input`` and ``output`` name sequences
        and optionally ``control_input`` and ``views`` (see the module).
    blob_sizes : mapping of str to int, optional
        Size in bytes of each blob; when given it must cover every blob.
    views : callable, optional
        ``op -> (output_index, input_index) pairs``; default: the op's own
        ``views`` attribute.  Callers whose ops cannot carry an attribute
        (protobuf messages) pass a function instead.

    Returns
    -------
    Liveness

    Raises
    ------
    MissingSizeError
        ``blob_sizes`` lacks a blob.
    InvalidRangeError
        A size is negative, or a view pair names an index the op lacks.
    TypeError
        An op's names are a ``str`` instead of a sequence.

    Examples
    --------
    A view read after its base is rewritten keeps the base's storage live:

    >>> from types import SimpleNamespace as Op
    >>> ops = [Op(input=[], output=["a"]),
    ...        Op(input=["a"], output=["v"], views=[(0, 0)]),
    ...        Op(input=["v"], output=["a"]),
    ...        Op(input=["v"], output=["y"])]
    >>> live = compute_liveness(ops, {"a": 8, "v": 8, "y": 4})
    >>> live.ranges["a"], live.storage["v"]
    (LiveRange(defined=0, used=4, size=8), 'a')

    ``a`` is written last at op 2 and never read again, so its storage lives to
    the end; ``v`` is read at op 3 and sees that write.
    """
    views_of = declared_views if views is None else views
    first_write: dict[str, int] = {}
    last_touch: dict[str, int] = {}
    last_is_write: dict[str, bool] = {}
    written: set[str] = set()
    parent: dict[str, str] = {}  # union-find over storage groups, only for view members
    view_of: dict[str, str] = {}
    n_ops = 0

    def find(name: str) -> str:
        root = name
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(name, name) != root:
            parent[name], name = root, parent[name]
        return root

    for pos, op in enumerate(linearized_ops):
        n_ops = pos + 1
        inputs = op.input
        outputs = op.output
        if isinstance(inputs, (str, bytes)) or isinstance(outputs, (str, bytes)):
            names_of(op, "input", position=pos)
            names_of(op, "output", position=pos)
        for name in inputs:
            if name not in first_write:
                first_write[name] = -1  # read before any write: from outside
            last_touch[name] = pos
            last_is_write[name] = False
        control = getattr(op, "control_input", None)
        if control:
            for name in names_of(op, "control_input", position=pos):
                if name not in first_write:
                    first_write[name] = -1
                    last_is_write[name] = False
                last_touch[name] = pos  # orders the op, consumes nothing
        pairs = views_of(op)
        created: set[int] | tuple[()] = ()
        if pairs:
            created = set()
            for out_index, in_index in pairs:
                if not (0 <= out_index < len(outputs) and 0 <= in_index < len(inputs)):
                    raise InvalidRangeError(
                        f"op #{pos} ({getattr(op, 'type', '?')}) declares view "
                        f"({out_index}, {in_index}) but has {len(outputs)} outputs "
                        f"and {len(inputs)} inputs"
                    )
                created.add(out_index)
                view, base = outputs[out_index], inputs[in_index]
                if view != base:
                    view_of.setdefault(view, base)
                    if view not in first_write:
                        first_write[view] = pos
                    a, b = find(view), find(base)
                    if a != b:
                        parent[a] = b
        for index, name in enumerate(outputs):
            if name not in first_write:
                first_write[name] = pos
            last_touch[name] = pos
            last_is_write[name] = True
            if index not in created:
                written.add(name)

    def size_of(name: str) -> int | None:
        assert blob_sizes is not None
        if name not in blob_sizes:
            raise MissingSizeError(f"blob {name!r} has no entry in blob_sizes")
        value = blob_sizes[name]
        if value is not None and value < 0:
            raise InvalidRangeError(f"blob {name!r} has negative size {value}")
        return value

    ranges: dict[str, LiveRange] = {}
    last_access: dict[str, int] = {}
    members: dict[str, list[str]] = {}
    if not parent:  # no views: every blob is its own storage
        for name, defined in first_write.items():
            touch = last_touch[name]
            last_access[name] = touch
            used = n_ops if last_is_write[name] else touch
            ranges[name] = LiveRange(defined, used, None if blob_sizes is None else size_of(name))
        storage = {name: name for name in first_write}
        produced = frozenset(written)
    else:
        # Each group is named by its member that appears first; dicts keep that order.
        group_root: dict[str, str] = {}
        storage = {}
        for name in first_write:
            root = group_root.setdefault(find(name), name)
            storage[name] = root
            members.setdefault(root, []).append(name)
        for root, names in members.items():
            last_access[root] = max(last_touch[m] for m in names)
            defined = min(first_write[m] for m in names)
            used = max(n_ops if last_is_write[m] else last_touch[m] for m in names)
            size: int | None = None
            if blob_sizes is not None:
                for m in names:
                    value = size_of(m)
                    if value is not None:
                        size = value if size is None else max(size, value)
            ranges[root] = LiveRange(defined, used, size)
        produced = frozenset(storage[name] for name in written)
    return Liveness(
        ranges=ranges,
        storage=storage,
        view_of=view_of,
        produced=produced,
        num_positions=n_ops,
        _members={root: tuple(names) for root, names in members.items() if len(names) > 1},
        last_access=last_access,
    )


def compute_ranges(
    linearized_ops: Iterable[OpLike],
    blob_sizes: Mapping[str, int | None] | None = None,
) -> dict[str, LiveRange]:
    """Compute the live range of every storage the ops read or write.

    Caffe2's signature; the policy is the module's (control inputs extend a
    range without consuming the value, a blob never read after its last
    write lives to the end, views share their base's range).  On ops without
    views every blob is its own storage, so there is one range per blob.

    Parameters
    ----------
    linearized_ops : iterable of op-like objects
        Ops in execution order, each with ``input`` and ``output`` sequences
        of blob names (optionally ``control_input`` and ``views``).
    blob_sizes : mapping of str to int, optional
        Size in bytes of each blob.  When given it must cover every blob the
        ops touch; a missing blob raises :class:`MissingSizeError`.

    Returns
    -------
    dict of str to LiveRange
        One entry per storage root, in order of first appearance.

    Raises
    ------
    MissingSizeError
        ``blob_sizes`` is given and lacks a blob.
    InvalidRangeError
        A size is negative.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"])]
    >>> for name, r in compute_ranges(ops).items():
    ...     print(name, r)
    x LiveRange(defined=-1, used=0, size=None)
    a LiveRange(defined=0, used=1, size=None)
    b LiveRange(defined=1, used=2, size=None)

    A control input keeps its blob live up to the op that names it, and a
    blob only named by control inputs after its last write lives to the end:

    >>> ops.append(Op(input=["b"], output=["c"], control_input=["a", "b"]))
    >>> ranges = compute_ranges(ops)
    >>> ranges["a"], ranges["b"]
    (LiveRange(defined=0, used=2, size=None), LiveRange(defined=1, used=2, size=None))
    >>> tail = [Op(input=[], output=["p"]), Op(input=[], output=["q"], control_input=["p"])]
    >>> compute_ranges(tail)["p"]
    LiveRange(defined=0, used=2, size=None)
    """
    return compute_liveness(linearized_ops, blob_sizes).ranges


def naive_bytes(ranges: RangesLike, static_blobs: Iterable[str] = ()) -> int:
    """Bytes with every blob in a buffer of its own: the sum of the sizes.

    Parameters
    ----------
    ranges : mapping of str to LiveRange, or iterable of (str, LiveRange)
        The blobs that count (for a net: :meth:`Liveness.produced_ranges`).
    static_blobs : iterable of str, optional
        Blobs left out.

    Examples
    --------
    >>> naive_bytes({"a": LiveRange(0, 1, 10), "b": LiveRange(1, 2, None)})
    11
    """
    static = name_set(static_blobs)
    return sum(nbytes(r.size) for name, r in as_items(ranges) if name not in static)


def plan_bytes(
    assignments: Iterable[Sequence[Item]],
    ranges: RangesLike | None = None,
    static_blobs: Iterable[str] = (),
) -> int:
    """Bytes of a shared-object plan: the sum over buffers of the largest member.

    Parameters
    ----------
    assignments : iterable of sequences of (str, LiveRange)
        The buffers.
    ranges : mapping or pairs, optional
        The blobs that count.  When given, buffer members outside it are
        ignored and every blob of it in no buffer counts as a buffer of its
        own, so the result compares with :func:`naive_bytes` of the same
        ranges.
    static_blobs : iterable of str, optional
        With ``ranges``: blobs left out.

    Examples
    --------
    >>> plan = [[("a", LiveRange(0, 1, 10)), ("c", LiveRange(2, 3, 30))]]
    >>> ranges = {"a": LiveRange(0, 1, 10), "b": LiveRange(1, 2, 5), "c": LiveRange(2, 3, 30)}
    >>> plan_bytes(plan), plan_bytes(plan, ranges)
    (30, 35)
    """
    counted: dict[str, LiveRange] | None = None
    if ranges is not None:
        static = name_set(static_blobs)
        counted = {name: r for name, r in as_items(ranges) if name not in static}
    total = 0
    seen: set[str] = set()
    for buffer in assignments:
        largest = 0
        for name, r in buffer:
            if counted is not None:
                if name not in counted:
                    continue
                r = counted[name]
            seen.add(name)
            largest = max(largest, nbytes(r.size))
        total += largest
    if counted is not None:
        total += sum(nbytes(r.size) for name, r in counted.items() if name not in seen)
    return total


def live_bytes(
    ranges: RangesLike,
    num_positions: int | None = None,
    static_blobs: Iterable[str] = (),
) -> list[int]:
    """The live-bytes timeline: total size of the blobs live at each position.

    Parameters
    ----------
    ranges : mapping of str to LiveRange, or iterable of (str, LiveRange)
        The blobs that count; each is live on its closed range clipped to
        ``0 .. num_positions - 1``.
    num_positions : int, optional
        Default: one past the largest ``used`` (0 without blobs).
    static_blobs : iterable of str, optional
        Blobs left out.

    Returns
    -------
    list of int
        ``num_positions`` totals; their maximum is
        :func:`memonger.alloc.peak_live_bytes` of the same blobs.

    Examples
    --------
    >>> live_bytes({"x": LiveRange(-1, 0, 99), "a": LiveRange(0, 2, 8)}, 3)
    [107, 8, 8]
    """
    static = name_set(static_blobs)
    items = [(name, r) for name, r in as_items(ranges) if name not in static]
    if num_positions is None:
        num_positions = max((r.used for _, r in items), default=-1) + 1
    if num_positions < 0:
        raise InvalidRangeError(f"num_positions must be >= 0, not {num_positions}")
    diff = [0] * (num_positions + 1)
    for _, r in items:
        first = max(r.defined, 0)
        last = min(r.used, num_positions - 1)
        if first <= last:
            size = nbytes(r.size)
            diff[first] += size
            diff[last + 1] -= size
    out: list[int] = []
    live = 0
    for pos in range(num_positions):
        live += diff[pos]
        out.append(live)
    return out
