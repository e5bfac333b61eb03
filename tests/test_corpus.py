"""Every net of the shared corpus through every mode, every result verified.

Nets: ``interference`` (greedy, and the exact solver with a small budget),
``fast`` and ``release`` for all; ``dag`` for inference nets; ``grad`` for
training nets.  Each result must pass the harness's own symbolic execution
(and, for the DAG modes, random valid orders of the original's dependency
graph) and the package's ``verify_execution_equivalence``, keep its fixed
names, and need no fewer bytes than the live-value bound.  The MiniMalloc
instances go through the greedy and the exact allocator as live ranges and
are checked by an independent validator.

The corpus is found through ``MEMONGER_CORPUS`` (default: ``shared/corpus``
beside the repository); every test skips when it is absent.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from harness_oracle import (
    dependency_edges,
    divergence,
    live_bound,
    naive_bytes,
    plan_bytes,
    random_order,
    renamed_fixed,
)

from memonger.alloc import AssignmentAlgorithm, LiveRange, allocate, compute_assignments_dp
from memonger.netdef import (
    caffe2_pb2,
    optimize_inference_fast,
    optimize_inference_for_dag,
    optimize_interference,
    release_blobs_when_used,
    share_grad_blobs,
    verify_execution_equivalence,
)
from memonger.netdef.corpus import (
    CorpusCase,
    blob_sizes_for,
    load_case,
    load_manifest,
    load_ranges,
    parameter_gradients,
    training_losses,
)
from memonger.netdef.errors import CorpusNotFoundError

pytestmark = pytest.mark.corpus

DP_SECONDS = 0.25
RANDOM_ORDERS = 3


def entries(*kinds: str) -> list[Any]:
    try:
        cases = load_manifest()
    except CorpusNotFoundError as exc:
        return [pytest.param(None, marks=pytest.mark.skip(reason=str(exc)), id="no-corpus")]
    return [pytest.param(c, id=c.name) for c in cases if c.kind in kinds]


@dataclass
class CorpusNet:
    """A corpus net with op names made unique (the oracle matches ops by name)."""

    name: str
    kind: str
    net: caffe2_pb2.NetDef
    sizes: dict[str, int]
    has_sizes: bool
    inputs: list[str]


_CACHE: dict[str, CorpusNet] = {}


def load(case: CorpusCase) -> CorpusNet:
    if case.name in _CACHE:
        return _CACHE[case.name]
    net, known = load_case(case)
    for k, op in enumerate(net.op):
        op.name = f"op{k}"
    sizes = blob_sizes_for(net, known)
    loaded = CorpusNet(case.name, case.kind, net, sizes, bool(known), list(case.inputs))
    _CACHE[case.name] = loaded
    return loaded


def verify(
    c: CorpusNet, opt: caffe2_pb2.NetDef, fixed: set[str], *, dag: bool, free: bool = False
) -> None:
    net = c.net
    problem = divergence(net, opt, keep_final_results=not free, control_is_read=True)
    assert problem is None, problem
    fixed = fixed | set(net.external_input) | set(net.external_output)
    if not free:
        assert renamed_fixed(net, opt, fixed) == []
        position = {op.name: k for k, op in enumerate(net.op)}
        order = [position[op.name] for op in opt.op]
        plan = plan_bytes(net, opt, c.sizes)
        assert live_bound(net, c.sizes, order) <= plan <= naive_bytes(net, c.sizes)
    if dag:
        edges = dependency_edges(net.op)
        rng = random.Random(0)
        for _ in range(RANDOM_ORDERS):
            order_names = [net.op[k].name for k in random_order(len(net.op), edges, rng)]
            problem = divergence(net, opt, order_names, control_is_read=True)
            assert problem is None, problem
    result = verify_execution_equivalence(net, opt, random_orders=RANDOM_ORDERS if dag else 0)
    assert result.ok, result.message


NETS = entries("inference", "training")


def exact(items: Sequence[Any]) -> list[list[Any]]:
    return compute_assignments_dp(items, time_limit=DP_SECONDS)


ALGOS: dict[str, AssignmentAlgorithm | Callable[[Sequence[Any]], list[list[Any]]]] = {
    "greedy": AssignmentAlgorithm.GREEDY,
    "dp": exact,
}


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("case", NETS)
def test_interference(case: CorpusCase, algo: str) -> None:
    c = load(case)
    before = c.net.SerializeToString()
    sizes = c.sizes if c.has_sizes else None
    opt = optimize_interference(c.net, c.inputs, blob_sizes=sizes, algo=ALGOS[algo], verify=False)  # type: ignore[arg-type]
    assert c.net.SerializeToString() == before
    verify(c, opt.net, set(c.inputs), dag=False)


@pytest.mark.parametrize("case", NETS)
def test_fast(case: CorpusCase) -> None:
    c = load(case)
    sizes = c.sizes if c.has_sizes else None
    opt = optimize_inference_fast(c.net, c.inputs, blob_shapes=sizes)
    verify(c, opt, set(c.inputs), dag=False)


@pytest.mark.parametrize("case", NETS)
def test_release(case: CorpusCase) -> None:
    c = load(case)
    freed = release_blobs_when_used(c.net, set(c.inputs))
    assert sum(op.type == "Free" for op in freed.op) > 0
    verify(c, freed, set(), dag=False, free=True)


@pytest.mark.parametrize("case", entries("inference"))
def test_dag(case: CorpusCase) -> None:
    c = load(case)
    sizes = c.sizes if c.has_sizes else None
    opt = optimize_inference_for_dag(c.net, c.inputs, blob_shapes=sizes)
    verify(c, opt, set(c.inputs), dag=True)


@pytest.mark.parametrize("case", entries("training"))
def test_grad(case: CorpusCase) -> None:
    c = load(case)
    losses = training_losses(c.net)
    assert losses, f"{c.name}: no gradient seed found"
    grads = parameter_gradients(c.net)
    assert grads, f"{c.name}: no <param>_grad in external_output"
    sizes = c.sizes if c.has_sizes else None
    opt = share_grad_blobs(c.net, losses, grads, "", blob_shapes=sizes)
    verify(c, opt, set(losses) | set(grads), dag=True)


# ---------------------------------------------------------------------------
# MiniMalloc instances as live ranges
# ---------------------------------------------------------------------------


def peak(ranges: dict[str, LiveRange]) -> int:
    """Largest total size of ranges covering one point (closed ranges)."""
    events = sorted(
        [(r.defined, 0, r.size) for r in ranges.values()]
        + [(r.used + 1, -1, -(r.size or 0)) for r in ranges.values()]
    )
    best = live = 0
    for _, _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        live += delta or 0
        best = max(best, live)
    return best


def checked_bytes(ranges: dict[str, LiveRange], plan: Sequence[Sequence[tuple[str, Any]]]) -> int:
    """Validate a plan independently; return its bytes."""
    names = [name for buffer in plan for name, _ in buffer]
    assert sorted(names) == sorted(ranges), "every blob in exactly one buffer"
    total = 0
    for buffer in plan:
        members = sorted((ranges[name] for name, _ in buffer), key=lambda r: r.defined)
        for a, b in itertools.pairwise(members):
            assert a.used < b.defined, f"overlap in one buffer: {a} and {b}"
        total += max(r.size or 0 for r in members)
    return total


@pytest.mark.parametrize("case", entries("allocation"))
def test_minimalloc(case: CorpusCase) -> None:
    ranges = load_ranges(case)
    bound = peak(ranges)
    assert case.capacity is not None
    assert bound <= case.capacity
    greedy = allocate(ranges, algorithm="greedy")
    exact_result = allocate(ranges, algorithm="dp", time_limit=1.0)
    g = checked_bytes(ranges, greedy.assignments)
    e = checked_bytes(ranges, exact_result.assignments)
    assert (g, e) == (greedy.nbytes, exact_result.nbytes)
    assert bound <= e <= g
    assert bound <= exact_result.lower_bound <= e
    if exact_result.proven_optimal:
        assert e == exact_result.nbytes


# --------------------------------------------------------------------------
# Arena plans (byte offsets), validated here
# --------------------------------------------------------------------------

ARENA_NODES = 2000


def offset_conflicts(ranges: dict[str, LiveRange], offsets: dict[str, int]) -> list[str]:
    """Pairs of blobs live at a common position whose byte intervals meet."""
    items = sorted(
        ((r.defined, r.used, offsets[n], r.size or 0, n) for n, r in ranges.items()),
        key=lambda t: t[0],
    )
    bad = []
    for i, (_d1, u1, o1, s1, n1) in enumerate(items):
        for d2, _u2, o2, s2, n2 in items[i + 1 :]:
            if d2 > u1:
                break
            if s1 and s2 and o1 < o2 + s2 and o2 < o1 + s1:
                bad.append(f"{n1} [{o1}, {o1 + s1}) and {n2} [{o2}, {o2 + s2})")
    return bad


@pytest.mark.parametrize("ordering", ["program", "memory"])
@pytest.mark.parametrize("case", entries("inference", "training"))
def test_arena(case: CorpusCase, ordering: str) -> None:
    from memonger.netdef.arena import plan_net_offsets

    c = load(case)
    if not c.has_sizes:
        pytest.skip("no shapes for this net")
    arena = plan_net_offsets(c.net, c.sizes, ordering=ordering, node_limit=ARENA_NODES)
    plan = arena.plan
    assert set(plan.offsets) == set(arena.ranges)
    assert offset_conflicts(arena.ranges, plan.offsets) == []
    top = max((plan.offsets[n] + (r.size or 0) for n, r in arena.ranges.items()), default=0)
    assert plan.arena_bytes == top
    assert plan.lower_bound == peak(arena.ranges)
    assert plan.arena_bytes >= plan.lower_bound
    if plan.arena_bytes == plan.lower_bound:
        assert plan.proven_optimal


@pytest.mark.parametrize("case", entries("allocation"))
def test_minimalloc_arena(case: CorpusCase) -> None:
    from memonger.alloc import plan_offsets

    ranges = load_ranges(case)
    assert case.capacity is not None
    plan = plan_offsets(ranges, capacity=case.capacity, node_limit=ARENA_NODES)
    assert plan.feasible is not False  # these instances fit: never "proven infeasible"
    assert offset_conflicts(ranges, plan.offsets) == []
    assert plan.lower_bound == peak(ranges)
    if plan.feasible:
        assert plan.arena_bytes <= case.capacity
