"""Duck-typed access to nets, ops and size sources (private helpers)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from memonger.alloc import Liveness, LiveRange, ViewsOf, compute_liveness, nbytes
from memonger.stats.errors import InvalidSizeError, MissingSizeError, StatsError

__all__ = [
    "SizeSource",
    "check_size",
    "net_ops",
    "ordered_ops",
    "produced_order",
    "size_of",
    "sized_liveness",
    "sizer",
]

SizeSource = Mapping[str, int | None] | Callable[[str], int | None]
"""Blob sizes in bytes: a mapping ``{blob: bytes}`` or a callable ``name -> bytes``.

The unknown-size policy is memonger.alloc's (:mod:`memonger.alloc.liveness`):
a size ``None`` is unknown and counts as one byte (:func:`memonger.alloc.nbytes`);
a blob the mapping lacks (or the callable raises ``KeyError`` for) is an error,
:class:`~memonger.stats.MissingSizeError`.
"""


def net_ops(net: Any) -> list[Any]:
    """The ops of a net (an object with ``.op``) or of a plain iterable of ops."""
    ops = getattr(net, "op", None)
    if ops is not None and not isinstance(net, (str, bytes)):
        return list(ops)
    if isinstance(net, Iterable) and not isinstance(net, (str, bytes)):
        return list(net)
    raise TypeError(f"{type(net).__name__} is neither a net with .op nor an iterable of ops")


def ordered_ops(net: Any, order: Sequence[int] | None) -> list[Any]:
    """The ops of ``net`` in ``order`` (default: program order), the order checked."""
    ops = net_ops(net)
    if order is None:
        return ops
    indices = [int(i) for i in order]
    if sorted(indices) != list(range(len(ops))):
        raise StatsError(f"order is not a permutation of the {len(ops)} op indices")
    return [ops[i] for i in indices]


def check_size(name: str, value: object) -> int:
    """Validate one size: a non-negative integer."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, bool):
        raise InvalidSizeError(f"blob {name!r} has a bool size {value!r}")
    try:
        size = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidSizeError(f"blob {name!r} has a non-integer size {value!r}") from None
    if size < 0:
        raise InvalidSizeError(f"blob {name!r} has a negative size {size}")
    return int(size)


def size_of(sizes: SizeSource, name: str) -> int:
    """Size of blob ``name`` in bytes from a mapping or a callable (see :data:`SizeSource`)."""
    if isinstance(sizes, Mapping):
        if name not in sizes:
            raise MissingSizeError(f"blob {name!r} has no size")
        value: object = sizes[name]
    else:
        try:
            value = sizes(name)
        except KeyError:
            raise MissingSizeError(f"blob {name!r} has no size") from None
    if value is None:
        return nbytes(None)
    return check_size(name, value)


def sizer(sizes: SizeSource) -> Callable[[str], int]:
    """A validating ``name -> bytes`` lookup over a mapping or a callable (see :func:`size_of`)."""
    return lambda name: size_of(sizes, name)


def sized_liveness(
    ops: Sequence[Any], blob_nbytes: SizeSource | None, views: ViewsOf | None
) -> tuple[Liveness, dict[str, LiveRange]]:
    """memonger.alloc's liveness of ``ops`` and its produced ranges, sized.

    The ranges are :meth:`memonger.alloc.Liveness.produced_ranges` (the blobs
    the design-7 metrics count), each storage sized as alloc sizes a storage
    group: the largest size of its members, looked up in ``blob_nbytes``
    (default: the ranges' own, unknown).
    """
    live = compute_liveness(ops, views=views)
    ranges = live.produced_ranges()
    if blob_nbytes is None:
        return live, ranges
    lookup = sizer(blob_nbytes)
    sized = {
        root: LiveRange(r.defined, r.used, max(lookup(m) for m in live.members(root)))
        for root, r in ranges.items()
    }
    return live, sized


def produced_order(ops: Sequence[Any], live: Liveness) -> list[str]:
    """The produced storages of ``live`` (their roots) in order of first write in ``ops``."""
    seen: dict[str, None] = {}
    for op in ops:
        for name in op.output:
            root = live.root(name)
            if root in live.produced:
                seen.setdefault(root, None)
    return list(seen)
