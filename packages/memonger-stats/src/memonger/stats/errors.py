"""Exceptions raised by :mod:`memonger.stats`.

Every exception derives from :class:`StatsError`; the specific ones also derive
from the builtin a caller would naturally catch (``ValueError``, ``KeyError``,
``ImportError``).  Messages name the blob, dtype or file at fault.
"""

from __future__ import annotations

from memonger.alloc import MissingSizeError as _AllocMissingSizeError

__all__ = [
    "InvalidShapeError",
    "InvalidSizeError",
    "MissingDependencyError",
    "MissingSizeError",
    "ShapeFileError",
    "StatsError",
    "UnsupportedDtypeError",
]


class StatsError(Exception):
    """Base class of every error raised by :mod:`memonger.stats`."""


class UnsupportedDtypeError(StatsError, ValueError):
    """A dtype has no fixed byte size (STRING, BYTE, UNDEFINED) or is not known."""


class InvalidShapeError(StatsError, ValueError):
    """A shape has a negative, unknown or non-integer dimension."""


class InvalidSizeError(StatsError, ValueError):
    """A blob size is negative or not an integer."""


class MissingSizeError(StatsError, _AllocMissingSizeError):
    """A blob has no shape or size where one is required.

    It is also a :class:`memonger.alloc.MissingSizeError` (and a ``KeyError``):
    the project has one unknown-size policy, memonger.alloc's.
    """


class ShapeFileError(StatsError, ValueError):
    """A shape or size file cannot be read or holds a malformed entry."""


class MissingDependencyError(StatsError, ImportError):
    """An optional dependency (matplotlib, for plots) is not installed."""
