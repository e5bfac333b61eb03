"""Which device each blob of a net lives on (design 3.2).

Blobs on different devices never share a buffer.  The rule itself lives in
:mod:`memonger.stats.devices`, the one home of the project's device rule;
this module gives it the names and the ``NetDef`` signatures the rewrites of
this package use (:func:`~memonger.netdef.optimize_interference`, the DAG
recyclers, :func:`~memonger.netdef.optimize_inference_fast`), so they all
agree with each other and with :func:`memonger.stats.estimate_memory_usage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from memonger.netdef import caffe2_pb2
from memonger.stats import devices as _rule
from memonger.stats.devices import CPU, Device

__all__ = ["CPU", "Device", "blob_devices_of", "device_key", "op_device"]


def device_key(option: caffe2_pb2.DeviceOption) -> Device:
    """The key of a DeviceOption: ``(device_type, device_id)``, every CPU ``(0, 0)``.

    Examples
    --------
    >>> device_key(caffe2_pb2.DeviceOption(device_type=1, device_id=2))
    (1, 2)
    >>> device_key(caffe2_pb2.DeviceOption(device_type=0, device_id=3))
    (0, 0)
    """
    return _rule.device_key(option)


def op_device(op: caffe2_pb2.OperatorDef, net_device: Device = CPU) -> Device:
    """The device ``op`` runs on: its own DeviceOption, else ``net_device``.

    Examples
    --------
    >>> op_device(caffe2_pb2.OperatorDef(type="Relu"), (1, 0))
    (1, 0)
    """
    return _rule.op_device(op, net_device)


def blob_devices_of(
    net: caffe2_pb2.NetDef,
    reads: Sequence[Iterable[str]],
    writes: Sequence[Iterable[str]],
) -> dict[str, Device]:
    """The device of every blob that the ops of ``net`` read or write.

    The rule of :func:`memonger.stats.devices.blob_devices`: a blob lives on
    the device of the first op writing it, except that the output of
    ``CopyGPUToCPU`` is a CPU blob; a blob no op writes (an input of the net)
    lives on the device of its first reader.  An op without a DeviceOption
    runs on the net's device, and a net without one on the CPU.

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
    return _rule.blob_devices(net, reads, writes)
