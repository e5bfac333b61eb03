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

import json
import os
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from memonger.graph import compute_interference_graph
from memonger.netdef import caffe2_pb2
from memonger.netdef.dag import optimize_inference_for_dag, share_grad_blobs, sharing_summary
from memonger.netdef.fast import optimize_inference_fast
from memonger.netdef.io import load_net
from memonger.netdef.verify import (
    verify_execution_equivalence,
    verify_graph_equality,
    verify_inplace_blobs,
)
from memonger.stats import read_blob_sizes

pytestmark = pytest.mark.corpus


def corpus_dir() -> Path:
    env = os.environ.get("MEMONGER_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "shared" / "corpus"


def corpus_nets(kind: str) -> list[Any]:
    manifest = corpus_dir() / "MANIFEST.json"
    if not manifest.is_file():
        reason = f"corpus not found at {corpus_dir()} (set MEMONGER_CORPUS)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    entries = json.loads(manifest.read_text())
    return [pytest.param(e, id=e["name"]) for e in entries if e.get("kind") == kind]


def load(entry: dict[str, Any]) -> tuple[caffe2_pb2.NetDef, dict[str, int] | None]:
    root = corpus_dir()
    net = load_net(root / entry["net"])
    sizes = read_blob_sizes(root / entry["shapes"]) if entry.get("shapes") else None
    return net, sizes


def losses_of(net: caffe2_pb2.NetDef) -> list[str]:
    """The blobs the gradient seeds are filled from."""
    losses: list[str] = []
    for op in net.op:
        seed = op.type in ("ConstantFill", "ones_like") and (
            op.is_gradient_op or any(b.endswith("_autogen_grad") for b in op.output)
        )
        if seed:
            losses += [b for b in op.input if b not in losses]
    return losses


def param_grads_of(net: caffe2_pb2.NetDef) -> set[str]:
    declared = {b for b in net.external_output if b.endswith("_grad")}
    return declared or {p + "_grad" for p in net.external_input}


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


@pytest.mark.parametrize("entry", corpus_nets("inference"))
def test_inference_net_for_dag(entry: dict[str, Any]) -> None:
    net, sizes = load(entry)
    before = net.SerializeToString()
    inputs = entry.get("inputs") or []
    optimized = optimize_inference_for_dag(net, inputs, blob_shapes=sizes)
    assert net.SerializeToString() == before
    check(net, optimized, random_orders=5, sizes=sizes, name=entry["name"])
    # no parallelism lost: the same ops precede each op in both nets
    closure = nx.transitive_closure_dag(compute_interference_graph(net.op))
    closure_opt = nx.transitive_closure_dag(compute_interference_graph(optimized.op))
    assert set(closure.edges) == set(closure_opt.edges)
    assert optimize_inference_for_dag(net, inputs) != net


@pytest.mark.parametrize("entry", corpus_nets("inference"))
def test_inference_net_fast(entry: dict[str, Any]) -> None:
    net, sizes = load(entry)
    optimized = optimize_inference_fast(net, entry.get("inputs") or [], blob_shapes=sizes)
    check(net, optimized, random_orders=0, sizes=sizes, name=entry["name"])


@pytest.mark.parametrize("share_activations", [False, True])
@pytest.mark.parametrize("entry", corpus_nets("training"))
def test_training_net_share_grad_blobs(entry: dict[str, Any], share_activations: bool) -> None:
    net, sizes = load(entry)
    losses = losses_of(net)
    assert losses, "no gradient seed found"
    grads = param_grads_of(net)
    before = net.SerializeToString()
    optimized = share_grad_blobs(
        net, losses, grads, "", share_activations=share_activations, blob_shapes=sizes
    )
    assert net.SerializeToString() == before
    check(net, optimized, random_orders=2, sizes=sizes, name=entry["name"])
    produced = {b for op in optimized.op for b in op.output}
    for b in losses:
        assert b in produced
    for b in grads & {b for op in net.op for b in op.output}:
        assert b in produced
