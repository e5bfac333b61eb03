"""Views (Caffe2's ``Alias`` and user-declared view ops) in every planning mode.

The oracle here is a small concrete interpreter written apart from the
verifier: names are bound to storage *cells*; an op writes fresh tokens
(``(op name, output index)``) into the cells of its outputs, a view op binds
its output to the cell of its input and writes nothing, ``Free`` empties a
cell.  A rewrite is safe when every op reads the same tokens as in the
original and every external output ends with the same token.  Ops carry
unique names, so an op of a rewrite is matched to the original by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

import pytest

from memonger.graph import topological_sort_traversal_longest_path
from memonger.netdef import (
    caffe2_pb2,
    optimize_inference_fast,
    optimize_inference_for_dag,
    optimize_interference,
    plan_interference,
    release_blobs_when_used,
    save_net,
    share_grad_blobs,
    sharing_summary,
    verify_execution_equivalence,
)
from memonger.netdef.cli import EXIT_NOT_EQUIVALENT, EXIT_OK, main, measure
from memonger.netdef.errors import NetDefError, UnsupportedNetError
from memonger.netdef.io import load_net
from memonger.netdef.rewrite import net_accesses
from memonger.netdef.verify import net_storage
from memonger.netdef.views import CAFFE2_VIEW_OPS, view_rule

EMPTY = ("empty",)
Token = tuple[Any, ...]


# ---------------------------------------------------------------------------
# The oracle: a concrete interpreter over storage cells
# ---------------------------------------------------------------------------


def _execute(
    net: caffe2_pb2.NetDef, view_types: Collection[str]
) -> tuple[dict[str, tuple[Token, ...]], dict[str, Token]]:
    """Run ``net``; return what each op (by name) read and the external outputs' final tokens."""
    cell_of: dict[str, int] = {}
    cells: list[Token] = []

    def cell(name: str) -> int:
        if name not in cell_of:
            cell_of[name] = len(cells)
            cells.append(("external", name))
        return cell_of[name]

    reads: dict[str, tuple[Token, ...]] = {}

    def run(ops: Iterable[caffe2_pb2.OperatorDef], prefix: str) -> None:
        for k, op in enumerate(ops):
            if op.type == "Free":
                for name in op.input:
                    cells[cell(name)] = EMPTY
                continue
            label = prefix + (op.name or f"#{k}")
            values = tuple(cells[cell(name)] for name in op.input)
            assert EMPTY not in values, f"{label} reads an emptied storage"
            reads[label] = values
            if op.type in view_types:
                cell_of[op.output[0]] = cell(op.input[0])  # a view: the same storage
                continue
            for j, name in enumerate(op.output):
                cells[cell(name)] = (label, j)
            for arg in op.arg:  # If-like ops: run their nested net inline
                if arg.HasField("n"):
                    run(arg.n.op, label + "/")

    run(net.op, "")
    finals = {name: cells[cell(name)] for name in net.external_output}
    return reads, finals


def oracle_difference(
    original: caffe2_pb2.NetDef,
    rewrite: caffe2_pb2.NetDef,
    view_types: Collection[str] = CAFFE2_VIEW_OPS,
) -> str | None:
    """Why ``rewrite`` computes something else than ``original`` (None when it does not)."""
    try:
        reads_b, finals_b = _execute(rewrite, view_types)
    except AssertionError as exc:
        return str(exc)
    reads_a, finals_a = _execute(original, view_types)
    if reads_a.keys() != reads_b.keys():
        return f"ops differ: {sorted(reads_a.keys() ^ reads_b.keys())}"
    for label, values in reads_a.items():
        if reads_b[label] != values:
            return f"op {label} reads {reads_b[label]}, expected {values}"
    if finals_a != finals_b:
        return f"external outputs end with {finals_b}, expected {finals_a}"
    return None


# ---------------------------------------------------------------------------
# Nets
# ---------------------------------------------------------------------------


def _net(
    ops: list[tuple[str, list[str], list[str]]],
    external_input: list[str],
    external_output: list[str],
) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(name="views", external_input=external_input)
    net.external_output.extend(external_output)
    for k, (kind, ins, outs) in enumerate(ops):
        net.op.add(type=kind, input=ins, output=outs, name=f"op{k}_{kind}")
    return net


def alias_case(view: str = "Alias") -> caffe2_pb2.NetDef:
    """``a=Relu(x); b=Alias(a); t=Relu(b); c=Sigmoid(t); y=Sum(b,c)``."""
    return _net(
        [
            ("Relu", ["x"], ["a"]),
            (view, ["a"], ["b"]),
            ("Relu", ["b"], ["t"]),
            ("Sigmoid", ["t"], ["c"]),
            ("Sum", ["b", "c"], ["y"]),
        ],
        ["x"],
        ["y"],
    )


def rewritten_base_case() -> caffe2_pb2.NetDef:
    """The view ``b`` is read after its base ``a`` is written again (``b`` sees that write)."""
    return _net(
        [
            ("Relu", ["x"], ["a"]),
            ("Alias", ["a"], ["b"]),
            ("Sigmoid", ["x"], ["a"]),
            ("Relu", ["a"], ["u"]),
            ("Tanh", ["u"], ["c"]),
            ("Sum", ["b", "c"], ["y"]),
        ],
        ["x"],
        ["y"],
    )


def chain_case() -> caffe2_pb2.NetDef:
    """A view of a view: ``b2`` shares ``a``'s storage through ``b``."""
    return _net(
        [
            ("Relu", ["x"], ["a"]),
            ("Alias", ["a"], ["b"]),
            ("Alias", ["b"], ["b2"]),
            ("Relu", ["b2"], ["t"]),
            ("Sigmoid", ["t"], ["c"]),
            ("Sum", ["b2", "c"], ["y"]),
        ],
        ["x"],
        ["y"],
    )


def external_view_case() -> caffe2_pb2.NetDef:
    """A view of an external input, read late."""
    return _net(
        [
            ("Alias", ["x"], ["v"]),
            ("Relu", ["x"], ["p"]),
            ("Relu", ["p"], ["q"]),
            ("Sigmoid", ["q"], ["r"]),
            ("Sum", ["v", "r"], ["y"]),
        ],
        ["x"],
        ["y"],
    )


def nested_case() -> caffe2_pb2.NetDef:
    """The view is made inside the ``then_net`` of an ``If``: ``v`` views the outer ``a``."""
    net = _net(
        [
            ("Relu", ["x"], ["a"]),
            ("If", ["cond"], []),
            ("Relu", ["v"], ["t"]),
            ("Sigmoid", ["t"], ["c"]),
            ("Sum", ["v", "c"], ["y"]),
        ],
        ["x", "cond"],
        ["y"],
    )
    then = net.op[1].arg.add(name="then_net").n
    then.op.add(type="Alias", input=["a"], output=["v"], name="inner_Alias")
    return net


BLOBS = ["x", "a", "b", "b2", "t", "c", "u", "y", "v", "p", "q", "r", "s", "cond"]
SIZES = dict.fromkeys(BLOBS, 64)
CASES: dict[str, Callable[[], caffe2_pb2.NetDef]] = {
    "alias": alias_case,
    "rewritten_base": rewritten_base_case,
    "chain": chain_case,
    "external_view": external_view_case,
    "nested": nested_case,
}


def _modes(view_ops: Any = None) -> dict[str, Callable[[caffe2_pb2.NetDef], caffe2_pb2.NetDef]]:
    kw: dict[str, Any] = {} if view_ops is None else {"view_ops": view_ops}
    return {
        "interference": lambda n: (
            optimize_interference(n, [], blob_sizes=SIZES, verify=False, **kw).net
        ),
        "interference_longest_path": lambda n: (
            optimize_interference(
                n,
                [],
                topological_sort_traversal_longest_path,
                blob_sizes=SIZES,
                verify=False,
                **kw,
            ).net
        ),
        "interference_dp": lambda n: (
            optimize_interference(n, [], blob_sizes=SIZES, algo="dp", verify=False, **kw).net
        ),
        "fast": lambda n: optimize_inference_fast(n, [], blob_shapes=SIZES, **kw),
        "dag": lambda n: optimize_inference_for_dag(n, ["x"], blob_shapes=SIZES, **kw),
        "grad": lambda n: share_grad_blobs(
            n, ["y"], [], "", share_activations=True, blob_shapes=SIZES, **kw
        ),
    }


MODES = list(_modes())
DAG = ("dag", "grad")


# ---------------------------------------------------------------------------
# The oracle and the verifier on hand-made rewrites
# ---------------------------------------------------------------------------


def _bad_alias_rewrite() -> caffe2_pb2.NetDef:
    """``t`` placed in ``a``'s buffer: ``Sum`` then reads ``t`` through ``b``."""
    bad = alias_case()
    bad.op[2].output[0] = "a"
    bad.op[3].input[0] = "a"
    return bad


def _bad_rewritten_base() -> caffe2_pb2.NetDef:
    """``c`` placed in ``a``'s buffer after ``a``'s last use by name: it overwrites ``b``."""
    bad = rewritten_base_case()
    bad.op[4].output[0] = "a"
    bad.op[5].input[1] = "a"
    return bad


@pytest.mark.parametrize("bad", [_bad_alias_rewrite, _bad_rewritten_base])
def test_oracle_catches_the_unsafe_rewrite(bad: Callable[[], caffe2_pb2.NetDef]) -> None:
    original = alias_case() if bad is _bad_alias_rewrite else rewritten_base_case()
    assert oracle_difference(original, original) is None
    assert oracle_difference(original, bad()) is not None
    # Without the view, the same rewrite would be fine: the oracle sees storage, not names.
    assert oracle_difference(original, bad(), view_types=()) is None


def test_verifier_rejects_the_hand_made_rewrite() -> None:
    result = verify_execution_equivalence(alias_case(), _bad_alias_rewrite())
    assert not result
    assert result.blob == "b"
    assert result.op_type == "Sum"
    assert "op #2 Relu" in result.message


def test_verifier_rejects_the_rewritten_base_variant() -> None:
    result = verify_execution_equivalence(rewritten_base_case(), _bad_rewritten_base())
    assert not result
    assert result.blob == "b"


def test_verifier_without_views_cannot_see_it() -> None:
    assert verify_execution_equivalence(alias_case(), _bad_alias_rewrite(), view_ops=())


def test_verifier_rejects_a_free_through_a_view() -> None:
    net = alias_case()
    freed = caffe2_pb2.NetDef()
    freed.CopyFrom(net)
    del freed.op[:]
    freed.op.extend(net.op[:3])
    freed.op.add(type="Free", input=["b"], output=["b"])  # frees a's storage too
    freed.op.extend(net.op[3:])
    assert oracle_difference(net, freed) is not None
    assert not verify_execution_equivalence(net, freed)


@pytest.mark.parametrize("case", ["alias", "rewritten_base", "chain"])
@pytest.mark.parametrize("mode", MODES)
def test_planning_by_names_alone_is_unsafe_here(case: str, mode: str) -> None:
    # The cases are real hazards: without views, every mode shares a's storage too early.
    net = CASES[case]()
    out = _modes(())[mode](net)
    assert oracle_difference(net, out) is not None


# ---------------------------------------------------------------------------
# Every mode, through the API
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_is_storage_safe(case: str, mode: str) -> None:
    if case == "nested" and mode == "dag":
        pytest.skip("optimize_inference_for_dag takes no blob produced only inside a nested net")
    net = CASES[case]()
    before = net.SerializeToString()
    out = _modes()[mode](net)
    assert net.SerializeToString() == before
    assert oracle_difference(net, out) is None, mode
    # the DAG modes are safe under every valid order, the others in program order
    assert verify_execution_equivalence(net, out, random_orders=8 if mode in DAG else 0)
    # views keep their names; only storage roots are renamed
    storage = net_storage(net)
    views = {name for name, root in storage.items() if name != root}
    assert views <= {b for op in out.op for b in (*op.input, *op.output)} | {
        b
        for op in out.op
        for arg in op.arg
        if arg.HasField("n")
        for o in arg.n.op
        for b in o.output
    }


@pytest.mark.parametrize("mode", MODES)
def test_the_alias_case_still_shares_what_is_safe(mode: str) -> None:
    net = _net(
        [
            ("Relu", ["x"], ["p"]),
            ("Relu", ["p"], ["a"]),
            ("Alias", ["a"], ["b"]),
            ("Relu", ["b"], ["t"]),
            ("Sum", ["b", "t"], ["y"]),
        ],
        ["x"],
        ["y"],
    )
    out = _modes()[mode](net)
    assert oracle_difference(net, out) is None
    if mode not in ("grad", "dag"):  # the DAG modes need p's readers before a's writer: they are
        # t may take p's buffer (p is dead before t is written)
        assert out.op[3].output[0] == out.op[0].output[0]


def test_plan_figures_count_a_view_with_its_storage() -> None:
    net = alias_case()
    plan = plan_interference(net, [], blob_sizes=SIZES)
    # storages a (with b), t, c and y, none of which may share; x is an input
    assert plan.plan_bytes == 4 * 64
    assert {name for buffer in plan.optimization.assignments for name, _ in buffer} == {
        "x",
        "a",
        "t",
        "c",
        "y",
    }
    assert "b" not in plan.optimization.blob_assignments


def test_sharing_summary_and_measure_count_storages() -> None:
    net = alias_case()
    out = optimize_inference_fast(net, [], blob_shapes=SIZES)
    stats = sharing_summary(net, out, SIZES)
    assert (stats.blobs_before, stats.bytes_before) == (4, 4 * 64)  # a+b, t, c, y
    m = measure(net, None, SIZES)
    assert (m.blobs_before, m.naive_bytes, m.plan_bytes) == (4, 4 * 64, 4 * 64)
    assert m.peak_bytes == 3 * 64  # a (with b), t, c live at once; x is no produced blob
    assert stats.bytes_after is not None
    assert stats.bytes_after <= stats.bytes_before


def test_release_keeps_a_viewed_storage() -> None:
    net = alias_case()
    released = release_blobs_when_used(net, [])
    freed = {op.input[0] for op in released.op if op.type == "Free"}
    assert freed.isdisjoint({"a", "b"})
    assert freed == {"t", "c"}
    assert oracle_difference(net, released) is None
    assert verify_execution_equivalence(net, released)


def test_release_with_a_custom_view_op() -> None:
    net = alias_case("MyView")
    freed = {
        op.input[0]
        for op in release_blobs_when_used(net, [], view_ops={"MyView"}).op
        if op.type == "Free"
    }
    assert freed.isdisjoint({"a", "b"})


# ---------------------------------------------------------------------------
# view_ops=
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_custom_view_op(mode: str) -> None:
    net = alias_case("MyView")
    out = _modes({"Alias", "MyView"})[mode](net)
    assert oracle_difference(net, out, {"MyView"}) is None
    assert verify_execution_equivalence(net, out, view_ops={"Alias", "MyView"})


def test_custom_view_op_with_pairs() -> None:
    # output 1 of Split2 views input 0; output 0 is a new blob
    net = _net(
        [
            ("Relu", ["x"], ["a"]),
            ("Split2", ["a"], ["s", "b"]),
            ("Relu", ["s"], ["t"]),
            ("Sigmoid", ["t"], ["c"]),
            ("Sum", ["b", "c"], ["y"]),
        ],
        ["x"],
        ["y"],
    )
    rule = {"Split2": [(1, 0)]}
    assert net_storage(net, rule)["b"] == "a"
    assert net_storage(net, rule)["s"] == "s"
    out = optimize_interference(net, [], blob_sizes=SIZES, view_ops=rule).net
    bad = caffe2_pb2.NetDef()
    bad.CopyFrom(net)
    bad.op[2].output[0] = bad.op[3].input[0] = "a"
    assert not verify_execution_equivalence(net, bad, view_ops=rule)
    assert verify_execution_equivalence(net, out, view_ops=rule)


def test_view_ops_replace_the_default() -> None:
    assert view_rule().types == CAFFE2_VIEW_OPS
    assert view_rule(()).types == frozenset()
    assert view_rule(CAFFE2_VIEW_OPS | {"MyView"}).types == {"Alias", "MyView"}


@pytest.mark.parametrize("bad", ["Alias", b"Alias", {"Alias": [(0,)]}, {"Alias": [(-1, 0)]}, [3]])
def test_bad_view_ops_are_refused(bad: Any) -> None:
    with pytest.raises(TypeError):
        view_rule(bad)


def test_a_view_op_without_the_input_it_views_is_an_error() -> None:
    net = _net([("Alias", [], ["v"])], [], ["v"])
    with pytest.raises(UnsupportedNetError, match=r"op 'op0_Alias' \(Alias\).*0 inputs"):
        optimize_interference(net, [])
    with pytest.raises(NetDefError):
        optimize_inference_fast(net, [])


# ---------------------------------------------------------------------------
# Storage facts
# ---------------------------------------------------------------------------


def test_chain_of_aliases_is_one_storage() -> None:
    storage = net_storage(chain_case())
    assert storage["b"] == storage["b2"] == "a"


def test_view_of_an_external_input_is_never_renamed() -> None:
    net = external_view_case()
    for mode in MODES:
        out = _modes()[mode](net)
        assert out.op[0].input[0] == "x"
        assert out.op[0].output[0] == "v", mode
        assert out.op[4].input[0] == "v", mode


def test_nested_views_join_outer_storages() -> None:
    net = nested_case()
    accesses = net_accesses(net)
    assert accesses[1].views  # the If op declares v a view of a
    assert net_storage(net)["v"] == "a"


def test_inplace_alias_is_no_view() -> None:
    net = _net(
        [("Relu", ["x"], ["a"]), ("Alias", ["a"], ["a"]), ("Relu", ["a"], ["y"])], ["x"], ["y"]
    )
    assert net_storage(net) == {"x": "x", "a": "a", "y": "y"}
    assert verify_execution_equivalence(net, net)


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def _write(tmp_path: Path, net: caffe2_pb2.NetDef, name: str) -> Path:
    path = tmp_path / name
    save_net(net, str(path))
    return path


def _shapes(tmp_path: Path) -> Path:
    path = tmp_path / "sizes.json"
    path.write_text(json.dumps(SIZES), encoding="utf-8")
    return path


CLI_MODES = {
    "interference": [],
    "interference_dp": ["--algorithm", "dp"],
    "interference_longest_path": ["--ordering", "longest-path"],
    "fast": [],
    "dag": ["--input-blob", "x"],
    "grad": ["--loss", "y", "--share-activations"],
}


@pytest.mark.parametrize("case", ["alias", "rewritten_base", "chain", "external_view"])
@pytest.mark.parametrize("mode", list(CLI_MODES))
def test_command_every_mode(
    case: str, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = CASES[case]()
    src = _write(tmp_path, net, "net.pb")
    out = tmp_path / "out.pb"
    args = ["optimize", str(src), "-o", str(out), "--shapes", str(_shapes(tmp_path))]
    args += ["--mode", mode.split("_")[0], *CLI_MODES[mode]]
    assert main(args) == EXIT_OK, capsys.readouterr().err
    assert "verified: execution equivalence" in capsys.readouterr().out
    assert oracle_difference(net, load_net(str(out))) is None
    assert main(["verify", str(src), str(out)]) == EXIT_OK


@pytest.mark.parametrize("mode", ["interference", "fast", "dag", "grad"])
def test_command_view_op(mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = alias_case("MyView")
    src = _write(tmp_path, net, "net.pb")
    out = tmp_path / "out.pb"
    args = ["optimize", str(src), "-o", str(out), "--shapes", str(_shapes(tmp_path))]
    args += ["--mode", mode, *CLI_MODES[mode], "--view-op", "MyView"]
    assert main(args) == EXIT_OK, capsys.readouterr().err
    assert oracle_difference(net, load_net(str(out)), {"MyView"}) is None


def test_command_verify_view_op(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = alias_case("MyView")
    bad = alias_case("MyView")
    bad.op[2].output[0] = bad.op[3].input[0] = "a"
    src, dst = _write(tmp_path, net, "net.pb"), _write(tmp_path, bad, "bad.pb")
    assert main(["verify", str(src), str(dst)]) == EXIT_OK  # MyView unknown: not seen
    assert main(["verify", str(src), str(dst), "--view-op", "MyView"]) == EXIT_NOT_EQUIVALENT
    assert "reads 'b'" in capsys.readouterr().err


def test_command_stats_counts_views_with_their_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path, alias_case(), "net.pb")
    assert main(["stats", str(src), "--shapes", str(_shapes(tmp_path)), "--json"]) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert info["naive_bytes"] == 4 * 64
    assert info["peak_live_bytes"] == 3 * 64
