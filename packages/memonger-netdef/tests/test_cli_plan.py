"""``memonger plan``: arena plans of nets and MiniMalloc problems, checked independently."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from memonger.alloc import LiveRange, compute_ranges
from memonger.netdef.cli import main
from memonger.netdef.cli_plan import is_minimalloc_csv
from memonger.netdef.io import save_net
from memonger.netdef.models import small_resnet_training
from memonger.netdef.shapes import infer_shapes

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
CORPUS = Path(
    os.environ.get("MEMONGER_CORPUS", Path(__file__).parents[3] / ".." / "shared" / "corpus")
)


@pytest.fixture(scope="module")
def net_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    tmp = tmp_path_factory.mktemp("plan")
    model = small_resnet_training()
    save_net(model.net, tmp / "train.pb")
    inferred = infer_shapes(
        model.net,
        model.input_shapes,
        weight_shapes=model.weight_shapes,
        input_types=dict(model.input_dtypes),
    )
    sizes = {b: inferred.nbytes(b) for b in inferred.shapes}
    (tmp / "sizes.json").write_text(json.dumps(sizes))
    return tmp / "train.pb", tmp / "sizes.json", sizes


def overlaps(plan: dict[str, object]) -> list[tuple[str, str]]:
    """Pairs of tensors live at a common position whose byte intervals meet (the oracle)."""
    tensors = plan["tensors"]
    assert isinstance(tensors, list)
    bad = []
    for i, a in enumerate(tensors):
        for b in tensors[i + 1 :]:
            in_time = a["first"] <= b["last"] and b["first"] <= a["last"]
            in_space = (
                a["offset"] < b["offset"] + b["size"] and b["offset"] < a["offset"] + a["size"]
            )
            if in_time and in_space and a["size"] and b["size"]:
                bad.append((a["name"], b["name"]))
    return bad


def test_the_oracle_catches_an_overlap() -> None:
    plan = {
        "tensors": [
            {"name": "a", "offset": 0, "size": 8, "first": 0, "last": 2},
            {"name": "b", "offset": 4, "size": 8, "first": 2, "last": 3},
        ]
    }
    assert overlaps(plan) == [("a", "b")]


@pytest.mark.parametrize("ordering", ["program", "longest-path", "memory"])
def test_plan_of_a_net(
    net_files: tuple[Path, Path, dict[str, int]],
    tmp_path: Path,
    ordering: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    net, sizes_file, sizes = net_files
    out = tmp_path / "plan.json"
    status = main(
        ["plan", str(net), "--shapes", str(sizes_file), "-o", str(out), "--ordering", ordering]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "arena" in printed
    assert "peak live bytes" in printed
    assert "gap" in printed
    plan = json.loads(out.read_text())
    assert plan["schema"] == "memonger.plan"
    assert plan["version"] == 1
    assert overlaps(plan) == []
    top = max((t["offset"] + t["size"] for t in plan["tensors"]), default=0)
    assert plan["arena_bytes"] == top
    assert plan["arena_bytes"] >= plan["lower_bound"]
    if plan["proven_optimal"]:
        assert plan["arena_bytes"] == plan["lower_bound"] or "exact" in plan["algorithm"]
    if ordering == "program":
        # the bound is the peak of the planned tensors in program order
        from memonger.netdef import load_net

        loaded = load_net(net)
        ranges = compute_ranges(loaded.op, sizes)
        fixed = set(loaded.external_input) | set(loaded.external_output)
        planned = {t["name"] for t in plan["tensors"]}
        assert not planned & fixed
        live = [
            sum(ranges[n].size or 0 for n in planned if ranges[n].defined <= p <= ranges[n].used)
            for p in range(len(loaded.op))
        ]
        assert plan["lower_bound"] == max(live)


def test_csv_and_plot_outputs(net_files: tuple[Path, Path, dict[str, int]], tmp_path: Path) -> None:
    net, sizes_file, _ = net_files
    args = ["plan", str(net), "--shapes", str(sizes_file), "-o", str(tmp_path / "p.json")]
    args += ["--csv", str(tmp_path / "p.csv")]
    if HAS_MATPLOTLIB:
        args += ["--plot", str(tmp_path / "map.png")]
    assert main(args) == 0
    assert is_minimalloc_csv(str(tmp_path / "p.csv"))
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "id,lower,upper,size,offset"
    plan = json.loads((tmp_path / "p.json").read_text())
    assert len(rows) - 1 == len(plan["tensors"])
    if HAS_MATPLOTLIB:
        assert (tmp_path / "map.png").read_bytes().startswith(b"\x89PNG")


def _write_csv(path: Path, ranges: dict[str, LiveRange]) -> None:
    lines = ["id,lower,upper,size"]
    lines += [f"{n},{r.defined},{r.used + 1},{r.size}" for n, r in ranges.items()]
    path.write_text("\n".join(lines) + "\n")


def test_minimalloc_csv_with_capacity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = tmp_path / "p.csv"
    _write_csv(problem, {"a": LiveRange(0, 1, 4), "b": LiveRange(1, 2, 4), "c": LiveRange(2, 3, 4)})
    out = tmp_path / "plan.json"
    assert main(["plan", str(problem), "-o", str(out), "--capacity", "8"]) == 0
    plan = json.loads(out.read_text())
    assert plan["arena_bytes"] == 8
    assert overlaps(plan) == []
    out.unlink()
    assert main(["plan", str(problem), "-o", str(out), "--capacity", "7"]) == 1
    assert "proven" in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--alignment", "0"], "at least 1"),
        (["--capacity", "x"], "integer"),
        (["--time-limit", "nan"], "positive"),
        (["--time-limit", "-5"], "positive"),
        (["--algorithm", "fastest"], "invalid choice"),
    ],
)
def test_bad_options(
    tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = tmp_path / "p.csv"
    _write_csv(problem, {"a": LiveRange(0, 1, 4)})
    assert main(["plan", str(problem), "-o", str(tmp_path / "o.json"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_errors_name_the_problem(
    net_files: tuple[Path, Path, dict[str, int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net, _, _ = net_files
    assert main(["plan", str(net), "-o", str(tmp_path / "o.json")]) == 2
    assert "needs blob sizes" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "missing.pb"), "-o", str(tmp_path / "o.json")]) == 2
    assert "not found" in capsys.readouterr().err
    problem = tmp_path / "p.csv"
    _write_csv(problem, {"a": LiveRange(0, 1, 4)})
    assert main(["plan", str(problem), "-o", str(problem)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert problem.read_text().startswith("id,lower")


@pytest.mark.corpus
def test_minimalloc_instance_c(tmp_path: Path) -> None:
    instance = CORPUS / "minimalloc" / "C.1048576.csv"
    if not instance.exists():
        pytest.skip(f"corpus not found at {CORPUS}")
    out = tmp_path / "c.json"
    assert main(["plan", str(instance), "-o", str(out), "--capacity", "1048576", "-q"]) == 0
    plan = json.loads(out.read_text())
    assert plan["arena_bytes"] <= 1048576
    assert overlaps(plan) == []


def test_onnx_models_go_to_memonger_onnx(tmp_path: Path) -> None:
    pytest.importorskip("memonger.onnx")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "plan.json"
    assert main(["plan", str(path), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["schema"] == "memonger.plan"
