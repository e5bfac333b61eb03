"""estimate_memory_usage against an independent simulation, on duck-typed nets."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memonger.stats import (
    MemoryEstimate,
    MissingSizeError,
    StatsError,
    estimate_memory_usage,
    renamed_sizes,
)


@dataclass
class Device:
    device_type: int = 0
    device_id: int = 0


@dataclass
class Op:
    """Protobuf-like op: an unset device_option reads as a default message."""

    type: str
    input: list[str]
    output: list[str]
    device: Device | None = None

    @property
    def device_option(self) -> Device:
        return self.device if self.device is not None else Device()

    def HasField(self, name: str) -> bool:
        if name != "device_option":
            raise ValueError(name)
        return self.device is not None


@dataclass
class Net:
    op: list[Op]
    external_input: list[str] = field(default_factory=list)
    external_output: list[str] = field(default_factory=list)
    device: Device | None = None

    @property
    def device_option(self) -> Device:
        return self.device if self.device is not None else Device()

    def HasField(self, name: str) -> bool:
        if name != "device_option":
            raise ValueError(name)
        return self.device is not None


def key(device: Device | tuple[int, int] | None) -> tuple[int, int]:
    """Design 3.2: absent is the CPU, and every CPU is one device whatever its id."""
    if device is None:
        return (0, 0)
    if isinstance(device, tuple):
        device = Device(*device)
    return (0, 0) if device.device_type == 0 else (device.device_type, device.device_id)


def oracle(
    nets: list[Net], sizes: dict[str, int], scope: tuple[int, int]
) -> tuple[int, int, dict[str, int]]:
    """Straightforward simulation written from the specification.

    A blob is in one of three states: absent, "counted" (allocated by the run)
    or "external" (exists, not counted: inputs and aliases).
    """
    scope = key(scope)
    state: dict[str, str] = {}
    written: set[str] = set()
    now = high = total = 0
    by_type: dict[str, int] = {}
    for net in nets:
        net_dev = key(net.device)
        for b in net.external_input:
            if b not in state and b not in written:
                state[b] = "external"
        for op in net.op:
            if op.type in ("Free", "Alias"):
                for b in op.output:
                    if state.get(b) == "counted":
                        now -= sizes[b]
                    if op.type == "Free":
                        state.pop(b, None)
                    else:
                        state[b] = "external"
                continue
            dev = key(op.device) if op.device else net_dev
            if dev != scope:
                continue
            for b in op.input:
                if b not in state and b not in written:
                    state[b] = "external"
            for b in op.output:
                written.add(b)
                if b in state:
                    continue
                state[b] = "counted"
                now += sizes[b]
                total += sizes[b]
                high = max(high, now)
                by_type[op.type] = by_type.get(op.type, 0) + sizes[b]
    return total, high, by_type


BLOBS = [f"b{i}" for i in range(10)]
DEVICES = [None, Device(0, 0), Device(1, 0), Device(1, 1), Device(0, 1)]


def release_blobs(net: Net) -> Net:
    """Insert a Free after the last use of every blob that is not external."""
    keep = set(net.external_input) | set(net.external_output)
    last: dict[str, int] = {}
    for i, op in enumerate(net.op):
        for b in [*op.input, *op.output]:
            last[b] = i
    ops: list[Op] = []
    for i, op in enumerate(net.op):
        ops.append(op)
        for b in sorted({b for b in [*op.input, *op.output] if last[b] == i and b not in keep}):
            ops.append(Op("Free", [b], [b], op.device))
    return Net(ops, list(net.external_input), list(net.external_output), net.device)


@st.composite
def nets_strategy(draw: st.DrawFn) -> Net:
    n_ops = draw(st.integers(0, 14))
    ops = []
    for _ in range(n_ops):
        kind = draw(st.sampled_from(["Conv", "Relu", "FC", "Relu", "Free", "Alias"]))
        inputs = draw(st.lists(st.sampled_from(BLOBS), max_size=3))
        outputs = draw(st.lists(st.sampled_from(BLOBS), min_size=1, max_size=2, unique=True))
        if kind == "Free":
            inputs = list(outputs)
        ops.append(Op(kind, inputs, outputs, draw(st.sampled_from(DEVICES))))
    external = draw(st.lists(st.sampled_from(BLOBS), max_size=3, unique=True))
    outputs = draw(st.lists(st.sampled_from(BLOBS), max_size=2, unique=True))
    net = Net(ops, external, outputs, draw(st.sampled_from(DEVICES)))
    return release_blobs(net) if draw(st.booleans()) else net


def snapshot(obj: Any) -> Any:
    if isinstance(obj, Net):
        return (
            "net",
            [snapshot(o) for o in obj.op],
            list(obj.external_input),
            list(obj.external_output),
            snapshot(obj.device),
        )
    if isinstance(obj, Op):
        return ("op", obj.type, list(obj.input), list(obj.output), snapshot(obj.device))
    if isinstance(obj, Device):
        return ("dev", obj.device_type, obj.device_id)
    return obj


@given(
    st.lists(nets_strategy(), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(BLOBS), st.integers(0, 1000), min_size=len(BLOBS)),
    st.sampled_from([(0, 0), (1, 0), (1, 1), (0, 1)]),
)
def test_matches_oracle_and_never_mutates(
    nets: list[Net], sizes: dict[str, int], scope: tuple[int, int]
) -> None:
    before = [snapshot(n) for n in nets]
    frozen = copy.deepcopy(nets)
    shapes = {b: [s] for b, s in sizes.items()}
    types = dict.fromkeys(sizes, "int8")
    expected = oracle(frozen, sizes, scope)
    got = estimate_memory_usage(nets, shapes, types, Device(*scope))
    assert tuple(got) == expected
    assert list(got.by_op_type.items()) == list(expected[2].items())
    assert got.highwater <= got.total
    assert sum(got.by_op_type.values()) == got.total
    # The same through explicit sizes, a (type, id) scope, and a callable.
    assert estimate_memory_usage(nets, None, None, scope, sizes=sizes) == got
    assert estimate_memory_usage(nets, sizes=sizes.__getitem__, devicescope=scope) == got
    assert [snapshot(n) for n in nets] == before
    assert nets == frozen


@given(
    nets_strategy(),
    st.dictionaries(st.sampled_from(BLOBS), st.integers(0, 100), min_size=len(BLOBS)),
)
def test_filtering_other_devices_changes_nothing(net: Net, sizes: dict[str, int]) -> None:
    scope = (1, 0)
    kept = [
        op for op in net.op if op.type in ("Free", "Alias") or key(op.device or net.device) == scope
    ]
    filtered = Net(kept, net.external_input, net.external_output, net.device)
    assert estimate_memory_usage(net, sizes=sizes, devicescope=scope) == estimate_memory_usage(
        filtered, sizes=sizes, devicescope=scope
    )


def test_hand_computed() -> None:
    ops = [
        Op("Conv", ["data", "w"], ["a"]),  # +100
        Op("Relu", ["a"], ["a"]),  # in place: nothing
        Op("FC", ["a"], ["b"]),  # +10  -> 110
        Op("Free", ["a"], ["a"]),  # -100 -> 10
        Op("Relu", ["b"], ["c"]),  # +50 -> 60
        Op("Conv", ["c"], ["a"]),  # a written again: +100 -> 160
        Op("Relu", ["w"], ["w"]),  # an input written in place: not counted
    ]
    net = Net(ops, ["data", "w"], ["a"])
    sizes = {"data": 1000, "w": 7, "a": 100, "b": 10, "c": 50}
    total, high, by_type = estimate_memory_usage([net], sizes=sizes)
    assert (total, high) == (260, 160)
    assert by_type == {"Conv": 200, "FC": 10, "Relu": 50}
    assert isinstance(estimate_memory_usage(net, sizes=sizes), MemoryEstimate)


def test_alias_and_devices() -> None:
    gpu = Device(1, 0)
    ops = [
        Op("Relu", ["x"], ["a"], gpu),
        Op("Alias", ["a"], ["v"], gpu),  # v shares a's memory
        Op("Relu", ["a"], ["v"], gpu),  # writing the view allocates nothing
        Op("Relu", ["a"], ["c"]),  # CPU op: not on the GPU scope
        Op("Free", ["a"], ["a"]),  # Free has no device: applies everywhere
    ]
    sizes = {"x": 1, "a": 8, "v": 8, "c": 4}
    assert tuple(estimate_memory_usage(Net(ops), sizes=sizes, devicescope=gpu)) == (
        8,
        8,
        {"Relu": 8},
    )
    assert tuple(estimate_memory_usage(Net(ops), sizes=sizes)) == (4, 4, {"Relu": 4})
    # An op without a DeviceOption inherits its net's.
    net = Net([Op("Relu", ["x"], ["a"])], device=gpu)
    assert estimate_memory_usage(net, sizes=sizes, devicescope=(1, 0)).total == 8
    assert estimate_memory_usage(net, sizes=sizes).total == 0


def test_several_nets_share_state() -> None:
    init = Net([Op("Fill", [], ["w"])])
    main = Net([Op("Relu", ["w"], ["w"]), Op("FC", ["x", "w"], ["y"])], ["x", "w"])
    sizes = {"w": 40, "x": 1, "y": 2}
    assert tuple(estimate_memory_usage([init, main], sizes=sizes)) == (
        42,
        42,
        {"Fill": 40, "FC": 2},
    )


def test_renamed_net() -> None:
    original = Net(
        [Op("Relu", ["x"], ["a"]), Op("Relu", ["a"], ["b"]), Op("Relu", ["b"], ["c"])], ["x"], ["c"]
    )
    sizes = {"x": 1, "a": 10, "b": 20, "c": 5}
    renamed = Net(
        [Op("Relu", ["x"], ["buf"]), Op("Relu", ["buf"], ["b"]), Op("Relu", ["b"], ["buf"])],
        ["x"],
        ["buf"],
    )
    buffer_sizes = renamed_sizes(sizes, {"a": "buf", "c": "buf"})
    assert buffer_sizes == {"x": 1, "b": 20, "buf": 10}
    assert estimate_memory_usage(original, sizes=sizes)[:2] == (35, 35)
    assert estimate_memory_usage(renamed, sizes=buffer_sizes)[:2] == (30, 30)


def test_unknown_sizes() -> None:
    net = Net([Op("Relu", ["x"], ["a"]), Op("Relu", ["a"], ["b"])], ["x"])
    with pytest.raises(MissingSizeError, match="'b'"):
        estimate_memory_usage(net, {"a": [3]}, None, None)
    assert estimate_memory_usage(net, {"a": [3]}, None, None, unknown="zero").total == 12
    with pytest.raises(StatsError, match="shapes or sizes"):
        estimate_memory_usage(net)
    with pytest.raises(TypeError, match="devicescope"):
        estimate_memory_usage(net, {"a": [3], "b": [1]}, None, 1)
    with pytest.raises(ValueError, match="unknown"):
        estimate_memory_usage(net, {}, unknown="warn")  # type: ignore[arg-type]


def test_a_cpu_with_device_id_1_is_the_cpu() -> None:
    # `memonger stats` on such a net used to estimate 0 bytes
    cpu1 = Device(0, 1)
    net = Net([Op("Relu", ["x"], ["a"], cpu1), Op("Relu", ["a"], ["b"], cpu1)], ["x"])
    sizes = {"x": 4, "a": 8, "b": 16}
    assert tuple(estimate_memory_usage(net, sizes=sizes)) == (24, 24, {"Relu": 24})
    assert estimate_memory_usage(net, sizes=sizes, devicescope=Device(0, 3)).total == 24
    assert estimate_memory_usage(net, sizes=sizes, devicescope=(0, 1)).total == 24
    on_cpu1 = Net(net.op, ["x"], device=cpu1)
    plain = Net([Op("Relu", ["x"], ["a"]), Op("Relu", ["a"], ["b"])], ["x"], device=cpu1)
    assert estimate_memory_usage(on_cpu1, sizes=sizes) == estimate_memory_usage(plain, sizes=sizes)
    assert estimate_memory_usage(net, sizes=sizes, devicescope=(1, 0)).total == 0


@dataclass
class ViewOp:
    type: str
    input: list[str]
    output: list[str]
    views: tuple[tuple[int, int], ...] = ()


def test_declared_views_allocate_nothing() -> None:
    ops = [
        ViewOp("Relu", ["x"], ["a"]),
        ViewOp("Reshape", ["a"], ["v"], ((0, 0),)),
        ViewOp("Relu", ["v"], ["y"]),
    ]
    sizes = {"x": 4, "a": 8, "v": 8, "y": 2}
    assert tuple(estimate_memory_usage(ops, sizes=sizes)) == (10, 10, {"Relu": 10})
    # the same through a views= callable, on ops without the attribute
    plain = [Op(o.type, o.input, o.output) for o in ops]
    assert estimate_memory_usage(plain, sizes=sizes).total == 18
    got = estimate_memory_usage(
        plain, sizes=sizes, views=lambda op: [(0, 0)] if op.type == "Reshape" else []
    )
    assert got.total == 10
    # None is an unknown size: one byte, memonger's policy
    assert estimate_memory_usage(ops, sizes={**sizes, "y": None}).total == 9


def test_real_protobuf_netdef_is_not_mutated() -> None:
    pb = pytest.importorskip("memonger.netdef.caffe2_pb2")
    net = pb.NetDef()
    net.external_input.append("x")
    op = net.op.add(type="Relu", input=["x"], output=["a"])
    op = net.op.add(type="Relu", input=["a"], output=["b"])
    op.device_option.device_type = 1
    net.op.add(type="Free", input=["a"], output=["a"])
    data = net.SerializeToString()
    sizes = {"x": 1, "a": 4, "b": 8}
    assert tuple(estimate_memory_usage([net], sizes=sizes)) == (4, 4, {"Relu": 4})
    gpu = pb.DeviceOption(device_type=1)
    assert tuple(estimate_memory_usage([net], sizes=sizes, devicescope=gpu)) == (8, 8, {"Relu": 8})
    assert net.SerializeToString() == data
