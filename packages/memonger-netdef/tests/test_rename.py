"""Tests of memonger.netdef.rename: renaming blobs in nets and nested nets."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import (
    LifetimeOverlapError,
    NameCollisionError,
    NestedNetError,
    NetDefError,
)
from memonger.netdef.nested import parse_text_net
from memonger.netdef.rename import (
    apply_assignments,
    apply_recurrent_blob_assignments,
    as_netdef,
)


def chain_net() -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(name="chain", external_input=["x"], external_output=["z"])
    net.op.add(type="Relu", input=["x"], output=["a"])
    net.op.add(type="Relu", input=["a"], output=["b"], control_input=["a"])
    net.op.add(type="Relu", input=["b"], output=["c"])
    net.op.add(type="Sum", input=["c", "b"], output=["z"])
    return net


def step_net() -> caffe2_pb2.NetDef:
    step = caffe2_pb2.NetDef(name="step", external_input=["a", "W", "h_prev"])
    step.external_output.append("a")
    step.op.add(type="FC", input=["h_prev", "W", "a"], output=["h_t"])
    step.op.add(type="Copy", input=["h_t"], output=["a"])
    return step


def recurrent_net(form: str) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=["x", "W"], external_output=["out"])
    net.op.add(type="Relu", input=["x"], output=["a"])
    op = net.op.add(type="RecurrentNetwork", input=["a", "W"], output=["h"])
    arg = op.arg.add(name="step_net")
    if form == "n":
        arg.n.CopyFrom(step_net())
    else:
        arg.s = text_format.MessageToString(step_net()).encode()
    op.arg.add(name="timestep", s=b"t")
    net.op.add(type="Relu", input=["h"], output=["out"])
    return net


def step_of(op: caffe2_pb2.OperatorDef, form: str) -> caffe2_pb2.NetDef:
    arg = next(a for a in op.arg if a.name == "step_net")
    return arg.n if form == "n" else parse_text_net(arg.s)


def test_renames_inputs_outputs_and_control_inputs() -> None:
    net = chain_net()
    renamed = apply_assignments(net, {"a": "c", "c": "c"})
    assert [list(op.input) for op in renamed.op] == [["x"], ["c"], ["b"], ["c", "b"]]
    assert [list(op.output) for op in renamed.op] == [["c"], ["b"], ["c"], ["z"]]
    assert list(renamed.op[1].control_input) == ["c"]
    assert list(renamed.external_input) == ["x"]
    assert list(renamed.external_output) == ["z"]


def test_does_not_modify_the_net() -> None:
    net = recurrent_net("n")
    before = net.SerializeToString()
    apply_assignments(net, {"a": "p", "h": "q"})
    assert net.SerializeToString() == before


def test_empty_mapping_is_identity() -> None:
    net = recurrent_net("s")
    assert apply_assignments(net, {}).SerializeToString() == net.SerializeToString()


@pytest.mark.parametrize("blob", ["x", "z"])
def test_renaming_an_external_blob_is_refused(blob: str) -> None:
    with pytest.raises(NameCollisionError, match=repr(blob)):
        apply_assignments(chain_net(), {blob: "b"})


@pytest.mark.parametrize("target", ["x", "z"])
def test_renaming_onto_an_external_blob_is_refused(target: str) -> None:
    with pytest.raises(NameCollisionError, match=repr(target)):
        apply_assignments(chain_net(), {"a": target})


def test_accepts_objects_with_proto() -> None:
    class Wrapper:
        def Proto(self) -> caffe2_pb2.NetDef:
            return chain_net()

    renamed = apply_assignments(Wrapper(), {"a": "c"})
    assert list(renamed.op[0].output) == ["c"]


def test_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="NetDef"):
        as_netdef(["not", "a", "net"])


@pytest.mark.parametrize("form", ["n", "s"])
def test_recurrent_step_net_renamed_consistently(form: str) -> None:
    net = recurrent_net(form)
    renamed = apply_assignments(net, {"a": "p", "h": "q"})
    op = renamed.op[1]
    assert list(op.input) == ["p", "W"]
    assert list(op.output) == ["q"]
    step = step_of(op, form)
    assert list(step.external_input) == ["p", "W", "h_prev"]
    assert list(step.external_output) == ["p"]
    assert list(step.op[0].input) == ["h_prev", "W", "p"]
    assert list(step.op[1].output) == ["p"]
    renames = {a.name: a.s for a in op.arg if a.name.endswith(".rename")}
    assert renames == {"a.rename": b"p", "h.rename": b"q"}
    # the step net of the original is untouched
    assert list(step_of(net.op[1], form).external_input) == ["a", "W", "h_prev"]


def test_recurrent_rename_args_are_not_duplicated() -> None:
    once = apply_assignments(recurrent_net("n"), {"a": "p", "h": "h"})
    twice = apply_assignments(once, {"h": "h"})
    names = [a.name for a in twice.op[1].arg]
    assert names.count("h.rename") == 1


def test_rename_arg_for_blob_referenced_only_by_step_net() -> None:
    net = recurrent_net("n")
    net.op[1].ClearField("input")
    net.op[1].input.append("x")
    renamed = apply_assignments(net, {"a": "q"})
    renames = {a.name: a.s for a in renamed.op[1].arg if a.name.endswith(".rename")}
    assert renames == {"a.rename": b"q"}


def test_if_nets_renamed_without_rename_args() -> None:
    net = caffe2_pb2.NetDef(external_input=["cond", "x"], external_output=["y"])
    net.op.add(type="Relu", input=["x"], output=["a"])
    op = net.op.add(type="If", input=["cond"], output=["y"])
    then_net = op.arg.add(name="then_net").n
    then_net.op.add(type="Copy", input=["a"], output=["y"])
    else_net = op.arg.add(name="else_net").n
    else_net.external_input.append("a")
    else_net.op.add(type="Relu", input=["a"], output=["y"])
    renamed = apply_assignments(net, {"a": "b"})
    op = renamed.op[1]
    assert list(op.arg[0].n.op[0].input) == ["b"]
    assert list(op.arg[1].n.op[0].input) == ["b"]
    assert list(op.arg[1].n.external_input) == ["b"]
    assert not any(a.name.endswith(".rename") for a in op.arg)


def test_nested_nets_list_and_deeper_nesting() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"])
    op = net.op.add(type="Do", input=["x"], output=["y"])
    inner = op.arg.add(name="nets").nets.add()
    inner_op = inner.op.add(type="If", input=["x"], output=["y"])
    inner_op.arg.add(name="then_net").n.op.add(type="Copy", input=["x"], output=["y"])
    renamed = apply_assignments(net, {"y": "k"})
    inner = renamed.op[0].arg[0].nets[0]
    assert list(inner.op[0].output) == ["k"]
    assert list(inner.op[0].arg[0].n.op[0].output) == ["k"]


@pytest.mark.parametrize("form", ["n", "s"])
def test_apply_recurrent_blob_assignments(form: str) -> None:
    net = recurrent_net(form)
    op = net.op[1]
    before = op.SerializeToString()
    mapping = {"a": "h", "h": "h"}
    new = apply_recurrent_blob_assignments(op, mapping, lambda b: mapping.get(b, b))
    assert op.SerializeToString() == before
    # the op's own blobs are left to apply_assignments, as in Caffe2
    assert list(new.input) == ["a", "W"]
    step = step_of(new, form)
    assert list(step.external_input) == ["h", "W", "h_prev"]
    assert list(step.op[0].input) == ["h_prev", "W", "h"]
    renames = [(a.name, a.s) for a in new.arg if a.name.endswith(".rename")]
    assert renames == [("a.rename", b"h"), ("h.rename", b"h")]


def test_apply_recurrent_uses_canonical_name() -> None:
    op = recurrent_net("n").op[1]
    new = apply_recurrent_blob_assignments(op, {"W": "ignored"}, lambda b: "V")
    assert list(step_of(new, "n").op[0].input) == ["h_prev", "V", "a"]
    assert [(a.name, a.s) for a in new.arg if a.name.endswith(".rename")] == [("W.rename", b"V")]


# ---------------------------------------------------------------------------
# Text-form nested nets with fields the schema does not know
# ---------------------------------------------------------------------------


def _text_step_with_unknown_field() -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=["x", "W"], external_output=["out"])
    net.op.add(type="Relu", input=["x"], output=["a"])
    op = net.op.add(type="RecurrentNetwork", name="rnn", input=["a", "W"], output=["h"])
    text = text_format.MessageToString(step_net()) + "future_field: 7\n"
    op.arg.add(name="step_net", s=text.encode())
    net.op.add(type="Relu", input=["h"], output=["out"])
    return net


def test_text_form_nested_net_with_an_unknown_field_is_refused_naming_the_op() -> None:
    net = _text_step_with_unknown_field()
    with pytest.raises(NestedNetError, match=r"'rnn'.*'step_net'.*future_field"):
        apply_assignments(net, {"a": "p"})


def test_text_form_nested_net_with_an_unknown_field_is_kept_when_not_renamed() -> None:
    net = _text_step_with_unknown_field()
    renamed = apply_assignments(net, {"out": "out", "h": "q"})
    assert b"future_field: 7" in renamed.op[1].arg[0].s


def test_binary_form_nested_net_keeps_unknown_fields() -> None:
    net = recurrent_net("n")
    step = net.op[1].arg[0].n
    # field 99 is unknown to the schema: varint 5
    step.MergeFromString(bytes([99 << 3 & 0x7F | 0x80, 99 >> 4, 5]))
    renamed = apply_assignments(net, {"a": "p"})
    assert renamed.op[1].arg[0].n.SerializeToString().endswith(bytes([0x98, 0x06, 5]))


# ---------------------------------------------------------------------------
# Merging blobs whose storage is live at the same time
# ---------------------------------------------------------------------------


def test_merging_two_blobs_live_at_once_is_refused_naming_both() -> None:
    # b is read by op 3 while c is written by op 2: they are live together
    with pytest.raises(LifetimeOverlapError, match=r"'b' and 'c'") as info:
        apply_assignments(chain_net(), {"b": "c"})
    assert isinstance(info.value, NetDefError)
    assert isinstance(info.value, NameCollisionError)


def test_merging_into_a_fresh_name_is_checked_too() -> None:
    with pytest.raises(LifetimeOverlapError, match=r"'a' and 'b'.*'m'"):
        apply_assignments(chain_net(), {"a": "m", "b": "m"})


def test_an_in_place_merge_is_refused() -> None:
    # op 1 reads a and writes b: one buffer would be read and written at once
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["z"])
    net.op.add(type="Relu", input=["x"], output=["a"])
    net.op.add(type="Relu", input=["a"], output=["b"])
    net.op.add(type="Relu", input=["b"], output=["z"])
    with pytest.raises(LifetimeOverlapError):
        apply_assignments(net, {"a": "b"})


def test_a_final_result_is_live_to_the_end() -> None:
    # t is never read after its write: a caller may fetch it, so nothing takes its name
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["z"])
    net.op.add(type="Relu", input=["x"], output=["t"])
    net.op.add(type="Relu", input=["x"], output=["a"])
    net.op.add(type="Relu", input=["a"], output=["z"])
    with pytest.raises(LifetimeOverlapError, match="'t' and 'a'"):
        apply_assignments(net, {"a": "t"})


def test_disjoint_lifetimes_and_views_of_one_storage_may_share() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["z"])
    net.op.add(type="Relu", input=["x"], output=["a"])
    net.op.add(type="Alias", input=["a"], output=["v"])
    net.op.add(type="Relu", input=["v"], output=["b"])
    net.op.add(type="Relu", input=["b"], output=["c"])
    net.op.add(type="Relu", input=["c"], output=["z"])
    renamed = apply_assignments(net, {"c": "a", "v": "a"})
    assert [list(op.output) for op in renamed.op] == [["a"], ["a"], ["b"], ["a"], ["z"]]
