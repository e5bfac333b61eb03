"""Checks that a rewritten net computes what the original net computes.

Three checks, from the weakest to the strongest:

:func:`verify_inplace_blobs`
    Op by op, the same in-place pairs (input ``j`` and output ``k`` naming the
    same blob); a rewrite must not make an op read and write one buffer where
    the original did not.
:func:`verify_graph_equality`
    The same ops in the same order, and every input of every op produced by the
    same op (or coming from outside) in both nets.  Names of intermediate
    blobs may differ; names of external inputs and outputs may not.
:func:`verify_execution_equivalence`
    Both nets are run symbolically (design 3.7): every value an op writes is a
    hash of the op's identity, the output position and the values it read.  The
    rewritten net is equivalent when every op of the original reads the same
    values and every external output ends with the same value.  It accepts
    reordered nets, handles in-place ops, ``Free`` ops inserted after last
    uses, ``Alias`` ops and nested nets, and for nets executed as a DAG it can
    also run random valid orders.

Each check has a variant that explains the first difference
(:func:`graph_difference`, :func:`inplace_difference`, and the
:class:`EquivalenceResult` returned by :func:`verify_execution_equivalence`).
None of them prints or modifies its arguments.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memonger.alloc import compute_liveness
from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import VerificationError
from memonger.netdef.nested import NESTED_NET_ARGS, nested_nets, outer_references
from memonger.netdef.netlike import NetLike, netdef_of
from memonger.netdef.views import ViewOps, ViewRule, view_rule

__all__ = [
    "CAFFE2_NONDETERMINISTIC_OPS",
    "EquivalenceResult",
    "assert_equivalent",
    "final_results",
    "graph_difference",
    "inplace_difference",
    "net_storage",
    "nondeterministic_types",
    "verify_execution_equivalence",
    "verify_graph_equality",
    "verify_inplace_blobs",
]

#: Op types a rewrite may insert that have no counterpart in the original net.
_INSERTED_TYPES = ("Free", "Alias")

#: Caffe2's op types whose outputs are not a function of their inputs and
#: arguments: random fills, dropout, sampling, data readers and clocks.  Two
#: such ops with the same identity that read the same values compute
#: different values, so a rewrite may not merge their outputs.  Pass
#: ``nondeterministic_ops=`` to the verifier to replace this set (e.g.
#: ``CAFFE2_NONDETERMINISTIC_OPS | {"MyRandomOp"}``).  ``Dropout`` with a
#: non-zero ``is_test`` argument is the identity and counts as deterministic.
CAFFE2_NONDETERMINISTIC_OPS: frozenset[str] = frozenset(
    {
        # random fills (caffe2/operators/filler_op.cc)
        "UniformFill",
        "UniformIntFill",
        "UniqueUniformFill",
        "GaussianFill",
        "XavierFill",
        "MSRAFill",
        # random masks and samples
        "Dropout",
        "SparseDropoutWithReplacement",
        "WeightedSample",
        "WeightedMultiSampling",
        "ReservoirSampling",
        # readers: each run yields the next batch
        "TensorProtosDBInput",
        "ImageInput",
        "VideoInput",
        "ReadNextBatch",
        "ReadRandomBatch",
        "DequeueBlobs",
        "SafeDequeueBlobs",
        "WeightedSampleDequeueBlobs",
        # clocks
        "WallClockTime",
    }
)

#: Op types whose ``is_test`` argument, when non-zero, makes them deterministic.
_TEST_MODE_TYPES = frozenset({"Dropout", "SparseDropoutWithReplacement"})


def nondeterministic_types(nondeterministic_ops: Iterable[str] | None = None) -> frozenset[str]:
    """The set of nondeterministic op types for a ``nondeterministic_ops=`` argument.

    Parameters
    ----------
    nondeterministic_ops : iterable of str, optional
        Op type names; default :data:`CAFFE2_NONDETERMINISTIC_OPS`.  A value
        replaces the default (``()``: every op deterministic).

    Returns
    -------
    frozenset of str

    Raises
    ------
    TypeError
        A bare string, or an element that is not a string.

    Examples
    --------
    >>> "Dropout" in nondeterministic_types()
    True
    >>> sorted(nondeterministic_types({"MyRandom"}))
    ['MyRandom']
    >>> nondeterministic_types("Dropout")
    Traceback (most recent call last):
    ...
    TypeError: nondeterministic_ops must be a collection of op type names, not a string: 'Dropout'
    """
    if nondeterministic_ops is None:
        return CAFFE2_NONDETERMINISTIC_OPS
    if isinstance(nondeterministic_ops, (str, bytes)):
        raise TypeError(
            "nondeterministic_ops must be a collection of op type names, not a string: "
            f"{nondeterministic_ops!r}"
        )
    found = frozenset(nondeterministic_ops)
    for kind in found:
        if not isinstance(kind, str):
            raise TypeError(f"nondeterministic_ops must hold op type names, got {kind!r}")
    return found


def _is_nondeterministic(op: caffe2_pb2.OperatorDef, types: frozenset[str]) -> bool:
    if op.type not in types:
        return False
    if op.type in _TEST_MODE_TYPES:
        return not any(arg.name == "is_test" and arg.i != 0 for arg in op.arg)
    return True


# ---------------------------------------------------------------------------
# What identifies an op independently of the blob names it touches
# ---------------------------------------------------------------------------


def _holds_nested_net(arg: caffe2_pb2.Argument) -> bool:
    return (
        arg.HasField("n")
        or len(arg.nets) > 0
        or (arg.name in NESTED_NET_ARGS and arg.HasField("s"))
    )


def _argument_signature(op: caffe2_pb2.OperatorDef) -> tuple[bytes, ...]:
    """Serialized arguments, without ``<blob>.rename`` ones and without nested nets.

    A rewrite renames blobs inside nested nets and appends ``.rename``
    arguments; everything else about the arguments must stay as it was.
    """
    signature = []
    for arg in op.arg:
        if arg.name.endswith(".rename"):
            continue
        if _holds_nested_net(arg):
            stripped = caffe2_pb2.Argument()
            stripped.CopyFrom(arg)
            stripped.ClearField("n")
            stripped.ClearField("nets")
            if arg.name in NESTED_NET_ARGS:
                stripped.ClearField("s")
            signature.append(stripped.SerializeToString(deterministic=True))
        else:
            signature.append(arg.SerializeToString(deterministic=True))
    return tuple(signature)


def _op_signature(op: caffe2_pb2.OperatorDef) -> tuple[Hashable, ...]:
    """What must be equal for two ops to be the same computation (names aside)."""
    return (
        op.type,
        op.engine,
        op.device_option.SerializeToString(deterministic=True),
        op.is_gradient_op,
        _argument_signature(op),
    )


def _op_label(op: caffe2_pb2.OperatorDef) -> str:
    return f"{op.type} {op.name!r}" if op.name else op.type


def _list_difference(
    field: str, list_a: Sequence[str], list_b: Sequence[str], a_is: str, b_is: str
) -> str:
    """The first difference of two name lists, in one line (never the whole lists)."""
    for j, (name_a, name_b) in enumerate(zip(list_a, list_b, strict=False)):
        if name_a != name_b:
            return (
                f"{field} differs at position {j}: {name_a!r} in {a_is}, {name_b!r} "
                f"in {b_is} ({len(list_a)} and {len(list_b)} names)"
            )
    if len(list_a) > len(list_b):
        return (
            f"{field} differs: {b_is} lacks {list_a[len(list_b)]!r} (position {len(list_b)}; "
            f"{len(list_a)} names in {a_is}, {len(list_b)} in {b_is})"
        )
    return (
        f"{field} differs: {b_is} adds {list_b[len(list_a)]!r} (position {len(list_a)}; "
        f"{len(list_a)} names in {a_is}, {len(list_b)} in {b_is})"
    )


def _externals_difference(
    a: caffe2_pb2.NetDef,
    b: caffe2_pb2.NetDef,
    a_is: str = "the first net",
    b_is: str = "the second",
) -> str | None:
    for field in ("external_input", "external_output"):
        list_a, list_b = list(getattr(a, field)), list(getattr(b, field))
        if list_a != list_b:
            return _list_difference(field, list_a, list_b, a_is, b_is)
    return None


# ---------------------------------------------------------------------------
# Matching the ops of two nets by identity (graph equality, in-place check)
# ---------------------------------------------------------------------------

#: Where the value an op reads comes from, in the numbering of the first net:
#: ``("op", i, k)`` output ``k`` of op ``i``, ``("outside", name)``, or
#: ``("freed", j)`` destroyed by the inserted ``Free`` op ``j`` of the second net.
_Producer = tuple[Any, ...]


def _structural_identity(op: caffe2_pb2.OperatorDef) -> tuple[Hashable, ...]:
    """What graph equality matches ops by: everything but the blob names."""
    return (
        *_op_signature(op),
        op.name,
        len(op.input),
        len(op.output),
        len(op.control_input),
    )


@dataclass
class _Matching:
    """Ops of the second net matched to the ops of the first, by identity and producers.

    ``match[j]`` is the index in the first net of the second net's op ``j``
    (None for an op the rewrite inserted, a ``Free`` or an ``Alias`` without
    counterpart).  ``producers_a[i]`` / ``producers_b[j]`` are the producers
    of every input and control input (those of the second net numbered as in
    the first).  ``problem`` says why the nets cannot be matched, if so.
    """

    match: list[int | None]
    producers_a: list[list[_Producer]]
    producers_b: list[list[_Producer]]
    problem: str | None
    final_a: dict[str, _Producer]  # the last writer of each blob, at the end of the net
    final_b: dict[str, _Producer]


def _producers(
    net: caffe2_pb2.NetDef, order: Sequence[int]
) -> tuple[list[list[_Producer]], dict[str, _Producer]]:
    writer: dict[str, _Producer] = {}
    found: list[list[_Producer]] = [[] for _ in net.op]
    for i in order:
        op = net.op[i]
        found[i] = [writer.get(name, ("outside", name)) for name in [*op.input, *op.control_input]]
        for k, name in enumerate(op.output):
            writer[name] = ("op", i, k)
    return found, writer


def _match_ops(
    a: caffe2_pb2.NetDef, b: caffe2_pb2.NetDef, order: Sequence[int] | None
) -> _Matching:
    """Match the ops of ``b`` to those of ``a`` (see :class:`_Matching`).

    With ``order`` (the index in ``a`` of each op of ``b``) the matching is
    given.  Otherwise each op of ``b``, in its program order, takes the first
    unmatched op of ``a`` with the same identity (type, name, engine, device,
    gradient flag, arguments, number of inputs and outputs) whose inputs have
    the same producers -- the way execution equivalence matches ops by the
    values they read -- else the first unmatched op with the same identity.
    """
    producers_a, final_a = _producers(a, range(len(a.op)))
    # Unmatched ops of ``a`` in program order, by identity and by identity and
    # producers; matched ones are dropped lazily from the front.
    by_identity: dict[tuple[Hashable, ...], deque[int]] = defaultdict(deque)
    by_producers: dict[tuple[Hashable, ...], deque[int]] = defaultdict(deque)
    for i, op in enumerate(a.op):
        identity = _structural_identity(op)
        by_identity[identity].append(i)
        by_producers[(identity, tuple(producers_a[i]))].append(i)

    def first_free(queue: deque[int] | None) -> int | None:
        while queue and taken[queue[0]]:
            queue.popleft()
        return queue[0] if queue else None

    if order is not None:
        given = list(order)
        if sorted(given) != list(range(len(a.op))) or len(given) != len(b.op):
            raise ValueError(
                f"order must give the index in the first net ({len(a.op)} ops) of each of "
                f"the {len(b.op)} ops of the second, got {given}"
            )
    match: list[int | None] = [None] * len(b.op)
    taken = [False] * len(a.op)
    producers_b: list[list[_Producer]] = [[] for _ in b.op]
    writer: dict[str, _Producer] = {}
    problem: str | None = None
    for j, op in enumerate(b.op):
        mapped = [writer.get(name, ("outside", name)) for name in [*op.input, *op.control_input]]
        producers_b[j] = mapped
        if order is not None:
            original: int | None = order[j]
        else:
            identity = _structural_identity(op)
            original = first_free(by_producers.get((identity, tuple(mapped))))
            if original is None:
                original = first_free(by_identity.get(identity))
        if original is None and op.type in _INSERTED_TYPES:
            if op.type == "Free":
                for name in op.output:
                    writer[name] = ("freed", j)
            else:  # an inserted Alias passes its inputs through
                for k, name in enumerate(op.output):
                    source = op.input[k] if k < len(op.input) else name
                    writer[name] = writer.get(source, ("outside", source))
            continue
        if original is None:
            if problem is None:
                problem = _unmatched_op(a, b, j, taken)
            for k, name in enumerate(op.output):
                writer[name] = ("unmatched", j, k)
            continue
        match[j] = original
        taken[original] = True
        for k, name in enumerate(op.output):
            writer[name] = ("op", original, k)
    if problem is None:
        missing = [i for i in range(len(a.op)) if not taken[i]]
        if missing:
            i = missing[0]
            problem = (
                f"op #{i} {_op_label(a.op[i])} of the first net has no counterpart in the "
                f"second (the first net has {len(a.op)} ops, the second {len(b.op)})"
            )
    return _Matching(match, producers_a, producers_b, problem, final_a, writer)


def _unmatched_op(a: caffe2_pb2.NetDef, b: caffe2_pb2.NetDef, j: int, taken: Sequence[bool]) -> str:
    """Why op ``j`` of ``b`` has no counterpart in ``a``: the closest op's first difference."""
    op_b = b.op[j]
    here = f"op #{j} {_op_label(op_b)} of the second net"
    pool = [i for i in range(len(a.op)) if not taken[i]] or list(range(len(a.op)))
    if not pool:
        return f"{here} has no counterpart: the first net has no ops"

    def closeness(i: int) -> tuple[int, int, int]:
        op_a = a.op[i]
        return (op_a.type == op_b.type, op_a.name == op_b.name, -abs(i - j))

    i = max(pool, key=closeness)
    op_a = a.op[i]
    if op_a.type != op_b.type:
        return (
            f"{here} has no counterpart in the first net (op #{i} there is "
            f"{op_a.type}, not {op_b.type}; the first net has {len(a.op)} ops, the second "
            f"{len(b.op)})"
        )
    for what, value_a, value_b in (
        ("name", op_a.name, op_b.name),
        ("engine", op_a.engine, op_b.engine),
        (
            "device option",
            op_a.device_option.SerializeToString(deterministic=True),
            op_b.device_option.SerializeToString(deterministic=True),
        ),
        ("is_gradient_op", op_a.is_gradient_op, op_b.is_gradient_op),
        ("arguments", _argument_signature(op_a), _argument_signature(op_b)),
        ("number of inputs", len(op_a.input), len(op_b.input)),
        ("number of outputs", len(op_a.output), len(op_b.output)),
        ("number of control inputs", len(op_a.control_input), len(op_b.control_input)),
    ):
        if value_a != value_b:
            return f"{here} has no counterpart: the {what} differs from op #{i} of the first net"
    return f"{here} runs more often than in the first net"  # pragma: no cover


def _describe_producer(net: caffe2_pb2.NetDef, where: _Producer) -> str:
    kind = where[0]
    if kind == "outside":
        return f"outside the net ({where[1]!r})"
    if kind == "op":
        return f"op #{where[1]} {net.op[where[1]].type} output {where[2]}"
    if kind == "freed":
        return f"nothing (freed by the inserted Free op #{where[1]} of the second net)"
    return f"op #{where[1]} of the second net, which has no counterpart"


# ---------------------------------------------------------------------------
# verify_inplace_blobs
# ---------------------------------------------------------------------------


def _inplace_pairs(
    op: caffe2_pb2.OperatorDef, storage: Mapping[str, str], rule: ViewRule
) -> list[tuple[int, int]]:
    """``(input, output)`` index pairs naming one storage (an output that is a view excluded)."""
    views = {out for out, _ in rule(op)}
    cells = [storage.get(name, name) for name in op.output]
    return [
        (j, k)
        for j, name in enumerate(op.input)
        for k, cell in enumerate(cells)
        if k not in views and storage.get(name, name) == cell
    ]


def inplace_difference(
    net_a: NetLike,
    net_b: NetLike,
    *,
    order: Sequence[int] | None = None,
    view_ops: ViewOps | ViewRule | None = None,
) -> str | None:
    """Explain why :func:`verify_inplace_blobs` fails, or return None when it holds.

    Examples
    --------
    >>> a = caffe2_pb2.NetDef()
    >>> _ = a.op.add(type="Relu", input=["x"], output=["y"])
    >>> b = caffe2_pb2.NetDef()
    >>> _ = b.op.add(type="Relu", input=["x"], output=["x"])
    >>> print(inplace_difference(a, b))
    op #0 Relu (op #0 in the first net): in-place (input, output) pairs [] in the first net, \
[(0, 0)] in the second ('x')
    """
    a, b = netdef_of(net_a), netdef_of(net_b)
    rule = view_rule(view_ops)
    matching = _match_ops(a, b, order)
    if matching.problem is not None:
        return matching.problem
    storage_a = {} if _is_plain(a, rule) else net_storage(a, rule)
    storage_b = {} if _is_plain(b, rule) else net_storage(b, rule)
    for j, i in enumerate(matching.match):
        if i is None:
            continue  # an inserted Free or Alias
        op_a, op_b = a.op[i], b.op[j]
        pairs_a = _inplace_pairs(op_a, storage_a, rule)
        pairs_b = _inplace_pairs(op_b, storage_b, rule)
        if pairs_a != pairs_b:
            new = sorted(set(pairs_b) - set(pairs_a))
            lost = sorted(set(pairs_a) - set(pairs_b))
            blob = op_b.input[new[0][0]] if new else op_a.input[lost[0][0]]
            return (
                f"op #{j} {_op_label(op_b)} (op #{i} in the first net): in-place (input, "
                f"output) pairs {pairs_a} in the first net, {pairs_b} in the second ({blob!r})"
            )
    return None


def verify_inplace_blobs(
    net_a: NetLike,
    net_b: NetLike,
    *,
    order: Sequence[int] | None = None,
    view_ops: ViewOps | ViewRule | None = None,
) -> bool:
    """Whether every op has the same in-place blob pairs in both nets.

    An op is in place when one of its inputs and one of its outputs name the
    same storage (the same blob, or a view of it, :func:`net_storage`; an
    output the op declares a view is not a write).  A rewrite that shares
    buffers must not create in-place pairs the original did not have (nor
    remove any).  Ops are matched by identity, not by position (see
    :func:`verify_graph_equality`), so the check also applies to reordered
    nets; ``Free`` and ``Alias`` ops the rewrite inserted are skipped.

    Parameters
    ----------
    net_a, net_b : caffe2_pb2.NetDef or object with ``Proto()``
        Typically the original net and its rewrite.
    order : sequence of int, optional
        The index in ``net_a`` of each op of ``net_b``, when known (a
        reordering rewrite says it); default: match ops by identity.
    view_ops : iterable of str or mapping, optional
        The ops declaring views (:func:`memonger.netdef.views.view_rule`).

    Returns
    -------
    bool
        True when every matched op has the same ``(input index, output
        index)`` in-place pairs in both nets.  See :func:`inplace_difference`
        for why not.

    Raises
    ------
    ValueError
        ``order`` is not a permutation of ``net_a``'s op indices, one per op of ``net_b``.

    Examples
    --------
    >>> a = caffe2_pb2.NetDef()
    >>> _ = a.op.add(type="Copy", input=["b1"], output=["b1"])
    >>> b = caffe2_pb2.NetDef()
    >>> _ = b.op.add(type="Copy", input=["m0"], output=["m0"])
    >>> verify_inplace_blobs(a, b)
    True
    """
    return inplace_difference(net_a, net_b, order=order, view_ops=view_ops) is None


# ---------------------------------------------------------------------------
# verify_graph_equality
# ---------------------------------------------------------------------------


def graph_difference(
    net_a: NetLike, net_b: NetLike, *, order: Sequence[int] | None = None
) -> str | None:
    """Explain why :func:`verify_graph_equality` fails, or return None when it holds.

    Examples
    --------
    >>> a = caffe2_pb2.NetDef(external_input=["x"])
    >>> _ = a.op.add(type="Relu", input=["x"], output=["y"])
    >>> _ = a.op.add(type="Relu", input=["x"], output=["z"])
    >>> _ = a.op.add(type="Sum", input=["y", "z"], output=["out"])
    >>> b = caffe2_pb2.NetDef(external_input=["x"])
    >>> _ = b.op.add(type="Relu", input=["x"], output=["y"])
    >>> _ = b.op.add(type="Relu", input=["x"], output=["y"])
    >>> _ = b.op.add(type="Sum", input=["y", "y"], output=["out"])
    >>> print(graph_difference(a, b))
    op #2 Sum of the second net (op #2 in the first): input 0 ('y' / 'y') is written by \
op #0 Relu output 0 in the first net but by op #1 Relu output 0 in the second \
(ops numbered as in the first net)
    """
    a, b = netdef_of(net_a), netdef_of(net_b)
    externals_problem = _externals_difference(a, b)
    if externals_problem is not None:
        return externals_problem
    matching = _match_ops(a, b, order)
    if matching.problem is not None:
        return matching.problem
    externals = set(a.external_input) | set(a.external_output)
    for j, i in enumerate(matching.match):
        if i is None:
            continue
        op_a, op_b = a.op[i], b.op[j]
        where = f"op #{j} {_op_label(op_b)} of the second net (op #{i} in the first)"
        for kind, names_a, names_b in (
            ("input", op_a.input, op_b.input),
            ("output", op_a.output, op_b.output),
            ("control input", op_a.control_input, op_b.control_input),
        ):
            for k, (name_a, name_b) in enumerate(zip(names_a, names_b, strict=True)):
                if (name_a in externals or name_b in externals) and name_a != name_b:
                    return (
                        f"{where}: {kind} {k} is {name_a!r} in the first net but {name_b!r} "
                        "in the second (external blobs keep their names)"
                    )
        labels = [f"input {k}" for k in range(len(op_a.input))] + [
            f"control input {k}" for k in range(len(op_a.control_input))
        ]
        reads_a = [*op_a.input, *op_a.control_input]
        reads_b = [*op_b.input, *op_b.control_input]
        for label, name_a, name_b, parent_a, parent_b in zip(
            labels, reads_a, reads_b, matching.producers_a[i], matching.producers_b[j], strict=True
        ):
            if parent_a != parent_b:
                return (
                    f"{where}: {label} ({name_a!r} / {name_b!r}) is written by "
                    f"{_describe_producer(a, parent_a)} in the first net but by "
                    f"{_describe_producer(a, parent_b)} in the second (ops numbered as in "
                    "the first net)"
                )
    fetchable = dict.fromkeys([*a.external_output, *a.external_input, *final_results(a)])
    for name in fetchable:
        last_a = matching.final_a.get(name, ("outside", name))
        last_b = matching.final_b.get(name, ("outside", name))
        if last_a != last_b:
            return (
                f"blob {name!r} ends with the value of {_describe_producer(a, last_a)} in the "
                f"first net but of {_describe_producer(a, last_b)} in the second (a caller may "
                "fetch it: it is external, or no op reads it after its last write)"
            )
    return None


def verify_graph_equality(
    net_a: NetLike, net_b: NetLike, *, order: Sequence[int] | None = None
) -> bool:
    """Whether two nets run the same ops on the same data, blob names aside.

    Every op of one net is matched to one op of the other by its identity
    (type, name, engine, device option, gradient flag and arguments, ignoring
    ``<blob>.rename`` arguments and the blob names inside nested nets, and
    the number of inputs and outputs), not by its position: the ops of the
    second net, in their order, each take the first unmatched op of the
    first net with that identity whose inputs have the same producers (else
    the first with that identity), the way
    :func:`verify_execution_equivalence` matches ops by the values they
    read.  The nets are equal when every op is matched, every input (and
    control input) of every op has the same producer -- the output of the
    matched counterpart of the last earlier op that wrote that blob, or
    "outside the net" (and then the same blob) -- and every blob a caller
    may fetch (external inputs and outputs, and :func:`final_results`) has
    the same last producer, under the same name.  Reordered nets are
    therefore compared too.  ``Free`` ops the rewrite inserted destroy what
    they free; ``Alias`` ops without counterpart pass their inputs through.

    This is Caffe2's check of a memonger rewrite, made order-aware and with
    one more rule: external inputs and outputs must keep their names (the
    lists must be equal and every op reading or writing an external blob
    must name it the same way), so a rewrite that renamed them, or
    redirected a write to one of them, is not equal.  Nested nets are not
    compared; :func:`verify_execution_equivalence` compares them.

    Parameters
    ----------
    net_a, net_b : caffe2_pb2.NetDef or object with ``Proto()``
        Typically the original net and its rewrite.
    order : sequence of int, optional
        The index in ``net_a`` of each op of ``net_b``, when known; default:
        match ops by identity.

    Returns
    -------
    bool
        See :func:`graph_difference` for the first difference.

    Raises
    ------
    ValueError
        ``order`` is not a permutation of ``net_a``'s op indices, one per op of ``net_b``.

    Examples
    --------
    >>> a = caffe2_pb2.NetDef(external_input=["data"], external_output=["z"])
    >>> _ = a.op.add(type="Relu", input=["data"], output=["x"])
    >>> _ = a.op.add(type="Relu", input=["x"], output=["y"])
    >>> _ = a.op.add(type="Relu", input=["y"], output=["z"])
    >>> b = caffe2_pb2.NetDef()
    >>> b.CopyFrom(a)
    >>> b.op[0].output[0] = b.op[1].input[0] = "other_x"
    >>> verify_graph_equality(a, b)
    True
    >>> b.op[2].output[0] = "other_z"  # an external output renamed
    >>> verify_graph_equality(a, b)
    False
    """
    return graph_difference(net_a, net_b, order=order) is None


# ---------------------------------------------------------------------------
# Symbolic execution
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EquivalenceResult:
    """The outcome of :func:`verify_execution_equivalence`.

    True in a boolean context when the nets are equivalent.  Otherwise the
    fields describe the first divergence found.

    Attributes
    ----------
    ok : bool
        Whether the optimized net is equivalent to the original.
    message : str
        A readable summary (the whole explanation when not ``ok``).
    op_index : int or None
        Index in the optimized net of the op that diverges (None when the
        divergence is about the net as a whole, e.g. an external output).
    op_type : str or None
        Its type.
    original_index : int or None
        Index of its counterpart in the original net, when known.
    blob : str or None
        The blob (as named in the optimized net) whose value differs.
    expected : str or None
        The producer of the value the original reads there, e.g.
        ``"op #3 FC output 0"`` or ``"external input 'data'"``.  Producers
        are numbered as in the original net, whatever the optimized order.
    found : str or None
        The producer of the value the optimized net reads there.
    order : tuple of int or None
        The execution order of the optimized net's ops (indices) that shows the
        divergence; None for the net's own program order.
    orders_checked : int
        How many orders were run (program order included).
    """

    ok: bool
    message: str
    op_index: int | None = None
    op_type: str | None = None
    original_index: int | None = None
    blob: str | None = None
    expected: str | None = None
    found: str | None = None
    order: tuple[int, ...] | None = None
    orders_checked: int = 0

    def __bool__(self) -> bool:
        return self.ok


@dataclass(slots=True)
class _OpInfo:
    """One op, reduced to what symbolic execution needs."""

    type: str
    label: str
    is_free: bool
    is_inserted_kind: bool
    key: int  # the op signature, interned
    ident: int  # signature + nested-net skeleton, interned
    skeleton: tuple[tuple[str, str, str], ...]
    skeleton_names: tuple[str, ...]
    read_names: list[str]  # inputs, then nested references, then control inputs
    extra_labels: list[str]  # labels of the reads after the inputs
    out_names: list[str]
    input_names: list[str]
    ref_writes: list[tuple[str, str]]  # (path of first reference, outer blob)
    dep_writes: list[str]
    # The storages (roots, memonger.alloc.compute_liveness) behind the names:
    read_cells: list[str]
    out_cells: list[str]
    ref_write_cells: list[tuple[str, str]]
    dep_cells: list[str]
    view_outputs: frozenset[int]  # outputs that are views: the op writes no new value there
    nondeterministic: bool  # each run computes new values
    recurrent: bool  # a RecurrentNetwork* op: renamed blobs need <blob>.rename arguments
    rename_args: dict[str, str]  # its <blob>.rename arguments
    referenced: list[str]  # inputs, outputs, outer blobs its nested nets name (by position)

    def read_label(self, position: int) -> str:
        count = len(self.input_names)
        return f"input {position}" if position < count else self.extra_labels[position - count]


def _walk_nested(
    net: caffe2_pb2.NetDef,
    prefix: str,
    refs: set[str],
    tokens: list[tuple[str, str, str]],
) -> None:
    def visit(path: str, name: str) -> None:
        tokens.append((path, "ref" if name in refs else "local", name))

    for j, name in enumerate(net.external_input):
        visit(f"{prefix} external_input {j}", name)
    for i, op in enumerate(net.op):
        for kind, names in (
            ("input", op.input),
            ("output", op.output),
            ("control_input", op.control_input),
        ):
            for j, name in enumerate(names):
                visit(f"{prefix} op {i} {kind} {j}", name)
        for nested in nested_nets(op):
            _walk_nested(
                nested.net,
                f"{prefix} op {i} {_nested_label(op, nested.arg_index, nested.index)}",
                refs,
                tokens,
            )
    for j, name in enumerate(net.external_output):
        visit(f"{prefix} external_output {j}", name)


def _nested_label(op: caffe2_pb2.OperatorDef, arg_index: int, index: int) -> str:
    arg = op.arg[arg_index]
    if len(arg.nets) > 0:
        return f"{arg.name or 'arg ' + str(arg_index)}[{index}]"
    return arg.name or f"arg {arg_index}"


def _outer_names(net: caffe2_pb2.NetDef) -> set[str]:
    names = set(net.external_input) | set(net.external_output)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
    return names


def net_storage(
    net: caffe2_pb2.NetDef, view_ops: ViewOps | ViewRule | None = None
) -> dict[str, str]:
    """Every blob name of ``net`` -> the root of its storage (views resolved).

    The storage groups of :func:`memonger.alloc.compute_liveness` with the
    views of :mod:`memonger.netdef.views` (those that nested nets declare
    between outer blobs included).

    Examples
    --------
    >>> net = caffe2_pb2.NetDef()
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"])
    >>> _ = net.op.add(type="Alias", input=["a"], output=["b"])
    >>> _ = net.op.add(type="Alias", input=["b"], output=["c"])
    >>> net_storage(net)
    {'x': 'x', 'a': 'a', 'b': 'a', 'c': 'a'}
    """
    from memonger.netdef.rewrite import net_accesses

    return compute_liveness(net_accesses(net, view_ops)).storage


def _rename_args(op: caffe2_pb2.OperatorDef) -> dict[str, str]:
    return {
        arg.name[: -len(".rename")]: arg.s.decode("utf-8", errors="replace")
        for arg in op.arg
        if arg.name.endswith(".rename")
    }


def _is_plain(net: caffe2_pb2.NetDef, rule: ViewRule) -> bool:
    """Whether no op of ``net`` declares a view or holds a nested net."""
    types = rule.types
    for op in net.op:
        if op.type in types:
            return False
        if op.arg and any(_holds_nested_net(arg) for arg in op.arg):
            return False
    return True


def _describe_ops(
    net: caffe2_pb2.NetDef, ids: dict[Hashable, int], rule: ViewRule, random_types: frozenset[str]
) -> tuple[list[_OpInfo], dict[str, str]]:
    plain = _is_plain(net, rule)
    outer = set() if plain else _outer_names(net)
    # Without views and nested nets every name is its own storage (lookups default to it).
    storage: dict[str, str] = {} if plain else net_storage(net, rule)

    def cells(names: Iterable[str]) -> list[str]:
        return [storage.get(name, name) for name in names]

    infos = []
    for op in net.op:
        inputs, outputs = list(op.input), list(op.output)
        read_names = list(inputs)
        extra_labels: list[str] = []
        skeleton: list[tuple[str, str, str]] = []
        skeleton_names: list[str] = []
        ref_writes: list[tuple[str, str]] = []
        ref_names: list[str] = []
        has_nested = any(_holds_nested_net(arg) for arg in op.arg)
        refs = outer_references(op, outer) if has_nested else set()
        if has_nested:
            tokens: list[tuple[str, str, str]] = []
            for nested in nested_nets(op):
                _walk_nested(
                    nested.net, _nested_label(op, nested.arg_index, nested.index), refs, tokens
                )
            seen: set[str] = set()
            for path, kind, name in tokens:
                skeleton_names.append(name)
                if kind == "local":
                    skeleton.append((path, "local", name))
                    continue
                if name in outputs and name not in inputs:
                    # The nested net names an output of its op: written, not read.
                    skeleton.append((path, "output", str(outputs.index(name))))
                else:
                    skeleton.append((path, "ref", ""))
                    read_names.append(name)
                    extra_labels.append(f"nested reference at {path}")
                if name not in seen:
                    seen.add(name)
                    ref_names.append(name)
                    if name not in outputs:
                        ref_writes.append((path, name))
        for j, name in enumerate(op.control_input):
            read_names.append(name)
            extra_labels.append(f"control input {j}")
        view_outputs = frozenset(out for out, inp in rule(op) if outputs[out] != inputs[inp])
        recurrent = op.type.startswith("RecurrentNetwork")
        signature = ("op", *_op_signature(op), op.name, len(outputs))
        key = ids.setdefault(signature, len(ids))
        frozen_skeleton = tuple(skeleton)
        ident = ids.setdefault(("ident", key, frozen_skeleton), len(ids))
        infos.append(
            _OpInfo(
                type=op.type,
                label=_op_label(op),
                is_free=op.type == "Free",
                is_inserted_kind=op.type in _INSERTED_TYPES,
                key=key,
                ident=ident,
                skeleton=frozen_skeleton,
                skeleton_names=tuple(skeleton_names),
                read_names=read_names,
                extra_labels=extra_labels,
                out_names=outputs,
                input_names=inputs,
                ref_writes=ref_writes,
                dep_writes=outputs + ref_names,
                read_cells=cells(read_names),
                out_cells=cells(outputs),
                ref_write_cells=[(path, storage.get(name, name)) for path, name in ref_writes],
                dep_cells=cells(outputs + ref_names),
                view_outputs=view_outputs,
                nondeterministic=_is_nondeterministic(op, random_types),
                recurrent=recurrent,
                rename_args=_rename_args(op) if recurrent else {},
                referenced=(
                    [
                        *inputs,
                        *outputs,
                        *(
                            n
                            for n, t in zip(skeleton_names, skeleton, strict=True)
                            if t[1] != "local"
                        ),
                    ]
                    if recurrent
                    else []
                ),
            )
        )
    return infos, storage


def _value_key(info: _OpInfo, original: int, k: int, values: tuple[int, ...]) -> Hashable:
    """What output ``k`` of an op holds: a function of the op and its inputs, or a new value."""
    if info.nondeterministic:
        return ("random", original, k)
    return ("value", info.ident, k, values)


def _nested_key(info: _OpInfo, original: int, path: str, values: tuple[int, ...]) -> Hashable:
    if info.nondeterministic:
        return ("random nested", original, path)
    return ("nested", info.ident, path, values)


def final_results(net: NetLike, view_ops: ViewOps | ViewRule | None = None) -> list[str]:
    """Blobs whose last access is a write: a caller may fetch their final values.

    The liveness rule of :mod:`memonger.alloc.liveness` (design 3.1): reads
    and writes are those of :func:`memonger.netdef.rewrite.net_accesses` with
    ``read_only_refs`` (an op owning a nested net reads every outer blob it
    references and writes those its nested nets write or that are its
    outputs), and a control input is no access to the value.  Declared or not, these
    blobs live to the end of the net, and a rewrite must leave each of them
    with its value.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_output=["y"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"])
    >>> _ = net.op.add(type="Relu", input=["a"], output=["y"])
    >>> _ = net.op.add(type="Sigmoid", input=["a"], output=["s"])
    >>> final_results(net)
    ['y', 's']
    """
    from memonger.netdef.rewrite import net_accesses

    netdef = netdef_of(net)
    last_is_write: dict[str, bool] = {}
    if _is_plain(netdef, view_rule(view_ops)):  # no nested references to resolve
        for op in netdef.op:
            for name in op.input:
                last_is_write[name] = False
            for name in op.output:
                last_is_write[name] = True
        return [name for name, written in last_is_write.items() if written]
    for access in net_accesses(netdef, view_ops, read_only_refs=True):
        for name in access.input:
            last_is_write[name] = False
        for name in access.output:
            last_is_write[name] = True
    return [name for name, written in last_is_write.items() if written]


class _Reference:
    """The original net, executed once in program order.

    Values are small integers handed out by one table (``ids``) shared with
    the optimized net's runs: the same key always gives the same value.
    ``origin`` says where each value comes from, to explain divergences.
    """

    def __init__(
        self, net: caffe2_pb2.NetDef, rule: ViewRule, random_types: frozenset[str]
    ) -> None:
        self.ids: dict[Hashable, int] = {}
        self.origin: dict[int, tuple[Any, ...]] = {}
        self.infos, self.storage = _describe_ops(net, self.ids, rule, random_types)
        self.reads: list[tuple[int, ...]] = []
        self.pending: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)
        self.by_key: dict[int, list[int]] = defaultdict(list)
        state: dict[str, int] = {}
        ids, origin = self.ids, self.origin
        for i, info in enumerate(self.infos):
            values = tuple(
                state[cell] if cell in state else self.read_external(state, cell)
                for cell in info.read_cells
            )
            self.reads.append(values)
            self.pending[(info.ident, values)].append(i)
            self.by_key[info.key].append(i)
            for (path, name), (_, cell) in zip(info.ref_writes, info.ref_write_cells, strict=True):
                value = ids.setdefault(_nested_key(info, i, path, values), len(ids))
                origin.setdefault(value, ("nested", i, info.type, name))
                state[cell] = value
            for k, (name, cell) in enumerate(zip(info.out_names, info.out_cells, strict=True)):
                if info.is_free:
                    value = ids.setdefault(("freed", len(ids)), len(ids))
                    origin[value] = ("freed", i, name)
                elif k in info.view_outputs:
                    continue  # a view: the storage it names keeps its value
                else:
                    value = ids.setdefault(_value_key(info, i, k, values), len(ids))
                    origin.setdefault(value, ("op", i, info.type, k))
                state[cell] = value
        # Every value a caller may fetch after the run (design 3.1, 3.2): external
        # outputs, external inputs, and every blob whose last access is a write.
        self.checked: dict[str, str] = {}
        for name in net.external_output:
            self.checked.setdefault(name, "external output")
        for name in net.external_input:
            self.checked.setdefault(name, "external input")
        for name in final_results(net, rule):
            self.checked.setdefault(name, "final result")
        self.final = {}
        for name in self.checked:
            cell = self.storage.get(name, name)
            self.final[name] = state[cell] if cell in state else self.read_external(state, cell)

    def external(self, name: str) -> int:
        value = self.ids.setdefault(("external", name), len(self.ids))
        self.origin.setdefault(value, ("external", name))
        return value

    def read_external(self, state: dict[str, int], name: str) -> int:
        value = state[name] = self.external(name)
        return value

    def describe(self, value: int, local: dict[int, tuple[Any, ...]] | None = None) -> str:
        origin = self.origin.get(value) or (local or {}).get(value)
        if origin is None:
            return "a value the original net never computes"
        kind = origin[0]
        if kind == "external":
            return f"external input {origin[1]!r}"
        if kind == "op":
            return f"op #{origin[1]} {origin[2]} output {origin[3]}"
        if kind == "nested":
            return f"op #{origin[1]} {origin[2]} (through its nested net, {origin[3]!r})"
        where = "" if len(origin) < 4 else " of the optimized net"
        return f"nothing: {origin[2]!r} was freed by op #{origin[1]} Free{where}"


def _diagnose(
    ref: _Reference,
    pos: int,
    info: _OpInfo,
    values: tuple[int, ...],
    matched: list[bool],
    order: tuple[int, ...] | None,
    local: dict[int, tuple[Any, ...]],
) -> EquivalenceResult:
    def fail(message: str, **fields: Any) -> EquivalenceResult:
        return EquivalenceResult(
            ok=False, message=message, op_index=pos, op_type=info.type, order=order, **fields
        )

    here = f"op #{pos} {info.label} of the optimized net"
    candidates = ref.by_key.get(info.key, [])
    if not candidates:
        return fail(
            f"{here} has no counterpart in the original net "
            "(no op with the same type, name, arguments, device and engine)"
        )
    unmatched = [i for i in candidates if not matched[i]]
    if not unmatched:
        return fail(f"{here} runs more often than in the original net")

    def score(i: int) -> tuple[bool, int, int]:
        same = sum(1 for a, b in zip(ref.reads[i], values, strict=False) if a == b)
        return (ref.infos[i].skeleton == info.skeleton, same, -i)

    best = max(unmatched, key=score)
    original = ref.infos[best]
    where = f"{here} (op #{best} in the original)"
    if original.skeleton != info.skeleton:
        for token_a, token_b, name_a, name_b in zip(
            original.skeleton,
            info.skeleton,
            original.skeleton_names,
            info.skeleton_names,
            strict=False,
        ):
            if token_a != token_b:
                return fail(
                    f"{where}: its nested net differs at {token_a[0]}: "
                    f"{_token(token_a, name_a)} in the original, {_token(token_b, name_b)} "
                    "in the optimized net",
                    original_index=best,
                    blob=name_b,
                )
        return fail(f"{where}: its nested nets differ in size", original_index=best)
    if len(values) != len(ref.reads[best]):
        return fail(
            f"{where} reads {len(info.input_names)} inputs, the original op "
            f"{len(original.input_names)}",
            original_index=best,
        )
    for position, (name, expected, found) in enumerate(
        zip(info.read_names, ref.reads[best], values, strict=True)
    ):
        if expected != found:
            expected_text = ref.describe(expected)
            found_text = ref.describe(found, local)
            return fail(
                f"{where} reads {name!r} ({info.read_label(position)}): expected the value of "
                f"{expected_text}, found {found_text}",
                original_index=best,
                blob=name,
                expected=expected_text,
                found=found_text,
            )
    return fail(f"{where} cannot be matched", original_index=best)  # pragma: no cover


def _token(token: tuple[str, str, str], name: str) -> str:
    kind = token[1]
    if kind == "local":
        return f"{name!r}, a blob of the nested net"
    if kind == "output":
        return f"{name!r}, output {token[2]} of the op"
    return f"{name!r}, an outer blob"


def _execute(
    ref: _Reference,
    infos: list[_OpInfo],
    storage: Mapping[str, str],
    order: Sequence[int],
    shown_order: tuple[int, ...] | None,
) -> tuple[EquivalenceResult | None, list[int | None]]:
    """Run the optimized ops in ``order``; return the first divergence and the matching."""
    ids, pending = ref.ids, ref.pending
    local: dict[int, tuple[Any, ...]] = {}  # origins of the values freed in this run
    taken: dict[tuple[int, tuple[int, ...]], int] = {}
    matched = [False] * len(ref.infos)
    match: list[int | None] = [None] * len(infos)
    state: dict[str, int] = {}

    for pos in order:
        info = infos[pos]
        values = tuple(
            state[cell] if cell in state else ref.read_external(state, cell)
            for cell in info.read_cells
        )
        slot = (info.ident, values)
        candidates = pending.get(slot)
        used = taken.get(slot, 0)
        if candidates is not None and used < len(candidates):
            taken[slot] = used + 1
            original = candidates[used]
            matched[original] = True
            match[pos] = original
        elif not info.is_inserted_kind:
            return _diagnose(ref, pos, info, values, matched, shown_order, local), match
        if info.is_free:
            for name, cell in zip(info.out_names, info.out_cells, strict=True):
                value = ids.setdefault(("freed", len(ids)), len(ids))
                local[value] = ("freed", pos, name, "optimized")
                state[cell] = value
        elif match[pos] is None:  # an inserted Alias: its outputs are its inputs
            for k, cell in enumerate(info.out_cells):
                if k in info.view_outputs:
                    continue  # already the storage of its input
                source = (
                    storage.get(info.input_names[k], info.input_names[k])
                    if k < len(info.input_names)
                    else cell
                )
                state[cell] = state[source] if source in state else ref.read_external(state, source)
        else:
            counterpart = match[pos]
            assert counterpart is not None
            for path, cell in info.ref_write_cells:
                state[cell] = ids[_nested_key(info, counterpart, path, values)]
            for k, cell in enumerate(info.out_cells):
                if k not in info.view_outputs:
                    state[cell] = ids[_value_key(info, counterpart, k, values)]

    for original, done in enumerate(matched):
        if not done:
            return (
                EquivalenceResult(
                    ok=False,
                    message=(
                        f"op #{original} {ref.infos[original].label} of the original net "
                        "never runs in the optimized net"
                    ),
                    op_type=ref.infos[original].type,
                    original_index=original,
                    order=shown_order,
                ),
                match,
            )
    for name, kind in ref.checked.items():
        expected = ref.final[name]
        cell = storage.get(name, name)
        found = state[cell] if cell in state else ref.read_external(state, cell)
        if expected != found:
            expected_text = ref.describe(expected)
            found_text = ref.describe(found, local)
            why = {
                "external input": " (external inputs keep their values)",
                "final result": " (a final result: no op reads it after its last write, so a "
                "caller may fetch it)",
            }.get(kind, "")
            return (
                EquivalenceResult(
                    ok=False,
                    message=(
                        f"{kind} {name!r} ends with the value of {found_text}, "
                        f"expected {expected_text}{why}"
                    ),
                    blob=name,
                    expected=expected_text,
                    found=found_text,
                    order=shown_order,
                ),
                match,
            )
    return None, match


def _rename_problem(
    ref: _Reference, infos: list[_OpInfo], match: Sequence[int | None]
) -> EquivalenceResult | None:
    """The first wrong ``<blob>.rename`` argument of a matched ``RecurrentNetwork*`` op (3.5).

    The recurrent operator finds a renamed blob through ``<blob>.rename``
    (the new name, bytes), for every blob it or its step nets reference:
    each renamed blob needs one, naming its new name; an argument for a blob
    that was not renamed must name the blob itself; and arguments the
    original op had stay unless their blob was renamed again.
    """
    for pos, original in enumerate(match):
        info = infos[pos]
        if original is not None and info.recurrent:
            problem = _op_rename_problem(pos, info, original, ref.infos[original])
            if problem is not None:
                return problem
    return None


def _op_rename_problem(
    pos: int, info: _OpInfo, original: int, before: _OpInfo
) -> EquivalenceResult | None:
    """:func:`_rename_problem` for one op ``pos`` of the optimized net, ``original`` before."""
    here = f"op #{pos} {info.label} of the optimized net (op #{original} in the original)"

    def fail(message: str, blob: str, expected: str, found: str) -> EquivalenceResult:
        return EquivalenceResult(
            ok=False,
            message=f"{here}: {message}",
            op_index=pos,
            op_type=info.type,
            original_index=original,
            blob=blob,
            expected=expected,
            found=found,
        )

    renamed: dict[str, str] = {}
    for old, new in zip(before.referenced, info.referenced, strict=False):
        seen = renamed.setdefault(old, new)
        if seen != new:
            return fail(
                f"blob {old!r} is renamed to both {seen!r} and {new!r}; one "
                f"'{old}.rename' argument cannot say both",
                old,
                repr(seen),
                repr(new),
            )
    args = info.rename_args
    for old, new in renamed.items():
        if new == old:
            continue
        arg = f"'{old}.rename'"
        if old not in args:
            return fail(
                f"blob {old!r} is renamed to {new!r} but the op has no {arg} argument",
                old,
                f"{arg} = {new!r}",
                "no argument",
            )
        if args[old] != new:
            return fail(
                f"argument {arg} names {args[old]!r}, but blob {old!r} is renamed to {new!r}",
                old,
                f"{arg} = {new!r}",
                f"{arg} = {args[old]!r}",
            )
    for old, value in args.items():
        arg = f"'{old}.rename'"
        if old in renamed:
            if value != renamed[old]:
                now = "not renamed" if renamed[old] == old else f"renamed to {renamed[old]!r}"
                return fail(
                    f"argument {arg} names {value!r}, but blob {old!r} is {now}",
                    old,
                    f"{arg} = {renamed[old]!r}",
                    f"{arg} = {value!r}",
                )
        elif before.rename_args.get(old) != value:
            inherited = before.rename_args.get(old)
            expected = "no argument" if inherited is None else f"{arg} = {inherited!r}"
            return fail(
                f"argument {arg} = {value!r} names a blob the op does not reference"
                if inherited is None
                else f"argument {arg} names {value!r}, {inherited!r} in the original",
                old,
                expected,
                f"{arg} = {value!r}",
            )
    for old, value in before.rename_args.items():
        if old not in args and renamed.get(old, old) == old:
            return fail(
                f"the original's argument '{old}.rename' = {value!r} is missing",
                old,
                f"'{old}.rename' = {value!r}",
                "no argument",
            )
    return None


def _dependency_edges(infos: list[_OpInfo], *, raw_only: bool) -> set[tuple[int, int]]:
    """Edges ``(earlier, later)`` of the ops' data dependencies in program order."""
    edges: set[tuple[int, int]] = set()
    last_writer: dict[str, int] = {}
    readers: dict[str, list[int]] = defaultdict(list)
    for i, info in enumerate(infos):
        for name in info.read_cells:
            writer = last_writer.get(name)
            if writer is not None and writer != i:
                edges.add((writer, i))
            if not raw_only:
                readers[name].append(i)
        for name in info.dep_cells:
            if not raw_only:
                writer = last_writer.get(name)
                if writer is not None and writer != i:
                    edges.add((writer, i))
                for reader in readers.pop(name, []):
                    if reader != i:
                        edges.add((reader, i))
            last_writer[name] = i
    return edges


def _random_order(count: int, edges: set[tuple[int, int]], rng: random.Random) -> list[int]:
    """A random topological order (Kahn's algorithm, random choice among ready ops)."""
    successors: list[list[int]] = [[] for _ in range(count)]
    indegree = [0] * count
    for u, v in edges:
        successors[u].append(v)
        indegree[v] += 1
    ready = [i for i in range(count) if indegree[i] == 0]
    order = []
    while ready:
        k = rng.randrange(len(ready))
        ready[k], ready[-1] = ready[-1], ready[k]
        node = ready.pop()
        order.append(node)
        for nxt in successors[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return order


def _schedule_edges(
    original: list[_OpInfo], optimized: list[_OpInfo], match: list[int | None]
) -> set[tuple[int, int]]:
    """Dependencies that every concurrent execution of the optimized net keeps.

    The original net's dependencies (read-after-write, write-after-read,
    write-after-write) carried over to the matched ops, the optimized net's
    read-after-write dependencies, and every dependency of an op the rewrite
    inserted (``Free``, ``Alias``).  Only edges that go forward in the
    optimized program order are kept, so the result is acyclic.
    """
    position = {orig: pos for pos, orig in enumerate(match) if orig is not None}
    edges = {
        (position[u], position[v])
        for u, v in _dependency_edges(original, raw_only=False)
        if u in position and v in position
    }
    edges |= _dependency_edges(optimized, raw_only=True)
    edges |= {
        (u, v)
        for u, v in _dependency_edges(optimized, raw_only=False)
        if match[u] is None or match[v] is None
    }
    return {(u, v) for u, v in edges if u < v}


def verify_execution_equivalence(
    original: NetLike,
    optimized: NetLike,
    *,
    orders: Iterable[Sequence[int]] | None = None,
    random_orders: int = 0,
    seed: int = 0,
    view_ops: ViewOps | None = None,
    nondeterministic_ops: Iterable[str] | None = None,
) -> EquivalenceResult:
    """Check by symbolic execution that ``optimized`` computes what ``original`` does.

    Both nets are run symbolically.  A blob read before any op writes it holds
    the value "external input <name>"; every value an op writes is a hash of
    the op's identity, the output position and the values the op read.  An
    op's identity is its type, name, engine, device option, gradient flag,
    arguments (without ``<blob>.rename`` arguments) and the shape of its
    nested nets, never the blob names it touches, so renamed and reordered
    ops are recognized.  The optimized net is equivalent when

    - its external input and output lists are those of the original;
    - every op of the original runs exactly once and reads the same values
      (ops with the same identity are matched by the values they read, in
      program order);
    - every value a caller may fetch ends the same: every external output,
      every external input, and every blob whose last access in the original
      is a write (:func:`final_results`, design 3.1), under the same name;
    - every ``RecurrentNetwork*`` op has a ``<blob>.rename`` argument naming
      the new name of each blob it (or its step nets) references that was
      renamed, and no other (design 3.5).

    Names are resolved to their *storage* (per net, with the views of
    ``view_ops``, :func:`net_storage`): a view names the storage of the blob
    it views, so an op writing any name of a storage changes what every
    view of it reads, and a view op (``Alias``) computes no new value -- its
    output reads its input's storage.  A rewrite that lets a blob take the
    buffer of a storage while a view of it is still read is therefore not
    equivalent.

    Ops the rewrite may insert are understood: ``Free(b) -> b`` destroys the
    value of ``b``'s storage (reading it later, by any name, is a
    divergence), an ``Alias`` op without a counterpart passes its input
    values through.  An op with nested nets
    (``step_net``, ``then_net``...) reads every outer blob they reference, at
    each place it is referenced, and writes it anew; a reference to an output
    of the op itself only writes it.  Blobs inside nested nets are compared
    by position, so a renaming must reach into nested nets consistently.

    Ops are deterministic -- two ops with the same identity that read the
    same values compute the same values, so a rewrite may swap them (or let
    their outputs share a buffer) -- except those of the types in
    ``nondeterministic_ops`` (random fills, ``Dropout``...): each of them
    computes new values, so merging the outputs of two of them is a change.
    Such an op of the optimized net is the original op with its identity
    that reads the same values and comes first in program order.

    Parameters
    ----------
    original : caffe2_pb2.NetDef or object with ``Proto()``
        The net before the rewrite, run in its program order.
    optimized : caffe2_pb2.NetDef or object with ``Proto()``
        The rewritten net, run in its program order and then in ``orders``.
    orders : iterable of sequences of int, optional
        Further execution orders of the optimized net's ops (each a
        permutation of ``range(len(optimized.op))``) to run.
    random_orders : int, default 0
        How many random valid concurrent orders to run as well (for nets
        executed as a DAG, design 3.4).  They keep the original net's
        dependencies (carried to the optimized ops), the optimized net's
        read-after-write dependencies and every dependency of inserted ops.
    seed : int, default 0
        Seed of the random orders; the result is deterministic.
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs
        (:func:`memonger.netdef.views.view_rule`; default ``{"Alias"}``).
    nondeterministic_ops : iterable of str, optional
        The op types whose outputs are new values at each run (default
        :data:`CAFFE2_NONDETERMINISTIC_OPS`; a value replaces it).

    Returns
    -------
    EquivalenceResult
        True in a boolean context when equivalent; otherwise the first
        divergence (op, blob, expected and found producer), in one line.

    Raises
    ------
    ValueError
        If an order in ``orders`` is not a permutation of the op indices or
        ``random_orders`` is negative.
    TypeError
        ``view_ops`` or ``nondeterministic_ops`` is a bare string.

    Examples
    --------
    >>> original = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    >>> _ = original.op.add(type="Relu", input=["x"], output=["a"])
    >>> _ = original.op.add(type="Sigmoid", input=["x"], output=["b"])
    >>> _ = original.op.add(type="Sum", input=["a", "b"], output=["out"])
    >>> bool(verify_execution_equivalence(original, original))
    True
    >>> shared = caffe2_pb2.NetDef()
    >>> shared.CopyFrom(original)
    >>> shared.op[1].output[0] = shared.op[2].input[1] = "a"  # b shares a's buffer: unsafe
    >>> result = verify_execution_equivalence(original, shared)
    >>> print(result.message)
    op #2 Sum of the optimized net (op #2 in the original) reads 'a' (input 0): \
expected the value of op #0 Relu output 0, found op #1 Sigmoid output 0
    """
    original_net, optimized_net = netdef_of(original), netdef_of(optimized)
    if random_orders < 0:
        raise ValueError(f"random_orders must be >= 0, got {random_orders}")
    count = len(optimized_net.op)
    extra_orders: list[tuple[int, ...]] = []
    for order in orders or ():
        as_tuple = tuple(order)
        if sorted(as_tuple) != list(range(count)):
            shown = list(as_tuple[:20])
            more = f" ... ({len(as_tuple)} entries)" if len(as_tuple) > 20 else ""
            raise ValueError(
                f"an order must be a permutation of the {count} op indices, got {shown}{more}"
            )
        extra_orders.append(as_tuple)

    rule = view_rule(view_ops)
    random_types = nondeterministic_types(nondeterministic_ops)
    externals = _externals_difference(
        original_net, optimized_net, "the original", "the optimized net"
    )
    if externals is not None:
        return EquivalenceResult(ok=False, message=externals)

    ref = _Reference(original_net, rule, random_types)
    infos, storage = _describe_ops(optimized_net, ref.ids, rule, random_types)
    divergence, match = _execute(ref, infos, storage, range(count), None)
    checked = 1
    if divergence is None:
        divergence = _rename_problem(ref, infos, match)
    if divergence is not None:
        return _with_count(divergence, checked)
    for order in extra_orders:
        divergence, _ = _execute(ref, infos, storage, order, order)
        checked += 1
        if divergence is not None:
            return _with_count(divergence, checked)
    if random_orders:
        edges = _schedule_edges(ref.infos, infos, match)
        rng = random.Random(seed)
        for _ in range(random_orders):
            order = tuple(_random_order(count, edges, rng))
            divergence, _ = _execute(ref, infos, storage, order, order)
            checked += 1
            if divergence is not None:
                return _with_count(divergence, checked)
    plural = "order" if checked == 1 else "orders"
    return EquivalenceResult(
        ok=True,
        message=f"equivalent: {len(ref.infos)} ops, {checked} {plural} checked",
        orders_checked=checked,
    )


def _with_count(result: EquivalenceResult, checked: int) -> EquivalenceResult:
    return EquivalenceResult(**{**result.__dict__, "orders_checked": checked})


def assert_equivalent(
    original: NetLike,
    optimized: NetLike,
    *,
    orders: Iterable[Sequence[int]] | None = None,
    random_orders: int = 0,
    seed: int = 0,
    view_ops: ViewOps | None = None,
    nondeterministic_ops: Iterable[str] | None = None,
) -> EquivalenceResult:
    """Like :func:`verify_execution_equivalence`, but raise when not equivalent.

    Raises
    ------
    VerificationError
        With the result's message, when the nets are not equivalent.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_output=["y"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["y"])
    >>> assert_equivalent(net, net).ok
    True
    """
    result = verify_execution_equivalence(
        original,
        optimized,
        orders=orders,
        random_orders=random_orders,
        seed=seed,
        view_ops=view_ops,
        nondeterministic_ops=nondeterministic_ops,
    )
    if not result.ok:
        raise VerificationError(result.message)
    return result
