"""The ``memonger`` command on saved random nets, run in-process.

``memonger optimize`` in every mode (and every algorithm and ordering for
``interference``) writes a net that the oracle finds equivalent and that
``memonger verify`` accepts; ``verify`` rejects the result with one input
rewired; ``optimize`` never touches its input file.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from harness_nets import Case, cases
from harness_oracle import as_text, divergence, renamed_fixed
from hypothesis import assume, given, note
from hypothesis import strategies as st

from memonger.netdef import caffe2_pb2, load_net, save_net
from memonger.netdef.cli import main

SUFFIXES = (".pb", ".pbtxt")


def optimize_args(case: Case, data: st.DataObject) -> tuple[list[str], bool]:
    """Options of one ``memonger optimize`` run; whether it is a DAG mode."""
    mode = data.draw(st.sampled_from(["interference", "dag", "grad", "fast"]), label="mode")
    args = ["--mode", mode]
    if mode == "interference":
        args += ["--algorithm", data.draw(st.sampled_from(["greedy", "dp"]), label="algorithm")]
        args += [
            "--ordering",
            data.draw(st.sampled_from(["program", "longest-path", "memory"]), label="ordering"),
        ]
        args += ["--time-limit", "1"]
    if mode == "grad":
        made = sorted({b for op in case.net.op for b in op.output})
        args += ["--loss", data.draw(st.sampled_from(made), label="loss"), "--param-grad", ""]
    if mode == "dag" and case.net.external_input:
        args += ["--input-blob", case.net.external_input[0]]
    if case.static:
        args += ["--static", ",".join(case.static)]
    return args, mode in ("dag", "grad")


def static_blobs(args: list[str]) -> set[str]:
    return {b for k, a in enumerate(args) if a == "--static" for b in args[k + 1].split(",")}


def rewired(net: caffe2_pb2.NetDef, original: caffe2_pb2.NetDef) -> caffe2_pb2.NetDef | None:
    """``net`` with one op input pointed at another blob so that it diverges."""
    names = sorted({b for op in net.op for b in list(op.input) + list(op.output)})
    for k, op in enumerate(net.op):
        for i, blob in enumerate(op.input):
            for other in names:
                if other == blob:
                    continue
                broken = caffe2_pb2.NetDef()
                broken.CopyFrom(net)
                broken.op[k].input[i] = other
                if divergence(original, broken) is not None:
                    return broken
    return None


@given(cases(), st.sampled_from(SUFFIXES), st.sampled_from(SUFFIXES), st.data())
def test_optimize_then_verify(
    case: Case, suffix: str, out_suffix: str, data: st.DataObject
) -> None:
    args, dag = optimize_args(case, data)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"net{suffix}"
        out = Path(tmp) / f"opt{out_suffix}"
        shapes = Path(tmp) / "sizes.json"
        save_net(case.net, src)
        shapes.write_text(json.dumps(case.sizes))
        before = src.read_bytes()
        status = main(["optimize", str(src), "-o", str(out), "--shapes", str(shapes), "-q", *args])
        assert status == 0, f"memonger optimize {args} exited with {status}"
        assert src.read_bytes() == before
        opt = load_net(out)
        note(f"memonger optimize {' '.join(args)}:\n{as_text(opt)}")
        problem = divergence(case.net, opt, control_is_read=True)
        assert problem is None, problem
        fixed = set(case.net.external_input) | set(case.net.external_output)
        assert renamed_fixed(case.net, opt, fixed | static_blobs(args)) == []
        verify = ["verify", str(src), str(out), "-q"] + (["--random-orders", "4"] if dag else [])
        assert main(verify) == 0
        broken = rewired(opt, case.net)
        assume(broken is not None)
        assert broken is not None
        bad = Path(tmp) / "broken.pb"
        save_net(broken, bad)
        assert main(["verify", str(src), str(bad), "-q"]) == 1


def chain() -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    for k, (i, o) in enumerate([("x", "a"), ("a", "b"), ("b", "c"), ("c", "y")]):
        net.op.add(type="Relu", name=f"op{k}", input=[i], output=[o])
    return net


@pytest.mark.parametrize("mode", ["interference", "fast", "dag"])
def test_static_blobs_keep_their_names(tmp_path: Path, mode: str) -> None:
    src, out = tmp_path / "net.pb", tmp_path / "out.pb"
    save_net(chain(), src)
    args = ["--loss", "y"] if mode == "grad" else []
    assert main(["optimize", str(src), "-o", str(out), "--mode", mode, "-q", *args]) == 0
    assert renamed_fixed(chain(), load_net(out), {"a"}) != []  # 'a' is shared by default
    assert (
        main(["optimize", str(src), "-o", str(out), "--mode", mode, "--static", "a", "-q", *args])
        == 0
    )
    assert renamed_fixed(chain(), load_net(out), {"a"}) == []


def test_verify_refuses_missing_files(tmp_path: Path) -> None:
    assert main(["verify", str(tmp_path / "a.pb"), str(tmp_path / "b.pb"), "-q"]) == 2


def test_optimize_writes_nothing_for_a_bad_net(tmp_path: Path) -> None:
    src = tmp_path / "net.pb"
    src.write_bytes(b"\xff\xff garbage")
    out = tmp_path / "out.pb"
    assert main(["optimize", str(src), "-o", str(out), "-q"]) == 2
    assert not out.exists()
