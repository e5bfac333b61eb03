"""Which device each blob of a net lives on (design 3.2).

Blobs on different devices never share a buffer.  Every rewrite of the
package (:func:`~memonger.netdef.optimize_interference`, the DAG recyclers,
:func:`~memonger.netdef.optimize_inference_fast`) takes blob devices from
:func:`blob_devices_of` here, so they all agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias

from memonger.netdef import caffe2_pb2

__all__ = ["CPU", "Device", "blob_devices_of", "device_key", "op_device"]

#: A device key: ``(device_type, device_id)``; CPU is always ``(0, 0)``.
Device: TypeAlias = tuple[int, int]

#: The key of the CPU (whatever ``device_id`` a CPU DeviceOption carries).
CPU: Device = (0, 0)


def device_key(option: caffe2_pb2.DeviceOption) -> Device:
    """The key of a DeviceOption: ``(device_type, device_id)``, every CPU ``(0, 0)``.

    Examples
    --------
    >>> device_key(caffe2_pb2.DeviceOption(device_type=1, device_id=2))
    (1, 2)
    >>> device_key(caffe2_pb2.DeviceOption(device_type=0, device_id=3))
    (0, 0)
    """
    return CPU if option.device_type == 0 else (option.device_type, option.device_id)


def op_device(op: caffe2_pb2.OperatorDef, net_device: Device = CPU) -> Device:
    """The device ``op`` runs on: its own DeviceOption, else ``net_device``.

    Examples
    --------
    >>> op_device(caffe2_pb2.OperatorDef(type="Relu"), (1, 0))
    (1, 0)
    """
    return device_key(op.device_option) if op.HasField("device_option") else net_device


def blob_devices_of(
    net: caffe2_pb2.NetDef,
    reads: Sequence[Iterable[str]],
    writes: Sequence[Iterable[str]],
) -> dict[str, Device]:
    """The device of every blob that the ops of ``net`` read or write.

    A blob lives on the device of the first op writing it, except that the
    output of ``CopyGPUToCPU`` is a CPU blob; a blob no op writes (an input
    of the net) lives on the device of its first reader -- the device of its
    consumers, not the CPU by default.  An op without a DeviceOption runs on
    the net's device, and a net without one on the CPU.

    Parameters
    ----------
    net : caffe2_pb2.NetDef
        The net (its ops give the devices and types).
    reads, writes : sequence of iterables of str
        The blobs each op of ``net`` reads and writes, in program order; the
        caller decides what counts (an op owning a nested net reads and
        writes the outer blobs the nested net references).

    Returns
    -------
    dict of str to Device
        Blobs first written in program order, then blobs only read.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef()
    >>> gpu = caffe2_pb2.DeviceOption(device_type=1, device_id=0)
    >>> _ = net.op.add(type="Relu", input=["x"], output=["a"], device_option=gpu)
    >>> _ = net.op.add(type="CopyGPUToCPU", input=["a"], output=["b"], device_option=gpu)
    >>> blob_devices_of(net, [op.input for op in net.op], [op.output for op in net.op])
    {'a': (1, 0), 'b': (0, 0), 'x': (1, 0)}
    """
    default = device_key(net.device_option) if net.HasField("device_option") else CPU
    written: dict[str, Device] = {}
    read: dict[str, Device] = {}
    for op, op_reads, op_writes in zip(net.op, reads, writes, strict=True):
        device = op_device(op, default)
        out_device = CPU if op.type == "CopyGPUToCPU" else device
        for name in op_writes:
            written.setdefault(name, out_device)
        for name in op_reads:
            read.setdefault(name, device)
    for name, device in read.items():
        written.setdefault(name, device)
    return written
