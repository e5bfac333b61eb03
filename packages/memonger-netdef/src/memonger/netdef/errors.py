"""Exceptions raised by :mod:`memonger.netdef`.

Every exception derives from :class:`NetDefError`; the specific ones also
derive from the builtin a caller would naturally catch.  Messages name the
blob, op or file at fault.
"""

from __future__ import annotations

__all__ = [
    "CorpusNotFoundError",
    "LifetimeOverlapError",
    "NameCollisionError",
    "NestedNetError",
    "NetDefError",
    "NetFormatError",
    "ShapeInferenceError",
    "UnsupportedNetError",
    "VerificationError",
]


class NetDefError(Exception):
    """Base class of every error raised by :mod:`memonger.netdef`."""


class NetFormatError(NetDefError, ValueError):
    """A file or byte string is not a readable NetDef (truncated, empty, garbage...)."""


class NestedNetError(NetDefError, ValueError):
    """A nested net (step net, then/else net) cannot be read or references an unknown op."""


class NameCollisionError(NetDefError, ValueError):
    """A generated name (a shared buffer, a renamed blob) collides with an existing blob."""


class LifetimeOverlapError(NameCollisionError):
    """A renaming merges two blobs whose storage is live at the same time.

    Both would then hold one buffer while each still holds a value the net needs.
    """


class UnsupportedNetError(NetDefError, ValueError):
    """The net does not fit what the function requires (gradient ops, unproduced inputs...)."""


class ShapeInferenceError(NetDefError, ValueError):
    """Shapes cannot be inferred (contradictory shapes, a malformed argument...)."""


class VerificationError(NetDefError, AssertionError):
    """A rewritten net fails a safety check (it is not equivalent to the original)."""


class CorpusNotFoundError(NetDefError, FileNotFoundError):
    """The corpus of real nets (``MEMONGER_CORPUS``) is not where it was looked for."""
