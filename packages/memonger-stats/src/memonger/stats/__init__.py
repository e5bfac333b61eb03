"""Blob sizes, memory estimates, statistics, timelines and reports."""

from memonger.stats.errors import StatsError

__all__ = ["StatsError"]
