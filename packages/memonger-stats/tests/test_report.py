"""Report rows, text table, JSON schema and PNG plot."""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace as Op
from typing import Any

import pytest

from memonger.alloc import LiveRange
from memonger.stats import (
    SCHEMA,
    SCHEMA_VERSION,
    MemoryReport,
    MissingDependencyError,
    NetReport,
    StatsError,
    build_net_report,
    format_nbytes,
    plot_net_report,
    render_png,
)

# Old matplotlib (the declared minimum, 3.7) calls pyparsing names that
# pyparsing >= 3.3 deprecates; those warnings are not ours to fix.
pytestmark = pytest.mark.filterwarnings(r"ignore:'\w+' deprecated - use '\w+':DeprecationWarning")


def chain(n: int) -> tuple[list[Op], list[Op], dict[str, int], dict[str, str]]:
    ops = [Op(input=["x" if i == 0 else f"a{i - 1}"], output=[f"a{i}"]) for i in range(n)]
    sizes = {f"a{i}": (i % 5 + 1) * 2**20 for i in range(n)}
    opt = [
        Op(input=["x" if i == 0 else f"buf{(i - 1) % 2}"], output=[f"buf{i % 2}"]) for i in range(n)
    ]
    renames = {f"a{i}": f"buf{i % 2}" for i in range(n)}
    return ops, opt, sizes, renames


def sample_report() -> MemoryReport:
    ops, opt, sizes, renames = chain(30)
    row = build_net_report(
        "chain30",
        ops,
        sizes,
        optimized=opt,
        blob_assignments=renames,
        algorithm="greedy",
        optimal=False,
        seconds={"load": 0.5, "optimize": 0.25},
        extra={"note": "demo", "orders": 3},
    )
    plain = build_net_report("tiny", ops[:3], sizes, timelines=False)
    return MemoryReport((row, plain), metadata={"version": "0.1.0"})


def test_build_net_report_values() -> None:
    ops, opt, sizes, renames = chain(30)
    row = build_net_report("c", ops, sizes, optimized=opt, blob_assignments=renames)
    assert row.ops == 30
    assert (row.blobs_before, row.blobs_after) == (30, 2)
    assert row.naive_nbytes == sum(sizes.values())
    even = max(s for b, s in sizes.items() if int(b[1:]) % 2 == 0)
    odd = max(s for b, s in sizes.items() if int(b[1:]) % 2 == 1)
    assert row.plan_nbytes == even + odd
    pairs = [sizes[f"a{i}"] + sizes[f"a{i + 1}"] for i in range(29)]
    assert row.peak_nbytes == max(pairs) == row.lower_bound
    assert row.plan_peak_ratio == row.plan_nbytes / row.peak_nbytes
    assert row.timeline_optimized is not None
    assert row.timeline_optimized.total_nbytes == row.plan_nbytes
    # From assignments alone.
    buffers = [
        [(b, LiveRange(0, 0, None)) for b in renames if renames[b] == name]
        for name in ("buf0", "buf1")
    ]
    alone = build_net_report("c", ops, sizes, assignments=buffers, lower_bound_nbytes=7)
    assert (alone.plan_nbytes, alone.blobs_after, alone.lower_bound) == (row.plan_nbytes, 2, 7)
    unoptimized = build_net_report("c", ops, sizes)
    assert unoptimized.plan_nbytes == unoptimized.naive_nbytes
    assert unoptimized.saving_ratio == 0.0


def check_timeline(data: Any) -> None:
    assert set(data) == {
        "num_positions",
        "live_bytes",
        "allocated_bytes",
        "peak_bytes",
        "peak_position",
        "peak_blobs",
    }
    assert isinstance(data["num_positions"], int)
    assert len(data["live_bytes"]) == len(data["allocated_bytes"]) == data["num_positions"]
    assert all(isinstance(v, int) for v in data["live_bytes"] + data["allocated_bytes"])
    assert data["peak_bytes"] == max(data["live_bytes"])
    assert data["live_bytes"][data["peak_position"]] == data["peak_bytes"]
    assert all(isinstance(n, str) and isinstance(s, int) for n, s in data["peak_blobs"])


def test_json_schema() -> None:
    report = sample_report()
    data = json.loads(report.to_json())
    assert set(data) == {
        "schema",
        "schema_version",
        "title",
        "metadata",
        "versions",
        "nets",
        "totals",
    }
    assert data["schema"] == SCHEMA == "memonger.report"
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert isinstance(data["title"], str)
    assert data["metadata"] == {"version": "0.1.0"}
    types = {
        "name": (str,),
        "ops": (int,),
        "blobs_before": (int,),
        "blobs_after": (int,),
        "naive_bytes": (int,),
        "plan_bytes": (int,),
        "peak_bytes": (int,),
        "peak_live_bytes": (int,),
        "shared_object_bound_bytes": (int, type(None)),
        "lower_bound_bytes": (int,),
        "gap_bytes": (int,),
        "gap_percent": (float,),
        "plan_peak_ratio": (float, type(None)),
        "saving_ratio": (float,),
        "algorithm": (str, type(None)),
        "ordering": (str, type(None)),
        "budget": (dict,),
        "optimal": (bool, type(None)),
        "seconds": (dict,),
        "extra": (dict,),
        "buffers": (list, type(None)),
        "arena": (dict, type(None)),
        "timeline_original": (dict, type(None)),
        "timeline_optimized": (dict, type(None)),
    }
    for net in data["nets"]:
        assert set(net) == set(types)
        for key, allowed in types.items():
            assert isinstance(net[key], allowed), key
        assert all(isinstance(v, float) for v in net["seconds"].values())
        for key in ("timeline_original", "timeline_optimized"):
            if net[key] is not None:
                check_timeline(net[key])
    first, second = data["nets"]
    assert first["timeline_original"] is not None
    assert second["timeline_original"] is None
    assert first["algorithm"] == "greedy"
    assert first["optimal"] is False
    assert first["extra"] == {"note": "demo", "orders": 3}
    assert data["totals"] == {
        "nets": 2,
        "ops": 33,
        "naive_bytes": first["naive_bytes"] + second["naive_bytes"],
        "plan_bytes": first["plan_bytes"] + second["plan_bytes"],
        "peak_bytes": first["peak_bytes"] + second["peak_bytes"],
    }


def test_json_round_trip_and_file(tmp_path: Path) -> None:
    report = sample_report()
    again = MemoryReport.from_json(report.to_json())
    assert again == report
    assert again.to_dict() == report.to_dict()
    path = tmp_path / "report.json"
    report.write_json(path)
    assert json.loads(path.read_text()) == report.to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_json_rejects_other_schemas() -> None:
    data = sample_report().to_dict()
    with pytest.raises(StatsError, match="schema_version"):
        MemoryReport.from_dict({**data, "schema_version": 99})
    with pytest.raises(StatsError, match="not a memonger report"):
        MemoryReport.from_dict({**data, "schema": "other"})
    with pytest.raises(StatsError, match="JSON"):
        MemoryReport.from_json("[1")
    with pytest.raises(StatsError, match="malformed"):
        MemoryReport.from_dict({**data, "nets": [{"name": "x"}]})


def test_json_is_strict_with_zero_peak() -> None:
    row = NetReport("empty", 0, 0, 0, 0, 0, 0)
    text = MemoryReport((row,)).to_json()
    assert "NaN" not in text
    assert "Infinity" not in text
    assert json.loads(text)["nets"][0]["plan_peak_ratio"] is None


def test_text_table() -> None:
    text = sample_report().to_text()
    lines = text.splitlines()
    assert lines[0].split() == [
        "net",
        "ops",
        "blobs",
        "buffers",
        "naive",
        "plan",
        "peak",
        "plan/peak",
        "saved",
        "algorithm",
        "load",
        "s",
        "optimize",
        "s",
        "note",
        "orders",
    ]
    assert lines[1].startswith("chain30 ")
    assert lines[2].startswith("tiny ")
    assert "MiB" in lines[1]
    assert " greedy " in lines[1]
    assert len({len(line) for line in lines[:2]}) == 1  # aligned columns
    assert lines[2].split()[-5:] == ["-", "-", "-", "-", "-"]


def test_format_nbytes() -> None:
    assert format_nbytes(0) == "0 B"
    assert format_nbytes(1023) == "1023 B"
    assert format_nbytes(1024) == "1.00 KiB"
    assert format_nbytes(5 * 2**40) == "5.00 TiB"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert length == 13
    width, height = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[29:33])[0]
    assert crc == zlib.crc32(data[12:29])
    return width, height


@pytest.mark.parametrize(
    ("width", "height", "dpi"), [(1200, 675, 100), (640, 480, 72), (801, 333, 150)]
)
def test_png_has_declared_size(tmp_path: Path, width: int, height: int, dpi: int) -> None:
    pytest.importorskip("matplotlib")
    report = sample_report()
    path = tmp_path / "plot.png"
    report.plot(path, net="chain30", width=width, height=height, dpi=dpi)
    data = path.read_bytes()
    assert len(data) > 5000
    assert png_size(data) == (width, height)
    assert data.endswith(b"IEND\xaeB`\x82")
    assert png_size(render_png(report.nets[0], width=width, height=height, dpi=dpi)) == (
        width,
        height,
    )


def test_png_without_optimized_timeline(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    ops, _, sizes, _ = chain(5)
    row = build_net_report("plain", ops, sizes)
    plot_net_report(row, tmp_path / "p.png", width=400, height=300)
    assert png_size((tmp_path / "p.png").read_bytes()) == (400, 300)
    empty = build_net_report("empty", [], {})
    assert png_size(render_png(empty, width=300, height=200)) == (300, 200)


def test_plot_errors(tmp_path: Path) -> None:
    report = sample_report()
    with pytest.raises(StatsError, match="no timeline"):
        report.plot(tmp_path / "x.png", net="tiny")
    with pytest.raises(StatsError, match="no net named 'nope'"):
        report.plot(tmp_path / "x.png", net="nope")
    with pytest.raises(StatsError, match="index 5"):
        report.plot(tmp_path / "x.png", net=5)
    with pytest.raises(StatsError, match="too small"):
        render_png(report.nets[0], width=10, height=10)
    assert not (tmp_path / "x.png").exists()


def test_plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"memonger-stats\[plot\]") as info:
        render_png(sample_report().nets[0])
    assert isinstance(info.value, ImportError)


def test_written_files_get_the_permissions_the_umask_gives(tmp_path: Path) -> None:
    import os

    from memonger.stats.report import _write_atomic

    old = os.umask(0o022)
    try:
        _write_atomic(str(tmp_path / "r.json"), b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_arena_map_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from memonger.alloc import LiveRange, plan_offsets
    from memonger.stats import plot_arena, render_arena_png

    ranges = {
        "a": LiveRange(0, 2, 4096),
        "b": LiveRange(1, 3, 2048),
        "c": LiveRange(3, 5, 4096),
        "x": LiveRange(-1, 0, 512),
    }
    plan = plan_offsets(ranges)
    data = render_arena_png(ranges, plan.offsets, title="four", width=640, height=480, dpi=80)
    assert png_size(data) == (640, 480)
    plot_arena(ranges, plan.offsets, tmp_path / "map.png", width=500, height=300)
    assert png_size((tmp_path / "map.png").read_bytes()) == (500, 300)


def test_arena_map_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    from memonger.alloc import LiveRange
    from memonger.stats import render_arena_png
    from memonger.stats.plot import PLOT_HINT, require_matplotlib

    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "memonger-stats\[plot\]"'):
        require_matplotlib()
    with pytest.raises(MissingDependencyError, match="memonger-stats"):
        render_arena_png({"a": LiveRange(0, 1, 8)}, {"a": 0})
    assert "pip install" in PLOT_HINT
