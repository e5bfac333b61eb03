"""Which device an op runs on and a blob lives on: the one device rule of memonger.

Design 3.2, stated once here and used by every package (the estimate of
:func:`memonger.stats.estimate_memory_usage`, the rewrites of
``memonger.netdef``):

- an op runs on the device of its own DeviceOption; an op without one runs on
  its net's device, and a net without one on the CPU;
- a device is ``(device_type, device_id)``, except that **every CPU is one
  device**, :data:`CPU` ``== (0, 0)``, whatever ``device_id`` its
  DeviceOption carries (Caffe2 has one CPU context);
- a blob lives on the device of the first op writing it, except that the
  output of ``CopyGPUToCPU`` is a CPU blob; a blob no op writes lives on the
  device of its first reader; a blob no op touches, on the net's
  (:func:`net_device`).

Everything is duck-typed: a DeviceOption is any object with ``device_type``
and ``device_id`` (missing or ``None`` read as 0); an op or net has its
option in ``device_option``, and "has one" is asked through ``HasField``
when the object has it (protobuf messages), else by the attribute being
present and not ``None``.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> device_key(NS(device_type=0, device_id=1)), device_key(NS(device_type=1, device_id=1))
((0, 0), (1, 1))
>>> gpu = NS(device_type=1, device_id=0)
>>> ops = [NS(type="Relu", input=["x"], output=["a"], device_option=gpu),
...        NS(type="CopyGPUToCPU", input=["a"], output=["b"], device_option=gpu),
...        NS(type="Relu", input=["b"], output=["c"])]
>>> blob_devices(ops)
{'a': (1, 0), 'b': (0, 0), 'c': (0, 0), 'x': (1, 0)}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

__all__ = [
    "CPU",
    "TO_CPU_OPS",
    "Device",
    "as_device",
    "blob_devices",
    "device_key",
    "has_device_option",
    "net_device",
    "op_device",
]

Device: TypeAlias = tuple[int, int]
"""A device key: ``(device_type, device_id)``; every CPU is :data:`CPU`."""

CPU: Device = (0, 0)
"""The key of the CPU, whatever ``device_id`` a CPU DeviceOption carries."""

TO_CPU_OPS: frozenset[str] = frozenset({"CopyGPUToCPU"})
"""Op types whose outputs are CPU blobs whatever device the op runs on."""


def has_device_option(obj: Any) -> bool:
    """Whether an op or net carries a DeviceOption of its own.

    Protobuf messages answer through ``HasField``; other objects by having a
    ``device_option`` attribute that is not ``None``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> has_device_option(NS()), has_device_option(NS(device_option=None))
    (False, False)
    >>> has_device_option(NS(device_option=NS(device_type=1)))
    True
    """
    has_field = getattr(obj, "HasField", None)
    if callable(has_field):
        try:
            return bool(has_field("device_option"))
        except ValueError:  # not a message field of this type
            pass
    return getattr(obj, "device_option", None) is not None


def device_key(option: Any) -> Device:
    """The key of a DeviceOption-like object; ``None`` (absent) is the CPU.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> device_key(None), device_key(NS(device_type=0, device_id=3))
    ((0, 0), (0, 0))
    >>> device_key(NS(device_type=1, device_id=2))
    (1, 2)
    """
    if option is None:
        return CPU
    device_type = int(getattr(option, "device_type", 0) or 0)
    if device_type == 0:
        return CPU
    return (device_type, int(getattr(option, "device_id", 0) or 0))


def as_device(value: Any) -> Device:
    """A device key from a DeviceOption-like object, a ``(type, id)`` pair or ``None``.

    Pairs are normalized like options (every CPU is :data:`CPU`).

    Raises
    ------
    TypeError
        ``value`` is none of these.

    Examples
    --------
    >>> as_device(None), as_device((0, 1)), as_device((1, 1))
    ((0, 0), (0, 0), (1, 1))
    """
    if value is None:
        return CPU
    if isinstance(value, tuple):
        if len(value) != 2:
            raise TypeError(f"a device pair is (device_type, device_id), not {value!r}")
        device_type, device_id = value
        return CPU if int(device_type) == 0 else (int(device_type), int(device_id))
    if not (hasattr(value, "device_type") or hasattr(value, "device_id")):
        raise TypeError(
            f"a device is a DeviceOption, a (device_type, device_id) pair or None, not {value!r}"
        )
    return device_key(value)


def op_device(op: Any, net_device: Device = CPU) -> Device:
    """The device ``op`` runs on: its own DeviceOption, else ``net_device``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> op_device(NS(type="Relu"), (1, 0))
    (1, 0)
    >>> op_device(NS(type="Relu", device_option=NS(device_type=0, device_id=1)), (1, 0))
    (0, 0)
    """
    return device_key(op.device_option) if has_device_option(op) else net_device


def net_device(net: Any) -> Device:
    """The device of a net's own DeviceOption, the CPU when absent.

    A plain sequence of ops (no ``.op``) has no net-level option: the CPU.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> net_device(NS(op=[], device_option=NS(device_type=1, device_id=0))), net_device([])
    ((1, 0), (0, 0))
    """
    if not hasattr(net, "op") or not has_device_option(net):
        return CPU
    return device_key(net.device_option)


def blob_devices(
    net: Any,
    reads: Sequence[Iterable[str]] | None = None,
    writes: Sequence[Iterable[str]] | None = None,
) -> dict[str, Device]:
    """The device of every blob the ops of ``net`` read or write (the module's rule).

    Parameters
    ----------
    net : net or sequence of ops
        An object with ``.op`` (and optionally ``device_option``), or the ops.
    reads, writes : sequence of iterables of str, optional
        The blobs each op reads and writes, in program order; default each
        op's ``input`` and ``output``.  Callers pass their own to count more
        (an op owning a nested net reads and writes the outer blobs it
        references).

    Returns
    -------
    dict of str to Device
        Blobs first written in program order, then blobs only read.

    Raises
    ------
    ValueError
        ``reads`` or ``writes`` is not as long as the ops.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> cpu1 = NS(device_type=0, device_id=1)
    >>> blob_devices([NS(type="Relu", input=["x"], output=["y"], device_option=cpu1)])
    {'y': (0, 0), 'x': (0, 0)}
    """
    ops = list(net.op) if hasattr(net, "op") else list(net)
    default = net_device(net)
    op_reads = [op.input for op in ops] if reads is None else list(reads)
    op_writes = [op.output for op in ops] if writes is None else list(writes)
    if len(op_reads) != len(ops) or len(op_writes) != len(ops):
        raise ValueError(
            f"reads and writes must have one entry per op ({len(ops)}), "
            f"not {len(op_reads)} and {len(op_writes)}"
        )
    written: dict[str, Device] = {}
    read: dict[str, Device] = {}
    for op, names_read, names_written in zip(ops, op_reads, op_writes, strict=True):
        device = op_device(op, default)
        out_device = CPU if getattr(op, "type", None) in TO_CPU_OPS else device
        for name in names_written:
            written.setdefault(name, out_device)
        for name in names_read:
            read.setdefault(name, device)
    for name, device in read.items():
        written.setdefault(name, device)
    return written
