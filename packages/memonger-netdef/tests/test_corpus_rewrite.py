"""optimize_interference on every net of the shared corpus (design 8).

The corpus is found through ``MEMONGER_CORPUS`` (default: ``shared/corpus``
beside the repository); these tests skip when it is absent.
"""

from __future__ import annotations

from typing import Any

import pytest

from memonger.netdef.corpus import CorpusCase, load_case, load_manifest
from memonger.netdef.errors import CorpusNotFoundError
from memonger.netdef.nested import net_blob_names
from memonger.netdef.release import release_blobs_when_used
from memonger.netdef.rewrite import optimize_interference
from memonger.netdef.verify import verify_execution_equivalence
from memonger.stats import naive_nbytes, plan_nbytes, produced_blobs

pytestmark = pytest.mark.corpus


def corpus_nets() -> list[Any]:
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        return [pytest.param(None, marks=pytest.mark.skip(reason=str(exc)), id="no-corpus")]
    return [pytest.param(c, id=c.name) for c in cases if c.net is not None]


@pytest.mark.parametrize("case", corpus_nets())
def test_corpus_net_optimizes_to_an_equivalent_net(case: CorpusCase, record_property: Any) -> None:
    net, sizes = load_case(case)
    before = net.SerializeToString()
    opt = optimize_interference(net, static_blobs=list(case.inputs), blob_sizes=sizes)
    assert net.SerializeToString() == before
    result = verify_execution_equivalence(net, opt.net)
    assert result.ok, result.message
    assert list(opt.net.external_input) == list(net.external_input)
    assert list(opt.net.external_output) == list(net.external_output)
    assert len(net_blob_names(opt.net)) < len(net_blob_names(net))
    assert len(opt.assignments) <= len(net_blob_names(net))
    if sizes is not None:
        produced = produced_blobs(net)
        naive = naive_nbytes(net, sizes)
        plan = plan_nbytes(opt.assignments, sizes, produced=produced)
        assert 0 < plan <= naive
        record_property("naive_bytes", naive)
        record_property("plan_bytes", plan)
        print(f"{case.name}: naive {naive} B, plan {plan} B ({plan / naive:.1%})")


@pytest.mark.parametrize("case", corpus_nets())
def test_corpus_net_release_is_equivalent(case: CorpusCase) -> None:
    net, _ = load_case(case)
    released = release_blobs_when_used(net, set())
    assert len(released.op) > len(net.op)
    result = verify_execution_equivalence(net, released)
    assert result.ok, result.message
