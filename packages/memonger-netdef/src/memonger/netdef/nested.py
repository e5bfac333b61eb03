"""Nets nested inside operator arguments.

Caffe2 ops may carry whole nets in their arguments: ``RecurrentNetwork*`` ops
carry ``step_net`` / ``backward_step_net`` (a NetDef in the argument's ``n``
field, or its text format in ``s``), ``If`` / ``AsyncIf`` carry ``then_net`` /
``else_net`` (in ``n``), and any op may carry a list of nets in ``nets``.  This
module finds them and tells which blob names they reference, so that the op
that owns a nested net can be treated as reading and writing every outer blob
the nested net touches (design 3.2 and 3.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf import text_format

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import NestedNetError

__all__ = [
    "NESTED_NET_ARGS",
    "NestedNet",
    "nested_nets",
    "net_blob_names",
    "outer_references",
    "parse_text_net",
]

#: Argument names whose ``n`` (or, for step nets, ``s``) field holds a net.
NESTED_NET_ARGS = ("step_net", "backward_step_net", "then_net", "else_net")


@dataclass(frozen=True)
class NestedNet:
    """One net nested in an argument of an op.

    Attributes
    ----------
    arg_index : int
        Index of the argument in ``op.arg``.
    form : str
        ``"n"`` (a NetDef message), ``"s"`` (NetDef text format in bytes) or
        ``"nets"`` (one element of the repeated ``nets`` field).
    index : int
        Position in ``nets`` for the ``"nets"`` form, else 0.
    net : caffe2_pb2.NetDef
        The nested net (parsed when stored as text).  A copy for the ``"s"``
        form; the argument's own message otherwise, so do not modify it.
    """

    arg_index: int
    form: str
    index: int
    net: caffe2_pb2.NetDef


def parse_text_net(text: bytes | str, where: str = "nested net") -> caffe2_pb2.NetDef:
    """Parse a NetDef from its text format, raising :class:`NestedNetError` on failure.

    Examples
    --------
    >>> parse_text_net(b'name: "step" op { type: "Relu" input: "x" output: "y" }').name
    'step'
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NestedNetError(f"{where}: text form is not UTF-8: {exc}") from exc
    net = caffe2_pb2.NetDef()
    try:
        text_format.Parse(text, net, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise NestedNetError(f"{where}: cannot parse NetDef text: {exc}") from exc
    return net


def nested_nets(op: caffe2_pb2.OperatorDef) -> Iterator[NestedNet]:
    """Yield every net nested in the arguments of ``op`` (one level deep).

    Examples
    --------
    >>> op = caffe2_pb2.OperatorDef(type="If", input=["c"])
    >>> arg = op.arg.add(name="then_net")
    >>> _ = arg.n.op.add(type="Copy", input=["a"], output=["b"])
    >>> [(n.form, n.net.op[0].type) for n in nested_nets(op)]
    [('n', 'Copy')]
    """
    where = f"op {op.name or op.type!r}"
    for i, arg in enumerate(op.arg):
        if arg.HasField("n"):
            yield NestedNet(i, "n", 0, arg.n)
        elif arg.name in NESTED_NET_ARGS and arg.HasField("s"):
            yield NestedNet(i, "s", 0, parse_text_net(arg.s, f"{where} argument {arg.name!r}"))
        for k, net in enumerate(arg.nets):
            yield NestedNet(i, "nets", k, net)


def net_blob_names(net: caffe2_pb2.NetDef) -> set[str]:
    """Every blob name a net mentions, recursing into its nested nets.

    Inputs, outputs and control inputs of its ops, and its external lists.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["w"])
    >>> _ = net.op.add(type="FC", input=["x", "w"], output=["y"])
    >>> sorted(net_blob_names(net))
    ['w', 'x', 'y']
    """
    names: set[str] = set(net.external_input) | set(net.external_output)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
        names.update(op.control_input)
        for nested in nested_nets(op):
            names |= net_blob_names(nested.net)
    return names


def outer_references(op: caffe2_pb2.OperatorDef, outer_names: Iterable[str]) -> set[str]:
    """The outer blobs that the nets nested in ``op`` reference.

    ``outer_names`` are the blob names known in the enclosing net (its
    external inputs and every name its ops read or write).  A nested net's
    own local blobs are not outer references.

    Examples
    --------
    >>> op = caffe2_pb2.OperatorDef(type="RecurrentNetwork", input=["x"], output=["h"])
    >>> step = op.arg.add(name="step_net").n
    >>> _ = step.op.add(type="FC", input=["x_t", "W"], output=["h_t"])
    >>> sorted(outer_references(op, {"x", "h", "W"}))
    ['W']
    """
    known = set(outer_names)
    found: set[str] = set()
    for nested in nested_nets(op):
        found |= net_blob_names(nested.net) & known
    return found
