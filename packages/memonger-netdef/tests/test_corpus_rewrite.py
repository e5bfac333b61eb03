"""optimize_interference on every net of the shared corpus (design 8).

The corpus is found through ``MEMONGER_CORPUS`` (default: ``shared/corpus``
beside the repository); these tests skip when it is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from memonger.netdef import caffe2_pb2
from memonger.netdef.io import load_net
from memonger.netdef.release import release_blobs_when_used
from memonger.netdef.rewrite import optimize_interference
from memonger.netdef.verify import verify_execution_equivalence
from memonger.stats import naive_nbytes, plan_nbytes, produced_blobs, read_blob_sizes

pytestmark = pytest.mark.corpus


def corpus_dir() -> Path:
    env = os.environ.get("MEMONGER_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "shared" / "corpus"


def corpus_nets() -> list[Any]:
    manifest = corpus_dir() / "MANIFEST.json"
    if not manifest.is_file():
        reason = f"corpus not found at {corpus_dir()} (set MEMONGER_CORPUS)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    entries = json.loads(manifest.read_text())
    return [pytest.param(e, id=e["name"]) for e in entries if e.get("net")]


def blob_names(net: caffe2_pb2.NetDef) -> set[str]:
    names = set(net.external_input) | set(net.external_output)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
    return names


@pytest.mark.parametrize("entry", corpus_nets())
def test_corpus_net_optimizes_to_an_equivalent_net(
    entry: dict[str, Any], record_property: Any
) -> None:
    root = corpus_dir()
    net = load_net(root / entry["net"])
    sizes = read_blob_sizes(root / entry["shapes"]) if entry.get("shapes") else None
    before = net.SerializeToString()
    opt = optimize_interference(net, static_blobs=entry.get("inputs") or [], blob_sizes=sizes)
    assert net.SerializeToString() == before
    result = verify_execution_equivalence(net, opt.net)
    assert result.ok, result.message
    assert list(opt.net.external_input) == list(net.external_input)
    assert list(opt.net.external_output) == list(net.external_output)
    assert len(blob_names(opt.net)) < len(blob_names(net))
    assert len(opt.assignments) <= len(blob_names(net))
    if sizes is not None:
        produced = produced_blobs(net)
        naive = naive_nbytes(net, sizes)
        plan = plan_nbytes(opt.assignments, sizes, produced=produced)
        assert 0 < plan <= naive
        record_property("naive_bytes", naive)
        record_property("plan_bytes", plan)
        print(f"{entry['name']}: naive {naive} B, plan {plan} B ({plan / naive:.1%})")


@pytest.mark.parametrize("entry", corpus_nets())
def test_corpus_net_release_is_equivalent(entry: dict[str, Any]) -> None:
    net = load_net(corpus_dir() / entry["net"])
    released = release_blobs_when_used(net, set())
    assert len(released.op) > len(net.op)
    result = verify_execution_equivalence(net, released)
    assert result.ok, result.message
