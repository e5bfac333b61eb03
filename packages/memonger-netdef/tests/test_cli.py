"""Tests of the ``memonger`` command (memonger.netdef.cli), run in-process."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memonger.netdef import caffe2_pb2, cli
from memonger.netdef.cli import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_EQUIVALENT,
    EXIT_OK,
    main,
)
from memonger.netdef.errors import NameCollisionError
from memonger.netdef.io import load_net, save_net
from memonger.netdef.models import small_resnet_training
from memonger.netdef.shapes import infer_shapes

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small ResNet training net, its init net, a shape file and an inference net."""
    tmp = tmp_path_factory.mktemp("nets")
    model = small_resnet_training()
    save_net(model.net, tmp / "train.pb")
    save_net(model.init_net, tmp / "init.pb")
    inferred = infer_shapes(
        model.net,
        model.input_shapes,
        weight_shapes=model.weight_shapes,
        input_types=dict(model.input_dtypes),
    )
    shapes = {
        b: {"shape": list(s), "dtype": inferred.dtypes[b], "bytes": inferred.nbytes(b)}
        for b, s in inferred.shapes.items()
    }
    (tmp / "train.shapes.json").write_text(json.dumps(shapes))
    sizes = {b: e["bytes"] for b, e in shapes.items()}
    (tmp / "train.sizes.json").write_text(json.dumps(sizes))
    # Forward ops only: an inference net for the dag mode.
    seed = next(i for i, op in enumerate(model.net.op) if op.type == "ConstantFill")
    forward = caffe2_pb2.NetDef(name="forward")
    forward.op.extend(model.net.op[:seed])
    forward.external_input.extend(model.net.external_input)
    forward.external_output.extend(["softmax", "loss"])
    save_net(forward, tmp / "forward.pb")
    return {
        "dir": tmp,
        "train": tmp / "train.pb",
        "init": tmp / "init.pb",
        "shapes": tmp / "train.shapes.json",
        "sizes": tmp / "train.sizes.json",
        "forward": tmp / "forward.pb",
    }


def _stderr_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", ["optimize", "stats", "verify", "demo"])
def test_help_with_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"memonger {command}" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert line.startswith("memonger: error: ")
    assert "COMMAND" in line
    assert "memonger --help" in line


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--algorithm", "dp", "--time-limit", "1"],
        ["--ordering", "longest-path"],
        ["--ordering", "memory", "--time-limit", "1"],
        ["--algorithm", "dp", "--ordering", "memory", "--time-limit", "1"],
        ["--mode", "grad"],
        ["--mode", "grad", "--share-activations", "--namescope", ""],
        ["--mode", "fast"],
    ],
    ids=lambda o: " ".join(o) or "default",
)
def test_optimize_then_verify_accepts(
    files: dict[str, Path],
    tmp_path: Path,
    options: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "opt.pb"
    args = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    assert main([*args, *options]) == EXIT_OK
    captured = capsys.readouterr()
    # no progress output when stderr is not a terminal; only notes on what was chosen
    assert "\r" not in captured.err
    assert all(line.startswith("memonger: ") for line in captured.err.splitlines())
    assert "error" not in captured.err
    assert "warning" not in captured.err
    assert "verified: execution equivalence" in captured.out
    assert f"wrote {out}" in captured.out
    optimized = load_net(out)
    original = load_net(files["train"])
    produced = {b for op in original.op for b in op.output}
    renamed = {b for op in optimized.op for b in op.output}
    assert len(renamed) < len(produced)
    assert list(optimized.external_input) == list(original.external_input)
    assert list(optimized.external_output) == list(original.external_output)
    assert main(["verify", str(files["train"]), str(out)]) == EXIT_OK
    assert "is a safe rewrite" in capsys.readouterr().out


def test_optimize_dag_mode_on_inference_net(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "forward_opt.pb"
    args = ["optimize", str(files["forward"]), "-o", str(out), "--mode", "dag"]
    assert main([*args, "--input-blob", "data", "--shapes", str(files["sizes"])]) == EXIT_OK
    assert "orders)" in capsys.readouterr().out  # checked under random DAG orders
    optimized = load_net(out)
    assert any(b.endswith("_shared") for op in optimized.op for b in op.output)
    assert main(["verify", str(files["forward"]), str(out), "--random-orders", "5"]) == EXIT_OK


def test_dag_mode_rejects_training_net(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.pb"
    assert main(["optimize", str(files["train"]), "-o", str(out), "--mode", "dag"]) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert line.startswith("memonger: error: ")
    assert "gradient op" in line
    assert not out.exists()


def test_sizes_from_init_net_and_inputs(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "opt.pbtxt"
    args = ["optimize", str(files["train"]), "-o", str(out), "--init-net", str(files["init"])]
    args += ["--input", "data=2,3,32,32", "--input", "label=2:int32"]
    assert main(args) == EXIT_OK
    with_inference = capsys.readouterr().out
    assert out.read_bytes().lstrip().startswith(b"name:")  # text format from the suffix
    out2 = tmp_path / "opt2.pb"
    args2 = ["optimize", str(files["train"]), "-o", str(out2), "--shapes", str(files["shapes"])]
    assert main(args2) == EXIT_OK
    with_file = capsys.readouterr().out
    # The same sizes either way: the same plan line.
    assert with_inference.splitlines()[1] == with_file.splitlines()[1]
    assert load_net(out) == load_net(out2)


def test_format_option(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "opt.bin"
    args = ["optimize", str(files["train"]), "-o", str(out), "--format", "text", "-q"]
    assert main(args) == EXIT_OK
    assert out.read_bytes().lstrip().startswith(b"name:")
    load_net(out)


def test_static_blobs_are_kept(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "opt.pb"
    keep = ["comp_0_conv_1", "pool1_grad"]
    args = ["optimize", str(files["train"]), "-o", str(out), "-q", "--static", ",".join(keep)]
    assert main(args) == EXIT_OK
    outputs = [b for op in load_net(out).op for b in op.output]
    original = [b for op in load_net(files["train"]).op for b in op.output]
    for name in keep:
        assert outputs.count(name) == original.count(name)


def test_quiet_prints_nothing(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "opt.pb"
    assert main(["optimize", str(files["train"]), "-o", str(out), "-q"]) == EXIT_OK
    assert capsys.readouterr() == ("", "")
    assert main(["verify", "-q", str(files["train"]), str(out)]) == EXIT_OK
    assert capsys.readouterr() == ("", "")


def _rewire(path: Path, target: Path) -> None:
    net = load_net(path)
    # The first op reading a produced blob now reads an older produced blob.
    for op in net.op[5:]:
        produced_before = [b for o in net.op[: list(net.op).index(op)] for b in o.output]
        if op.input and op.input[0] in produced_before:
            other = next(b for b in produced_before if b != op.input[0])
            op.input[0] = other
            break
    save_net(net, target)


def test_verify_rejects_a_rewired_input(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "opt.pb"
    assert main(["optimize", str(files["train"]), "-o", str(out), "-q"]) == EXIT_OK
    bad = tmp_path / "rewired.pb"
    _rewire(out, bad)
    assert main(["verify", str(files["train"]), str(bad)]) == EXIT_NOT_EQUIVALENT
    captured = capsys.readouterr()
    assert "FAILED  execution equivalence" in captured.out
    assert _stderr_line(captured.err).startswith("memonger: not equivalent: ")
    # The original itself, rewired, is rejected as well.
    bad2 = tmp_path / "rewired2.pb"
    _rewire(files["train"], bad2)
    assert main(["verify", "-q", str(files["train"]), str(bad2)]) == EXIT_NOT_EQUIVALENT


def test_optimize_refuses_to_write_a_failing_net(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = tmp_path / "rewired.pb"
    _rewire(files["train"], bad)
    real = cli.optimize_net

    def broken(net: caffe2_pb2.NetDef, **kwargs: object) -> cli.OptimizeResult:
        result = real(net, **kwargs)  # type: ignore[arg-type]
        result.net = load_net(bad)
        return result

    monkeypatch.setattr(cli, "optimize_net", broken)
    out = tmp_path / "out.pb"
    assert main(["optimize", str(files["train"]), "-o", str(out)]) == EXIT_NOT_EQUIVALENT
    captured = capsys.readouterr()
    line = _stderr_line(captured.err)
    assert line.startswith("memonger: error: interference/dp result failed its checks")
    assert line.endswith("nothing written")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "net file not found"),
        (b"", "empty"),
        (b"this is not a net \x00\xff\xfe", "not a NetDef"),
        (b"garbage", "not a NetDef"),
    ],
    ids=["missing", "empty", "binary-garbage", "text-garbage"],
)
@pytest.mark.parametrize("command", ["optimize", "stats", "verify"])
def test_bad_input_files(
    tmp_path: Path,
    files: dict[str, Path],
    content: bytes | None,
    message: str,
    command: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "in.pb"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out.pb"
    argv = {
        "optimize": ["optimize", str(path), "-o", str(out)],
        "stats": ["stats", str(path)],
        "verify": ["verify", str(files["train"]), str(path)],
    }[command]
    assert main(argv) == EXIT_ERROR
    captured = capsys.readouterr()
    line = _stderr_line(captured.err)
    assert line.startswith("memonger: error: ")
    assert message in line
    assert not out.exists()


def test_truncated_net(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trunc.pb"
    path.write_bytes(files["train"].read_bytes()[:-7])
    out = tmp_path / "out.pb"
    assert main(["optimize", str(path), "-o", str(out)]) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert str(path) in line
    assert not out.exists()


def test_missing_sizes(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"data": 24576, "conv1": 16384}))
    out = tmp_path / "out.pb"
    args = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(partial)]
    assert main(args) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert "no size for" in line
    assert "'conv1_spatbn_relu'" in line
    assert not out.exists()
    assert main([*args[:4], "--shapes", str(tmp_path / "none.json")]) == EXIT_ERROR
    assert "shape file not found" in _stderr_line(capsys.readouterr().err)
    # Inference that cannot size the net (no init net, no weights): also one line.
    args = ["optimize", str(files["train"]), "-o", str(out), "--input", "data=2,3,32,32"]
    assert main(args) == EXIT_ERROR
    assert "could not size" in _stderr_line(capsys.readouterr().err)


def test_report_and_plot_need_sizes(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.pb"
    args = ["optimize", str(files["train"]), "-o", str(out), "--report", str(tmp_path / "r.json")]
    assert main(args) == EXIT_ERROR
    assert "need blob sizes" in _stderr_line(capsys.readouterr().err)
    assert not out.exists()


def test_unwritable_output(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.pb"
    assert main(["optimize", str(files["train"]), "-o", str(out)]) == EXIT_ERROR
    assert "output directory does not exist" in _stderr_line(capsys.readouterr().err)
    assert main(["optimize", str(files["train"]), "-o", str(tmp_path)]) == EXIT_ERROR
    assert "is a directory" in _stderr_line(capsys.readouterr().err)


def test_name_collision_is_one_line(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def collide(*_args: object, **_kwargs: object) -> None:
        raise NameCollisionError("buffer name 'x__m0_shared' collides with blob 'x__m0_shared'")

    monkeypatch.setattr(cli, "optimize_net", collide)
    out = tmp_path / "out.pb"
    assert main(["optimize", str(files["train"]), "-o", str(out)]) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert line == ("memonger: error: buffer name 'x__m0_shared' collides with blob 'x__m0_shared'")
    assert not out.exists()


def test_interrupt(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "check_result", interrupted)
    out = tmp_path / "out.pb"
    assert main(["optimize", str(files["train"]), "-o", str(out)]) == EXIT_INTERRUPTED
    assert _stderr_line(capsys.readouterr().err) == "memonger: error: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_unknown_losses_for_grad_mode(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.pb"
    args = ["optimize", str(files["forward"]), "-o", str(out), "--mode", "grad"]
    assert main(args) == EXIT_ERROR
    assert "--loss" in _stderr_line(capsys.readouterr().err)


def test_report_json(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.pb"
    report = tmp_path / "report.json"
    args = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    assert main([*args, "--algorithm", "dp", "--report", str(report)]) == EXIT_OK
    data = json.loads(report.read_text())
    assert data["schema"] == "memonger.report"
    (row,) = data["nets"]
    for key in (
        "ops",
        "blobs_before",
        "blobs_after",
        "naive_bytes",
        "plan_bytes",
        "peak_bytes",
        "plan_peak_ratio",
        "seconds",
        "timeline_original",
        "timeline_optimized",
    ):
        assert key in row, key
    assert row["extra"]["mode"] == "interference"
    assert row["extra"]["algorithm"] == "dp"
    assert row["peak_bytes"] <= row["plan_bytes"] <= row["naive_bytes"]
    assert row["blobs_after"] < row["blobs_before"]
    # The summary printed agrees with the report.
    assert f"produced blobs {row['blobs_before']} -> {row['blobs_after']}" in (
        capsys.readouterr().out
    )


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib (memonger-stats[plot]) not installed")
def test_plot_png(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.pb"
    plot = tmp_path / "timeline.png"
    args = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    assert main([*args, "-q", "--plot", str(plot)]) == EXIT_OK
    data = plot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000


def test_stats(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(files["train"])]) == EXIT_OK
    out = capsys.readouterr().out
    assert "131 ops (60 gradient ops)" in out
    assert "237 produced" in out
    assert "bytes: unknown" in out
    args = ["stats", str(files["train"]), "--shapes", str(files["shapes"]), "--top", "3"]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert "peak live bytes" in out
    assert "ConvGradient" in out
    assert main([*args, "--json"]) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert info["ops"] == 131
    assert info["produced_blobs"] == 237
    assert len(info["peak_blobs"]) == 3
    assert info["peak_live_bytes"] <= info["naive_bytes"]
    assert info["estimate"]["total_bytes"] <= info["naive_bytes"]
    assert sum(info["estimate"]["by_op_type"].values()) == info["estimate"]["total_bytes"]


def test_stats_with_shape_inference(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["stats", str(files["train"]), "--init-net", str(files["init"]), "--json"]
    assert main([*args, "--input", "data=2,3,32,32", "--input", "label=2:int32"]) == EXIT_OK
    by_inference = json.loads(capsys.readouterr().out)
    assert main(["stats", str(files["train"]), "--shapes", str(files["shapes"]), "--json"]) == 0
    by_file = json.loads(capsys.readouterr().out)
    assert by_inference["naive_bytes"] == by_file["naive_bytes"]


def test_bad_input_option(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    assert main(["stats", str(files["train"]), "--input", "data=2,x"]) == EXIT_ERROR
    assert "bad dimensions" in capsys.readouterr().err


def test_module_entry_point(files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "memonger.netdef", "stats", str(files["train"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "131 ops" in proc.stdout


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import time

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    fake = Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    with cli._progress("dp search", True, 10.0, status=lambda: "3 blobs placed", delay=0.1):
        time.sleep(0.6)
    text = fake.getvalue()
    assert "\rmemonger: dp search:" in text
    assert "of 10 s, 3 blobs placed" in text
    assert text.endswith("\r\033[K")  # the line is cleared at the end
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    with cli._progress("dp search", False, 10.0, delay=0.1):
        time.sleep(0.3)
    assert quiet.getvalue() == ""
    # A step that ends within the delay (a second by default) shows nothing.
    short = Terminal()
    monkeypatch.setattr(sys, "stderr", short)
    with cli._progress("dp search", True):
        time.sleep(0.2)
    assert short.getvalue() == ""


def test_optimize_shows_progress_for_dp_on_a_terminal(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import time

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    real = cli.optimize_net

    def slow(net: caffe2_pb2.NetDef, **kwargs: object) -> cli.OptimizeResult:
        assert kwargs["show_progress"] is True
        with cli._progress("dp", bool(kwargs["show_progress"]), delay=0.1):
            time.sleep(0.4)
        return real(net, **kwargs)  # type: ignore[arg-type]

    fake = Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    monkeypatch.setattr(cli, "optimize_net", slow)
    out = tmp_path / "out.pb"
    args = ["optimize", str(files["train"]), "-o", str(out), "--algorithm", "dp"]
    assert main(args) == EXIT_OK
    assert "memonger: dp:" in fake.getvalue()


def _corpus() -> Path:
    import os

    default = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
    path = Path(os.environ.get("MEMONGER_CORPUS", default))
    if not (path / "MANIFEST.json").exists():
        pytest.skip(f"corpus not found at {path} (set MEMONGER_CORPUS)")
    return path


@pytest.mark.corpus
@pytest.mark.parametrize(
    "name",
    [
        "resnet50_b1_224x224.train",
        "mobilenet_v2_b1_224x224.train",
        "vgg16_b1_224x224.train",
        "ssd300_vgg_train_a",
    ],
)
def test_corpus_training_nets_grad_mode(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nets = _corpus() / "nets"
    shapes = nets / (name.removesuffix(".train") + ".shapes.json.gz")
    out = tmp_path / "out.pb"
    args = ["optimize", str(nets / f"{name}.pbtxt"), "-o", str(out), "--mode", "grad"]
    if shapes.exists():
        args += ["--shapes", str(shapes)]
    # Losses and parameter gradients are found without options.
    assert main(args) == EXIT_OK, capsys.readouterr().err
    text = capsys.readouterr().out
    before, after = (int(x) for x in text.split("produced blobs ")[1].split(" (")[0].split(" -> "))
    assert after < before
    assert (
        main(["verify", "-q", str(nets / f"{name}.pbtxt"), str(out), "--random-orders", "3"]) == 0
    )


def test_memory_ordering_weighs_only_blobs_that_may_share() -> None:
    # An external output keeps its own buffer whatever the order, so creating
    # it later frees nothing for the plan: the order must not chase it.
    from memonger.graph import compute_interference_graph
    from memonger.netdef.rewrite import net_accesses

    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["E", "y"])
    for src, dst in [("x", "E"), ("x", "t1"), ("t1", "t2"), ("t2", "y")]:
        net.op.add(type="Relu", input=[src], output=[dst])
    sizes = {"x": 1, "E": 100, "t1": 10, "t2": 10, "y": 1}
    graph = compute_interference_graph(net_accesses(net))
    # counting every blob, the big external output is created last ...
    from memonger.netdef.orderings import ordering_function

    assert ordering_function("memory", sizes)(graph) == [1, 2, 3, 0]
    # ... but among shareable blobs nothing is gained, so program order stays
    fixed = {"x", "E", "y"}
    assert ordering_function("memory", sizes, unshareable=fixed)(graph) == [0, 1, 2, 3]
    assert ordering_function("memory", None, unshareable=fixed)(graph) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------
# Bad input: one line, exit status 2, never a traceback
# ---------------------------------------------------------------------------


def _chain_file(tmp_path: Path, name: str = "chain.pbtxt") -> Path:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    for k, (i, o) in enumerate([("x", "a"), ("a", "b"), ("b", "c"), ("c", "y")]):
        net.op.add(type="Relu", name=f"op{k}", input=[i], output=[o])
    path = tmp_path / name
    save_net(net, path)
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "{net}", "{net}", "--random-orders", "-3"],
        ["verify", "{net}", "{net}", "--random-orders", "many"],
        ["demo", "--batch-size", "-1"],
        ["demo", "--batch-size", "0"],
        ["demo", "--time-limit", "-5"],
        ["optimize", "{net}", "-o", "{out}", "--time-limit", "-5"],
        ["optimize", "{net}", "-o", "{out}", "--time-limit", "nan"],
        ["optimize", "{net}", "-o", "{out}", "--time-limit", "inf"],
        ["optimize", "{net}", "-o", "{out}", "--time-limit", "0"],
        ["optimize", "{net}", "-o", "{out}", "--mode", "magic"],
        ["optimize", "{net}", "-o", "{out}", "--format", "json"],
        ["optimize", "{net}"],
        ["optimize", "{net}", "-o"],
        ["optimize", "{net}", "-o", "{out}", "--bogus"],
        ["optimize", "{net}", "-o", "{out}", "--input", "=1,2"],
        ["optimize", "{net}", "-o", "{out}", "--input", "x=1,-2"],
        ["optimize", "{net}", "-o", "{out}", "--input", "x"],
        ["stats", "{net}", "--top", "-1"],
        ["stats", "{net}", "--device", "tpu:0"],
        ["stats", "{net}", "--device", "cuda:x"],
        ["stats", "{net}", "--input", "x=2:complex"],
        ["frobnicate"],
        [],
    ],
)
def test_mistyped_arguments_are_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = _chain_file(tmp_path)
    out = tmp_path / "out.pb"
    args = [a.format(net=net, out=out) for a in argv]
    assert main(args) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert line.startswith("memonger: error: ")
    assert not out.exists()


def test_the_argument_parser_never_crashes(tmp_path: Path) -> None:
    """Random command lines from the options' own vocabulary: 0, 1 or 2, one line on errors."""
    import random

    net = str(_chain_file(tmp_path))
    words = [
        "optimize", "stats", "verify", "demo", net, "-o", str(tmp_path / "o.pb"), "--mode",
        "dag", "grad", "fast", "--algorithm", "dp", "--ordering", "memory", "--time-limit",
        "-1", "0", "1e309", "nan", "--static", "a", "", ",", "--loss", "zz", "--param-grad",
        "--input", "x=1", "x=1,2:int32", "x=", "--input-blob", "--random-orders", "--top",
        "--device", "cpu", "--format", "text", "--shapes", str(tmp_path), "--init-net",
        "--report", "--plot", "--batch-size", "--view-op", "-q", "--json", "--small",
    ]  # fmt: skip
    rng = random.Random(11)
    for _ in range(120):
        argv = [rng.choice(words) for _ in range(rng.randint(0, 7))]
        if "demo" in argv[:1]:
            continue  # a valid demo runs for a while
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
        assert status in (EXIT_OK, EXIT_NOT_EQUIVALENT, EXIT_ERROR), argv
        if status == EXIT_ERROR:
            errors = [line for line in err.getvalue().splitlines() if "error" in line]
            assert len(errors) == 1, (argv, err)
            assert errors[0].startswith("memonger: error: "), (argv, err)
        assert "Traceback" not in err.getvalue(), argv


@pytest.mark.parametrize(
    ("op_type", "inputs", "shape"),
    [("InstanceNorm", ["x", "s", "b"], "x=4"), ("InstanceNorm", ["x", "s", "b"], "x="),
     ("ConvGradient", [], "x=1,2,3,3"), ("Conv", [], "x=1,2")],
)  # fmt: skip
def test_malformed_ops_in_shape_inference(
    op_type: str,
    inputs: list[str],
    shape: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    net = caffe2_pb2.NetDef(external_input=["x", "s", "b"], external_output=["y"])
    net.op.add(type="Relu", input=["x"], output=["x1"])
    net.op.add(type=op_type, input=[b.replace("x", "x1") for b in inputs], output=["y", "z"])
    path = tmp_path / "bad.pbtxt"
    save_net(net, path)
    for argv in (
        ["stats", str(path), "--input", shape],
        ["optimize", str(path), "-o", str(tmp_path / "o.pb"), "--input", shape],
    ):
        status = main(argv)
        err = capsys.readouterr().err
        assert status == EXIT_ERROR, err
        line = _stderr_line(err)
        assert line.startswith("memonger: error: ")
        assert op_type in line or "no size" in line or "could not size" in line
    assert not (tmp_path / "o.pb").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--static", "a,nothere"), ("--loss", "nothere"), ("--param-grad", "nothere"),
     ("--input", "nothere=1,2"), ("--input-blob", "nothere")],
)  # fmt: skip
def test_unknown_names_are_errors_naming_them(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = _chain_file(tmp_path)
    out = tmp_path / "out.pb"
    assert main(["optimize", str(net), "-o", str(out), option, value]) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert option in line
    assert "'nothere'" in line
    assert not out.exists()


def test_a_repeated_input_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = _chain_file(tmp_path)
    argv = ["stats", str(net), "--input", "x=1,2", "--input", "x=3,4"]
    assert main(argv) == EXIT_ERROR
    assert "'x' twice" in _stderr_line(capsys.readouterr().err)


def test_empty_external_lists_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = caffe2_pb2.NetDef()
    net.op.add(type="Relu", input=["x"], output=["y"])
    path = tmp_path / "cut.pbtxt"
    save_net(net, path)
    assert main(["stats", str(path)]) == EXIT_OK
    err = capsys.readouterr().err
    assert f"memonger: warning: {path}" in err
    assert "external_input and external_output lists are both empty" in err
    # a net declaring either list is not warned about
    assert main(["stats", str(_chain_file(tmp_path))]) == EXIT_OK
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------
# Outputs: never the input, all or nothing, the umask's permissions, signals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["same path", "symbolic link", "hard link", "dotted path"])
def test_output_naming_the_input_is_refused(
    how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = _chain_file(tmp_path)
    before = net.read_bytes()
    target = {
        "same path": net,
        "symbolic link": tmp_path / "link.pb",
        "hard link": tmp_path / "hard.pb",
        "dotted path": tmp_path / "." / net.name,
    }[how]
    if how == "symbolic link":
        target.symlink_to(net)
    if how == "hard link":
        os.link(net, target)
    assert main(["optimize", str(net), "-o", str(target)]) == EXIT_ERROR
    line = _stderr_line(capsys.readouterr().err)
    assert "is the input net" in line
    assert net.read_bytes() == before


def test_two_outputs_naming_one_file_are_refused(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.pb"
    argv = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    assert main([*argv, "--report", str(out)]) == EXIT_ERROR
    assert "name the same file" in _stderr_line(capsys.readouterr().err)
    assert main([*argv, "--report", str(files["shapes"])]) == EXIT_ERROR
    assert "is the shape file" in _stderr_line(capsys.readouterr().err)
    assert not out.exists()


def test_a_failing_plot_writes_nothing(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from memonger.stats import plot as stats_plot
    from memonger.stats.errors import MissingDependencyError

    def no_matplotlib(*args: object, **kwargs: object) -> bytes:
        raise MissingDependencyError(stats_plot.PLOT_HINT)

    monkeypatch.setattr(stats_plot, "render_png", no_matplotlib)
    out, report, plot = tmp_path / "out.pb", tmp_path / "r.json", tmp_path / "p.png"
    argv = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    assert main([*argv, "--report", str(report), "--plot", str(plot)]) == EXIT_ERROR
    assert "matplotlib" in _stderr_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_report_writes_nothing(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from memonger.netdef import io as netdef_io

    out, report = tmp_path / "out.pb", tmp_path / "r.json"
    real = netdef_io._stage

    def full_disk(path: Path, data: bytes) -> Path:
        if path.name == "r.json":
            raise OSError(28, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(netdef_io, "_stage", full_disk)
    argv = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    assert main([*argv, "--report", str(report)]) == EXIT_ERROR
    assert "No space left" in _stderr_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_the_umask_permissions(files: dict[str, Path], tmp_path: Path) -> None:
    out, report, plot = tmp_path / "out.pb", tmp_path / "r.json", tmp_path / "p.png"
    argv = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    argv += ["--report", str(report), "-q"]
    if HAS_MATPLOTLIB:
        argv += ["--plot", str(plot)]
    old = os.umask(0o022)
    try:
        assert main(argv) == EXIT_OK
    finally:
        os.umask(old)
    for path in (out, report, plot) if HAS_MATPLOTLIB else (out, report):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


_SIGNAL_SCRIPT = """
import os, signal, sys, time
# A parent that ignores SIGINT (a background job) passes that on: restore Python's handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
from memonger.netdef import cli, io
real = io._stage
def slow(path, data):
    staged = real(path, data)
    print("staged", flush=True)
    time.sleep(float(os.environ["PAUSE"]))
    return staged
io._stage = slow
real_optimize = cli.optimize_net
def slow_optimize(*args, **kwargs):
    print("optimizing", flush=True)
    time.sleep(float(os.environ["PAUSE"]))
    return real_optimize(*args, **kwargs)
cli.optimize_net = slow_optimize
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("when", ["optimizing", "staged"])
def test_a_signal_leaves_the_previous_output_and_no_temporary(
    signum: int, when: str, files: dict[str, Path], tmp_path: Path
) -> None:
    out, report = tmp_path / "out.pb", tmp_path / "r.json"
    out.write_bytes(b"previous output")
    argv = ["optimize", str(files["train"]), "-o", str(out), "--shapes", str(files["shapes"])]
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGNAL_SCRIPT, *argv, "--report", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PAUSE": "1.5"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == when:
            break
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    expected = EXIT_INTERRUPTED if signum == signal.SIGINT else cli.EXIT_TERMINATED
    assert proc.returncode == expected, err
    assert err.strip().splitlines()[-1] in (
        "memonger: error: interrupted",
        "memonger: error: terminated",
    )
    assert "Traceback" not in err
    assert out.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pb"]


def test_memory_ordering_never_keeps_a_worse_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # two independent branches: in program order b can take a's buffer
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y1", "y2"])
    for k, (i, o) in enumerate([("x", "a"), ("a", "y1"), ("x", "b"), ("b", "y2")]):
        net.op.add(type="Relu", name=f"op{k}", input=[i], output=[o])
    path = tmp_path / "branches.pb"
    save_net(net, path)
    sizes = tmp_path / "sizes.json"
    sizes.write_text(json.dumps({"x": 4, "a": 8, "b": 8, "y1": 4, "y2": 4}))
    from memonger.netdef import orderings

    real = orderings.ordering_function

    def interleaved(name: str, *args: Any, **kwargs: Any) -> Any:
        if name != "memory":
            return real(name, *args, **kwargs)
        return lambda _g: [0, 2, 1, 3]  # valid, but a and b are then live together

    monkeypatch.setattr(orderings, "ordering_function", interleaved)
    out = tmp_path / "out.pb"
    argv = ["optimize", str(path), "-o", str(out), "--shapes", str(sizes), "--ordering", "memory"]
    assert main(argv) == EXIT_OK
    captured = capsys.readouterr()
    assert "kept the program order's plan (16 B): the memory order's plan needs more (24 B)" in (
        captured.err
    )
    assert "plan 16 B" in captured.out
    assert [op.name for op in load_net(out).op] == ["op0", "op1", "op2", "op3"]

    monkeypatch.setattr(orderings, "ordering_function", real)
    assert main(argv) == EXIT_OK
    assert "kept the memory order's plan (16 B" in capsys.readouterr().err


def test_help_imports_no_heavy_dependency() -> None:
    """`memonger --help` loads neither protobuf nor numpy nor networkx (nor onnx)."""
    code = (
        "import sys\n"
        "from memonger.netdef.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('google.protobuf', 'numpy', 'networkx', 'onnx')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:"
