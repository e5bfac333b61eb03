"""Tests of memonger.netdef.devices: one device rule for every rewrite (design 3.2)."""

from __future__ import annotations

import pytest

from memonger.netdef import caffe2_pb2
from memonger.netdef.dag import optimize_inference_for_dag
from memonger.netdef.devices import CPU, blob_devices_of, device_key, op_device
from memonger.netdef.fast import optimize_inference_fast
from memonger.netdef.rewrite import blob_devices, optimize_interference

GPU0 = caffe2_pb2.DeviceOption(device_type=1, device_id=0)
GPU1 = caffe2_pb2.DeviceOption(device_type=1, device_id=1)


def chain(devices: list[caffe2_pb2.DeviceOption | None]) -> caffe2_pb2.NetDef:
    """x -> b0 -> b1 -> ... -> out, op k on devices[k] (None: no DeviceOption)."""
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    names = ["x"] + [f"b{k}" for k in range(len(devices) - 1)] + ["out"]
    for k, dev in enumerate(devices):
        op = net.op.add(type="Relu", input=[names[k]], output=[names[k + 1]])
        if dev is not None:
            op.device_option.CopyFrom(dev)
    return net


def plain(net: caffe2_pb2.NetDef) -> dict[str, tuple[int, int]]:
    return blob_devices_of(net, [op.input for op in net.op], [op.output for op in net.op])


def test_device_key_ignores_cpu_id() -> None:
    assert device_key(caffe2_pb2.DeviceOption(device_type=0, device_id=7)) == CPU
    assert device_key(GPU1) == (1, 1)


def test_op_device_falls_back_to_the_net() -> None:
    op = caffe2_pb2.OperatorDef(type="Relu")
    assert op_device(op) == CPU
    assert op_device(op, (1, 3)) == (1, 3)
    op.device_option.CopyFrom(GPU1)
    assert op_device(op, CPU) == (1, 1)


def test_first_writer_then_first_reader() -> None:
    net = caffe2_pb2.NetDef()
    net.op.add(type="Relu", input=["x"], output=["a"], device_option=GPU1)
    net.op.add(type="Relu", input=["x", "a"], output=["a"], device_option=GPU0)
    net.op.add(type="CopyGPUToCPU", input=["a"], output=["c"], device_option=GPU1)
    assert plain(net) == {"a": (1, 1), "c": CPU, "x": (1, 1)}


def test_net_device_applies_to_ops_without_one() -> None:
    net = chain([None, GPU0])
    net.device_option.CopyFrom(GPU1)
    assert plain(net) == {"b0": (1, 1), "out": (1, 0), "x": (1, 1)}


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        blob_devices_of(chain([None, None]), [["x"]], [["b0"]])


def test_every_rewrite_agrees_with_blob_devices() -> None:
    # alternating GPUs 0 and 1: in a chain no two blobs of one GPU may share
    # with a blob of the other; the rewrites only group blobs of one device
    devs = [GPU0, GPU1] * 4 + [None, caffe2_pb2.DeviceOption(device_type=0, device_id=2)] * 3
    net = chain(devs)
    devices = blob_devices(net)
    assert devices == plain(net)
    results = {
        "interference": optimize_interference(net, []).net,
        "dag": optimize_inference_for_dag(net, ["x"]),
        "fast": optimize_inference_fast(net, []),
    }
    for mode, optimized in results.items():
        groups: dict[str, set[tuple[int, int]]] = {}
        for before, after in zip(net.op, optimized.op, strict=True):
            for old, new in zip(before.output, after.output, strict=True):
                groups.setdefault(new, set()).add(devices[old])
        assert all(len(g) == 1 for g in groups.values()), mode
        # the CPU ops (with and without device ids) share among themselves
        assert len(groups) < len(net.op), mode
