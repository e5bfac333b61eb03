"""The DAG recyclers and the linear-scan recycler on random nets.

``optimize_inference_for_dag`` and ``share_grad_blobs`` must give the same
values under every order a DAG executor may choose: the harness runs the
rewritten net in random valid orders of the *original* net's dependency
graph (built by the oracle, not the package) and checks that no parallelism
is lost (the same ops precede each op).  ``optimize_inference_fast`` is
checked in program order.  For all three: fixed names untouched, graph
equality and in-place checks, plan bytes at least the live-value bound, and
optimizing a result again stays equivalent to the original without growing.
"""

from __future__ import annotations

import random
from typing import Any

from harness_nets import Case, cases
from harness_oracle import (
    as_text,
    dependency_edges,
    divergence,
    live_bound,
    naive_bytes,
    new_inplace_pairs,
    plan_bytes,
    random_order,
    reachability,
    renamed_fixed,
    renamed_sizes,
)
from hypothesis import event, given, note
from hypothesis import strategies as st

from memonger.netdef import (
    caffe2_pb2,
    optimize_inference_fast,
    optimize_inference_for_dag,
    share_grad_blobs,
    verify_execution_equivalence,
    verify_graph_equality,
    verify_inplace_blobs,
)

RANDOM_ORDERS = 8


def check_rewrite(
    case: Case,
    opt: caffe2_pb2.NetDef,
    fixed: set[str],
    *,
    dag: bool,
    seed: int,
    original: caffe2_pb2.NetDef | None = None,
) -> int:
    """Oracle checks of a same-order rewrite of ``case.net`` (or of ``original``); plan bytes."""
    note(f"result:\n{as_text(opt)}")
    net = case.net
    assert [op.name for op in opt.op] == [op.name for op in net.op], "ops moved"
    problem = divergence(net, opt)
    assert problem is None, problem
    assert renamed_fixed(net, opt, fixed) == []
    assert new_inplace_pairs(net, opt) == []
    assert verify_graph_equality(net, opt)
    assert verify_inplace_blobs(net, opt)
    if dag:
        edges = dependency_edges(net.op)
        rng = random.Random(seed)
        for _ in range(RANDOM_ORDERS):
            order = [net.op[k].name for k in random_order(len(net.op), edges, rng)]
            problem = divergence(net, opt, order)
            assert problem is None, f"in order {order}: {problem}"
        # no parallelism lost: each op has the same ancestors as before
        assert reachability(len(net.op), edges) == reachability(
            len(opt.op), dependency_edges(opt.op)
        )
        assert verify_execution_equivalence(net, opt, random_orders=3, seed=seed).ok
    else:
        assert verify_execution_equivalence(net, opt).ok
    plan = plan_bytes(net, opt, case.sizes)
    bound = live_bound(net, case.sizes, range(len(net.op)))
    assert bound <= plan <= naive_bytes(net, case.sizes)
    return plan


def unchanged(net: caffe2_pb2.NetDef) -> bytes:
    return net.SerializeToString()


@given(cases(static=False, max_ops=20, branches=3, clean=True), st.data())
def test_optimize_inference_for_dag(case: Case, data: st.DataObject) -> None:
    inputs = data.draw(st.lists(st.sampled_from(list(case.net.external_input) or ["-"])))
    inputs = [b for b in inputs if b != "-"]
    with_sizes = data.draw(st.booleans())
    seed = data.draw(st.integers(0, 2**16))
    before = unchanged(case.net)
    inputs_copy = list(inputs)
    opt = optimize_inference_for_dag(
        case.net, inputs, blob_shapes=case.sizes if with_sizes else None
    )
    assert unchanged(case.net) == before
    assert inputs == inputs_copy
    plan = check_rewrite(case, opt, case.fixed | set(inputs), dag=True, seed=seed)
    # again, on the result: still equivalent to the original, never larger
    sizes = renamed_sizes(case.net, opt, case.sizes)
    again = optimize_inference_for_dag(opt, inputs, blob_shapes=sizes if with_sizes else None)
    assert plan_bytes(case.net, again, case.sizes) <= plan
    check_rewrite(case, again, case.fixed | set(inputs), dag=True, seed=seed)


@given(cases(), st.data())
def test_optimize_inference_fast(case: Case, data: st.DataObject) -> None:
    with_sizes = data.draw(st.booleans())
    before = unchanged(case.net)
    opt = optimize_inference_fast(
        case.net, case.static, blob_shapes=case.sizes if with_sizes else None
    )
    assert unchanged(case.net) == before
    plan = check_rewrite(case, opt, case.fixed, dag=False, seed=0)
    sizes = renamed_sizes(case.net, opt, case.sizes)
    again = optimize_inference_fast(opt, case.static, blob_shapes=sizes if with_sizes else None)
    assert plan_bytes(case.net, again, case.sizes) <= plan
    check_rewrite(case, again, case.fixed, dag=False, seed=0)


@st.composite
def training_cases(draw: st.DrawFn) -> tuple[Case, dict[str, Any]]:
    """A random net dressed as a training net.

    Blobs first written from a drawn op on are gradients (``_grad`` suffix);
    some blobs live in the name scope ``s/``; losses, parameter gradients and
    dont-share blobs are drawn among the produced blobs.
    """
    case = draw(cases(static=False, max_ops=20, branches=3, clean=True))
    net = case.net
    split = draw(st.integers(0, len(net.op) // 2))
    scoped = draw(st.booleans())
    rename: dict[str, str] = {}
    for k, op in enumerate(net.op):
        for blob in op.output:
            if blob in rename or blob in net.external_input:
                continue
            new = blob
            if scoped and draw(st.booleans()):
                new = "s/" + new
            if k >= split:
                new += "_grad"
            rename[blob] = new
    renamed = caffe2_pb2.NetDef()
    renamed.CopyFrom(net)
    for op in renamed.op:
        for field in (op.input, op.output, op.control_input):
            field[:] = [rename.get(b, b) for b in field]
    # few declared outputs, so that more gradients are shareable
    keep = draw(st.integers(0, 1))
    renamed.external_output[:] = [rename.get(b, b) for b in renamed.external_output][:keep]
    sizes = {rename.get(b, b): n for b, n in case.sizes.items()}
    made = sorted({b for op in renamed.op for b in op.output})
    grads = [b for b in made if b.endswith("_grad")]
    kwargs: dict[str, Any] = {
        "losses": draw(st.lists(st.sampled_from(made), unique=True, max_size=1)),
        "param_grads": (
            draw(st.lists(st.sampled_from(grads), unique=True, max_size=2)) if grads else []
        ),
        "dont_share_blobs": draw(st.lists(st.sampled_from(made), unique=True, max_size=1)),
        "namescope": draw(st.sampled_from(["", "s", "s/"] if scoped else [""])),
        "share_activations": draw(st.booleans()),
        "blob_shapes": sizes if draw(st.booleans()) else None,
    }
    note(f"training net:\n{as_text(renamed)}options: {kwargs}")
    return Case(renamed, sizes), kwargs


@given(training_cases(), st.integers(0, 2**16))
def test_share_grad_blobs(drawn: tuple[Case, dict[str, Any]], seed: int) -> None:
    case, kwargs = drawn
    before = unchanged(case.net)
    lists = {k: list(v) for k, v in kwargs.items() if isinstance(v, list)}
    opt = share_grad_blobs(case.net, **kwargs)
    assert unchanged(case.net) == before
    assert lists == {k: v for k, v in kwargs.items() if isinstance(v, list)}
    kept = (case.fixed | set(kwargs["losses"]) | set(kwargs["param_grads"])) | set(
        kwargs["dont_share_blobs"]
    )
    check_rewrite(case, opt, kept, dag=True, seed=seed)
    renamed = sum(
        a != b
        for x, y in zip(case.net.op, opt.op, strict=True)
        for a, b in zip(x.output, y.output, strict=True)
    )
    event(f"outputs renamed: {min(renamed, 3)}{'+' if renamed >= 3 else ''}")
    scope = kwargs["namescope"]
    if scope:
        prefix = scope if scope.endswith("/") else scope + "/"
        for op, new in zip(case.net.op, opt.op, strict=True):
            for a, b in zip(op.output, new.output, strict=True):
                if a != b:
                    assert a.startswith((prefix, "_" + prefix)), f"{a} is outside {prefix}"
                    assert b.startswith(prefix), f"buffer {b} is outside {prefix}"
