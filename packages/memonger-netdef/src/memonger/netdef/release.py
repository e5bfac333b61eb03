"""Free blobs as soon as a net is done with them.

:func:`release_blobs_when_used` is Caffe2's memonger function of the same
name: it inserts ``Free`` ops so that a caching allocator can reuse the
memory of intermediate blobs right after their last use.  Last uses come
from :func:`memonger.alloc.compute_liveness` (the project's one liveness
model), over storages: a blob and its views are freed together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from memonger.netdef import caffe2_pb2
from memonger.netdef.rename import as_netdef
from memonger.netdef.rewrite import names_set, net_accesses, net_liveness
from memonger.netdef.views import ViewOps, view_rule

__all__ = ["release_blobs_when_used"]


def release_blobs_when_used(
    netproto: Any,
    dont_free_blobs: Iterable[str] | None,
    selector_fun: Callable[[str], bool] | None = None,
    *,
    view_ops: ViewOps | None = None,
) -> caffe2_pb2.NetDef:
    """Return a copy of a net with ``Free(b) -> b`` after each blob's last access.

    Liveness is :func:`memonger.alloc.compute_liveness`'s, over storages: a
    view (the output of ``Alias``, or of an op of ``view_ops``) and the blob
    it views are one storage.  A storage is freed when all of these hold:

    - it is produced in the net (its first access is a write by an op) and
      none of its blobs is an external input or output;
    - some op reads each of its blobs (a blob nobody reads is left for the
      caller to fetch, and with it its storage);
    - its final value is not fetchable: no blob of it is written again after
      its last read (such a blob lives to the end of the net, design 3.1, and
      a caller may fetch the value the rewrite left in it);
    - no view op (``Alias``...) reads or writes any of its blobs: memory
      that views share is never freed, so no ``Free`` can reach a storage
      while a view of it is live, nor free it through a view;
    - none of its blobs is in ``dont_free_blobs``, and ``selector_fun(blob)``
      is true for each of them when ``selector_fun`` is given.

    The ``Free`` goes right after the storage's last access (a read, or a
    control input naming it); an op whose nested nets (step nets, ``then_net``...) reference
    the blob, or that lists it as a control input, accesses it.  A storage
    whose last access already is a ``Free`` op is not freed again.  Use this
    only with a caching memory allocator.

    Parameters
    ----------
    netproto : caffe2_pb2.NetDef or object with ``.Proto()``
        The net; it is not modified.
    dont_free_blobs : iterable of str or None
        Blobs never to free (nor the storage they belong to).  A bare string
        is refused (its characters are not blob names).
    selector_fun : callable, optional
        Returns True for the blobs that may be freed.
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs
        (:func:`memonger.netdef.views.view_rule`; default ``{"Alias"}``).

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

    A storage with a view is never freed, whatever the name it is read by:

    >>> _ = net.op.add(type="Alias", input=["x"], output=["v"])
    >>> _ = net.op.add(type="Relu", input=["v"], output=["z"])
    >>> freed = release_blobs_when_used(net, dont_free_blobs=["z"])
    >>> [(op.type, op.input[0]) for op in freed.op][3:]
    [('Free', 'y'), ('Alias', 'x'), ('Relu', 'v')]

    A blob written again after its last read keeps its last value:

    >>> net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    >>> _ = net.op.add(type="Relu", input=["data"], output=["x"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["out"])
    >>> _ = net.op.add(type="ConstantFill", input=[], output=["x"])
    >>> [op.type for op in release_blobs_when_used(net, dont_free_blobs=[]).op]
    ['Relu', 'Relu', 'ConstantFill']
    """
    dont_free = names_set(dont_free_blobs, "dont_free_blobs")
    net = as_netdef(netproto)
    rule = view_rule(view_ops)
    accesses = net_accesses(net, rule)
    live = net_liveness(accesses)
    read = {name for acc in accesses for name in (*acc.input, *acc.control_input)}
    viewed = {
        name
        for op, acc in zip(net.op, accesses, strict=True)
        if op.type in rule.types or acc.views
        for name in (*acc.input, *acc.output)
    }
    excluded = live.roots(dont_free | viewed | set(net.external_input) | set(net.external_output))

    frees: dict[int, set[str]] = {}
    for root, r in live.ranges.items():
        members = live.members(root)
        if root not in live.produced or r.defined < 0 or root in excluded:
            continue
        if not all(name in read for name in members):
            continue
        if r.used >= live.num_positions:  # its final value may be fetched: keep it
            continue
        pos = live.last_access[root]
        if net.op[pos].type == "Free":
            continue
        if selector_fun is not None and not all(selector_fun(name) for name in members):
            continue
        frees.setdefault(pos, set()).add(root)
    if not frees:
        return net

    result = caffe2_pb2.NetDef()
    result.CopyFrom(net)
    del result.op[:]
    for pos, op in enumerate(net.op):
        result.op.append(op)
        roots = frees.get(pos)
        if roots is None:
            continue
        access = accesses[pos]
        touched = list(dict.fromkeys(access.input + access.control_input + access.output))
        names = [name for name in touched if live.root(name) in roots]
        # then the views (and bases) this op does not name, in their storage's order
        ordered_roots = dict.fromkeys(live.root(name) for name in names)
        ordered_roots.update(dict.fromkeys(root for root in live.ranges if root in roots))
        for root in ordered_roots:
            names.extend(m for m in live.members(root) if m not in names)
        for name in names:
            result.op.add(type="Free", input=[name], output=[name])
    return result
