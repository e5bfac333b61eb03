"""The package's verifier and the harness's oracle agree on broken rewrites.

``verify_execution_equivalence`` is what ``memonger optimize`` and
``memonger verify`` trust, so it is checked against the independent oracle
on random nets and optimized nets with one change each: an input or output
renamed, or two ops swapped.  Both must call the change safe or both unsafe,
with every value a caller may fetch checked (external inputs and outputs and
final results).  The nets also hold nondeterministic ops, some with a twin
(an identical op reading the same blobs), and recurrent ops whose step nets
reference outer blobs, whose ``<blob>.rename`` arguments are checked.
"""

from __future__ import annotations

from harness_nets import Case, cases
from harness_oracle import as_text, divergence, rename_argument_problems
from hypothesis import event, given, note
from hypothesis import strategies as st

from memonger.netdef import (
    apply_assignments,
    caffe2_pb2,
    optimize_interference,
    verify_execution_equivalence,
)
from memonger.netdef.verify import CAFFE2_NONDETERMINISTIC_OPS

#: Nondeterministic types given to drawn ops, by number of inputs.
RANDOM_TYPES = {0: ["UniformFill", "GaussianFill", "XavierFill", "MSRAFill"], 1: ["Dropout"]}


@st.composite
def changed(draw: st.DrawFn, net: caffe2_pb2.NetDef) -> caffe2_pb2.NetDef:
    out = caffe2_pb2.NetDef()
    out.CopyFrom(net)
    names = sorted({b for op in net.op for b in list(op.input) + list(op.output)} | {"fresh"})
    k = draw(st.integers(0, len(out.op) - 1))
    op = out.op[k]
    kinds = ["output"] + (["input"] if op.input else []) + (["swap"] if len(out.op) > 1 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "input":
        i = draw(st.integers(0, len(op.input) - 1))
        op.input[i] = draw(st.sampled_from(names))
    elif kind == "output":
        j = draw(st.integers(0, len(op.output) - 1))
        # one op never writes a name twice (Caffe2 refuses such an op)
        op.output[j] = draw(st.sampled_from([b for b in names if b not in op.output]))
    else:
        m = draw(st.integers(0, len(out.op) - 1))
        a, b = caffe2_pb2.OperatorDef(), caffe2_pb2.OperatorDef()
        a.CopyFrom(out.op[k])
        b.CopyFrom(out.op[m])
        out.op[k].CopyFrom(b)
        out.op[m].CopyFrom(a)
    note(f"changed ({kind} at op {k}):\n{as_text(out)}")
    return out


@st.composite
def with_random_ops(draw: st.DrawFn, case: Case) -> caffe2_pb2.NetDef:
    """Some ops of ``case.net`` made nondeterministic; some of those get a twin.

    A twin is an identical op (type, name, inputs) inserted right after the
    op, writing a fresh blob; some later readers of the op's outputs read the
    twin's instead.  Merging the two outputs back is then a change.
    """
    net = caffe2_pb2.NetDef()
    net.CopyFrom(case.net)
    k = 0
    made = 0
    while k < len(net.op):
        op = net.op[k]
        choices = RANDOM_TYPES.get(len(op.input))
        if choices and len(op.output) == 1 and draw(st.booleans()):
            op.type = draw(st.sampled_from(choices))
            if draw(st.booleans()):
                twin = caffe2_pb2.OperatorDef()
                twin.CopyFrom(op)
                old = op.output[0]
                twin.output[0] = f"twin{made}"
                net.op.insert(k + 1, twin)
                for later in net.op[k + 2 :]:
                    if old in later.output:
                        break
                    later.input[:] = [
                        twin.output[0] if b == old and draw(st.booleans()) else b
                        for b in later.input
                    ]
                made += 1
                k += 1
        k += 1
    event(f"twins: {min(made, 2)}")
    note(f"with random ops:\n{as_text(net)}")
    return net


@given(cases(), st.booleans(), st.data())
def test_verifier_agrees_with_the_oracle(case: Case, optimize: bool, data: st.DataObject) -> None:
    net = data.draw(with_random_ops(case))
    assert {t for ts in RANDOM_TYPES.values() for t in ts} <= CAFFE2_NONDETERMINISTIC_OPS
    base = net
    if optimize:
        sizes = {**case.sizes, **{b: 1 for op in net.op for b in op.output}}
        sizes.update(case.sizes)
        base = optimize_interference(net, case.static, blob_sizes=sizes).net
        assert divergence(net, base) is None
    broken = data.draw(changed(base))
    ours = divergence(net, broken, keep_final_results=True)
    theirs = verify_execution_equivalence(net, broken)
    assert (ours is None) == theirs.ok, f"oracle: {ours}; verifier: {theirs.message}"


def test_the_oracle_tells_twins_apart() -> None:
    """A deliberately broken rewrite: the outputs of two Dropout twins merged into one."""
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["out"])
    net.op.add(type="Dropout", name="d", input=["x"], output=["a"])
    net.op.add(type="Dropout", name="d", input=["x"], output=["b"])
    net.op.add(type="Sum", name="s", input=["a", "b"], output=["out"])
    merged = caffe2_pb2.NetDef()
    merged.CopyFrom(net)
    merged.op[2].input[1] = "a"
    assert divergence(net, net) is None
    assert divergence(net, merged) == "s (Sum) reads ['a', 'a']: wrong values"
    assert not verify_execution_equivalence(net, merged).ok


@st.composite
def recurrent_cases(draw: st.DrawFn) -> tuple[caffe2_pb2.NetDef, caffe2_pb2.NetDef, str]:
    """A random net with a recurrent op, renamed by the planner; which blob it references."""
    case = draw(cases(static=False, control_inputs=False))
    net = case.net
    outer = sorted({b for op in net.op for b in [*op.input, *op.output]} | set(net.external_input))
    owner = draw(st.integers(0, len(net.op) - 1))
    referenced = draw(st.lists(st.sampled_from(outer), min_size=1, max_size=3, unique=True))
    step = caffe2_pb2.NetDef(name="step", external_input=referenced)
    step.op.add(type="StepOp", input=[*referenced, "local_t"], output=["out_t"])
    net.op[owner].type = "RecurrentNetwork"
    net.op[owner].arg.add(name="step_net").n.CopyFrom(step)
    blob = draw(st.sampled_from(referenced))
    note(f"recurrent net (op {owner}, references {referenced}):\n{as_text(net)}")
    return net, optimize_interference(net, [], blob_sizes=case.sizes).net, blob


@given(recurrent_cases(), st.sampled_from(["none", "drop", "extra", "wrong"]))
def test_rename_arguments_are_checked_like_the_oracle(
    drawn: tuple[caffe2_pb2.NetDef, caffe2_pb2.NetDef, str], breakage: str
) -> None:
    net, optimized, blob = drawn
    assert rename_argument_problems(net, optimized) == []
    assert verify_execution_equivalence(net, optimized).ok
    # Rename one referenced blob by hand where that keeps the meaning (its first
    # access is a plain write, it is read after the recurrent op, it is not
    # external), then break one argument.
    owner_index = next(k for k, op in enumerate(net.op) if op.type == "RecurrentNetwork")
    first: dict[str, bool] = {}
    last_is_write: dict[str, bool] = {}
    for k, op in enumerate(net.op):
        refs = list(net.op[k].arg[0].n.external_input) if k == owner_index else []
        reads = [*op.input, *refs]
        for b in [*reads, *op.output]:
            first.setdefault(b, b not in reads)
        last_is_write.update(dict.fromkeys(reads, False))
        last_is_write.update(dict.fromkeys([*op.output, *refs], True))
    externals = set(net.external_input) | set(net.external_output)
    renamable = first.get(blob) and not last_is_write.get(blob) and blob not in externals
    event(f"renamable: {bool(renamable)}")
    intact = apply_assignments(net, {blob: "moved"}) if renamable else optimized
    assert rename_argument_problems(net, intact) == []
    assert verify_execution_equivalence(net, intact).ok
    broken = caffe2_pb2.NetDef()
    broken.CopyFrom(intact)
    owner = broken.op[owner_index]
    args = [k for k, arg in enumerate(owner.arg) if arg.name.endswith(".rename")]
    if breakage == "drop" and args:
        del owner.arg[args[0]]
    elif breakage == "extra":
        owner.arg.add(name="not_referenced.rename", s=b"somewhere")
    elif breakage == "wrong" and args:
        owner.arg[args[0]].s = b"somewhere"
    oracle = rename_argument_problems(net, broken)
    result = verify_execution_equivalence(net, broken)
    event(f"{breakage}: {'broken' if oracle else 'intact'}")
    assert result.ok == (not oracle), (oracle, result.message)
    if oracle:
        assert result.op_type == "RecurrentNetwork", result.message
        assert ".rename" in result.message


def test_the_rename_oracle_catches_a_dropped_argument() -> None:
    net = caffe2_pb2.NetDef(external_input=["x", "w"], external_output=["out"])
    net.op.add(type="Relu", name="op0", input=["x"], output=["h"])
    rnn = net.op.add(type="RecurrentNetwork", name="op1", input=["x", "h"], output=["seq"])
    step = rnn.arg.add(name="step_net").n
    step.external_input.extend(["h", "w"])
    step.op.add(type="Add", input=["h", "w"], output=["seq"])
    net.op.add(type="Sum", name="op2", input=["seq", "h"], output=["out"])
    renamed = apply_assignments(net, {"h": "buf"})
    assert rename_argument_problems(net, renamed) == []
    dropped = caffe2_pb2.NetDef()
    dropped.CopyFrom(renamed)
    del dropped.op[1].arg[1]
    assert rename_argument_problems(net, dropped) == ["op1: 'h' became 'buf', argument None"]
    assert not verify_execution_equivalence(net, dropped).ok
