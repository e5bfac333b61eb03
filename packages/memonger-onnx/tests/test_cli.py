"""The memonger command on ONNX models."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import helper
from onnx_oracles import assert_valid_offsets, info, model

from memonger.alloc import LiveRange
from memonger.onnx import cli
from memonger.onnx.cli import main, run_onnx_command


def _symbolic(tmp_path: Path) -> Path:
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    m = model(nodes, [info("x", ["batch", 16])], [info("y", ["batch", 16])])
    path = tmp_path / "sym.onnx"
    onnx.save(m, str(path))
    return path


def test_plan_on_a_light_model(
    light_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.json"
    table = tmp_path / "plan.csv"
    status = main(["plan", str(light_model), "-o", str(out), "--csv", str(table)])
    text = capsys.readouterr().out
    assert status == 0
    assert "arena" in text
    assert "lower bound (peak live bytes)" in text
    assert "gap 0 B (0.00%)" in text
    assert "proven optimal" in text
    doc = json.loads(out.read_text())
    assert doc["schema"] == "memonger.plan"
    assert doc["version"] == 1
    ranges = {t["name"]: LiveRange(t["first"], t["last"], t["size"]) for t in doc["tensors"]}
    offsets = {t["name"]: t["offset"] for t in doc["tensors"]}
    assert_valid_offsets(ranges, offsets, doc["arena_bytes"])
    assert doc["arena_bytes"] == doc["lower_bound"]
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["tensor"] for r in rows} == set(ranges)


# matplotlib 3.7 (the declared minimum) calls pyparsing names newer pyparsing deprecates.
@pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")
def test_plan_with_plot(light_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "map.png"
    status = main(["plan", str(light_model), "-o", str(tmp_path / "p.json"), "--plot", str(png)])
    assert status == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    called = []
    monkeypatch.setattr(cli, "_plan", lambda *a, **k: called.append(1))
    status = main(["plan", str(_symbolic(tmp_path)), "-o", str(tmp_path / "p.json"),
                   "--plot", str(tmp_path / "m.png")])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2
    assert not called
    assert 'pip install "memonger-stats[plot]"' in err
    assert not (tmp_path / "p.json").exists()


def test_dims_on_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _symbolic(tmp_path)
    out = tmp_path / "p.json"
    assert main(["plan", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memonger: error: ")
    assert err.count("\n") == 1
    assert "'x'" in err
    assert "batch" in err
    assert not out.exists()
    assert main(["plan", str(path), "-o", str(out), "--dim", "batch=2"]) == 0
    sizes = {t["name"]: t["size"] for t in json.loads(out.read_text())["tensors"]}
    assert sizes == {"x": 128, "a": 128, "y": 128}
    assert main(["plan", str(path), "-o", str(out), "--skip-unknown"]) == 0


def test_capacity_proven_infeasible_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _symbolic(tmp_path)
    out = tmp_path / "p.json"
    status = main(["plan", str(path), "-o", str(out), "--dim", "batch=1", "--capacity", "10"])
    assert status == 1
    assert "cannot fit in 10 bytes" in capsys.readouterr().err
    assert not out.exists()
    assert main(["plan", str(path), "-o", str(out), "--dim", "batch=1", "--capacity", "128"]) == 0


def test_all_or_nothing_when_a_target_folder_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _symbolic(tmp_path)
    out = tmp_path / "p.json"
    status = main(["plan", str(path), "-o", str(out), "--dim", "batch=1",
                   "--csv", str(tmp_path / "missing" / "t.csv")])  # fmt: skip
    assert status == 2
    assert "no such directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sym.onnx"]


def test_stats(light_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(light_model), "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert "peak live bytes (program order, the lower bound)" in text
    assert "top tensors at the peak (2 of" in text
    assert main(["stats", str(light_model), "--json", "--ordering", "memory"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["arena_bytes"] == data["lower_bound_bytes"] == data["peak_live_bytes"]
    assert data["order"] == "memory"
    assert data["gap_bytes"] == 0


def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x08\x3a\xff\x01")
    assert main(["stats", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"memonger: error: {bad}: truncated ONNX model "
        "(the data ends inside a field after 5 bytes)\n"
    )
    assert main(["stats", str(tmp_path / "nothere.onnx")]) == 2
    assert "model not found" in capsys.readouterr().err
    assert main(["plan", str(_symbolic(tmp_path))]) == 2  # argparse: -o is required
    assert "required" in capsys.readouterr().err
    assert main(["plan", str(_symbolic(tmp_path)), "-o", "x.json", "--dim", "batch"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    status = main(["plan", str(_symbolic(tmp_path)), "-o", str(tmp_path / "x.json"),
                   "--dim", "batch=1", "--algorithm", "fastest"])  # fmt: skip
    assert status == 2
    assert "unknown offset algorithm 'fastest'" in capsys.readouterr().err


def test_onnx_detected_by_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _symbolic(tmp_path)
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(path.read_bytes())
    assert cli.is_onnx_file(str(renamed))
    assert run_onnx_command(["stats", str(renamed), "--dim", "batch=1"]) == 0
    assert "2 nodes" in capsys.readouterr().out


def test_non_onnx_input_goes_to_netdef_or_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    net = tmp_path / "net.pb"
    net.write_bytes(b"\x0a\x03net")
    assert run_onnx_command(["stats", str(net)]) is None
    assert run_onnx_command(["optimize", str(net), "-o", "x"]) is None
    calls: list[list[str]] = []
    fake = type(sys)("memonger.netdef.cli")
    fake.main = lambda argv: calls.append(list(argv)) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "memonger.netdef.cli", fake)
    assert main(["stats", str(net)]) == 7
    assert main(["demo"]) == 7
    assert calls == [["stats", str(net)], ["demo"]]
    monkeypatch.setitem(sys.modules, "memonger.netdef.cli", None)
    assert main(["stats", str(net)]) == 2
    assert "pip install memonger-netdef" in capsys.readouterr().err
    assert main(["optimize", str(net)]) == 2
    assert "'optimize'" in capsys.readouterr().err


def test_console_script_entry_point(light_model: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "memonger.onnx", "stats", str(light_model)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "proven optimal" in proc.stdout
