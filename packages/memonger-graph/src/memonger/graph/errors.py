"""Exceptions raised by :mod:`memonger.graph`."""

from __future__ import annotations

__all__ = ["GraphError"]


class GraphError(Exception):
    """Base class of every error raised by :mod:`memonger.graph`."""
