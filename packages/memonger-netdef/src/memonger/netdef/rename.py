"""Renaming blobs in a net, its nested nets and recurrent ops.

:func:`apply_assignments` renames every blob of a net according to a mapping
``{blob: buffer name}``, reaching into the nets nested in operator arguments
(``step_net`` / ``backward_step_net`` of ``RecurrentNetwork*`` ops in either
NetDef or text form, ``then_net`` / ``else_net`` of ``If`` / ``AsyncIf``, and
``nets`` lists) and their external lists.  ``RecurrentNetwork*`` ops also get
one ``<blob>.rename`` argument per renamed blob they reference, which the
recurrent operator reads to find its renamed blobs (design 3.5).

Functions here never modify their arguments: they return new messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf import text_format

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import LifetimeOverlapError, NameCollisionError, NestedNetError
from memonger.netdef.nested import nested_nets, net_blob_names
from memonger.netdef.netlike import as_netdef
from memonger.netdef.views import ViewOps, ViewRule

__all__ = ["apply_assignments", "apply_recurrent_blob_assignments", "as_netdef"]


def _rename_list(names: Any, mapping: Mapping[str, str]) -> None:
    """Rename the names of a repeated string field in place."""
    for i, name in enumerate(names):
        new = mapping.get(name)
        if new is not None and new != name:
            names[i] = new


def _recurrent_rename_args(
    op: caffe2_pb2.OperatorDef, mapping: Mapping[str, str], referenced: Iterable[str]
) -> None:
    """Add or update one ``<blob>.rename`` argument per mapped blob in ``referenced``."""
    wanted = set(referenced)
    existing = {arg.name: arg for arg in op.arg}
    for blob, renamed in mapping.items():
        if blob not in wanted:
            continue
        arg_name = blob + ".rename"
        arg = existing.get(arg_name)
        if arg is None:
            arg = op.arg.add(name=arg_name)
            existing[arg_name] = arg
        arg.s = renamed.encode("utf-8")


def _refuse_unknown_text_fields(op: caffe2_pb2.OperatorDef, arg: caffe2_pb2.Argument) -> None:
    """Refuse to rewrite a text-form nested net holding fields the schema does not know.

    The text form is parsed and printed again to rename it; a field this
    schema does not declare cannot be parsed into the message, so it would
    be dropped (design 5 keeps unknown fields).
    """
    strict = caffe2_pb2.NetDef()
    try:
        text_format.Parse(arg.s.decode("utf-8"), strict)
    except text_format.ParseError as exc:
        where = f"op {op.name!r} (type {op.type!r})" if op.name else f"op of type {op.type!r}"
        raise NestedNetError(
            f"{where}: the text-form net in argument {arg.name!r} holds a field this "
            f"schema does not know ({exc}); renaming it would drop that field, so it is "
            "refused (store the nested net in the argument's 'n' field, or leave its "
            "blobs out of the assignments)"
        ) from None


def _rename_nested(op: caffe2_pb2.OperatorDef, mapping: Mapping[str, str]) -> set[str]:
    """Rename inside every net nested in ``op`` (in place).

    Returns the mapped names the nested nets referenced before renaming.
    """
    referenced: set[str] = set()
    for nested in list(nested_nets(op)):
        names = net_blob_names(nested.net)
        hits = {name for name in names if name in mapping}
        if not hits:
            continue
        referenced |= hits
        if nested.form == "s":
            _refuse_unknown_text_fields(op, op.arg[nested.arg_index])
            copy = nested.net  # already a parsed copy
            _rename_net(copy, mapping, rename_externals=True)
            op.arg[nested.arg_index].s = text_format.MessageToString(copy).encode("utf-8")
        else:
            _rename_net(nested.net, mapping, rename_externals=True)
    return referenced


def _rename_op(op: caffe2_pb2.OperatorDef, mapping: Mapping[str, str]) -> None:
    """Rename one op in place: nested nets, ``.rename`` args, inputs, outputs."""
    if op.arg:
        referenced = _rename_nested(op, mapping)
        if op.type.startswith("RecurrentNetwork"):
            referenced.update(op.input)
            referenced.update(op.output)
            _recurrent_rename_args(op, mapping, referenced)
    _rename_list(op.input, mapping)
    _rename_list(op.output, mapping)
    _rename_list(op.control_input, mapping)


def _rename_net(net: caffe2_pb2.NetDef, mapping: Mapping[str, str], rename_externals: bool) -> None:
    """Rename every op of ``net`` in place, and its external lists if asked."""
    for op in net.op:
        _rename_op(op, mapping)
    if rename_externals:
        _rename_list(net.external_input, mapping)
        _rename_list(net.external_output, mapping)


def apply_assignments(
    net: Any, blob_assignments: Mapping[str, str], *, view_ops: ViewOps | ViewRule | None = None
) -> caffe2_pb2.NetDef:
    """Return a copy of ``net`` with its blobs renamed to their shared buffers.

    Every input, output and control input of every op is renamed through
    ``blob_assignments``; blobs it does not list keep their names.  The
    renaming reaches into nested nets (``step_net`` / ``backward_step_net``
    in NetDef or text form, ``then_net`` / ``else_net``, ``nets``), including
    their external lists.  For each ``RecurrentNetwork*`` op, every listed blob
    the op or its step nets reference gets a ``<blob>.rename`` argument holding
    the new name as bytes (see :func:`apply_recurrent_blob_assignments`).

    Parameters
    ----------
    net : caffe2_pb2.NetDef or object with ``.Proto()``
        The net; it is not modified.
    blob_assignments : mapping of str to str
        New name of each renamed blob (a blob may map to itself).
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs
        (:func:`memonger.netdef.views.view_rule`; default ``{"Alias"}``), for
        the lifetime check.

    Returns
    -------
    caffe2_pb2.NetDef
        The renamed copy.

    Raises
    ------
    NameCollisionError
        ``blob_assignments`` renames an external input or output of ``net``,
        or renames a blob to one of them: sharing their buffers would corrupt
        what the caller feeds or fetches.
    LifetimeOverlapError
        ``blob_assignments`` gives one name to two blobs whose storage is live
        at the same time in the net's op order (live ranges of
        :func:`memonger.alloc.compute_liveness`; a blob never read after its
        last write lives to the end); the message names both.  Rename the net
        in the order the assignment was planned for.
    NestedNetError
        A text-form nested net the renaming reaches holds a field this schema
        does not know (rewriting the text would drop it).

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["z"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"])
    >>> _ = net.op.add(type="Relu", input=["a"], output=["b"])
    >>> _ = net.op.add(type="Relu", input=["b"], output=["c"])
    >>> _ = net.op.add(type="Sum", input=["c"], output=["z"])
    >>> renamed = apply_assignments(net, {"a": "c", "c": "c"})
    >>> [(list(op.input), list(op.output)) for op in renamed.op]
    [(['x'], ['c']), (['c'], ['b']), (['b'], ['c']), (['c'], ['z'])]
    >>> [list(op.output) for op in net.op]  # the original is unchanged
    [['a'], ['b'], ['c'], ['z']]
    >>> apply_assignments(net, {"a": "b"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    memonger.netdef.errors.LifetimeOverlapError: blob_assignments gives 'a' and 'b' ... live ...
    """
    result = as_netdef(net)
    rename_in_place(result, blob_assignments, view_ops=view_ops)
    return result


def rename_in_place(
    net: caffe2_pb2.NetDef,
    blob_assignments: Mapping[str, str],
    *,
    view_ops: ViewOps | ViewRule | None = None,
) -> None:
    """Rename the blobs of ``net`` itself, as :func:`apply_assignments` does on a copy.

    Raises
    ------
    NameCollisionError, LifetimeOverlapError, NestedNetError
        As :func:`apply_assignments`; ``net`` is then left unchanged.
    """
    externals = set(net.external_input) | set(net.external_output)
    for blob, renamed in blob_assignments.items():
        if blob in externals and renamed != blob:
            raise NameCollisionError(
                f"blob_assignments renames external blob {blob!r} to {renamed!r}; "
                "external inputs and outputs are never renamed"
            )
        if renamed in externals and renamed != blob:
            raise NameCollisionError(
                f"blob_assignments renames {blob!r} to external blob {renamed!r}; "
                "external inputs and outputs never share a buffer"
            )
    _check_lifetimes(net, blob_assignments, view_ops)
    _rename_net(net, blob_assignments, rename_externals=False)


def _check_lifetimes(
    net: caffe2_pb2.NetDef, mapping: Mapping[str, str], view_ops: ViewOps | ViewRule | None
) -> None:
    """Refuse a renaming that gives one name to storages live at the same time.

    Live ranges are :func:`memonger.alloc.compute_liveness`'s in the net's
    own op order (closed ranges: two storages may share a name only when one
    is defined strictly after the other's last use); an outer blob that a
    nested net only reads is read by the op owning it.  Names of one storage
    (a view and the blob it views) never conflict with each other.
    """
    if not any(new != old for old, new in mapping.items()):
        return
    from memonger.netdef.rewrite import net_accesses, net_liveness

    live = net_liveness(net_accesses(net, view_ops, read_only_refs=True))
    groups: dict[str, dict[str, str]] = {}  # new name -> storage root -> a blob named
    for blob, root in live.storage.items():
        groups.setdefault(mapping.get(blob, blob), {}).setdefault(root, blob)
    for name, roots in groups.items():
        if len(roots) < 2:
            continue
        ordered = sorted(roots, key=lambda root: live.ranges[root].defined)
        latest = ordered[0]
        for root in ordered[1:]:
            before, current = live.ranges[latest], live.ranges[root]
            if current.defined <= before.used:
                a, b = roots[latest], roots[root]
                where = max(current.defined, 0)
                op = net.op[where] if where < len(net.op) else None
                at = f" at op #{where} ({op.name or op.type!r})" if op is not None else ""
                raise LifetimeOverlapError(
                    f"blob_assignments gives {a!r} and {b!r} the one name {name!r}, but their "
                    f"storage is live at the same time{at} in the net's op order "
                    f"(ops {before.defined}..{before.used} and "
                    f"{current.defined}..{current.used}); they cannot share a buffer"
                )
            if current.used > before.used:
                latest = root


def apply_recurrent_blob_assignments(
    op: caffe2_pb2.OperatorDef,
    blob_assignments: Mapping[str, str],
    canonical_name: Callable[[str], str],
) -> caffe2_pb2.OperatorDef:
    """Return a copy of a recurrent op with its step nets renamed.

    Renames the blobs of every net nested in ``op`` (``step_net`` and
    ``backward_step_net``, in NetDef form ``n`` or text form ``s``) and their
    external lists through ``canonical_name``, for the blobs listed in
    ``blob_assignments``; then appends one argument ``<blob>.rename`` with
    the new name (bytes) for each listed blob that the op or its step nets
    reference.  The op's own inputs and outputs are left to the caller
    (:func:`apply_assignments` renames them), as in Caffe2.

    Unlike Caffe2's function of the same name, ``op`` is not modified.

    Parameters
    ----------
    op : caffe2_pb2.OperatorDef
        A ``RecurrentNetwork*`` op.
    blob_assignments : mapping of str to str
        The blobs to rename.
    canonical_name : callable
        Maps a listed blob to its new name.

    Returns
    -------
    caffe2_pb2.OperatorDef

    Examples
    --------
    >>> op = caffe2_pb2.OperatorDef(type="RecurrentNetwork", input=["x", "W"], output=["h"])
    >>> step = op.arg.add(name="step_net").n
    >>> step.external_input.extend(["W"])
    >>> _ = step.op.add(type="FC", input=["x_t", "W"], output=["h_t"])
    >>> new = apply_recurrent_blob_assignments(op, {"W": "V"}, lambda b: {"W": "V"}[b])
    >>> list(new.arg[0].n.op[0].input), list(new.arg[0].n.external_input)
    (['x_t', 'V'], ['V'])
    >>> new.arg[1].name, new.arg[1].s
    ('W.rename', b'V')
    >>> list(new.input)
    ['x', 'W']
    """
    mapping = {blob: canonical_name(blob) for blob in blob_assignments}
    result = caffe2_pb2.OperatorDef()
    result.CopyFrom(op)
    referenced = _rename_nested(result, mapping)
    referenced.update(result.input)
    referenced.update(result.output)
    _recurrent_rename_args(result, mapping, referenced)
    return result
