"""Exceptions raised by :mod:`memonger.onnx`.

Every exception derives from :class:`OnnxError`; the specific ones also derive
from the builtin a caller would naturally catch (``ValueError``,
``ImportError``).  Messages name the file, node or tensor at fault.
"""

from __future__ import annotations

__all__ = [
    "InvalidModelError",
    "MissingDependencyError",
    "NotOnnxError",
    "OnnxError",
    "ShapeInferenceError",
    "TruncatedModelError",
    "UnknownDimensionError",
    "UnknownSizeError",
    "UnsupportedModelError",
]


class OnnxError(Exception):
    """Base class of every error raised by :mod:`memonger.onnx`."""


class NotOnnxError(OnnxError, ValueError):
    """The input is not a serialized ONNX ``ModelProto`` (or has no graph)."""


class TruncatedModelError(OnnxError, ValueError):
    """The input starts like an ONNX model but ends in the middle of a field."""


class UnsupportedModelError(OnnxError, ValueError):
    """The model's IR version or an opset is outside what the installed onnx supports."""


class InvalidModelError(OnnxError, ValueError):
    """The graph is malformed (a tensor read that nothing defines, a name written twice...)."""


class ShapeInferenceError(OnnxError, ValueError):
    """onnx's shape inference failed on the model."""


class UnknownDimensionError(OnnxError, ValueError):
    """``dims`` names a symbolic dimension the model does not have, or gives a bad value."""


class UnknownSizeError(OnnxError, ValueError):
    """Tensors to plan have no static size; the message names them with the reason.

    Attributes
    ----------
    unknown : dict of str to str
        Tensor name -> why its size is not known.
    """

    def __init__(self, message: str, unknown: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.unknown: dict[str, str] = dict(unknown or {})


class MissingDependencyError(OnnxError, ImportError):
    """An optional dependency (matplotlib for plots) is not installed."""
