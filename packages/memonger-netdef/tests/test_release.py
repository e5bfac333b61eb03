"""Tests of memonger.netdef.release: release_blobs_when_used."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memonger.netdef import caffe2_pb2
from memonger.netdef.nested import outer_references
from memonger.netdef.release import release_blobs_when_used

FREED = ("freed",)


def _outer(net: caffe2_pb2.NetDef) -> set[str]:
    names = set(net.external_input)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
        names.update(op.control_input)
    return names


def run(net: caffe2_pb2.NetDef) -> tuple[list[Any], dict[str, Any], dict[str, int]]:
    """Symbolic run that understands Free: reading a freed blob fails.

    Returns what each non-Free op read, the final state and how many times
    each blob was freed.
    """
    outer = _outer(net)
    state: dict[str, Any] = {}
    reads_log: list[Any] = []
    frees: dict[str, int] = {}
    for i, op in enumerate(net.op):
        if op.type == "Free":
            assert list(op.input) == list(op.output)
            for b in op.input:
                assert state.get(b) != FREED, f"{b} freed twice in a row at op {i}"
                state[b] = FREED
                frees[b] = frees.get(b, 0) + 1
            continue
        touched = [*op.input, *op.control_input, *outer_references(op, outer)]
        for b in touched:
            assert state.get(b) != FREED, f"op {i} ({op.type}) reads freed blob {b}"
        reads = tuple(state.get(b, ("in", b)) for b in op.input)
        reads_log.append((op.type, reads))
        for pos, b in enumerate(op.output):
            state[b] = (len(reads_log), pos, reads)
    return reads_log, state, frees


def final_results(net: caffe2_pb2.NetDef) -> set[str]:
    """Blobs whose last access (an input or output of an op) is a write."""
    last_is_write: dict[str, bool] = {}
    outer = _outer(net)
    for op in net.op:
        refs = outer_references(op, outer)
        for b in (*op.input, *refs):
            last_is_write[b] = False
        for b in (*op.output, *refs):
            last_is_write[b] = True
    return {b for b, written in last_is_write.items() if written}


def assert_release_is_safe(net: caffe2_pb2.NetDef, released: caffe2_pb2.NetDef) -> dict[str, int]:
    reads_a, _, _ = run(net)
    without_free = caffe2_pb2.NetDef()
    without_free.CopyFrom(released)
    del without_free.op[:]
    without_free.op.extend(op for op in released.op if op.type != "Free")
    assert without_free.SerializeToString() == net.SerializeToString()
    reads_b, state_b, frees = run(released)
    assert reads_a == reads_b
    for b in net.external_output:
        assert state_b.get(b) != FREED
    # every final result (no op reads it after its last write) keeps its value
    _, state_a, _ = run(net)
    for b in final_results(net):
        assert state_b.get(b) == state_a.get(b), f"final value of {b} lost"
    assert all(count == 1 for count in frees.values()), frees
    return frees


def spec_net() -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    net.op.add(type="FC", input=["data"], output=["x"])
    net.op.add(type="FC", input=["x"], output=["y"])
    net.op.add(type="FC", input=["x"], output=["z"])
    net.op.add(type="FC", input=["y"], output=["u"])
    net.op.add(type="Alias", input=["u"], output=["u_alias"])
    net.op.add(type="Sum", input=["z", "u"], output=["out"])
    return net


def layout(net: caffe2_pb2.NetDef) -> list[str]:
    return [
        f"Free({op.input[0]})" if op.type == "Free" else f"{op.type}->{','.join(op.output)}"
        for op in net.op
    ]


def test_frees_exactly_x_y_z_after_their_last_use() -> None:
    net = spec_net()
    before = net.SerializeToString()
    released = release_blobs_when_used(net, set())
    assert net.SerializeToString() == before
    assert layout(released) == [
        "FC->x",
        "FC->y",
        "FC->z",
        "Free(x)",
        "FC->u",
        "Free(y)",
        "Alias->u_alias",
        "Sum->out",
        "Free(z)",
    ]
    frees = assert_release_is_safe(net, released)
    assert frees == {"x": 1, "y": 1, "z": 1}


def test_free_op_form() -> None:
    released = release_blobs_when_used(spec_net(), set())
    free = next(op for op in released.op if op.type == "Free")
    assert list(free.input) == ["x"]
    assert list(free.output) == ["x"]


def test_dont_free_blobs_and_selector() -> None:
    released = release_blobs_when_used(spec_net(), ["y"], selector_fun=lambda b: b != "z")
    assert [op.input[0] for op in released.op if op.type == "Free"] == ["x"]


def test_dont_free_none_means_empty() -> None:
    released = release_blobs_when_used(spec_net(), None)
    assert [op.input[0] for op in released.op if op.type == "Free"] == ["x", "y", "z"]


@pytest.mark.parametrize("names", ["x", b"x"])
def test_string_dont_free_blobs_is_refused(names: Any) -> None:
    with pytest.raises(TypeError, match="not a string"):
        release_blobs_when_used(spec_net(), names)


def test_blob_written_again_after_a_read() -> None:
    net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    net.op.add(type="FC", input=["data"], output=["x"])
    net.op.add(type="Relu", input=["x"], output=["y"])
    net.op.add(type="Relu", input=["y"], output=["x"])  # x written again
    net.op.add(type="Sum", input=["x", "data"], output=["w"])
    net.op.add(type="Sum", input=["w", "y"], output=["out"])
    released = release_blobs_when_used(net, set())
    assert layout(released) == [
        "FC->x",
        "Relu->y",
        "Relu->x",
        "Sum->w",
        "Free(x)",
        "Sum->out",
        "Free(w)",
        "Free(y)",
    ]
    assert_release_is_safe(net, released)


def test_a_value_written_after_the_last_read_is_kept() -> None:
    # x is written again after its last read: a caller may fetch that value
    net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    net.op.add(type="FC", input=["data"], output=["x"])
    net.op.add(type="Relu", input=["x"], output=["out"])
    net.op.add(type="ConstantFill", input=[], output=["x"])
    released = release_blobs_when_used(net, set())
    assert layout(released) == ["FC->x", "Relu->out", "ConstantFill->x"]
    assert_release_is_safe(net, released)


def test_inplace_op_is_last_access() -> None:
    # the in-place Relu writes x last: its result is a final value, kept
    net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    net.op.add(type="FC", input=["data"], output=["x"])
    net.op.add(type="Relu", input=["x"], output=["out"])
    net.op.add(type="Relu", input=["x"], output=["x"])
    net.op.add(type="Relu", input=["data"], output=["t"])
    net.op.add(type="Sum", input=["t", "out"], output=["u"])
    released = release_blobs_when_used(net, set())
    assert layout(released) == ["FC->x", "Relu->out", "Relu->x", "Relu->t", "Sum->u", "Free(t)"]
    assert_release_is_safe(net, released)


def test_blob_referenced_from_a_nested_net() -> None:
    # an op owning a nested net reads and writes the outer blobs it references
    net = caffe2_pb2.NetDef(external_input=["data", "cond"], external_output=["out", "z"])
    net.op.add(type="FC", input=["data"], output=["x"])
    net.op.add(type="Relu", input=["x"], output=["y"])
    op = net.op.add(type="If", input=["cond"], output=["out"])
    op.arg.add(name="then_net").n.op.add(type="Copy", input=["x"], output=["out"])
    op.arg.add(name="else_net").n.op.add(type="Copy", input=["y"], output=["out"])
    net.op.add(type="Sum", input=["x", "y"], output=["z"])
    released = release_blobs_when_used(net, set())
    assert layout(released) == ["FC->x", "Relu->y", "If->out", "Sum->z", "Free(x)", "Free(y)"]
    assert_release_is_safe(net, released)
    # read last through the nested net only, they are written there too: kept
    del net.op[-1]
    del net.external_output[-1]
    assert layout(release_blobs_when_used(net, set())) == ["FC->x", "Relu->y", "If->out"]


def test_control_input_counts_as_an_access() -> None:
    net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    net.op.add(type="FC", input=["data"], output=["x"])
    net.op.add(type="Relu", input=["x"], output=["y"])
    net.op.add(type="Relu", input=["y"], output=["out"], control_input=["x"])
    released = release_blobs_when_used(net, set())
    assert layout(released) == ["FC->x", "Relu->y", "Relu->out", "Free(y)", "Free(x)"]


def test_inputs_outputs_and_unread_blobs_are_not_freed() -> None:
    net = caffe2_pb2.NetDef(external_input=["data"], external_output=["out"])
    net.op.add(type="Relu", input=["data"], output=["data"])  # overwrites an input
    net.op.add(type="Relu", input=["w"], output=["a"])  # w comes from outside
    net.op.add(type="Sum", input=["a", "data"], output=["out", "unread"])
    released = release_blobs_when_used(net, set())
    assert [op.input[0] for op in released.op if op.type == "Free"] == ["a"]


def test_twice_never_frees_twice() -> None:
    once = release_blobs_when_used(spec_net(), set())
    twice = release_blobs_when_used(once, set())
    assert twice.SerializeToString() == once.SerializeToString()


def test_accepts_objects_with_proto() -> None:
    class Wrapper:
        def Proto(self) -> caffe2_pb2.NetDef:
            return spec_net()

    assert layout(release_blobs_when_used(Wrapper(), set())) == layout(
        release_blobs_when_used(spec_net(), set())
    )


@st.composite
def random_netdefs(draw: st.DrawFn) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=["in0", "in1"])
    readable = ["in0", "in1"]
    produced: list[str] = []
    for _ in range(draw(st.integers(1, 15))):
        ins = draw(st.lists(st.sampled_from(readable), min_size=0, max_size=3))
        rewrite: bool = draw(st.booleans())
        if produced and rewrite:
            out = draw(st.sampled_from(produced))
        else:
            out = f"b{len(produced)}"
            produced.append(out)
            readable.append(out)
        op_type = draw(st.sampled_from(["Op", "Op", "Op", "Alias"])) if ins else "Op"
        net.op.add(type=op_type, input=ins, output=[out])
    net.external_output.extend(draw(st.lists(st.sampled_from(produced), unique=True, max_size=2)))
    return net


@settings(deadline=None)
@given(net=random_netdefs(), dont_free=st.sets(st.sampled_from(["b0", "b1", "b2", "b3"])))
def test_random_nets_free_safely_and_promptly(net: caffe2_pb2.NetDef, dont_free: set[str]) -> None:
    released = release_blobs_when_used(net, dont_free)
    frees = assert_release_is_safe(net, released)
    aliased = {b for op in net.op if op.type == "Alias" for b in [*op.input, *op.output]}
    assert not frees.keys() & (dont_free | aliased | set(net.external_output))
    # each Free comes right after the blob's last access (only Frees in between)
    for i, op in enumerate(released.op):
        if op.type != "Free":
            continue
        b = op.input[0]
        later = [o for o in released.op[i + 1 :] if o.type != "Free"]
        assert all(b not in o.input and b not in o.output for o in later)
        j = i - 1
        while released.op[j].type == "Free":
            j -= 1
        prev = released.op[j]
        assert b in prev.input or b in prev.output
    # every produced, read, freeable blob is freed
    first_seen: dict[str, bool] = {}
    read: set[str] = set()
    for op in net.op:
        for b in op.input:
            first_seen.setdefault(b, False)
            read.add(b)
        for b in op.output:
            first_seen.setdefault(b, True)
    expected = {
        b
        for b, produced in first_seen.items()
        if produced
        and b in read
        and b not in final_results(net)  # a value written after the last read is kept
        and b not in dont_free | aliased | set(net.external_output)
    }
    assert set(frees) == expected
