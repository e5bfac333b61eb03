"""Tests of the built-in training nets (memonger.netdef.models)."""

from __future__ import annotations

from collections import Counter

import pytest

from memonger.netdef import caffe2_pb2
from memonger.netdef.models import (
    TrainingNet,
    resnet50_training,
    resnet_training,
    small_resnet_training,
)
from memonger.netdef.shapes import infer_shapes


@pytest.fixture(scope="module")
def resnet50() -> TrainingNet:
    return resnet50_training()


@pytest.fixture(scope="module")
def small() -> TrainingNet:
    return small_resnet_training()


def _types(model: TrainingNet) -> Counter[str]:
    return Counter(op.type for op in model.net.op)


def test_resnet50_op_counts(resnet50: TrainingNet) -> None:
    counts = _types(resnet50)
    # 1 stem conv + 16 blocks x 3 convs + 4 projection shortcuts.
    assert counts["Conv"] == 1 + 16 * 3 + 4 == 53
    assert counts["SpatialBN"] == 53
    # Stem relu + 2 inner relus per block + one after each residual sum.
    assert counts["Relu"] == 1 + 16 * 3 == 49
    assert counts["MaxPool"] == counts["AveragePool"] == counts["FC"] == 1
    assert counts["SoftmaxWithLoss"] == 1
    # Every forward op with a gradient maker has exactly one gradient op.
    for fwd in ("Conv", "SpatialBN", "Relu", "MaxPool", "AveragePool", "FC", "SoftmaxWithLoss"):
        assert counts[fwd + "Gradient"] == counts[fwd], fwd
    # 16 residual sums forward; one gradient accumulation per block input
    # (each block's input feeds its first conv and its shortcut).
    assert counts["Sum"] == 16 + 16
    assert counts["ConstantFill"] == 1
    assert len(resnet50.net.op) == 351
    assert len(resnet50.params) == 53 + 2 * 53 + 2 == 161


def test_every_read_is_produced_earlier_or_external(resnet50: TrainingNet) -> None:
    net = resnet50.net
    external = set(net.external_input)
    written: set[str] = set()
    for op in net.op:
        for blob in op.input:
            assert blob in written or blob in external, (op.type, blob)
        written.update(op.output)
    # External inputs are exactly the blobs read before any write.
    assert external == {"data", "label"} | set(resnet50.weight_shapes)
    assert net.external_input[0] == "data"
    assert net.external_input[len(net.external_input) - 1] == "label"
    assert set(net.external_output) <= written


def test_every_param_has_its_gradient_written(resnet50: TrainingNet) -> None:
    writers = Counter(out for op in resnet50.net.op for out in op.output)
    for param in resnet50.params:
        assert writers[param + "_grad"] == 1, param
    assert resnet50.param_grads == tuple(p + "_grad" for p in resnet50.params)
    assert list(resnet50.net.external_output) == ["loss", *resnet50.param_grads]
    # Running statistics are not trained: no gradient for them.
    for blob in resnet50.weight_shapes:
        if blob.endswith(("_rm", "_riv")):
            assert writers[blob + "_grad"] == 0
            assert blob not in resnet50.params


def test_gradient_ops_flagged_and_after_forward(resnet50: TrainingNet) -> None:
    ops = list(resnet50.net.op)
    seed = next(i for i, op in enumerate(ops) if op.type == "ConstantFill")
    assert ops[seed].input[:] == ["loss"]
    assert ops[seed].output[:] == ["loss_autogen_grad"]
    assert [a.f for a in ops[seed].arg if a.name == "value"] == [1.0]
    for op in ops[:seed]:
        assert not op.is_gradient_op
        assert not op.type.endswith("Gradient")
    for op in ops[seed + 1 :]:
        # Gradient makers' ops are flagged; accumulation Sums, as in Caffe2, are not.
        assert op.is_gradient_op == (op.type != "Sum"), op.type
        assert op.type.endswith("Gradient") or op.type == "Sum"
    loss_grad = ops[seed + 1]
    assert loss_grad.type == "SoftmaxWithLossGradient"
    assert loss_grad.input[:] == ["last_out_L1000", "label", "softmax", "loss_autogen_grad"]


def test_relu_in_place_and_relu_gradient_inputs(resnet50: TrainingNet) -> None:
    for op in resnet50.net.op:
        if op.type == "Relu":
            assert op.input[:] == op.output[:]
        if op.type == "ReluGradient":
            y, dy = op.input
            assert dy == y + "_grad"
            assert op.output[:] == [dy]


def test_spatial_bn_training_outputs(resnet50: TrainingNet) -> None:
    for op in resnet50.net.op:
        if op.type == "SpatialBN":
            _x, s, b, rm, riv = op.input
            y, rm_out, riv_out, sm, siv = op.output
            assert (rm_out, riv_out) == (rm, riv)
            assert (s, b, rm, riv, sm, siv) == tuple(
                y + suffix for suffix in ("_s", "_b", "_rm", "_riv", "_sm", "_siv")
            )
            args = {a.name: a for a in op.arg}
            assert args["is_test"].i == 0
            assert args["order"].s == b"NCHW"


def test_conv_has_no_bias_and_gradient_outputs(resnet50: TrainingNet) -> None:
    for op in resnet50.net.op:
        if op.type == "Conv":
            assert len(op.input) == 2
            assert op.input[1] == op.output[0] + "_w"
            assert {a.name for a in op.arg} >= {"kernel", "stride", "pad", "order"}
        if op.type == "ConvGradient":
            x, w, _dy = op.input
            w_grad, x_grad = op.output
            assert w_grad == w + "_grad"
            assert x_grad in (x + "_grad", f"_{x}_grad_autosplit_0")
            # Arguments are copied from the forward op, and the bias-less
            # gradient is marked as Caffe2's gradient maker does.
            args = {a.name: a for a in op.arg}
            assert set(args) >= {"kernel", "stride", "pad"}
            assert args["no_bias"].i == 1


def test_gradient_accumulation_like_caffe2(small: TrainingNet) -> None:
    ops = list(small.net.op)
    sums = [op for op in ops if op.type == "Sum" and op.input[0].endswith("_grad")]
    by_output = {op.output[0]: op for op in sums}
    # pool1 feeds comp_0's first conv and its projection: the projection's
    # gradient (produced first in the backward pass) keeps the name.
    assert by_output["pool1_grad"].input[:] == ["pool1_grad", "_pool1_grad_autosplit_0"]
    # comp_0_sum_3 feeds comp_1's conv and (identity shortcut) comp_1's Sum,
    # whose gradient passes through unchanged as comp_1_sum_3_grad.
    assert by_output["comp_0_sum_3_grad"].input[:] == ["comp_0_sum_3_grad", "comp_1_sum_3_grad"]
    # Each accumulation comes before the producer's gradient op reads it.
    pos = {id(op): i for i, op in enumerate(ops)}
    for out, op in by_output.items():
        later = [i for i, o in enumerate(ops) if out in o.input and i > pos[id(op)]]
        assert later, out
    # Each partial gradient is written exactly once and read once, by its Sum.
    # Four projection blocks rename one partial gradient each; the identity
    # block's pass-through gradient needs no renaming.
    partial = [b for op in ops for b in op.output if "_autosplit_" in b]
    assert len(sums) == 5
    assert len(partial) == len(set(partial)) == 4
    for blob in partial:
        readers = [op for op in ops if blob in op.input]
        assert len(readers) == 1
        assert readers[0].type == "Sum"


def test_namescope_and_device() -> None:
    device = caffe2_pb2.DeviceOption(device_type=1, device_id=0)
    model = small_resnet_training(namescope="gpu_0", device_option=device)
    assert model.namescope == "gpu_0/"
    for op in model.net.op:
        for blob in [*op.input, *op.output]:
            assert blob.startswith(("gpu_0/", "_gpu_0/")), blob
        assert op.device_option.device_type == 1
    assert "_gpu_0/pool1_grad_autosplit_0" in {b for op in model.net.op for b in op.output}
    assert model.losses == ("gpu_0/loss",)
    assert model.input_shapes["gpu_0/data"] == (2, 3, 32, 32)


def test_init_net_matches_weight_shapes(small: TrainingNet) -> None:
    shapes = {
        op.output[0]: tuple(next(a.ints for a in op.arg if a.name == "shape"))
        for op in small.init_net.op
    }
    assert shapes == dict(small.weight_shapes)
    assert shapes["conv1_w"] == (8, 3, 7, 7)
    assert shapes["last_out_L10_w"] == (10, 256)
    assert {op.type for op in small.init_net.op} == {"MSRAFill", "ConstantFill", "XavierFill"}


def test_resnet50_weight_shapes(resnet50: TrainingNet) -> None:
    w = resnet50.weight_shapes
    assert w["conv1_w"] == (64, 3, 7, 7)
    assert w["comp_0_conv_1_w"] == (64, 64, 1, 1)
    assert w["comp_0_conv_3_w"] == (256, 64, 1, 1)
    assert w["shortcut_projection_0_w"] == (256, 64, 1, 1)
    assert w["comp_15_conv_2_w"] == (512, 512, 3, 3)
    assert w["last_out_L1000_w"] == (1000, 2048)
    # 25.5 M trained parameters (no conv bias), as ResNet-50 has.
    n = 0
    for p in resnet50.params:
        size = 1
        for d in w[p]:
            size *= d
        n += size
    assert 25_400_000 < n < 25_600_000


def test_deterministic_and_validated() -> None:
    a = small_resnet_training().net.SerializeToString()
    b = small_resnet_training().net.SerializeToString()
    assert a == b
    with pytest.raises(ValueError, match="blocks"):
        resnet_training(blocks=(1, 1))
    with pytest.raises(ValueError, match="batch_size"):
        resnet_training(batch_size=0)


def test_infer_shapes_sizes_every_blob(resnet50: TrainingNet) -> None:
    result = infer_shapes(resnet50.net, resnet50.input_shapes, weight_shapes=resnet50.weight_shapes)
    inferred = result.shapes
    assert result.unknown == {}
    every = {b for op in resnet50.net.op for b in (*op.input, *op.output)}
    assert every <= set(inferred)
    assert tuple(inferred["pool1"]) == (32, 64, 56, 56)
    assert tuple(inferred["comp_2_sum_3"]) == (32, 256, 56, 56)
    assert tuple(inferred["comp_6_sum_3"]) == (32, 512, 28, 28)
    assert tuple(inferred["comp_12_sum_3"]) == (32, 1024, 14, 14)
    assert tuple(inferred["comp_15_sum_3"]) == (32, 2048, 7, 7)
    assert tuple(inferred["final_avg"]) == (32, 2048, 1, 1)
    assert tuple(inferred["last_out_L1000"]) == (32, 1000)
    assert tuple(inferred["comp_15_sum_3_grad"]) == (32, 2048, 7, 7)
    assert tuple(inferred["_pool1_grad_autosplit_0"]) == (32, 64, 56, 56)
    assert tuple(inferred["comp_0_spatbn_1_sm"]) == (64,)


def test_infer_shapes_from_init_net(small: TrainingNet) -> None:
    result = infer_shapes(
        small.net,
        small.input_shapes,
        init_net=small.init_net,
        input_types=dict(small.input_dtypes),
    )
    assert result.unknown == {}
    assert result.shapes["comp_4_sum_3"] == (2, 256, 1, 1)
    assert result.shapes["comp_4_conv_2_w_grad"] == (64, 64, 3, 3)
    assert result.dtypes["label"] == "int32"
    assert result.dtypes["softmax"] == "float"
