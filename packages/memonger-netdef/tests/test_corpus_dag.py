"""The DAG recyclers and the linear-scan recycler on every net of the shared corpus.

Inference nets go through ``optimize_inference_for_dag`` and
``optimize_inference_fast``; training nets (the real SSD net and the traced
graphs) through ``share_grad_blobs``.  Every result must be equivalent to its
net (also under random valid orders for the DAG results), keep the graph and
the in-place pairs, and save blobs.  The corpus is found through
``MEMONGER_CORPUS`` (default: ``shared/corpus`` beside the repository); these
tests skip when it is absent.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from memonger.graph import compute_interference_graph
from memonger.netdef import caffe2_pb2
from memonger.netdef.corpus import (
    CorpusCase,
    load_case,
    load_manifest,
    parameter_gradients,
    training_losses,
)
from memonger.netdef.dag import optimize_inference_for_dag, share_grad_blobs, sharing_summary
from memonger.netdef.errors import CorpusNotFoundError
from memonger.netdef.fast import optimize_inference_fast
from memonger.netdef.verify import (
    verify_execution_equivalence,
    verify_graph_equality,
    verify_inplace_blobs,
)

pytestmark = pytest.mark.corpus


def corpus_cases(kind: str) -> list[Any]:
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        return [pytest.param(None, marks=pytest.mark.skip(reason=str(exc)), id="no-corpus")]
    return [pytest.param(c, id=c.name) for c in cases if c.kind == kind]


def check(
    net: caffe2_pb2.NetDef,
    optimized: caffe2_pb2.NetDef,
    *,
    random_orders: int,
    sizes: dict[str, int] | None,
    name: str,
) -> None:
    assert verify_graph_equality(net, optimized)
    assert verify_inplace_blobs(net, optimized)
    result = verify_execution_equivalence(net, optimized, random_orders=random_orders)
    assert result.ok, result.message
    stats = sharing_summary(net, optimized, sizes)
    assert stats.blobs_after < stats.blobs_before
    if stats.bytes_before is not None and stats.bytes_after is not None:
        assert stats.bytes_after < stats.bytes_before
    print(f"{name}: {stats}")


@pytest.mark.parametrize("case", corpus_cases("inference"))
def test_inference_net_for_dag(case: CorpusCase) -> None:
    net, sizes = load_case(case)
    before = net.SerializeToString()
    inputs = list(case.inputs)
    optimized = optimize_inference_for_dag(net, inputs, blob_shapes=sizes)
    assert net.SerializeToString() == before
    check(net, optimized, random_orders=5, sizes=sizes, name=case.name)
    # no parallelism lost: the same ops precede each op in both nets
    closure = nx.transitive_closure_dag(compute_interference_graph(net.op))
    closure_opt = nx.transitive_closure_dag(compute_interference_graph(optimized.op))
    assert set(closure.edges) == set(closure_opt.edges)
    assert optimize_inference_for_dag(net, inputs) != net


@pytest.mark.parametrize("case", corpus_cases("inference"))
def test_inference_net_fast(case: CorpusCase) -> None:
    net, sizes = load_case(case)
    optimized = optimize_inference_fast(net, list(case.inputs), blob_shapes=sizes)
    check(net, optimized, random_orders=0, sizes=sizes, name=case.name)


@pytest.mark.parametrize("share_activations", [False, True])
@pytest.mark.parametrize("case", corpus_cases("training"))
def test_training_net_share_grad_blobs(case: CorpusCase, share_activations: bool) -> None:
    net, sizes = load_case(case)
    losses = training_losses(net)
    assert losses, "no gradient seed found"
    grads = set(parameter_gradients(net))
    before = net.SerializeToString()
    optimized = share_grad_blobs(
        net, losses, grads, "", share_activations=share_activations, blob_shapes=sizes
    )
    assert net.SerializeToString() == before
    check(net, optimized, random_orders=2, sizes=sizes, name=case.name)
    produced = {b for op in optimized.op for b in op.output}
    for b in losses:
        assert b in produced
    for b in grads & {b for op in net.op for b in op.output}:
        assert b in produced
