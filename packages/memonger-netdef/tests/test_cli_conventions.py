"""The command's conventions: one vocabulary, defaults, stdin/stdout, verbosity, dry runs.

Run in-process (stdin replaced by a byte stream) except where the bytes on
stdout matter, which a subprocess checks.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from memonger.alloc import DEFAULT_NODE_LIMIT, LiveRange, allocate, positional_maxima_bound
from memonger.netdef import cli
from memonger.netdef.cli import EXIT_ERROR, EXIT_OK, build_parser, main
from memonger.netdef.io import load_net, save_net
from memonger.netdef.models import small_resnet_training
from memonger.netdef.shapes import infer_shapes
from memonger.stats.report import format_nbytes, validate_report

SUBCOMMANDS = ("optimize", "stats", "plan", "verify", "demo")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("conventions")
    model = small_resnet_training()
    save_net(model.net, tmp / "train.pb")
    save_net(model.net, tmp / "train.pbtxt")
    inferred = infer_shapes(
        model.net,
        model.input_shapes,
        weight_shapes=model.weight_shapes,
        input_types=dict(model.input_dtypes),
    )
    sizes = {b: inferred.nbytes(b) for b in inferred.shapes}
    (tmp / "sizes.json").write_text(json.dumps(sizes))
    return {
        "dir": tmp,
        "train": tmp / "train.pb",
        "text": tmp / "train.pbtxt",
        "sizes": tmp / "sizes.json",
    }


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


# ---------------------------------------------------------------- one vocabulary


def test_one_byte_formatter() -> None:
    for n in (0, 12, 1023, 1024, 1536 * 1024, 5 * 2**30, 7 * 2**40):
        assert cli.format_bytes(n) == format_nbytes(n)
    assert cli.format_bytes(None) == "-"


def test_optimize_names_both_bounds_with_their_gaps(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.pb"
    args = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["sizes"])]
    assert main(args) == EXIT_OK
    printed = capsys.readouterr().out
    assert "lower bound" not in printed
    peak_line = next(line for line in printed.splitlines() if "peak live bytes" in line)
    assert "(gap " in peak_line
    assert "%)" in peak_line
    solver = next(line for line in printed.splitlines() if "exact solver" in line)
    assert "shared-object bound" in solver
    assert ", gap " in solver
    assert f"of {DEFAULT_NODE_LIMIT:,} search nodes" in solver
    assert "arena (memonger plan)" in printed
    assert main([*args, "--algorithm", "greedy"]) == EXIT_OK
    greedy = capsys.readouterr().out
    assert "shared-object bound" in greedy
    assert "exact solver" not in greedy


def test_stats_says_which_bound_it_prints(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", str(files["train"]), "--shapes", str(files["sizes"])]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "lower bound" not in printed
    assert "peak live bytes (program order; no plan for this order needs fewer)" in printed


# ------------------------------------------------------- defaults and budgets


def test_the_command_and_the_api_share_the_default_algorithm_and_budget() -> None:
    assert cli.DEFAULT_ALGORITHM == "dp"
    assert inspect.signature(cli.optimize_net).parameters["algorithm"].default == "dp"
    default = inspect.signature(allocate).parameters["algorithm"].default
    assert allocate({}, algorithm=default).algorithm == allocate({}, algorithm="dp").algorithm
    assert inspect.signature(allocate).parameters["node_limit"].default == DEFAULT_NODE_LIMIT
    assert not hasattr(cli, "DEFAULT_DP_TIME_LIMIT")  # no wall-clock default of its own
    optimize = _subparsers()["optimize"]
    assert optimize.get_default("algorithm") == "dp"
    assert optimize.get_default("time_limit") is None
    assert f"default: {DEFAULT_NODE_LIMIT:,}" in optimize.format_help().replace("\n", " ")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_option_shows_its_default(command: str) -> None:
    parser = _subparsers()[command]
    for action in parser._actions:
        if not action.option_strings or action.default in (None, argparse.SUPPRESS):
            continue
        assert "default" in (action.help or ""), (command, action.option_strings)


def test_budget_options_where_there_is_a_search() -> None:
    for command in ("optimize", "plan", "demo"):
        options = {o for a in _subparsers()[command]._actions for o in a.option_strings}
        assert {"--node-limit", "--time-limit"} <= options, command


def test_node_limit_reaches_the_solver(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    args = ["optimize", str(files["train"]), "--dry-run", "--shapes", str(files["sizes"])]
    assert main([*args, "--node-limit", "3", "--verbose", "--report", str(report)]) == EXIT_OK
    captured = capsys.readouterr()
    assert "budget 3 nodes" in captured.err
    assert "of 3 search nodes" in captured.out
    (row,) = json.loads(report.read_text())["nets"]
    assert row["budget"] == {"node_limit": 3, "time_limit": None}
    assert main([*args, "--node-limit", "0"]) == EXIT_ERROR
    assert "search nodes >= 1" in capsys.readouterr().err


def test_progress_line_shows_the_search_figures() -> None:
    items = [(f"b{i}", LiveRange(i, i + 1, 8 * (i % 3 + 1))) for i in range(10)]
    search = cli._ExactSearch(DEFAULT_NODE_LIMIT, None)
    assert search.status() == f"0 blobs placed, budget {DEFAULT_NODE_LIMIT:,} nodes"
    search._current = items
    status = search.status()
    assert status.startswith("0 of 10 blobs placed, best so far ")
    bound = format_nbytes(positional_maxima_bound(items))
    assert f"shared-object bound {bound}" in status
    assert f"budget {DEFAULT_NODE_LIMIT:,} nodes" in status
    search(items)
    assert search.placed == 10
    assert search.proven_optimal
    assert search.shared_object_bound == allocate(items).shared_object_bound


# ------------------------------------------------------------- the report


def test_optimize_report_says_who_shares_and_how(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "o.pb", tmp_path / "r.json"
    args = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["sizes"])]
    assert main([*args, "--ordering", "memory", "--report", str(report), "-q"]) == EXIT_OK
    data = json.loads(report.read_text())
    validate_report(data)
    assert data["versions"]["memonger-netdef"] == metadata.version("memonger-netdef")
    (row,) = data["nets"]
    assert (row["algorithm"], row["ordering"]) == ("dp", "memory")
    assert row["budget"] == {"node_limit": DEFAULT_NODE_LIMIT, "time_limit": None}
    bound = row["shared_object_bound_bytes"]
    assert row["peak_live_bytes"] <= bound <= row["plan_bytes"]
    names = {b for op in load_net(out).op for b in op.output}
    sizes = json.loads(files["sizes"].read_text())
    for buffer in row["buffers"]:
        assert buffer["name"] in names
        assert len(buffer["blobs"]) > 1
        assert buffer["bytes"] == max(sizes[b] for b in buffer["blobs"])
    shared = [b for buffer in row["buffers"] for b in buffer["blobs"]]
    assert len(shared) == len(set(shared))


def test_plan_report_carries_the_arena_plan(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    args = ["plan", str(files["train"]), "--shapes", str(files["sizes"]), "--dry-run"]
    assert main([*args, "--report", str(report), "--node-limit", "1000"]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "dry run: the plan was not written; wrote " in printed
    data = json.loads(report.read_text())
    validate_report(data)
    (row,) = data["nets"]
    arena = row["arena"]
    assert arena["schema"] == "memonger.plan"
    assert arena["peak_live_bytes"] == row["peak_live_bytes"] == arena["lower_bound"]
    assert row["plan_bytes"] == arena["arena_bytes"]
    assert row["budget"]["node_limit"] == 1000
    assert len(arena["tensors"]) == row["blobs_before"]


# --------------------------------------------------------- a conventional command


def test_version_lists_every_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    for name in ("memonger-alloc", "memonger-graph", "memonger-stats", "memonger-netdef"):
        assert f"{name} {metadata.version(name)}" in lines


def test_stdin_and_stdout(files: dict[str, Path], tmp_path: Path) -> None:
    data = files["train"].read_bytes()
    args = ["optimize", "-", "-o", "-", "--shapes", str(files["sizes"])]
    done = subprocess.run(
        [sys.executable, "-m", "memonger.netdef", *args],
        input=data,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"wrote <stdout>" in done.stderr
    assert b"<stdin>: 131 ops" in done.stderr
    optimized = load_net(done.stdout)  # only the net is on stdout
    assert len(optimized.op) == 131
    result = tmp_path / "opt.pb"
    result.write_bytes(done.stdout)
    assert main(["verify", str(files["train"]), str(result), "-q"]) == EXIT_OK


def test_text_net_to_stdout_in_process(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, files["text"].read_bytes())
    args = ["optimize", "-", "-o", "-", "--format", "text", "--shapes", str(files["sizes"])]
    assert main(args) == EXIT_OK
    captured = capsys.readouterr()
    assert len(load_net(captured.out.encode()).op) == 131
    assert "wrote <stdout>" in captured.err


def test_stats_and_plan_read_stdin(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, files["train"].read_bytes())
    assert main(["stats", "-", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["ops"] == 131
    _stdin(monkeypatch, b"id,lower,upper,size\n0,0,2,8\n1,1,3,4\n2,2,4,8\n")
    assert main(["plan", "-", "-o", "-"]) == EXIT_OK
    captured = capsys.readouterr()
    plan = json.loads(captured.out)
    assert plan["arena_bytes"] == plan["lower_bound"] == 12  # half-open lifespans
    assert "<stdin>: 3 tensors" in captured.err
    assert "gap 0 B (0.00%)" in captured.err


def test_two_outputs_cannot_both_be_stdout(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["optimize", str(files["train"]), "-o", "-", "--report", "-"]
    assert main([*args, "--shapes", str(files["sizes"])]) == EXIT_ERROR
    assert "only one output can go to stdout" in capsys.readouterr().err


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_quiet_and_verbose_on_every_subcommand(command: str) -> None:
    parser = _subparsers()[command]
    options = {o for a in parser._actions for o in a.option_strings}
    assert {"-q", "--quiet", "-v", "--verbose"} <= options
    with pytest.raises(cli.UsageError, match="not allowed with"):
        parser.parse_args(["x", "y", "-q", "-v"] if command == "verify" else ["x", "-q", "-v"])


def test_verbose_and_quiet_runs(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.pb"
    args = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["sizes"])]
    assert main([*args, "--verbose"]) == EXIT_OK
    err = capsys.readouterr().err
    assert "memonger: read " in err
    assert "memonger: exact search: nodes " in err
    assert "memonger: verified: " in err
    for argv in (
        [*args, "-q"],
        ["stats", str(files["train"]), "-q"],
        ["verify", str(files["train"]), str(out), "-q"],
        ["plan", str(files["train"]), "--shapes", str(files["sizes"]), "--dry-run", "-q"],
    ):
        assert main(argv) == EXIT_OK, argv
        captured = capsys.readouterr()
        assert captured.err == "", argv
        assert (captured.out == "") is (argv[0] != "stats"), argv
    assert main(["verify", str(files["train"]), str(out), "-v"]) == EXIT_OK
    assert "memonger: checked in " in capsys.readouterr().err


def test_dry_run_writes_no_net(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "o.pb", tmp_path / "r.json"
    args = ["optimize", str(files["train"]), "--shapes", str(files["sizes"]), "--dry-run"]
    assert main([*args, "-o", str(out), "--report", str(report)]) == EXIT_OK
    printed = capsys.readouterr().out
    assert not out.exists()
    assert report.exists()
    assert f"dry run: the net was not written; wrote {report}" in printed
    assert "verified: execution equivalence" in printed
    assert main(args) == EXIT_OK  # no -o needed
    assert main(["optimize", str(files["train"])]) == EXIT_ERROR
    assert "-o/--output (or --dry-run)" in capsys.readouterr().err
    plan = tmp_path / "plan.json"
    assert main(["plan", str(files["train"]), "--shapes", str(files["sizes"]), "--dry-run",
                 "-o", str(plan)]) == EXIT_OK  # fmt: skip
    assert not plan.exists()
    assert main(["plan", str(files["train"]), "--shapes", str(files["sizes"])]) == EXIT_ERROR


def test_devices_as_the_flag_spells_them(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["stats", str(files["train"]), "--shapes", str(files["sizes"])]
    assert main(args) == EXIT_OK
    assert "estimated allocation on device cpu:" in capsys.readouterr().out
    for spelled in ("cuda:1", "hip:0", "cpu"):
        assert main([*args, "--device", spelled]) == EXIT_OK
        assert f"on device {spelled}:" in capsys.readouterr().out
        assert main([*args, "--device", spelled, "--json"]) == EXIT_OK
        assert json.loads(capsys.readouterr().out)["estimate"]["device"] == spelled
    assert main([*args, "--device", "gpu:2"]) == EXIT_OK  # an alias of cuda
    assert "on device cuda:2:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["optimize", "/nonexistent/net.pb", "-o", "{tmp}/o.pb", "--plot", "{tmp}/p.png"],
        ["plan", "/nonexistent/net.pb", "-o", "{tmp}/p.json", "--plot", "{tmp}/p.png"],
        ["demo", "--small", "--plot", "{tmp}/p.png"],
    ],
    ids=lambda argv: argv[0],
)
def test_plot_without_matplotlib_fails_before_any_work(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    ran: list[str] = []
    monkeypatch.setattr(cli, "optimize_net", lambda *a, **k: ran.append("work"))
    assert main([a.format(tmp=tmp_path) for a in argv]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert 'pip install "memonger-stats[plot]"' in err
    assert "not found" not in err
    assert not ran
    assert list(tmp_path.iterdir()) == []
