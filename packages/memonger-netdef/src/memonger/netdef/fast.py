"""A single-pass linear-scan blob recycler for nets run in program order.

:func:`optimize_inference_fast` is the successor of Caffe2's
``optimize_inference_net``: one walk over the ops in program order hands the
buffer of every blob whose live range has ended to the next blob that is
written for the first time.  It is meant for "simple" nets, executed op after
op; for nets executed as a DAG use
:func:`memonger.netdef.dag.optimize_inference_for_dag`.

Liveness is :mod:`memonger.alloc.liveness`'s (a view lives with the
storage it views, which keeps its name).  Unlike the original, a blob stays
live until the last op that reads **or writes** it (a net that writes a
blob again after its last read keeps its data), two outputs of one op never
receive the same buffer, blobs on different devices never share, and outer
blobs referenced by nested nets are live across the op that owns them (and
are renamed inside it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from memonger.netdef import caffe2_pb2
from memonger.netdef.dag import (
    BlobSize,
    _analyze,
    _names,
    _plan,
    _rewrite,
    _root_sizes,
    _shareable_blobs,
    _sizes,
)
from memonger.netdef.netlike import NetLike, netdef_of
from memonger.netdef.views import ViewOps, view_rule

__all__ = ["optimize_inference_fast"]


def optimize_inference_fast(
    net: NetLike,
    static_blobs: Iterable[str],
    *,
    blob_shapes: Mapping[str, BlobSize] | None = None,
    namescope: str = "",
    view_ops: ViewOps | None = None,
) -> caffe2_pb2.NetDef:
    """Recycle blob buffers along the program order of ``net`` (linear scan).

    Walking the ops in order, a blob whose last access (read or write) is
    behind us frees its buffer; a blob written for the first time takes a
    free buffer of its device.  Never renamed: ``static_blobs``, external
    inputs and outputs, blobs read before any op writes them, blobs named in
    control inputs, and final results (blobs no op reads after their last
    write).

    Parameters
    ----------
    net : NetDef or object with ``.Proto()``
        The net; it is not modified.
    static_blobs : iterable of str
        Blobs that are never renamed and never lend their buffer.
    blob_shapes : mapping of str to shape or int, optional
        Shapes (or sizes) of the blobs.  With them a blob takes the
        best-fitting free buffer (the smallest at least as large as the blob,
        else the largest), and of two placements -- in program order, and
        largest blob first -- the one with fewer bytes is kept; without, a
        blob takes the most reused free buffer.
    namescope : str, optional
        Prefix of the generated buffer names ``<namescope>__m<k>_shared``.
    view_ops : iterable of str or mapping, optional
        The op types whose outputs are views of their inputs
        (:func:`memonger.netdef.views.view_rule`; default ``{"Alias"}``).  A
        view and the blob it views are one storage, live until the last
        access to any of them; views keep their names.

    Returns
    -------
    caffe2_pb2.NetDef
        A new net, ops in the same order, shared blobs renamed to buffer names
        numbered in order of first use.  It is equivalent to ``net`` when run
        in program order (or as a DAG of its own dependencies).

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    >>> for i, o in [("x", "a"), ("a", "b"), ("b", "c"), ("c", "out")]:
    ...     _ = net.op.add(type="Relu", input=[i], output=[o])
    >>> [list(op.output) for op in optimize_inference_fast(net, []).op]
    [['__m0_shared'], ['b'], ['__m0_shared'], ['out']]
    """
    proto = netdef_of(net)
    static = _names(static_blobs, "static_blobs")
    sizes = _sizes(blob_shapes)
    info = _analyze(proto, view_rule(view_ops), need_ancestors=False, sizes=sizes)
    blobs = _shareable_blobs(proto, info, lambda _: True, static)
    groups = _plan(info, blobs, None if sizes is None else _root_sizes(info, blobs), dag=False)
    return _rewrite(proto, info, groups, blobs, namescope)
