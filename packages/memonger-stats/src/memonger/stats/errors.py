"""Exceptions raised by :mod:`memonger.stats`."""

from __future__ import annotations

__all__ = ["StatsError"]


class StatsError(Exception):
    """Base class of every error raised by :mod:`memonger.stats`."""
