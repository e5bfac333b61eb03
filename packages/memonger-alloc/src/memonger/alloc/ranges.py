"""Live ranges of blobs over a linearized op order.

A blob's live range tells the first and last op positions that touch it; two
blobs may share one buffer only when their ranges are disjoint.  The
conventions follow Caffe2's memonger, with the corrections stated in
:class:`LiveRange`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from memonger.alloc.errors import InvalidRangeError

__all__ = [
    "Item",
    "LiveRange",
    "OpLike",
    "RangesLike",
    "as_items",
    "get_updated_ranges",
    "name_set",
    "nbytes",
    "sort_by_used",
]


class OpLike(Protocol):
    """Anything with ordered ``input`` and ``output`` blob-name sequences.

    Caffe2 ``OperatorDef`` messages qualify, and so do users' own IR nodes.
    Optional ``control_input`` (blob names) and ``views``
    (``(output_index, input_index)`` pairs) are honoured by
    :func:`memonger.alloc.compute_liveness`; see :mod:`memonger.alloc.liveness`
    for the policy.
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


Item = tuple[str, LiveRange]
"""A blob name with its live range: the element of an assignment."""

RangesLike = Mapping[str, LiveRange] | Iterable[tuple[str, LiveRange]]
"""Ranges as a name -> LiveRange mapping or as ``(name, LiveRange)`` pairs."""


def name_set(names: Iterable[str], what: str = "static_blobs") -> set[str]:
    """A set of blob names, refusing a lone ``str`` (a sequence of characters).

    Examples
    --------
    >>> sorted(name_set(["a", "b"]))
    ['a', 'b']
    >>> name_set("ab")
    Traceback (most recent call last):
    ...
    TypeError: static_blobs must be a collection of blob names, not the string 'ab'
    """
    if isinstance(names, (str, bytes)):
        raise TypeError(f"{what} must be a collection of blob names, not the string {names!r}")
    return set(names)


def nbytes(size: int | None) -> int:
    """Bytes a size stands for in assignment: ``None`` (unknown) counts as 1.

    Examples
    --------
    >>> nbytes(None), nbytes(0), nbytes(12)
    (1, 0, 12)
    """
    return 1 if size is None else size


def get_updated_ranges(ranges: Iterable[Item], max_live: int | None = None) -> list[Item]:
    """Fill unknown fields of ``(name, LiveRange)`` pairs, as Caffe2 did.

    ``defined=None`` becomes ``-1``, ``used=None`` becomes ``max_live``
    (default: one past the largest known ``used``) and ``size=None`` becomes
    ``1``.  Returns a new list; the input is not modified.

    Parameters
    ----------
    ranges : iterable of (str, LiveRange)
        Pairs to update.
    max_live : int, optional
        Value for an unknown ``used``.

    Returns
    -------
    list of (str, LiveRange)

    Examples
    --------
    >>> get_updated_ranges([("a", LiveRange(None, 3, None)), ("b", LiveRange(2, None, 8))])
    [('a', LiveRange(defined=-1, used=3, size=1)), ('b', LiveRange(defined=2, used=4, size=8))]
    """
    pairs = list(ranges)
    if max_live is None:
        known = [r.used for _, r in pairs if r.used is not None]
        max_live = max(known) + 1 if known else 0
    out: list[Item] = []
    for name, r in pairs:
        out.append(
            (
                name,
                LiveRange(
                    -1 if r.defined is None else r.defined,
                    max_live if r.used is None else r.used,
                    1 if r.size is None else r.size,
                ),
            )
        )
    return out


def as_items(ranges: RangesLike) -> list[Item]:
    """Validated ``(name, LiveRange)`` pairs in input order.

    Accepts a mapping or an iterable of pairs.  Raises
    :class:`InvalidRangeError` for a duplicate name (pairs only), a range with
    ``defined > used`` or a negative size.

    Examples
    --------
    >>> as_items({"a": LiveRange(0, 1, 4)})
    [('a', LiveRange(defined=0, used=1, size=4))]
    >>> as_items([("a", LiveRange(2, 1, 4))])
    Traceback (most recent call last):
    ...
    memonger.alloc.errors.InvalidRangeError: blob 'a' has defined=2 > used=1
    """
    if isinstance(ranges, Mapping):
        pairs: list[Item] = [
            (name, r if type(r) is LiveRange else LiveRange(*r)) for name, r in ranges.items()
        ]
    else:
        pairs = []
        seen: set[str] = set()
        for name, r in ranges:
            if name in seen:
                raise InvalidRangeError(f"blob {name!r} appears more than once")
            seen.add(name)
            pairs.append((name, r if type(r) is LiveRange else LiveRange(*r)))
    for name, (defined, used, size) in pairs:
        if defined is not None and used is not None and defined > used:
            raise InvalidRangeError(f"blob {name!r} has defined={defined} > used={used}")
        if size is not None and size < 0:
            raise InvalidRangeError(f"blob {name!r} has negative size {size}")
    return pairs


def sort_by_used(items: Iterable[Item]) -> list[Item]:
    """Pairs sorted by ``used`` (stable; unknown ``used`` last), as Caffe2 visits them.

    Examples
    --------
    >>> sort_by_used([("a", LiveRange(0, 5, 1)), ("b", LiveRange(0, 2, 1))])
    [('b', LiveRange(defined=0, used=2, size=1)), ('a', LiveRange(defined=0, used=5, size=1))]
    """
    return sorted(items, key=lambda p: (p[1].used is None, p[1].used or 0))
