"""Tests of ``memonger demo`` (memonger.netdef.demo) on the small ResNet."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

from memonger.netdef.cli import EXIT_OK, main
from memonger.netdef.demo import DEMO_MODES, run_demo
from memonger.netdef.io import load_net
from memonger.stats import MissingDependencyError
from memonger.stats.report import MemoryReport

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out_dir = tmp_path_factory.mktemp("demo")
    stream = io.StringIO()
    status = run_demo(small=True, out_dir=str(out_dir), stream=stream, time_limit=0.5)
    assert status == EXIT_OK
    return out_dir, stream.getvalue()


def test_table_lists_every_mode_and_the_bound(demo_run: tuple[Path, str]) -> None:
    _, text = demo_run
    for spec in DEMO_MODES:
        assert spec.label in text
    assert "peak live bytes in program order (no plan for it needs fewer)" in text
    assert "lower bound" not in text  # the two bounds are named apart
    assert "(shared-object bound " in text
    assert "gap " in text
    assert "naive (every produced blob its own buffer)" in text
    assert "ResNet-17 (width 8) training net, batch 2, 3x32x32 images: 131 ops" in text
    assert "best plan:" in text


def test_report_figures_are_consistent(demo_run: tuple[Path, str]) -> None:
    out_dir, _ = demo_run
    report = MemoryReport.from_json((out_dir / "demo_report.json").read_text())
    assert [row.name for row in report.nets] == [spec.label for spec in DEMO_MODES]
    naive = {row.naive_nbytes for row in report.nets}
    assert len(naive) == 1
    for row in report.nets:
        assert row.peak_nbytes <= row.plan_nbytes < row.naive_nbytes, row.name
        assert row.blobs_after < row.blobs_before
        assert row.extra["verified"] == "yes"
    by_name = {row.name: row for row in report.nets}
    # The exact solver never does worse than greedy on the same order.
    assert by_name["interference dp"].plan_nbytes <= by_name["interference greedy"].plan_nbytes
    # Optimality is claimed only with a proof: the plan meets its bound (the
    # exact solver's, or the peak), or the exact search completed.
    for row in report.nets:
        assert row.peak_nbytes <= row.lower_bound <= row.plan_nbytes, row.name
        if row.optimal:
            assert row.name.startswith("interference dp") or row.plan_nbytes == row.lower_bound
        if row.name.startswith("interference dp"):
            assert row.optimal is not None, row.name
        else:
            assert row.optimal is (True if row.plan_nbytes == row.lower_bound else None), row.name


def test_report_rows_carry_the_plan_and_how_it_was_made(demo_run: tuple[Path, str]) -> None:
    from memonger.alloc import DEFAULT_NODE_LIMIT
    from memonger.stats.report import validate_report

    out_dir, _ = demo_run
    data = json.loads((out_dir / "demo_report.json").read_text())
    validate_report(data)
    assert set(data["versions"]) >= {"memonger-alloc", "memonger-stats", "memonger-netdef"}
    report = MemoryReport.from_dict(data)
    for row in report.nets:
        assert row.buffers, row.name
        assert sum(len(b.blobs) for b in row.buffers) <= row.blobs_before
        if row.name.startswith("interference"):
            assert row.shared_object_bound_nbytes is not None
            assert row.peak_nbytes <= row.shared_object_bound_nbytes <= row.plan_nbytes
            assert row.ordering in ("program", "memory")
        if row.name.startswith("interference dp"):
            assert (row.algorithm, row.node_limit) == ("dp", DEFAULT_NODE_LIMIT)
            assert row.time_limit == 0.5


def test_exact_solver_verdict_printed(demo_run: tuple[Path, str]) -> None:
    out_dir, text = demo_run
    report = MemoryReport.from_json((out_dir / "demo_report.json").read_text())
    for row in report.nets:
        if row.name.startswith("interference dp"):
            verdict = "proven optimal" if row.optimal else "not proven optimal"
            assert f"{row.name}: {verdict} for its op order by the exact solver" in text


def test_written_nets_verify(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir, _ = demo_run
    original = out_dir / "resnet17_train.pb"
    assert load_net(original).name == "resnet17_train"
    assert load_net(out_dir / "resnet17_train_init.pb").op
    shapes = json.loads((out_dir / "resnet17_train.shapes.json").read_text())
    assert shapes["pool1"]["shape"] == [2, 8, 8, 8]
    optimized = sorted(out_dir.glob("resnet17_train.*.pb"))
    assert len(optimized) == len(DEMO_MODES)
    for path in optimized:
        assert main(["verify", "-q", str(original), str(path)]) == EXIT_OK, path
    capsys.readouterr()


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib (memonger-stats[plot]) not installed")
def test_plot_written(demo_run: tuple[Path, str]) -> None:
    out_dir, text = demo_run
    plot = out_dir / "demo_timeline.png"
    assert f"wrote {plot}" in text
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_command_line_with_plot_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plot = tmp_path / "custom.png"
    calls: list[str] = []

    def fake_plot(self: MemoryReport, path: str, **_kwargs: object) -> None:
        calls.append(str(path))
        Path(path).write_bytes(b"png")

    monkeypatch.setattr(MemoryReport, "plot", fake_plot)
    args = ["demo", "--small", "--time-limit", "0.2", "--batch-size", "1"]
    assert main([*args, "--plot", str(plot)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "batch 1" in out
    assert calls == [str(plot)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custom.png"]
    # Without --plot: demo_timeline.png in the current directory.
    assert main(args) == EXIT_OK
    assert calls[-1].endswith("demo_timeline.png")
    assert (tmp_path / "demo_timeline.png").exists()


def test_without_matplotlib(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def no_matplotlib(self: MemoryReport, path: str, **_kwargs: object) -> None:
        raise MissingDependencyError("matplotlib is not installed")

    monkeypatch.setattr(MemoryReport, "plot", no_matplotlib)
    assert main(["demo", "--small", "--time-limit", "0.2"]) == EXIT_OK
    assert "no plot: matplotlib is not installed" in capsys.readouterr().out
    # Asked for explicitly, a missing plotting library is an error.
    assert main(["demo", "--small", "--time-limit", "0.2", "--plot", "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memonger: error: matplotlib")
    assert list(tmp_path.iterdir()) == []
