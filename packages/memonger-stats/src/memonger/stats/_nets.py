"""Duck-typed access to nets, ops and size sources (private helpers)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from memonger.stats.errors import InvalidSizeError, MissingSizeError

__all__ = [
    "SizeSource",
    "check_size",
    "device_key",
    "device_of",
    "net_device",
    "net_ops",
    "produced_in",
    "size_of",
    "sizer",
]

SizeSource = Mapping[str, int] | Callable[[str], int]
"""Blob sizes in bytes: a mapping ``{blob: bytes}`` or a callable ``name -> bytes``."""


def net_ops(net: Any) -> list[Any]:
    """The ops of a net (an object with ``.op``) or of a plain iterable of ops."""
    ops = getattr(net, "op", None)
    if ops is not None and not isinstance(net, (str, bytes)):
        return list(ops)
    if isinstance(net, Iterable) and not isinstance(net, (str, bytes)):
        return list(net)
    raise TypeError(f"{type(net).__name__} is neither a net with .op nor an iterable of ops")


def _has_field(obj: Any, field: str) -> bool:
    has_field = getattr(obj, "HasField", None)
    if callable(has_field):
        try:
            return bool(has_field(field))
        except ValueError:  # not a message field of this type
            return getattr(obj, field, None) is not None
    return getattr(obj, field, None) is not None


def device_key(option: Any) -> tuple[int, int] | None:
    """``(device_type, device_id)`` of a DeviceOption-like object, None if absent."""
    if option is None:
        return None
    return (int(getattr(option, "device_type", 0) or 0), int(getattr(option, "device_id", 0) or 0))


def device_of(op: Any, default: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """The device ``(type, id)`` an op runs on; ``default`` when it has no DeviceOption."""
    if not _has_field(op, "device_option"):
        return default
    key = device_key(op.device_option)
    return default if key is None else key


def net_device(net: Any) -> tuple[int, int]:
    """The device of a net's own DeviceOption, CPU 0 when absent."""
    if not hasattr(net, "op") or not _has_field(net, "device_option"):
        return (0, 0)
    key = device_key(net.device_option)
    return (0, 0) if key is None else key


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
    """Size of blob ``name`` in bytes from a mapping or a callable."""
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
        raise MissingSizeError(f"blob {name!r} has no size (None)")
    return check_size(name, value)


def sizer(sizes: SizeSource) -> Callable[[str], int]:
    """A validating ``name -> bytes`` lookup over a mapping or a callable (see :func:`size_of`)."""
    if isinstance(sizes, Mapping):
        mapping = sizes

        def from_mapping(name: str) -> int:
            try:
                value = mapping[name]
            except KeyError:
                raise MissingSizeError(f"blob {name!r} has no size") from None
            if value is None:
                raise MissingSizeError(f"blob {name!r} has no size (None)")
            return check_size(name, value)

        return from_mapping
    return lambda name: size_of(sizes, name)


def produced_in(ops: Sequence[Any]) -> list[str]:
    """Blobs written by some op, in order of first write."""
    seen: dict[str, None] = {}
    for op in ops:
        for name in op.output:
            seen.setdefault(name, None)
    return list(seen)
