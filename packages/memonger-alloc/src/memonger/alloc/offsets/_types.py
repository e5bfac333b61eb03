"""Record types shared by the offset planners: the algorithm names and the plan.

An *offset plan* places every non-static blob at a byte offset inside one
arena.  Blobs whose closed live ranges ``[defined, used]`` intersect must not
overlap in bytes ``[offset, offset + size)``; the arena is as large as the
highest ``offset + size``.  Compare with the shared-object model of
:func:`memonger.alloc.allocate`, where blobs share whole buffers.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from memonger.alloc.errors import UnknownAlgorithmError

__all__ = [
    "OFFSET_ALGORITHMS",
    "OffsetAlgorithm",
    "OffsetAlgorithmName",
    "OffsetPlan",
    "resolve_offset_algorithm",
]


class OffsetAlgorithm(str, enum.Enum):
    """The built-in offset planners; each value is the name accepted as a string.

    AUTO
        Every heuristic, stopping as soon as one reaches the lower bound;
        otherwise the exact search within its budget.  Never worse than any
        heuristic.
    GREEDY_BY_SIZE
        TFLite's greedy by size: largest first, each into the best-fitting
        gap among the placed blobs it overlaps in time
        (:mod:`~memonger.alloc.offsets.greedy_by_size`).
    GREEDY_BY_BREADTH
        TFLite's greedy by breadth: positions by decreasing live bytes, the
        blobs live there by decreasing size
        (:mod:`~memonger.alloc.offsets.greedy_by_breadth`).
    BEST_FIT
        Decreasing size, each into the gap that fits it most tightly, the
        space under the current arena top counted as a gap
        (:mod:`~memonger.alloc.offsets.best_fit`).
    EXACT
        Complete branch-and-bound search (:mod:`~memonger.alloc.offsets.exact`).

    Examples
    --------
    >>> OffsetAlgorithm("greedy_by_size") is OffsetAlgorithm.GREEDY_BY_SIZE
    True
    >>> OffsetAlgorithm.EXACT.value
    'exact'
    """

    AUTO = "auto"
    GREEDY_BY_SIZE = "greedy_by_size"
    GREEDY_BY_BREADTH = "greedy_by_breadth"
    BEST_FIT = "best_fit"
    EXACT = "exact"


OffsetAlgorithmName = Literal[
    "auto",
    "greedy_by_size",
    "by_size",
    "greedy_by_breadth",
    "by_breadth",
    "best_fit",
    "exact",
]
"""The offset planner names, for type checkers: the keys of :data:`OFFSET_ALGORITHMS`.

Signatures take them beside :class:`OffsetAlgorithm` (and any ``str``; at run
time names are case-insensitive and ``-`` stands for ``_``)."""

OFFSET_ALGORITHMS: Mapping[str, OffsetAlgorithm] = {
    **{a.value: a for a in OffsetAlgorithm},
    "by_size": OffsetAlgorithm.GREEDY_BY_SIZE,
    "by_breadth": OffsetAlgorithm.GREEDY_BY_BREADTH,
}
"""Accepted names (case-insensitive, ``-`` or ``_``)."""


def resolve_offset_algorithm(
    algorithm: OffsetAlgorithm | OffsetAlgorithmName | str,
) -> OffsetAlgorithm:
    """The :class:`OffsetAlgorithm` a name or member stands for.

    Raises
    ------
    UnknownAlgorithmError
        For an unknown name or a value of another type.

    Examples
    --------
    >>> resolve_offset_algorithm("Greedy-By-Size")
    <OffsetAlgorithm.GREEDY_BY_SIZE: 'greedy_by_size'>
    >>> try:
    ...     resolve_offset_algorithm("fastest")
    ... except UnknownAlgorithmError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    unknown offset algorithm 'fastest'; known: auto, best_fit, by_breadth, by_size,
    exact, greedy_by_breadth, greedy_by_size
    """
    if isinstance(algorithm, OffsetAlgorithm):
        return algorithm
    if isinstance(algorithm, str):
        key = algorithm.strip().lower().replace("-", "_")
        if key in OFFSET_ALGORITHMS:
            return OFFSET_ALGORITHMS[key]
        known = ", ".join(sorted(OFFSET_ALGORITHMS))
        raise UnknownAlgorithmError(f"unknown offset algorithm {algorithm!r}; known: {known}")
    raise UnknownAlgorithmError(f"unknown offset algorithm {algorithm!r}")


@dataclass(frozen=True)
class OffsetPlan:
    """What :func:`~memonger.alloc.plan_offsets` found.

    Attributes
    ----------
    offsets : dict of str to int
        Byte offset of every non-static blob, in the order of the input
        ranges.  Size-0 blobs get offset 0 and conflict with nothing.
    arena_bytes : int
        ``max(offset + size)`` over the blobs (0 for none); with
        ``alignment > 1`` sizes count rounded up to a multiple of it.
    lower_bound : int
        Peak live bytes of the non-static blobs (sizes rounded up for
        alignment): no arena is smaller.
    proven_optimal : bool
        ``arena_bytes`` equals the lower bound, or the search proved that no
        smaller arena exists.
    feasible : bool or None
        Only meaningful with ``capacity``: True when the plan fits in it,
        False when no plan can (proven), None when the search stopped
        undecided.  Without a capacity: always True.
    algorithm : OffsetAlgorithm
        The algorithm whose plan is returned (``auto`` reports the one that
        won).
    stats : mapping of str to int
        Search counters (``nodes``, ``components``, ``budget_exhausted``...);
        ``proven_bound`` is the best lower bound proved.
    seconds : float
        Wall time spent.
    capacity : int or None
        The capacity asked for.
    alignment : int
        Every offset is a multiple of it.

    Examples
    --------
    >>> from memonger.alloc import LiveRange, plan_offsets
    >>> plan = plan_offsets({"a": LiveRange(0, 1, 8), "b": LiveRange(1, 2, 4)})
    >>> plan.offsets, plan.arena_bytes, plan.lower_bound, plan.proven_optimal
    ({'a': 0, 'b': 8}, 12, 12, True)
    """

    offsets: dict[str, int]
    arena_bytes: int
    lower_bound: int
    proven_optimal: bool
    feasible: bool | None = True
    algorithm: OffsetAlgorithm = OffsetAlgorithm.AUTO
    stats: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    capacity: int | None = None
    alignment: int = 1

    @property
    def gap(self) -> float:
        """``arena_bytes / lower_bound - 1`` (0.0 when the bound is 0).

        Examples
        --------
        >>> OffsetPlan({}, 12, 8, False).gap
        0.5
        """
        if self.lower_bound == 0:
            return 0.0
        return self.arena_bytes / self.lower_bound - 1
