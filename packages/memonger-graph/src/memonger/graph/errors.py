"""Exceptions raised by :mod:`memonger.graph`.

Every exception derives from :class:`GraphError`; the specific ones also derive
from ``ValueError``, the builtin a caller would naturally catch.  Messages name
the ops (and, where there is one, the blob) at fault.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from memonger.alloc import MissingSizeError as _AllocMissingSizeError

__all__ = ["CycleError", "GraphError", "InvalidSizeError", "MissingSizeError", "OrderError"]


class GraphError(Exception):
    """Base class of every error raised by :mod:`memonger.graph`."""


class CycleError(GraphError, ValueError):
    """A dependency graph has a cycle, so no valid op order exists.

    Attributes
    ----------
    cycle : list
        The nodes of one cycle, in edge order; the last node has an edge back
        to the first.
    """

    def __init__(self, message: str, cycle: Sequence[Hashable] = ()) -> None:
        super().__init__(message)
        self.cycle: list[Hashable] = list(cycle)


class OrderError(GraphError, ValueError):
    """An op order is not a valid order of a dependency graph.

    Raised when the order is not a permutation of the graph's nodes, or when
    an op comes before an op it depends on.

    Attributes
    ----------
    before, after : hashable or None
        For a violated dependency: the op that must run first (``before``) and
        the op that depends on it (``after``); ``None`` otherwise.
    blob : str or None
        The blob that carries the violated dependency, when one does.
    """

    def __init__(
        self,
        message: str,
        before: Hashable | None = None,
        after: Hashable | None = None,
        blob: str | None = None,
    ) -> None:
        super().__init__(message)
        self.before = before
        self.after = after
        self.blob = blob


class InvalidSizeError(GraphError, ValueError):
    """A blob size is negative or not an integer."""


class MissingSizeError(GraphError, _AllocMissingSizeError):
    """A size mapping lacks a blob the ops touch (memonger.alloc's unknown-size policy).

    Also a :class:`memonger.alloc.MissingSizeError` and a ``KeyError``.
    """
