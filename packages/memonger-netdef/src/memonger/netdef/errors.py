"""Exceptions raised by :mod:`memonger.netdef`."""

from __future__ import annotations

__all__ = ["NetDefError"]


class NetDefError(Exception):
    """Base class of every error raised by :mod:`memonger.netdef`."""
