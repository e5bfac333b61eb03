"""Exceptions raised by :mod:`memonger.alloc`.

Every exception derives from :class:`AllocError`; the specific ones also derive
from the builtin a caller would naturally catch (``ValueError``, ``KeyError``,
``TypeError``).  Messages name the blob at fault.
"""

from __future__ import annotations

__all__ = [
    "AllocError",
    "InvalidAssignmentError",
    "InvalidRangeError",
    "MissingSizeError",
    "UnknownAlgorithmError",
]


class AllocError(Exception):
    """Base class of every error raised by :mod:`memonger.alloc`."""


class InvalidRangeError(AllocError, ValueError):
    """A live range is malformed (``defined > used``, negative size, duplicate name...)."""


class MissingSizeError(AllocError, KeyError):
    """A blob has no entry in a size mapping that must cover every blob."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownAlgorithmError(AllocError, ValueError):
    """An assignment algorithm name or value is not known."""


class InvalidAssignmentError(AllocError, ValueError):
    """An assignment breaks a sharing rule (overlapping ranges, a missing blob...)."""
