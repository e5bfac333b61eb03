"""Live ranges of blobs over a linearized op order.

A blob's live range tells the first and last op positions that touch it; two
blobs may share one buffer only when their ranges are disjoint.  The
conventions follow Caffe2's memonger, with the corrections stated in
:class:`LiveRange`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from memonger.alloc.errors import InvalidRangeError, MissingSizeError

__all__ = ["LiveRange", "OpLike", "compute_ranges"]


class OpLike(Protocol):
    """Anything with ordered ``input`` and ``output`` blob-name sequences.

    Caffe2 ``OperatorDef`` messages qualify, and so do users' own IR nodes.
    An optional ``control_input`` sequence is accepted and ignored by live
    range computation (it orders ops; it touches no buffer).
    """

    @property
    def input(self) -> Sequence[str]: ...

    @property
    def output(self) -> Sequence[str]: ...


class LiveRange(NamedTuple):
    """The span of op positions over which a blob's buffer is in use.

    Ranges are **closed** intervals ``[defined, used]`` of positions in a
    linearized op order:

    - ``defined`` is the position of the first op that writes the blob, or
      ``-1`` when the blob is read before any op writes it (it comes from
      outside the net);
    - ``used`` is the position of the last op that reads **or writes** the
      blob (a write after the last read still touches the buffer); a blob that
      is never read after its last write lives to the end of the net,
      ``used = len(ops)``, because a caller may fetch it;
    - ``size`` is the blob's size in bytes, or ``None`` when unknown (treated
      as 1 by the assignment algorithms, as Caffe2 does).

    Two blobs may share a buffer only if one's ``defined`` is strictly greater
    than the other's ``used``: an op therefore never reads and writes one
    buffer unless the net already did so in place.

    Examples
    --------
    >>> r = LiveRange(defined=1, used=3, size=10)
    >>> r.defined, r.used, r.size
    (1, 3, 10)
    """

    defined: int
    used: int
    size: int | None


def compute_ranges(
    linearized_ops: Iterable[OpLike],
    blob_sizes: Mapping[str, int] | None = None,
) -> dict[str, LiveRange]:
    """Compute the live range of every blob the ops read or write.

    Parameters
    ----------
    linearized_ops : iterable of op-like objects
        Ops in execution order, each with ``input`` and ``output`` sequences
        of blob names.
    blob_sizes : mapping of str to int, optional
        Size in bytes of each blob.  When given it must cover every blob the
        ops touch; a missing blob raises :class:`MissingSizeError`.

    Returns
    -------
    dict of str to LiveRange
        One entry per blob, in order of first appearance.

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
    >>> compute_ranges(ops)
    {'x': LiveRange(defined=-1, used=0, size=None), 'a': LiveRange(defined=0, used=1, size=None), 'b': LiveRange(defined=1, used=2, size=None)}
    """
    first_write: dict[str, int] = {}
    last_touch: dict[str, int] = {}
    last_is_write: dict[str, bool] = {}
    order: dict[str, None] = {}
    n_ops = 0
    for pos, op in enumerate(linearized_ops):
        n_ops = pos + 1
        for name in op.input:
            order.setdefault(name, None)
            first_write.setdefault(name, -1)  # read before any write: from outside
            last_touch[name] = pos
            last_is_write[name] = False
        for name in op.output:
            order.setdefault(name, None)
            first_write.setdefault(name, pos)
            last_touch[name] = pos
            last_is_write[name] = True
    ranges: dict[str, LiveRange] = {}
    for name in order:
        used = n_ops if last_is_write[name] else last_touch[name]
        size: int | None = None
        if blob_sizes is not None:
            if name not in blob_sizes:
                raise MissingSizeError(f"blob {name!r} has no entry in blob_sizes")
            size = blob_sizes[name]
            if size is not None and size < 0:
                raise InvalidRangeError(f"blob {name!r} has negative size {size}")
        ranges[name] = LiveRange(first_write[name], used, size)
    return ranges
