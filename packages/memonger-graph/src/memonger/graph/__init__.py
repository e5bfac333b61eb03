"""Op dependency graphs and always-valid topological orderings."""

from memonger.graph.errors import GraphError

__all__ = ["GraphError"]
