"""release_blobs_when_used on random nets (some ops turned into ``Alias``).

The oracle re-derives which blobs must be freed (produced, read, not
written again after their last read, not external, not aliased, not
protected, selected) and checks that each gets exactly one ``Free`` right
after its last access, that the net still computes the same values (reading
a freed blob is a divergence) and keeps every final result, and that
the caller's net and set are untouched.  It also frees after an interference
optimization, the usual pipeline.
"""

from __future__ import annotations

import pytest
from harness_nets import Case, cases
from harness_oracle import as_text, divergence
from hypothesis import given, note
from hypothesis import strategies as st

from memonger.netdef import (
    caffe2_pb2,
    optimize_interference,
    release_blobs_when_used,
    verify_execution_equivalence,
)


def expected_frees(
    net: caffe2_pb2.NetDef, dont_free: set[str], selected: set[str]
) -> dict[str, int]:
    """Blob -> position of its last access, for every blob that must be freed."""
    first_is_write: dict[str, bool] = {}
    last_is_write: dict[str, bool] = {}
    read: set[str] = set()
    aliased: set[str] = set()
    last: dict[str, int] = {}
    for k, op in enumerate(net.op):
        reads = list(op.input) + list(op.control_input)
        if op.type == "Alias":
            aliased.update(op.input)
            aliased.update(op.output)
        for blob in reads:
            first_is_write.setdefault(blob, False)
            read.add(blob)
            last[blob] = k
        for blob in op.input:
            last_is_write[blob] = False
        for blob in op.output:
            first_is_write.setdefault(blob, True)
            last_is_write[blob] = True
            last[blob] = k
    # a blob written after its last read (by an in-place op too) keeps its
    # final value, which a caller may fetch
    excluded = dont_free | aliased | set(net.external_input) | set(net.external_output)
    return {
        b: k
        for b, k in last.items()
        if first_is_write[b]
        and b in read
        and not last_is_write[b]
        and b not in excluded
        and b in selected
    }


def inserted_frees(original: caffe2_pb2.NetDef, freed: caffe2_pb2.NetDef) -> dict[str, list[int]]:
    """Blob -> positions (in the original) of the op each Free of it follows."""
    names = {op.name for op in original.op}
    position = {op.name: k for k, op in enumerate(original.op)}
    found: dict[str, list[int]] = {}
    previous = -1
    for op in freed.op:
        if op.name in names:
            previous = position[op.name]
            continue
        assert op.type == "Free", f"inserted op of type {op.type}"
        assert len(op.input) == 1, "Free(b) -> b"
        assert list(op.input) == list(op.output), "Free(b) -> b"
        found.setdefault(op.input[0], []).append(previous)
    return found


@st.composite
def aliased_cases(draw: st.DrawFn) -> Case:
    case = draw(cases())
    for op in case.net.op:
        if len(op.input) >= 1 and len(op.output) == 1 and draw(st.integers(0, 5)) == 0:
            op.type = "Alias"
    note(f"with Alias ops:\n{as_text(case.net)}")
    return case


@given(aliased_cases(), st.data())
def test_release_blobs_when_used(case: Case, data: st.DataObject) -> None:
    net = case.net
    made = sorted({b for op in net.op for b in op.output})
    dont = set(data.draw(st.lists(st.sampled_from(made), max_size=2))) if made else set()
    use_selector = data.draw(st.booleans())
    selected = set(data.draw(st.lists(st.sampled_from(made)))) if use_selector and made else set()
    selector = selected.__contains__ if use_selector else None
    dont_copy = set(dont)
    before = net.SerializeToString()
    freed = release_blobs_when_used(net, dont, selector)
    assert net.SerializeToString() == before
    assert dont == dont_copy
    note(f"freed:\n{as_text(freed)}")
    want = expected_frees(net, dont, selected if use_selector else set(made))
    got = inserted_frees(net, freed)
    assert {b: [k] for b, k in want.items()} == got
    # every op reads what it read, and every final result keeps its value
    problem = divergence(net, freed, keep_final_results=True)
    assert problem is None, problem
    assert verify_execution_equivalence(net, freed).ok
    # releasing again frees nothing more
    again = release_blobs_when_used(freed, dont, selector)
    assert again.SerializeToString() == freed.SerializeToString()


@given(cases())
def test_free_after_interference(case: Case) -> None:
    opt = optimize_interference(case.net, case.static, blob_sizes=case.sizes).net
    freed = release_blobs_when_used(opt, case.static)
    # frees go after the last access of the optimized net's (shared) blobs
    assert set(inserted_frees(opt, freed)) == set(
        expected_frees(opt, set(case.static), {b for op in opt.op for b in op.output})
    )
    assert divergence(case.net, freed, keep_final_results=True) is None
    assert verify_execution_equivalence(case.net, freed).ok


def test_a_string_is_not_a_set_of_names() -> None:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    net.op.add(type="Relu", name="op0", input=["x"], output=["ab"])
    net.op.add(type="Relu", name="op1", input=["ab"], output=["y"])
    with pytest.raises(TypeError):
        release_blobs_when_used(net, "ab")
