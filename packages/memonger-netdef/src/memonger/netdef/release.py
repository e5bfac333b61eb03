"""Free blobs as soon as a net is done with them.

:func:`release_blobs_when_used` is Caffe2's memonger function of the same
name: it inserts ``Free`` ops so that a caching allocator can reuse the
memory of intermediate blobs right after their last use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from memonger.netdef import caffe2_pb2
from memonger.netdef.rename import as_netdef
from memonger.netdef.rewrite import names_set, net_accesses

__all__ = ["release_blobs_when_used"]


def release_blobs_when_used(
    netproto: Any,
    dont_free_blobs: Iterable[str] | None,
    selector_fun: Callable[[str], bool] | None = None,
) -> caffe2_pb2.NetDef:
    """Return a copy of a net with ``Free(b) -> b`` after each blob's last access.

    A blob is freed when all of these hold:

    - it is produced in the net (its first access is a write by an op) and
      is not an external input or output;
    - some op reads it (a blob nobody reads is left for the caller to fetch);
    - no ``Alias`` op reads or writes it (its memory may be shared);
    - it is not in ``dont_free_blobs`` and ``selector_fun(blob)`` is true
      when ``selector_fun`` is given.

    The ``Free`` op goes right after the blob's last access, a read or a
    write; an op whose nested nets (step nets, ``then_net``...) reference the
    blob, or that lists it as a control input, accesses it.  A blob whose
    last access already is a ``Free`` op is not freed again.  Use this only
    with a caching memory allocator.

    Parameters
    ----------
    netproto : caffe2_pb2.NetDef or object with ``.Proto()``
        The net; it is not modified.
    dont_free_blobs : iterable of str or None
        Blobs never to free.  A bare string is refused (its characters are
        not blob names).
    selector_fun : callable, optional
        Returns True for the blobs that may be freed.

    Returns
    -------
    caffe2_pb2.NetDef

    Raises
    ------
    TypeError
        ``dont_free_blobs`` is a string, or ``netproto`` is not a NetDef.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    >>> _ = net.op.add(type="FC", input=["data"], output=["x"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["y"])
    >>> _ = net.op.add(type="Sum", input=["x", "y"], output=["out"])
    >>> freed = release_blobs_when_used(net, dont_free_blobs=set())
    >>> [(op.type, op.input[0]) for op in freed.op]
    [('FC', 'data'), ('Relu', 'x'), ('Sum', 'x'), ('Free', 'x'), ('Free', 'y')]
    """
    dont_free = names_set(dont_free_blobs, "dont_free_blobs")
    net = as_netdef(netproto)
    accesses = net_accesses(net)

    produced: set[str] = set()
    seen: set[str] = set()
    read: set[str] = set()
    aliased: set[str] = set()
    last_access: dict[str, int] = {}
    for pos, (op, access) in enumerate(zip(net.op, accesses, strict=True)):
        if op.type == "Alias":
            aliased.update(op.input)
            aliased.update(op.output)
        for name in access.input + access.control_input:
            seen.add(name)
            read.add(name)
            last_access[name] = pos
        for name in access.output:
            if name not in seen:
                seen.add(name)
                produced.add(name)
            last_access[name] = pos

    excluded = dont_free | aliased | set(net.external_input) | set(net.external_output)
    frees: dict[int, list[str]] = {}
    for name, pos in last_access.items():
        if name not in produced or name not in read or name in excluded:
            continue
        if net.op[pos].type == "Free":
            continue
        if selector_fun is not None and not selector_fun(name):
            continue
        frees.setdefault(pos, []).append(name)
    if not frees:
        return net

    result = caffe2_pb2.NetDef()
    result.CopyFrom(net)
    del result.op[:]
    for pos, op in enumerate(net.op):
        result.op.append(op)
        access = accesses[pos]
        names = frees.get(pos)
        if names is None:
            continue
        wanted = set(names)
        for name in dict.fromkeys(access.input + access.control_input + access.output):
            if name in wanted:
                result.op.add(type="Free", input=[name], output=[name])
    return result
