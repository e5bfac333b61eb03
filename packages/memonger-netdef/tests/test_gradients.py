"""Tests of memonger.netdef.gradients: what a gradient op, blob and parameter gradient is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memonger.netdef import caffe2_pb2, optimize_inference_for_dag, share_grad_blobs
from memonger.netdef.cli import EXIT_OK, main
from memonger.netdef.errors import UnsupportedNetError
from memonger.netdef.gradients import (
    FORWARD_OPS_NAMED_GRADIENT,
    backward_start,
    find_param_grads,
    is_gradient_blob,
    is_gradient_op,
)
from memonger.netdef.io import load_net


def _corpus() -> Path:
    default = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
    path = Path(os.environ.get("MEMONGER_CORPUS", default))
    if not (path / "MANIFEST.json").exists():
        pytest.skip(f"corpus not found at {path} (set MEMONGER_CORPUS)")
    return path


@pytest.mark.parametrize(
    ("op_type", "flag", "expected"),
    [
        ("ConvGradient", False, True),
        ("SoftmaxWithLossGradient", False, True),
        ("StopGradient", False, False),
        ("ZeroGradient", False, False),
        ("Gradient", False, False),
        ("threshold_backward", True, True),
        ("StopGradient", True, True),  # the flag is what Caffe2 says
        ("Relu", False, False),
    ],
)
def test_gradient_ops_by_flag_and_registry_naming(op_type: str, flag: bool, expected: bool) -> None:
    assert is_gradient_op(caffe2_pb2.OperatorDef(type=op_type, is_gradient_op=flag)) is expected


def test_forward_ops_named_gradient_are_a_documented_set() -> None:
    assert {"StopGradient", "ZeroGradient"} <= FORWARD_OPS_NAMED_GRADIENT


def test_gradient_blob_names() -> None:
    assert is_gradient_blob("conv1_w_grad")
    assert is_gradient_blob("_fc1_grad_autosplit_0")
    assert not is_gradient_blob("grad_norm")
    assert not is_gradient_blob("conv1_grad_scale")


def _stop_gradient_net() -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(external_input=["data", "w"], external_output=["out"])
    net.op.add(type="StopGradient", input=["data"], output=["data"])
    for src, dst in [("data", "a"), ("a", "b"), ("b", "c")]:
        net.op.add(type="FC", input=[src, "w"], output=[dst])
    net.op.add(type="Relu", input=["c"], output=["out"])
    return net


def test_stop_gradient_does_not_make_an_inference_net_a_training_net() -> None:
    out = optimize_inference_for_dag(_stop_gradient_net(), ["data"])
    assert out.op[3].output[0] == out.op[1].output[0] != "a"  # c took a's buffer


def test_a_real_gradient_op_is_still_refused_by_inference() -> None:
    net = _stop_gradient_net()
    net.op.add(type="ReluGradient", input=["out", "out"], output=["c_grad"])
    with pytest.raises(UnsupportedNetError, match="ReluGradient"):
        optimize_inference_for_dag(net, ["data"])


def test_backward_pass_starts_after_stop_gradient() -> None:
    net = _stop_gradient_net()
    net.op.add(type="ConstantFill", input=["out"], output=["out_grad"])
    assert backward_start(net.op) == 5
    assert backward_start(net.op, ["c"]) == 4


def test_grad_mode_shares_activations_behind_stop_gradient() -> None:
    net = caffe2_pb2.NetDef(external_input=["data", "w"])
    net.op.add(type="StopGradient", input=["data"], output=["data"])
    for src, dst in [("data", "a"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]:
        net.op.add(type="FC", input=[src, "w"], output=[dst])
    net.op.add(type="Loss", input=["e"], output=["loss"])
    net.op.add(type="ConstantFill", input=["loss"], output=["loss_grad"])
    net.op.add(type="FCGradient", input=["e", "w", "loss_grad"], output=["w_grad", "e_grad"])
    out = share_grad_blobs(net, ["loss"], ["w_grad"], "", share_activations=True)
    # a and c (forward activations before the head) share one buffer
    assert out.op[1].output[0] == out.op[3].output[0] != "a"


def _sgd_net() -> caffe2_pb2.NetDef:
    """A training net with SGD updates and no external outputs (as Caffe2 writes them)."""
    net = caffe2_pb2.NetDef(external_input=["x", "w", "v", "ONE", "LR", "m"])
    net.op.add(type="FC", input=["x", "w"], output=["h"])
    net.op.add(type="FC", input=["h", "v"], output=["y"])
    net.op.add(type="Loss", input=["y"], output=["loss"])
    net.op.add(type="ConstantFill", input=["loss"], output=["loss_grad"])
    net.op.add(type="FCGradient", input=["h", "v", "loss_grad"], output=["v_grad", "h_grad"])
    net.op.add(type="FCGradient", input=["x", "w", "h_grad"], output=["w_grad", "x_grad"])
    net.op.add(type="WeightedSum", input=["v", "ONE", "v_grad", "LR"], output=["v"])
    net.op.add(
        type="MomentumSGDUpdate", input=["w_grad", "m", "LR", "w"], output=["w_grad", "m", "w"]
    )
    return net


def test_parameter_gradients_found_from_update_ops() -> None:
    found = find_param_grads(_sgd_net())
    assert found.names == ("v_grad", "w_grad")
    assert found.by_rule == {"update ops": ("v_grad", "w_grad")}
    assert "2 read with its parameter by update ops" in found.describe()


def test_parameter_gradients_from_external_outputs_and_update_ops() -> None:
    net = _sgd_net()
    net.external_output.append("x_grad")  # x is an external input
    found = find_param_grads(net)
    assert found.names == ("x_grad", "v_grad", "w_grad")
    assert set(found.by_rule) == {"external outputs", "update ops"}


def test_an_op_reading_a_gradient_without_its_parameter_finds_nothing() -> None:
    net = caffe2_pb2.NetDef()
    net.op.add(type="Scale", input=["h_grad"], output=["h2_grad"])
    net.op.add(type="WeightedSum", input=["a", "ONE", "b_grad"], output=["a"])
    assert find_param_grads(net).names == ()


def test_grad_mode_keeps_the_gradients_the_optimizer_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memonger.netdef.io import save_net

    src, out = tmp_path / "sgd.pbtxt", tmp_path / "out.pb"
    save_net(_sgd_net(), src)
    assert main(["optimize", str(src), "-o", str(out), "--mode", "grad"]) == EXIT_OK
    err = capsys.readouterr().err
    assert "2 parameter gradients found: 2 read with its parameter by update ops" in err
    produced = {b for op in load_net(out).op for b in op.output}
    assert {"v_grad", "w_grad"} <= produced
    # --param-grad still overrides
    args = ["optimize", str(src), "-o", str(out), "--mode", "grad", "--param-grad", "w_grad"]
    assert main(args) == EXIT_OK
    assert "1 parameter gradients from --param-grad" in capsys.readouterr().err


@pytest.mark.corpus
def test_real_ssd_training_net(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _corpus() / "nets" / "ssd300_vgg_train_a.pbtxt"
    net = load_net(path)
    assert net.op[1].type == "StopGradient"
    assert not net.external_output
    first = backward_start(net.op)
    assert net.op[first].type != "StopGradient"
    assert first > 50
    found = find_param_grads(net)
    assert len(found.names) == 70
    assert set(found.by_rule) == {"update ops"}

    def buffers(*options: str) -> int:
        out = tmp_path / "out.pb"
        args = ["optimize", str(path), "-o", str(out), "--mode", "grad", *options]
        assert main(args) == EXIT_OK
        text = capsys.readouterr().out
        return int(text.split("produced blobs ")[1].split(" (")[0].split(" -> ")[1])

    # the activations before the backward pass are shared now (231 when the
    # backward pass seemed to start at StopGradient)
    assert buffers("--share-activations", "--param-grad", "") <= 180
    # and the parameter gradients the WeightedSum updates read keep their names
    assert buffers("--share-activations") < 231
    renamed = {b for op in load_net(tmp_path / "out.pb").op for b in op.output}
    assert set(found.names) <= renamed
