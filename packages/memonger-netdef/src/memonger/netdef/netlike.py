"""Accepting a NetDef or anything that carries one.

Functions that took a Caffe2 ``core.Net`` accept a ``caffe2_pb2.NetDef`` or
any object with a ``.Proto()`` method returning one (design 4).
:func:`netdef_of` returns the NetDef itself; :func:`as_netdef` a copy that a
rewrite may change freely.  Both refuse anything else with the same
:class:`TypeError`.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias

from memonger.netdef import caffe2_pb2

__all__ = ["NetLike", "as_netdef", "netdef_of"]


class _HasProto(Protocol):
    def Proto(self) -> caffe2_pb2.NetDef: ...


#: A NetDef, or any object with a ``Proto()`` method returning one (a Caffe2 ``core.Net``).
NetLike: TypeAlias = "caffe2_pb2.NetDef | _HasProto"


def netdef_of(net: object) -> caffe2_pb2.NetDef:
    """Return the NetDef behind ``net`` itself (not a copy).

    Parameters
    ----------
    net : NetDef or object with ``.Proto()``
        The net.

    Returns
    -------
    caffe2_pb2.NetDef
        ``net`` when it is a NetDef, else what its ``Proto()`` returns.

    Raises
    ------
    TypeError
        ``net`` is neither a NetDef nor an object whose ``Proto()`` returns one.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(name="n")
    >>> netdef_of(net) is net
    True
    >>> class Wrapper:
    ...     def Proto(self):
    ...         return net
    >>> netdef_of(Wrapper()).name
    'n'
    >>> netdef_of(["not", "a", "net"])
    Traceback (most recent call last):
    ...
    TypeError: expected a caffe2 NetDef or an object with .Proto(), got list
    """
    if isinstance(net, caffe2_pb2.NetDef):
        return net
    proto = getattr(net, "Proto", None)
    if callable(proto):
        result = proto()
        if isinstance(result, caffe2_pb2.NetDef):
            return result
    raise TypeError(
        f"expected a caffe2 NetDef or an object with .Proto(), got {type(net).__name__}"
    )


def as_netdef(net: object) -> caffe2_pb2.NetDef:
    """Return a copy of the NetDef behind ``net``.

    Parameters
    ----------
    net : NetDef or object with ``.Proto()``
        The net; it is never modified.

    Returns
    -------
    caffe2_pb2.NetDef
        A new message equal to ``net`` (or to what its ``Proto()`` returns).

    Raises
    ------
    TypeError
        As :func:`netdef_of`.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(name="n")
    >>> copy = as_netdef(net)
    >>> copy == net, copy is net
    (True, False)
    """
    copy = caffe2_pb2.NetDef()
    copy.CopyFrom(netdef_of(net))
    return copy
