"""The package's verifier and the harness's oracle agree on broken rewrites.

``verify_execution_equivalence`` is what ``memonger optimize`` and
``memonger verify`` trust, so it is checked against the independent oracle
on random nets and optimized nets with one change each: an input or output
renamed, or two ops swapped.  Both must call the change safe or both unsafe.
"""

from __future__ import annotations

from harness_nets import Case, cases
from harness_oracle import as_text, divergence
from hypothesis import given, note
from hypothesis import strategies as st

from memonger.netdef import caffe2_pb2, optimize_interference, verify_execution_equivalence


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


@given(cases(), st.booleans(), st.data())
def test_verifier_agrees_with_the_oracle(case: Case, optimize: bool, data: st.DataObject) -> None:
    base = case.net
    if optimize:
        base = optimize_interference(case.net, case.static, blob_sizes=case.sizes).net
    broken = data.draw(changed(base))
    ours = divergence(case.net, broken, keep_final_results=False)
    theirs = verify_execution_equivalence(case.net, broken)
    assert (ours is None) == theirs.ok, f"oracle: {ours}; verifier: {theirs.message}"
