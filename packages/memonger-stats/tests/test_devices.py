"""The one device rule (design 3.2) and the one dtype table, shared with netdef."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memonger.stats import DTYPE_BY_NAME, DataType, blob_nbytes, dtype_name, has_fixed_size
from memonger.stats.devices import (
    CPU,
    as_device,
    blob_devices,
    device_key,
    has_device_option,
    net_device,
    op_device,
)


@dataclass
class Option:
    device_type: int = 0
    device_id: int = 0


@dataclass
class Op:
    type: str
    input: list[str]
    output: list[str]
    device_option: Option | None = None


@dataclass
class Net:
    op: list[Op]
    device_option: Option | None = None


def test_every_cpu_is_one_device() -> None:
    for device_id in (0, 1, 7):
        assert device_key(Option(0, device_id)) == CPU == as_device((0, device_id))
    assert device_key(None) == CPU
    assert device_key(Option(1, 3)) == (1, 3) == as_device(Option(1, 3))
    with pytest.raises(TypeError):
        as_device(1)
    with pytest.raises(TypeError):
        as_device((1, 2, 3))


def test_op_and_net_devices() -> None:
    gpu = Option(1, 1)
    assert not has_device_option(Op("Relu", [], []))
    assert op_device(Op("Relu", [], []), (1, 1)) == (1, 1)
    assert op_device(Op("Relu", [], [], Option(0, 2)), (1, 1)) == CPU
    assert net_device(Net([], gpu)) == (1, 1)
    assert net_device(Net([])) == CPU
    assert net_device([Op("Relu", [], [], gpu)]) == CPU  # ops alone: no net option


def test_protobuf_messages() -> None:
    pb = pytest.importorskip("memonger.netdef.caffe2_pb2")
    net = pb.NetDef()
    net.op.add(type="Relu", input=["x"], output=["a"])
    assert not has_device_option(net.op[0])
    net.op[0].device_option.device_type = 1
    assert has_device_option(net.op[0])
    assert op_device(net.op[0]) == (1, 0)
    net.device_option.device_id = 4  # a CPU
    assert net_device(net) == CPU


names = st.sampled_from(["x", "a", "b", "c"])
options = st.one_of(st.none(), st.builds(Option, st.integers(0, 2), st.integers(0, 2)))


def _key(option: Option | None) -> tuple[int, int]:
    if option is None or option.device_type == 0:
        return (0, 0)
    return (option.device_type, option.device_id)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Relu", "CopyGPUToCPU"]),
            st.lists(names, max_size=2),
            st.lists(names, min_size=1, max_size=2),
            options,
        ),
        max_size=6,
    ),
    options,
)
def test_blob_devices_follow_the_rule(
    ops: list[tuple[str, list[str], list[str], Option | None]], default: Option | None
) -> None:
    net = Net([Op(*op) for op in ops], default)
    got = blob_devices(net)
    for name in {n for _, i, o, _ in ops for n in (*i, *o)}:
        writers = [op for op in ops if name in op[2]]
        readers = [op for op in ops if name in op[1]]
        if writers:
            kind, _, _, option = writers[0]
            want = CPU if kind == "CopyGPUToCPU" else _key(option or default)
        else:
            want = _key(readers[0][3] or default)
        assert got[name] == want
    # netdef's module is a thin layer over this one: the same answers
    netdef = pytest.importorskip("memonger.netdef.devices")
    pb = pytest.importorskip("memonger.netdef.caffe2_pb2")
    message = pb.NetDef()
    if default is not None:
        message.device_option.CopyFrom(pb.DeviceOption(**vars(default)))
    for kind, i, o, option in ops:
        op = message.op.add(type=kind, input=i, output=o)
        if option is not None:
            op.device_option.CopyFrom(pb.DeviceOption(**vars(option)))
    reads = [op.input for op in message.op]
    writes = [op.output for op in message.op]
    assert netdef.blob_devices_of(message, reads, writes) == got


def test_one_dtype_table() -> None:
    for member in DataType:
        assert DTYPE_BY_NAME[dtype_name(member)] is member
    assert dtype_name("short") == dtype_name("SHORT") == "int16"
    assert not has_fixed_size("string")
    assert has_fixed_size("short")
    rules = pytest.importorskip("memonger.netdef.rules")
    assert {int(m): dtype_name(m) for m in DataType} == rules.DTYPE_NAMES
    for name, member in DTYPE_BY_NAME.items():  # every name and alias agrees
        assert rules.dtype_name(name) == dtype_name(member)


def test_a_short_blob_through_netdef_shape_inference() -> None:
    shapes = pytest.importorskip("memonger.netdef.shapes")
    pb = pytest.importorskip("memonger.netdef.caffe2_pb2")
    net = pb.NetDef()
    net.op.add(type="Relu", input=["x"], output=["y"])
    result = shapes.infer_shapes(net, {"x": [2, 3]}, input_types={"x": "short"})
    assert result.dtypes["y"] == "int16" == dtype_name("short")
    assert result.nbytes("y") == blob_nbytes([2, 3], "short") == 12
    assert result.blob_sizes() == {"x": 12, "y": 12}
