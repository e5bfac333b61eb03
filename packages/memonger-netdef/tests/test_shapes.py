"""Tests of static shape inference (memonger.netdef.shapes and .rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import NetDefError, ShapeInferenceError
from memonger.netdef.rules import dtype_name, gradient_bases, supported_op_types
from memonger.netdef.shapes import ShapeInference, infer_shapes, weight_shapes_from_init_net

Shape = tuple[int, ...]


def make_op(
    op_type: str, inputs: Sequence[str], outputs: Sequence[str], **args: Any
) -> caffe2_pb2.OperatorDef:
    op = caffe2_pb2.OperatorDef(type=op_type, input=list(inputs), output=list(outputs))
    for name, value in args.items():
        arg = op.arg.add(name=name)
        if isinstance(value, bool | int):
            arg.i = int(value)
        elif isinstance(value, float):
            arg.f = value
        elif isinstance(value, str):
            arg.s = value.encode()
        elif isinstance(value, bytes):
            arg.s = value
        else:
            arg.ints.extend(value)
    return op


def make_net(*ops: caffe2_pb2.OperatorDef) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(name="t")
    net.op.extend(ops)
    return net


def infer_one(
    op: caffe2_pb2.OperatorDef,
    shapes: Mapping[str, Sequence[int]],
    types: Mapping[str, int | str] | None = None,
) -> ShapeInference:
    return infer_shapes(make_net(op), shapes, input_types=types)


# --------------------------------------------------------------------------------------
# Table of rules: (op, input shapes, input types, expected {blob: (shape, dtype)})
# Every expected shape is computed by hand in the comment next to it.
# --------------------------------------------------------------------------------------

F = "float"
Case = tuple[str, caffe2_pb2.OperatorDef, dict[str, Shape], dict[str, str], dict[str, Any]]
UNARY_CASES: list[Case] = [
    (f"unary_{t}", make_op(t, ["x"], ["y"]), {"x": (2, 3, 4)}, {}, {"y": ((2, 3, 4), F)})
    for t in ("Relu", "Sigmoid", "Tanh", "Softmax", "LeakyRelu", "Elu", "Copy", "Alias")
]
CASES: list[Case] = [
    (
        "conv_alexnet_stride4",  # (224 - 11) // 4 + 1 = 54
        make_op("Conv", ["x", "w", "b"], ["y"], kernel=11, stride=4),
        {"x": (1, 3, 224, 224), "w": (96, 3, 11, 11), "b": (96,)},
        {},
        {"y": ((1, 96, 54, 54), F)},
    ),
    (
        "conv_same_pad",  # (32 + 2 - 3) // 1 + 1 = 32
        make_op("Conv", ["x", "w"], ["y"], kernel=3, pad=1),
        {"x": (2, 3, 32, 32), "w": (16, 3, 3, 3)},
        {},
        {"y": ((2, 16, 32, 32), F)},
    ),
    (
        "conv_nhwc",  # W is (M, kh, kw, C)
        make_op("Conv", ["x", "w"], ["y"], kernel=3, pad=1, stride=2, order="NHWC"),
        {"x": (2, 32, 32, 3), "w": (16, 3, 3, 3)},
        {},
        {"y": ((2, 16, 16, 16), F)},  # (32 + 2 - 3) // 2 + 1 = 16
    ),
    (
        "conv_group",  # 48 * 2 = 96 input channels
        make_op("Conv", ["x", "w", "b"], ["y"], kernel=5, pad=2, group=2),
        {"x": (1, 96, 27, 27), "w": (256, 48, 5, 5), "b": (256,)},
        {},
        {"y": ((1, 256, 27, 27), F)},
    ),
    (
        "conv_plural_args",  # H: dk = 2*2+1 = 5, (20+1+0-5)//2+1 = 9; W: (30+2+1-5)//3+1 = 10
        make_op(
            "Conv",
            ["x", "w"],
            ["y"],
            kernels=[3, 5],
            strides=[2, 3],
            pads=[1, 2, 0, 1],
            dilations=[2, 1],
        ),
        {"x": (1, 4, 20, 30), "w": (8, 4, 3, 5)},
        {},
        {"y": ((1, 8, 9, 10), F)},
    ),
    (
        "conv_hw_args",  # H: (10+1+0-3)//1+1 = 9; W: (12+0+1-2)//2+1 = 6
        make_op(
            "Conv",
            ["x", "w"],
            ["y"],
            kernel_h=3,
            kernel_w=2,
            stride_h=1,
            stride_w=2,
            pad_t=1,
            pad_b=0,
            pad_l=0,
            pad_r=1,
        ),
        {"x": (1, 1, 10, 12), "w": (2, 1, 3, 2)},
        {},
        {"y": ((1, 2, 9, 6), F)},
    ),
    (
        "conv_kernel_from_filter",  # 8 - 3 + 1 = 6
        make_op("Conv", ["x", "w"], ["y"]),
        {"x": (1, 3, 8, 8), "w": (4, 3, 3, 3)},
        {},
        {"y": ((1, 4, 6, 6), F)},
    ),
    (
        "conv_dilation",  # dk = 3*(3-1)+1 = 7: (16 - 7) // 1 + 1 = 10
        make_op("Conv", ["x", "w"], ["y"], kernel=3, dilation=3),
        {"x": (1, 2, 16, 16), "w": (2, 2, 3, 3)},
        {},
        {"y": ((1, 2, 10, 10), F)},
    ),
    (
        "conv_1d",  # (100 - 7) // 2 + 1 = 47
        make_op("Conv", ["x", "w"], ["y"], kernels=[7], strides=[2]),
        {"x": (2, 3, 100), "w": (5, 3, 7)},
        {},
        {"y": ((2, 5, 47), F)},
    ),
    (
        "conv_3d",
        make_op("Conv", ["x", "w"], ["y"], kernel=3, pad=1),
        {"x": (1, 2, 8, 8, 8), "w": (4, 2, 3, 3, 3)},
        {},
        {"y": ((1, 4, 8, 8, 8), F)},
    ),
    (
        "conv_transpose",  # (8-1)*2 + 4 - 1 - 1 = 16
        make_op("ConvTranspose", ["x", "w", "b"], ["y"], kernel=4, stride=2, pad=1),
        {"x": (1, 16, 8, 8), "w": (16, 8, 4, 4), "b": (8,)},
        {},
        {"y": ((1, 8, 16, 16), F)},
    ),
    (
        "conv_transpose_adj",  # (8-1)*2 + 3 + 1 - 0 - 0 = 18
        make_op("ConvTranspose", ["x", "w"], ["y"], kernel=3, stride=2, adj=1),
        {"x": (1, 16, 8, 8), "w": (16, 8, 3, 3)},
        {},
        {"y": ((1, 8, 18, 18), F)},
    ),
    (
        "conv_transpose_nhwc",  # W is (C, kh, kw, M)
        make_op("ConvTranspose", ["x", "w"], ["y"], kernel=4, stride=2, pad=1, order="NHWC"),
        {"x": (1, 8, 8, 16), "w": (16, 4, 4, 8)},
        {},
        {"y": ((1, 16, 16, 8), F)},
    ),
    (
        "maxpool_floor",  # (54 - 3) // 2 + 1 = 26
        make_op("MaxPool", ["x"], ["y"], kernel=3, stride=2),
        {"x": (1, 96, 54, 54)},
        {},
        {"y": ((1, 96, 26, 26), F)},
    ),
    (
        "maxpool_caffe_ceil",  # ceil((112 - 3) / 2) + 1 = 56 (floor mode: 55)
        make_op("MaxPool", ["x"], ["y"], kernel=3, stride=2, legacy_pad=3),
        {"x": (1, 64, 112, 112)},
        {},
        {"y": ((1, 64, 56, 56), F)},
    ),
    (
        "maxpool_caffe_ceil_clipped",  # ceil((5+2-2)/2)+1 = 4; (4-1)*2 >= 5+1 -> 3
        make_op("MaxPool", ["x"], ["y"], kernel=2, stride=2, pad=1, legacy_pad=3),
        {"x": (1, 1, 5, 5)},
        {},
        {"y": ((1, 1, 3, 3), F)},
    ),
    (
        "maxpool_caffe_ceil_padded",  # ceil((112+2-3)/2)+1 = 57; 56*2 = 112 < 113 keeps 57
        make_op("MaxPool", ["x"], ["y"], kernel=3, stride=2, pad=1, legacy_pad=3),
        {"x": (1, 64, 112, 112)},
        {},
        {"y": ((1, 64, 57, 57), F)},
    ),
    (
        "maxpool_valid",  # (7 - 3) // 2 + 1 = 3
        make_op("MaxPool", ["x"], ["y"], kernel=3, stride=2, pad=5, legacy_pad=1),
        {"x": (1, 1, 7, 7)},
        {},
        {"y": ((1, 1, 3, 3), F)},
    ),
    (
        "maxpool_same",  # ceil(7 / 2) = 4
        make_op("MaxPool", ["x"], ["y"], kernel=3, stride=2, legacy_pad=2),
        {"x": (1, 1, 7, 7)},
        {},
        {"y": ((1, 1, 4, 4), F)},
    ),
    (
        "avgpool_global",
        make_op("AveragePool", ["x"], ["y"], global_pooling=1),
        {"x": (2, 2048, 7, 7)},
        {},
        {"y": ((2, 2048, 1, 1), F)},
    ),
    (
        "avgpool_global_nhwc",
        make_op("AveragePool", ["x"], ["y"], global_pooling=1, order="NHWC"),
        {"x": (2, 7, 7, 64)},
        {},
        {"y": ((2, 1, 1, 64), F)},
    ),
    (
        "avgpool_asymmetric_pads",  # (6 + 0 + 1 - 7) // 1 + 1 = 1
        make_op("AveragePool", ["x"], ["y"], kernel=7, pad_t=0, pad_l=0, pad_b=1, pad_r=1),
        {"x": (1, 1024, 6, 6)},
        {},
        {"y": ((1, 1024, 1, 1), F)},
    ),
    (
        "fc",  # K = 256*6*6 = 9216
        make_op("FC", ["x", "w", "b"], ["y"]),
        {"x": (4, 256, 6, 6), "w": (4096, 9216), "b": (4096,)},
        {},
        {"y": ((4, 4096), F)},
    ),
    (
        "fc_axis",  # X[:2] + [N]; K = 4*5 = 20
        make_op("FC", ["x", "w"], ["y"], axis=2),
        {"x": (2, 3, 4, 5), "w": (7, 20)},
        {},
        {"y": ((2, 3, 7), F)},
    ),
    (
        "fc_axis_w",  # N = 1*1*10, K = 1024
        make_op("FC", ["x", "w", "b"], ["y"], axis_w=3),
        {"x": (1, 1024, 1, 1), "w": (1, 1, 10, 1024), "b": (10,)},
        {},
        {"y": ((1, 10), F)},
    ),
    (
        "fc_transposed",  # W is (K, N)
        make_op("FCTransposed", ["x", "w"], ["y"]),
        {"x": (4, 10), "w": (10, 7)},
        {},
        {"y": ((4, 7), F)},
    ),
    *UNARY_CASES,
    (
        "prelu",
        make_op("PRelu", ["x", "slope"], ["y"]),
        {"x": (2, 3, 4, 4), "slope": (3,)},
        {},
        {"y": ((2, 3, 4, 4), F)},
    ),
    (
        "relu_in_place_int",
        make_op("Relu", ["x"], ["x"]),
        {"x": (5,)},
        {"x": "int32"},
        {"x": ((5,), "int32")},
    ),
    (
        "lrn_with_scale",
        make_op("LRN", ["x"], ["y", "scale"], size=5),
        {"x": (1, 96, 54, 54)},
        {},
        {"y": ((1, 96, 54, 54), F), "scale": ((1, 96, 54, 54), F)},
    ),
    (
        "dropout_mask",
        make_op("Dropout", ["x"], ["x", "mask"], is_test=1),
        {"x": (1, 4096)},
        {},
        {"x": ((1, 4096), F), "mask": ((1, 4096), "bool")},
    ),
    (
        "spatial_bn_test",
        make_op("SpatialBN", ["x", "s", "b", "m", "v"], ["y"], is_test=1),
        {"x": (2, 16, 8, 8), "s": (16,), "b": (16,), "m": (16,), "v": (16,)},
        {},
        {"y": ((2, 16, 8, 8), F)},
    ),
    (
        "spatial_bn_train",
        make_op("SpatialBN", ["x", "s", "b", "m", "v"], ["y", "m", "v", "sm", "siv"]),
        {"x": (2, 16, 8, 8), "s": (16,), "b": (16,), "m": (16,), "v": (16,)},
        {},
        {
            "y": ((2, 16, 8, 8), F),
            "m": ((16,), F),
            "v": ((16,), F),
            "sm": ((16,), F),
            "siv": ((16,), F),
        },
    ),
    (
        "spatial_bn_nhwc",
        make_op("SpatialBN", ["x", "s", "b", "m", "v"], ["y", "m", "v", "sm"], order="NHWC"),
        {"x": (2, 8, 8, 16), "s": (16,), "b": (16,), "m": (16,), "v": (16,)},
        {},
        {"y": ((2, 8, 8, 16), F), "sm": ((16,), F)},
    ),
    (
        "sum",
        make_op("Sum", ["a", "b", "c"], ["y"]),
        {"a": (2, 3), "b": (2, 3), "c": (2, 3)},
        {},
        {"y": ((2, 3), F)},
    ),
    (
        "add_legacy_broadcast_suffix",
        make_op("Add", ["a", "b"], ["y"], broadcast=1),
        {"a": (2, 3, 4, 5), "b": (4, 5)},
        {},
        {"y": ((2, 3, 4, 5), F)},
    ),
    (
        "mul_legacy_broadcast_axis",
        make_op("Mul", ["a", "b"], ["y"], broadcast=1, axis=1),
        {"a": (2, 3, 4, 5), "b": (3, 4)},
        {},
        {"y": ((2, 3, 4, 5), F)},
    ),
    (
        "sub_numpy_broadcast",  # (2,1,5) with (3,1) -> (2,3,5)
        make_op("Sub", ["a", "b"], ["y"]),
        {"a": (2, 1, 5), "b": (3, 1)},
        {},
        {"y": ((2, 3, 5), F)},
    ),
    (
        "div_same_shape",
        make_op("Div", ["a", "b"], ["y"]),
        {"a": (4, 5), "b": (4, 5)},
        {},
        {"y": ((4, 5), F)},
    ),
    (
        "comparison_bool",
        make_op("GT", ["a", "b"], ["y"]),
        {"a": (4, 1), "b": (1, 5)},
        {},
        {"y": ((4, 5), "bool")},
    ),
    (
        "concat_channels",
        make_op("Concat", ["a", "b", "c"], ["y", "info"], axis=1),
        {"a": (1, 64, 28, 28), "b": (1, 128, 28, 28), "c": (1, 32, 28, 28)},
        {},
        {"y": ((1, 224, 28, 28), F), "info": ((3,), "int32")},
    ),
    (
        "concat_order_nhwc",
        make_op("Concat", ["a", "b"], ["y", "info"], order="NHWC"),
        {"a": (1, 28, 28, 64), "b": (1, 28, 28, 32)},
        {},
        {"y": ((1, 28, 28, 96), F), "info": ((2,), "int32")},
    ),
    (
        "concat_default_order",
        make_op("Concat", ["a", "b"], ["y"]),
        {"a": (1, 2, 5), "b": (1, 3, 5)},
        {},
        {"y": ((1, 5, 5), F)},
    ),
    (
        "concat_add_axis",
        make_op("Concat", ["a", "b", "c"], ["y", "info"], axis=1, add_axis=1),
        {"a": (4, 5), "b": (4, 5), "c": (4, 5)},
        {},
        {"y": ((4, 3, 5), F), "info": ((3,), "int32")},
    ),
    (
        "split_sizes",
        make_op("Split", ["x"], ["a", "b"], axis=1, split=[3, 7]),
        {"x": (6, 10)},
        {},
        {"a": ((6, 3), F), "b": ((6, 7), F)},
    ),
    (
        "split_equal",
        make_op("Split", ["x"], ["a", "b"], axis=0),
        {"x": (6, 10)},
        {},
        {"a": ((3, 10), F), "b": ((3, 10), F)},
    ),
    (
        "split_default_axis",
        make_op("Split", ["x"], ["a", "b", "c"]),
        {"x": (2, 9, 4)},
        {},
        {"a": ((2, 3, 4), F), "c": ((2, 3, 4), F)},
    ),
    (
        "reshape_zero_and_minus_one",
        make_op("Reshape", ["x"], ["y", "old"], shape=[0, -1]),
        {"x": (2, 3, 4)},
        {},
        {"y": ((2, 12), F), "old": ((3,), "int64")},
    ),
    (
        "reshape_infer_middle",  # 24 / (4*3) = 2
        make_op("Reshape", ["x"], ["y"], shape=[4, -1, 3]),
        {"x": (2, 3, 4)},
        {},
        {"y": ((4, 2, 3), F)},
    ),
    (
        "flatten",
        make_op("Flatten", ["x"], ["y"]),
        {"x": (2, 3, 4, 5)},
        {},
        {"y": ((2, 60), F)},
    ),
    (
        "flatten_axis",
        make_op("Flatten", ["x"], ["y"], axis=2),
        {"x": (2, 3, 4, 5)},
        {},
        {"y": ((6, 20), F)},
    ),
    (
        "flatten_to_vec",
        make_op("FlattenToVec", ["x"], ["y"]),
        {"x": (2, 3, 4, 5)},
        {},
        {"y": ((120,), F)},
    ),
    (
        "transpose_default",
        make_op("Transpose", ["x"], ["y"]),
        {"x": (2, 3, 4)},
        {},
        {"y": ((4, 3, 2), F)},
    ),
    (
        "transpose_axes",
        make_op("Transpose", ["x"], ["y"], axes=[0, 2, 3, 1]),
        {"x": (1, 3, 4, 5)},
        {},
        {"y": ((1, 4, 5, 3), F)},
    ),
    (
        "squeeze",
        make_op("Squeeze", ["x"], ["y"], dims=[1, 3]),
        {"x": (2, 1, 4, 1)},
        {},
        {"y": ((2, 4), F)},
    ),
    (
        "expand_dims",  # insert at 0 -> (1,2,4); at 3 -> (1,2,4,1)
        make_op("ExpandDims", ["x"], ["y"], dims=[3, 0]),
        {"x": (2, 4)},
        {},
        {"y": ((1, 2, 4, 1), F)},
    ),
    (
        "channel_shuffle",
        make_op("ChannelShuffle", ["x"], ["y"], group=2),
        {"x": (1, 8, 4, 4)},
        {},
        {"y": ((1, 8, 4, 4), F)},
    ),
    (
        "nchw2nhwc",
        make_op("NCHW2NHWC", ["x"], ["y"]),
        {"x": (1, 3, 4, 5)},
        {},
        {"y": ((1, 4, 5, 3), F)},
    ),
    (
        "nhwc2nchw",
        make_op("NHWC2NCHW", ["x"], ["y"]),
        {"x": (1, 4, 5, 3)},
        {},
        {"y": ((1, 3, 4, 5), F)},
    ),
    (
        "label_cross_entropy",
        make_op("LabelCrossEntropy", ["x", "label"], ["y"]),
        {"x": (8, 10), "label": (8,)},
        {"label": "int32"},
        {"y": ((8,), F)},
    ),
    (
        "averaged_loss_scalar",
        make_op("AveragedLoss", ["x"], ["loss"]),
        {"x": (8,)},
        {},
        {"loss": ((), F)},
    ),
    (
        "softmax_with_loss",
        make_op("SoftmaxWithLoss", ["x", "label"], ["p", "loss"]),
        {"x": (8, 10), "label": (8,)},
        {"label": "int32"},
        {"p": ((8, 10), F), "loss": ((), F)},
    ),
    (
        "constant_fill_shape",
        make_op("ConstantFill", [], ["y"], shape=[2, 3], value=1.0),
        {},
        {},
        {"y": ((2, 3), F)},
    ),
    (
        "constant_fill_dtype",
        make_op("ConstantFill", [], ["y"], shape=[4], dtype=10),
        {},
        {},
        {"y": ((4,), "int64")},
    ),
    (
        "constant_fill_like_input_extra",
        make_op("ConstantFill", ["x"], ["y"], extra_shape=[6], dtype=2),
        {"x": (4, 5)},
        {},
        {"y": ((4, 5, 6), "int32")},
    ),
    (
        "constant_fill_scalar",
        make_op("ConstantFill", [], ["y"], value=0.0),
        {},
        {},
        {"y": ((), F)},
    ),
    (
        "cast_number",
        make_op("Cast", ["x"], ["y"], to=10),
        {"x": (3, 4)},
        {},
        {"y": ((3, 4), "int64")},
    ),
    (
        "cast_name",
        make_op("Cast", ["x"], ["y"], to="INT32"),
        {"x": (3, 4)},
        {},
        {"y": ((3, 4), "int32")},
    ),
    (
        "reduce_mean_drop",
        make_op("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0),
        {"x": (2, 3, 4)},
        {},
        {"y": ((2, 4), F)},
    ),
    (
        "reduce_mean_keep",
        make_op("ReduceMean", ["x"], ["y"], axes=[-1]),
        {"x": (2, 3, 4)},
        {},
        {"y": ((2, 3, 1), F)},
    ),
    (
        "reduce_sum_all",
        make_op("ReduceSum", ["x"], ["y"], keepdims=0),
        {"x": (2, 3)},
        {},
        {"y": ((), F)},
    ),
    (
        "matmul",
        make_op("MatMul", ["a", "b"], ["y"]),
        {"a": (3, 4), "b": (4, 5)},
        {},
        {"y": ((3, 5), F)},
    ),
    (
        "matmul_trans_b",
        make_op("MatMul", ["a", "b"], ["y"], trans_b=1),
        {"a": (3, 4), "b": (5, 4)},
        {},
        {"y": ((3, 5), F)},
    ),
    (
        "batch_matmul",
        make_op("BatchMatMul", ["a", "b"], ["y"]),
        {"a": (7, 3, 4), "b": (7, 4, 5)},
        {},
        {"y": ((7, 3, 5), F)},
    ),
    (
        "batch_matmul_broadcast",
        make_op("BatchMatMul", ["a", "b"], ["y"], broadcast=1),
        {"a": (2, 1, 3, 4), "b": (5, 4, 6)},
        {},
        {"y": ((2, 5, 3, 6), F)},
    ),
    (
        "slice",  # dim0 [1,3) -> 2; dim1 end -1 -> 10+1-1 = 10, [2,10) -> 8
        make_op("Slice", ["x"], ["y"], starts=[1, 2], ends=[3, -1]),
        {"x": (4, 10)},
        {},
        {"y": ((2, 8), F)},
    ),
    (
        "gather",
        make_op("Gather", ["data", "idx"], ["y"]),
        {"data": (100, 16), "idx": (4, 5)},
        {"idx": "int64"},
        {"y": ((4, 5, 16), F)},
    ),
    (
        "accuracy",
        make_op("Accuracy", ["p", "label"], ["acc"]),
        {"p": (8, 10), "label": (8,)},
        {"label": "int32"},
        {"acc": ((), F)},
    ),
    (
        "shape_op",
        make_op("Shape", ["x"], ["s"]),
        {"x": (2, 3, 4)},
        {},
        {"s": ((3,), "int64")},
    ),
    (
        "scatter_assign",
        make_op("ScatterAssign", ["data", "idx", "slices"], ["data"]),
        {"data": (10, 4), "idx": (2,), "slices": (2, 4)},
        {},
        {"data": ((10, 4), F)},
    ),
    (
        "instance_norm",  # Y, saved mean (N, C), saved inverse std (N, C)
        make_op("InstanceNorm", ["x", "s", "b"], ["y", "mean", "istd"]),
        {"x": (2, 16, 5, 5), "s": (16,), "b": (16,)},
        {},
        {"y": ((2, 16, 5, 5), F), "mean": ((2, 16), F), "istd": ((2, 16), F)},
    ),
    (
        "reduce_front_sum",
        make_op("ReduceFrontSum", ["x"], ["y"], num_reduce_dim=2),
        {"x": (2, 3, 4)},
        {},
        {"y": ((4,), F)},
    ),
    (
        "reduce_back_mean",
        make_op("ReduceBackMean", ["x"], ["y"]),
        {"x": (2, 3, 4)},
        {},
        {"y": ((2, 3), F)},
    ),
    (
        "split_add_axis",
        make_op("Split", ["x"], ["a", "b"], axis=0, add_axis=1),
        {"x": (2, 3, 4)},
        {},
        {"a": ((3, 4), F), "b": ((3, 4), F)},
    ),
    (
        "gather_axis",
        make_op("Gather", ["data", "idx"], ["y"], axis=1),
        {"data": (3, 100, 16), "idx": (7,)},
        {"idx": "int32"},
        {"y": ((3, 7, 16), F)},
    ),
    (
        "shape_axes",
        make_op("Shape", ["x"], ["s"], axes=[0, 2]),
        {"x": (2, 3, 4)},
        {},
        {"s": ((2,), "int64")},
    ),
    (
        "matmul_axis_a",  # A flattened at axis 2: (2*3, 4*5) x (20, 7)
        make_op("MatMul", ["a", "b"], ["y"], axis_a=2),
        {"a": (2, 3, 4, 5), "b": (20, 7)},
        {},
        {"y": ((6, 7), F)},
    ),
    (
        "batch_matmul_vector",  # 1-D B with broadcast: (2, 3, 4) x (4,) -> (2, 3)
        make_op("BatchMatMul", ["a", "b"], ["y"], broadcast=1),
        {"a": (2, 3, 4), "b": (4,)},
        {},
        {"y": ((2, 3), F)},
    ),
    (
        "not_bool",
        make_op("Not", ["x"], ["y"]),
        {"x": (3, 2)},
        {"x": "bool"},
        {"y": ((3, 2), "bool")},
    ),
    (
        "weighted_sum",
        make_op("WeightedSum", ["p", "one", "g", "lr"], ["p"]),
        {"p": (64, 3, 3, 3), "one": (1,), "g": (64, 3, 3, 3), "lr": (1,)},
        {},
        {"p": ((64, 3, 3, 3), F)},
    ),
    (
        "momentum_sgd_update",
        make_op("MomentumSGDUpdate", ["g", "m", "lr", "p"], ["g", "m", "p"]),
        {"g": (10, 4), "m": (10, 4), "lr": (1,), "p": (10, 4)},
        {},
        {"g": ((10, 4), F), "m": ((10, 4), F), "p": ((10, 4), F)},
    ),
    (
        "resize_like",  # shape of input 1, dtype of input 0
        make_op("ResizeLike", ["dy", "x"], ["dx"]),
        {"dy": (24,), "x": (2, 3, 4)},
        {"dy": "double"},
        {"dx": ((2, 3, 4), "double")},
    ),
    (
        "given_tensor_fill_dtype_arg",
        make_op("GivenTensorFill", [], ["y"], shape=[3], dtype=13),
        {},
        {},
        {"y": ((3,), "double")},
    ),
    (
        "sigmoid_cross_entropy_with_logits",
        make_op("SigmoidCrossEntropyWithLogits", ["logits", "targets"], ["y"]),
        {"logits": (8, 5), "targets": (8, 5)},
        {},
        {"y": ((8,), F)},
    ),
    # ---- gradient ops -------------------------------------------------------------
    (
        "conv_gradient",
        make_op("ConvGradient", ["x", "w", "y_grad"], ["w_grad", "b_grad", "x_grad"], kernel=3),
        {"x": (2, 3, 8, 8), "w": (4, 3, 3, 3), "y_grad": (2, 4, 6, 6)},
        {},
        {"w_grad": ((4, 3, 3, 3), F), "b_grad": ((4,), F), "x_grad": ((2, 3, 8, 8), F)},
    ),
    (
        "conv_gradient_no_bias",
        make_op("ConvGradient", ["x", "w", "dy"], ["dw", "dx"], kernel=3, no_bias=1),
        {"x": (2, 3, 8, 8), "w": (4, 3, 3, 3), "dy": (2, 4, 6, 6)},
        {},
        {"dw": ((4, 3, 3, 3), F), "dx": ((2, 3, 8, 8), F)},
    ),
    (
        "conv_gradient_bias_no_dx",  # Caffe2: without no_bias the second output is db
        make_op("ConvGradient", ["x", "w", "dy"], ["dw", "db"], kernel=3),
        {"x": (2, 3, 8, 8), "w": (4, 3, 3, 3), "dy": (2, 4, 6, 6)},
        {},
        {"dw": ((4, 3, 3, 3), F), "db": ((4,), F)},
    ),
    (
        "conv_gradient_named_dx",  # no no_bias arg, but the 2nd output is the input's gradient
        make_op("ConvGradient", ["x", "w", "dy"], ["w_grad", "x_grad"], kernel=3),
        {"x": (2, 3, 8, 8), "w": (4, 3, 3, 3), "dy": (2, 4, 6, 6)},
        {},
        {"w_grad": ((4, 3, 3, 3), F), "x_grad": ((2, 3, 8, 8), F)},
    ),
    (
        "fc_gradient",
        make_op("FCGradient", ["x", "w", "dy"], ["dw", "db", "dx"]),
        {"x": (4, 256, 6, 6), "w": (10, 9216), "dy": (4, 10)},
        {},
        {"dw": ((10, 9216), F), "db": ((10,), F), "dx": ((4, 256, 6, 6), F)},
    ),
    (
        "relu_gradient",
        make_op("ReluGradient", ["y", "dy"], ["dx"]),
        {"y": (2, 5), "dy": (2, 5)},
        {},
        {"dx": ((2, 5), F)},
    ),
    (
        "maxpool_gradient",
        make_op("MaxPoolGradient", ["x", "y", "dy"], ["dx"], kernel=2, stride=2),
        {"x": (1, 3, 8, 8), "y": (1, 3, 4, 4), "dy": (1, 3, 4, 4)},
        {},
        {"dx": ((1, 3, 8, 8), F)},
    ),
    (
        "spatial_bn_gradient",
        make_op("SpatialBNGradient", ["x", "s", "dy", "sm", "siv"], ["dx", "ds", "db"]),
        {"x": (2, 16, 4, 4), "s": (16,), "dy": (2, 16, 4, 4), "sm": (16,), "siv": (16,)},
        {},
        {"dx": ((2, 16, 4, 4), F), "ds": ((16,), F), "db": ((16,), F)},
    ),
    (
        "dropout_grad",
        make_op("DropoutGrad", ["dy", "mask"], ["dx"]),
        {"dy": (1, 4096), "mask": (1, 4096)},
        {"mask": "bool"},
        {"dx": ((1, 4096), F)},
    ),
    (
        "softmax_with_loss_gradient",
        make_op("SoftmaxWithLossGradient", ["x", "label", "p", "dloss"], ["dx"]),
        {"x": (8, 10), "label": (8,), "p": (8, 10), "dloss": ()},
        {"label": "int32"},
        {"dx": ((8, 10), F)},
    ),
    (
        "averaged_loss_gradient",
        make_op("AveragedLossGradient", ["x", "dloss"], ["dx"]),
        {"x": (8,), "dloss": ()},
        {},
        {"dx": ((8,), F)},
    ),
    (
        "label_cross_entropy_gradient",
        make_op("LabelCrossEntropyGradient", ["x", "label", "dy"], ["dx"]),
        {"x": (8, 10), "label": (8,), "dy": (8,)},
        {},
        {"dx": ((8, 10), F)},
    ),
    (
        "conv_transpose_gradient",
        make_op("ConvTransposeGradient", ["x", "w", "dy"], ["dw", "db", "dx"], kernel=4),
        {"x": (1, 16, 8, 8), "w": (16, 8, 4, 4), "dy": (1, 8, 11, 11)},
        {},
        {"dw": ((16, 8, 4, 4), F), "db": ((8,), F), "dx": ((1, 16, 8, 8), F)},
    ),
    (
        "prelu_gradient",
        make_op("PReluGradient", ["y", "dy", "x", "slope"], ["dx", "dslope"]),
        {"y": (2, 3, 4), "dy": (2, 3, 4), "x": (2, 3, 4), "slope": (3,)},
        {},
        {"dx": ((2, 3, 4), F), "dslope": ((3,), F)},
    ),
    (
        "mul_gradient",
        make_op("MulGradient", ["dc", "a", "b"], ["da", "db"]),
        {"dc": (4, 5), "a": (4, 5), "b": (5,)},
        {},
        {"da": ((4, 5), F), "db": ((5,), F)},
    ),
    (
        "reduce_mean_gradient",
        make_op("ReduceMeanGradient", ["dy", "x", "y"], ["dx"], axes=[1]),
        {"dy": (2, 1), "x": (2, 9), "y": (2, 1)},
        {},
        {"dx": ((2, 9), F)},
    ),
    (
        "sum_accumulates_gradient_parts",
        make_op("Sum", ["x_grad", "_x_grad_autosplit_1"], ["x_grad"]),
        {"x_grad": (3, 3), "_x_grad_autosplit_1": (3, 3)},
        {},
        {"x_grad": ((3, 3), F)},
    ),
    (
        "unknown_gradient_op_by_name",
        make_op("FancyGradient", ["dy"], ["w_grad", "_x_grad_autosplit_1"]),
        {"dy": (1,), "w": (3, 3), "x": (2, 2)},
        {"w": "double"},
        {"w_grad": ((3, 3), "double"), "_x_grad_autosplit_1": ((2, 2), F)},
    ),
]


@pytest.mark.parametrize(
    ("op", "shapes", "types", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_rule_table(
    op: caffe2_pb2.OperatorDef,
    shapes: dict[str, Shape],
    types: dict[str, str],
    expected: dict[str, tuple[Shape, str]],
) -> None:
    result = infer_one(op, shapes, types)
    got = {b: (result.shapes.get(b), result.dtypes.get(b)) for b in expected}
    assert got == expected
    assert not result.unknown


def test_case_names_unique() -> None:
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))


# --------------------------------------------------------------------------------------
# Whole nets
# --------------------------------------------------------------------------------------


def small_training_net() -> caffe2_pb2.NetDef:
    return make_net(
        make_op("Conv", ["data", "w", "b"], ["conv"], kernel=3, pad=1),
        make_op("Relu", ["conv"], ["conv"]),
        make_op("MaxPool", ["conv"], ["pool"], kernel=2, stride=2),
        make_op("FC", ["pool", "fc_w", "fc_b"], ["pred"]),
        make_op("SoftmaxWithLoss", ["pred", "label"], ["softmax", "loss"]),
        make_op("ConstantFill", ["loss"], ["loss_grad"], value=1.0),
        make_op(
            "SoftmaxWithLossGradient", ["pred", "label", "softmax", "loss_grad"], ["pred_grad"]
        ),
        make_op(
            "FCGradient", ["pool", "fc_w", "pred_grad"], ["fc_w_grad", "fc_b_grad", "pool_grad"]
        ),
        make_op(
            "MaxPoolGradient", ["conv", "pool", "pool_grad"], ["conv_grad"], kernel=2, stride=2
        ),
        make_op("ReluGradient", ["conv", "conv_grad"], ["conv_grad"]),
        make_op("ConvGradient", ["data", "w", "conv_grad"], ["w_grad", "b_grad"], kernel=3, pad=1),
    )


WEIGHTS = {"w": (8, 3, 3, 3), "b": (8,), "fc_w": (10, 8 * 16 * 16), "fc_b": (10,)}
INPUTS = {"data": (2, 3, 32, 32), "label": (2,)}


def test_training_net_every_blob_sized() -> None:
    net = small_training_net()
    result = infer_shapes(net, INPUTS, WEIGHTS, input_types={"label": "int32"})
    assert result.unknown == {}
    assert result.shapes["pool"] == (2, 8, 16, 16)
    assert result.shapes["loss"] == ()
    assert result.shapes["loss_grad"] == ()
    assert result.shapes["pred_grad"] == (2, 10)
    for blob in ("w", "b", "fc_w", "fc_b", "pool", "conv", "pred"):
        assert result.shapes[blob + "_grad"] == result.shapes[blob]
    assert result.dtypes["label"] == "int32"
    assert result.nbytes("pool") == 2 * 8 * 16 * 16 * 4
    assert result.nbytes("label") == 2 * 4
    assert result.nbytes("loss") == 4


def test_input_not_mutated_and_deterministic() -> None:
    net = small_training_net()
    before = net.SerializeToString()
    inputs = {k: list(v) for k, v in INPUTS.items()}
    weights = dict(WEIGHTS)
    first = infer_shapes(net, inputs, weights)
    assert net.SerializeToString() == before
    assert inputs == {k: list(v) for k, v in INPUTS.items()}
    assert weights == WEIGHTS
    assert infer_shapes(net, inputs, weights) == first


def test_accepts_object_with_proto() -> None:
    class Wrapper:
        def __init__(self, proto: caffe2_pb2.NetDef) -> None:
            self._proto = proto

        def Proto(self) -> caffe2_pb2.NetDef:
            return self._proto

    net = small_training_net()
    assert infer_shapes(Wrapper(net), INPUTS, WEIGHTS) == infer_shapes(net, INPUTS, WEIGHTS)


def test_rejects_non_net() -> None:
    with pytest.raises(TypeError, match="NetDef"):
        infer_shapes("not a net", {})


# --------------------------------------------------------------------------------------
# Unknown shapes are explicit, never 0
# --------------------------------------------------------------------------------------


def test_unknown_op_listed_with_type_and_downstream_blames_input() -> None:
    net = make_net(
        make_op("Relu", ["x"], ["a"]),
        make_op("MysteryOp", ["a"], ["b", "c"]),
        make_op("Relu", ["b"], ["d"]),
    )
    result = infer_shapes(net, {"x": (3, 4)})
    assert result.shapes == {"x": (3, 4), "a": (3, 4)}
    assert set(result.unknown) == {"b", "c", "d"}
    assert result.unknown["b"].startswith("MysteryOp")
    assert "no shape rule" in result.unknown["b"]
    assert result.unknown["d"].startswith("Relu")
    assert "'b'" in result.unknown["d"]
    assert result.blob_sizes() == {"x": 48, "a": 48}
    with pytest.raises(ShapeInferenceError, match=r"'b'.*MysteryOp"):
        result.nbytes("b")
    with pytest.raises(KeyError):
        result.nbytes("nonexistent")


def test_unknown_op_in_place_forgets_old_shape() -> None:
    net = make_net(make_op("Relu", ["x"], ["a"]), make_op("Mystery", ["a"], ["a"]))
    result = infer_shapes(net, {"x": (3,)})
    assert "a" not in result.shapes
    assert result.unknown["a"].startswith("Mystery")


def test_missing_input_shape_listed() -> None:
    net = make_net(make_op("Conv", ["data", "w"], ["y"], kernel=3))
    result = infer_shapes(net, {"data": (1, 3, 8, 8)})
    assert result.unknown["w"] == "net input: no shape given"
    assert "'w'" in result.unknown["y"]
    assert result.unknown["y"].startswith("Conv")


def test_value_dependent_shapes_are_unknown() -> None:
    net = make_net(
        make_op("Reshape", ["x", "new_shape"], ["y", "old"]),
        make_op("ConstantFill", ["dims"], ["z"], input_as_shape=1),
        make_op("Split", ["x", "sizes"], ["s1", "s2"]),
        make_op("Slice", ["x", "starts", "ends"], ["sl"]),
    )
    shapes = {"x": (2, 6), "new_shape": (2,), "dims": (3,), "sizes": (2,)}
    shapes |= {"starts": (2,), "ends": (2,)}
    result = infer_shapes(net, shapes)
    assert result.shapes["old"] == (2,)
    assert result.dtypes["old"] == "int64"
    for blob in ("y", "z", "s1", "s2", "sl"):
        assert blob not in result.shapes
        assert "values of input" in result.unknown[blob]


def test_gradient_fallback_only_when_forward_known() -> None:
    net = make_net(make_op("WhateverGradient", ["dy"], ["p_grad", "q_grad"]))
    result = infer_shapes(net, {"dy": (1,), "p": (4, 4)})
    assert result.shapes["p_grad"] == (4, 4)
    assert "q_grad" in result.unknown


def test_free_keeps_sizes() -> None:
    net = make_net(make_op("Relu", ["x"], ["a"]), make_op("Free", ["a"], ["a"]))
    result = infer_shapes(net, {"x": (5,)})
    assert result.shapes["a"] == (5,)
    assert not result.unknown


def test_string_blobs_have_no_byte_size() -> None:
    net = make_net(make_op("GivenTensorStringFill", [], ["s"], shape=[3]))
    result = infer_shapes(net, {})
    assert result.dtypes["s"] == "string"
    assert result.blob_sizes() == {}
    with pytest.raises(ShapeInferenceError, match="'s'"):
        result.nbytes("s")


# --------------------------------------------------------------------------------------
# Malformed input
# --------------------------------------------------------------------------------------

ERROR_CASES: list[tuple[str, caffe2_pb2.OperatorDef, dict[str, Shape], str]] = [
    ("stride_zero", make_op("Conv", ["x", "w"], ["y"], kernel=3, stride=0), {}, "stride"),
    ("kernel_float", make_op("Conv", ["x", "w"], ["y"], kernel=3.0), {}, "'kernel'"),
    ("kernel_too_big", make_op("Conv", ["x", "w"], ["y"], kernel=9), {"w": (4, 3, 9, 9)}, "larger"),
    ("kernel_vs_filter", make_op("Conv", ["x", "w"], ["y"], kernel=5), {}, "does not match"),
    ("kernels_length", make_op("Conv", ["x", "w"], ["y"], kernels=[3]), {}, "'kernels'"),
    ("bad_order", make_op("Conv", ["x", "w"], ["y"], order="NCWH"), {}, "order"),
    ("bad_legacy", make_op("MaxPool", ["x"], ["y"], kernel=2, legacy_pad=7), {}, "legacy_pad"),
    ("pool_no_kernel", make_op("MaxPool", ["x"], ["y"]), {}, "kernel"),
    ("negative_pad", make_op("MaxPool", ["x"], ["y"], kernel=2, pad=-1), {}, "pads"),
    (
        "conv_channels",
        make_op("Conv", ["x", "w"], ["y"]),
        {"w": (4, 2, 3, 3)},
        "channels",
    ),
    ("conv_group", make_op("Conv", ["x", "w"], ["y"], group=0), {}, "group"),
    ("fc_k", make_op("FC", ["x", "w"], ["y"]), {"w": (10, 7)}, "columns"),
    ("concat_dims", make_op("Concat", ["x", "v"], ["y"], axis=1), {"v": (1, 3, 9, 9)}, "'v'"),
    ("split_sum", make_op("Split", ["x"], ["a", "b"], axis=1, split=[1, 1]), {}, "'split'"),
    ("split_uneven", make_op("Split", ["x"], ["a", "b"], axis=1), {}, "equal parts"),
    ("reshape_two_minus_one", make_op("Reshape", ["x"], ["y"], shape=[-1, -1]), {}, "-1"),
    ("reshape_count", make_op("Reshape", ["x"], ["y"], shape=[5, 5]), {}, "reshape"),
    ("reshape_no_shape", make_op("Reshape", ["x"], ["y"]), {}, "shape"),
    ("transpose_axes", make_op("Transpose", ["x"], ["y"], axes=[0, 0, 1, 2]), {}, "permutation"),
    ("squeeze_non_one", make_op("Squeeze", ["x"], ["y"], dims=[1]), {}, "squeeze"),
    ("broadcast", make_op("Add", ["x", "v"], ["y"]), {"v": (3, 7)}, "broadcast"),
    ("legacy_broadcast", make_op("Add", ["x", "v"], ["y"], broadcast=1), {"v": (5, 7)}, "fit"),
    ("sum_shapes", make_op("Sum", ["x", "v"], ["y"]), {"v": (1, 3)}, "differ"),
    ("cast_no_to", make_op("Cast", ["x"], ["y"]), {}, "'to'"),
    ("cast_bad_to", make_op("Cast", ["x"], ["y"], to=99), {}, "'to'"),
    ("fill_dtype", make_op("ConstantFill", [], ["y"], shape=[2], dtype="quux"), {}, "'dtype'"),
    ("too_few_inputs", make_op("Conv", ["x"], ["y"], kernel=3), {}, "inputs"),
    ("axis_range", make_op("Flatten", ["x"], ["y"], axis=9), {}, "axis"),
]


@pytest.mark.parametrize(
    ("op", "extra", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in ERROR_CASES]
)
def test_malformed_ops_raise_naming_op_and_blob(
    op: caffe2_pb2.OperatorDef, extra: dict[str, Shape], fragment: str
) -> None:
    shapes: dict[str, Shape] = {"x": (1, 3, 8, 8), "w": (4, 3, 3, 3)}
    shapes.update(extra)
    with pytest.raises(ShapeInferenceError) as info:
        infer_one(op, shapes)
    message = str(info.value)
    assert message.startswith(f"{op.type} op #0")
    assert "'y'" in message or "'a'" in message
    assert fragment in message
    assert isinstance(info.value, NetDefError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "bad", [(2, -1), (2, 1.5), "23", 5, (True, 2), None], ids=lambda v: repr(v)
)
def test_bad_given_shape(bad: object) -> None:
    net = make_net(make_op("Relu", ["x"], ["y"]))
    with pytest.raises(ShapeInferenceError, match="'x'"):
        infer_shapes(net, {"x": bad})  # type: ignore[dict-item]
    with pytest.raises(ShapeInferenceError, match="'x'"):
        infer_shapes(net, {}, {"x": bad})  # type: ignore[dict-item]


def test_bad_input_type() -> None:
    net = make_net(make_op("Relu", ["x"], ["y"]))
    with pytest.raises(ShapeInferenceError, match="'x'"):
        infer_shapes(net, {"x": (2,)}, input_types={"x": "complex128"})


# --------------------------------------------------------------------------------------
# Init nets
# --------------------------------------------------------------------------------------


def test_init_net_fill_ops() -> None:
    init = make_net(
        make_op("XavierFill", [], ["w"], shape=[8, 3, 3, 3]),
        make_op("ConstantFill", [], ["b"], shape=[8]),
        make_op("MSRAFill", [], ["fc_w"], shape=[10, 2048]),
        make_op("GaussianFill", [], ["g"], shape=[5], std=0.01),
        make_op("UniformFill", [], ["u"], shape=[5, 1], min=-1.0, max=1.0),
        make_op("ConstantFill", [], ["iter"], shape=[1], dtype=10),
        make_op("GivenTensorIntFill", [], ["ints"], shape=[3], values=[1, 2, 3]),
        make_op("GivenTensorInt64Fill", [], ["longs"], shape=[2], values=[1, 2]),
        make_op("GivenTensorBoolFill", [], ["flags"], shape=[2], values=[1, 0]),
        make_op("GivenTensorFill", [], ["given"], shape=[2, 2]),
        make_op("Load", [], ["loaded"]),
    )
    init.op[-2].arg.add(name="values", floats=[1.0, 2.0, 3.0, 4.0])
    result = weight_shapes_from_init_net(init)
    expected = {
        "w": ((8, 3, 3, 3), "float"),
        "b": ((8,), "float"),
        "fc_w": ((10, 2048), "float"),
        "g": ((5,), "float"),
        "u": ((5, 1), "float"),
        "iter": ((1,), "int64"),
        "ints": ((3,), "int32"),
        "longs": ((2,), "int64"),
        "flags": ((2,), "bool"),
        "given": ((2, 2), "float"),
    }
    assert {b: (result.shapes[b], result.dtypes[b]) for b in result.shapes} == expected
    assert result.unknown["loaded"].startswith("Load")

    net = make_net(
        make_op("Conv", ["data", "w", "b"], ["conv"], kernel=3),
        make_op("Sum", ["loaded", "g"], ["s"]),
    )
    before = init.SerializeToString()
    inferred = infer_shapes(net, {"data": (1, 3, 10, 10)}, init_net=init)
    assert init.SerializeToString() == before
    assert inferred.shapes["conv"] == (1, 8, 8, 8)
    assert inferred.shapes["w"] == (8, 3, 3, 3)
    # Sum takes the shape of any sized input; "loaded" stays unknown, blamed on the init net.
    assert inferred.shapes["s"] == (5,)
    assert inferred.unknown["loaded"].startswith("init_net: Load")


def test_weight_shapes_override_init_net_and_types_override_dtype() -> None:
    init = make_net(make_op("XavierFill", [], ["w"], shape=[4, 3, 3, 3]))
    net = make_net(make_op("Conv", ["data", "w"], ["y"]))
    result = infer_shapes(
        net,
        {"data": (1, 3, 9, 9)},
        {"w": (2, 3, 5, 5)},
        init,
        input_types={"data": "float16", "w": 12},
    )
    assert result.shapes["w"] == (2, 3, 5, 5)
    assert result.shapes["y"] == (1, 2, 5, 5)
    assert result.dtypes["y"] == "float16"
    assert result.nbytes("y") == 2 * 25 * 2


def test_init_net_values_ignored() -> None:
    # Only the shape argument counts: values (here fewer than the shape says) are not read.
    init = make_net(make_op("GivenTensorFill", [], ["big"], shape=[512, 512]))
    init.op[0].arg.add(name="values").floats.extend([0.5] * 1000)
    net = make_net(make_op("Relu", ["big"], ["out"]))
    result = infer_shapes(net, {}, init_net=init)
    assert result.shapes["out"] == (512, 512)
    assert result.nbytes("big") == 512 * 512 * 4


# --------------------------------------------------------------------------------------
# Helpers and properties
# --------------------------------------------------------------------------------------


def test_dtype_names() -> None:
    assert dtype_name(1) == "float"
    assert dtype_name("INT64") == "int64"
    assert dtype_name("float64") == "double"
    for bad in (11, "complex", True, 3.0):
        with pytest.raises(ValueError, match="data type"):
            dtype_name(bad)  # type: ignore[arg-type]


def test_gradient_bases() -> None:
    assert gradient_bases("a_grad") == ("a",)
    assert gradient_bases("a_grad_autosplit_3") == ("a",)
    assert gradient_bases("_a_grad_autosplit_0") == ("_a", "a")
    assert gradient_bases("_norm1_scale_grad") == ("_norm1_scale",)
    assert gradient_bases("gradient") == ()


def test_supported_op_types_cover_the_brief() -> None:
    wanted = {
        "Conv", "ConvTranspose", "MaxPool", "AveragePool", "FC", "FCTransposed", "Relu",
        "Sigmoid", "Tanh", "PRelu", "LeakyRelu", "Elu", "Softmax", "LRN", "Dropout",
        "SpatialBN", "Copy", "Alias", "Sum", "Add", "Sub", "Mul", "Div", "Concat", "Split",
        "Reshape", "Flatten", "FlattenToVec", "Transpose", "Squeeze", "ExpandDims",
        "ChannelShuffle", "NCHW2NHWC", "NHWC2NCHW", "LabelCrossEntropy", "AveragedLoss",
        "SoftmaxWithLoss", "ConstantFill", "Cast", "ReduceMean", "ReduceSum", "MatMul",
        "BatchMatMul", "Slice", "Gather", "Accuracy", "Shape", "ScatterAssign",
        "ConvGradient", "FCGradient", "ReluGradient", "SpatialBNGradient",
    }  # fmt: skip
    assert wanted <= set(supported_op_types())


def _window_count(size: int, kernel: int, stride: int, dilation: int, head: int, tail: int) -> int:
    """Independent oracle: count window positions that fit in the padded input."""
    span = dilation * (kernel - 1) + 1
    count = 0
    start = -head
    while start + span <= size + tail:
        count += 1
        start += stride
    return count


@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
    head=st.integers(0, 3),
    tail=st.integers(0, 3),
    nhwc=st.booleans(),
)
def test_conv_output_matches_window_count(
    size: int, kernel: int, stride: int, dilation: int, head: int, tail: int, nhwc: bool
) -> None:
    expected = _window_count(size, kernel, stride, dilation, head, tail)
    order = "NHWC" if nhwc else "NCHW"
    op = make_op(
        "Conv",
        ["x", "w"],
        ["y"],
        kernels=[kernel, 1],
        strides=[stride, 1],
        dilations=[dilation, 1],
        pads=[head, 0, tail, 0],
        order=order,
    )
    x = (2, size, 5, 3) if nhwc else (2, 3, size, 5)
    w = (4, kernel, 1, 3) if nhwc else (4, 3, kernel, 1)
    if expected == 0:
        with pytest.raises(ShapeInferenceError):
            infer_one(op, {"x": x, "w": w})
        return
    shape = infer_one(op, {"x": x, "w": w}).shapes["y"]
    assert shape == ((2, expected, 5, 4) if nhwc else (2, 4, expected, 5))


def _caffe_pool_count(size: int, kernel: int, stride: int, pad: int) -> int:
    """Oracle for Caffe's ceil-mode pooling, by enumerating windows.

    A window at padded offset ``j * stride`` is kept while it still starts before
    the last full window position plus one stride (Caffe rounds up, keeping a
    partial last window); with padding, a window must also start inside the
    image or its left padding, not in the right padding.
    """
    count = 0
    j = 0
    while j * stride < size + 2 * pad - kernel + stride:
        if not (pad > 0 and j * stride - pad >= size):
            count += 1
        j += 1
    return count


@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 6),
    stride=st.integers(1, 4),
    pad=st.integers(0, 2),
)
def test_caffe_legacy_pooling_matches_oracle(size: int, kernel: int, stride: int, pad: int) -> None:
    assume(pad < kernel <= size + 2 * pad)  # Caffe requires pad < kernel
    op = make_op("MaxPool", ["x"], ["y"], kernel=kernel, stride=stride, pad=pad, legacy_pad=3)
    shape = infer_one(op, {"x": (1, 1, size, size)}).shapes["y"]
    expected = _caffe_pool_count(size, kernel, stride, pad)
    assert shape == (1, 1, expected, expected)


@given(
    dims=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
)
def test_reshape_preserves_element_count(dims: list[int], data: st.DataObject) -> None:
    # oracle: Reshape never changes the number of elements, and old_shape records the rank
    new = list(data.draw(st.permutations(dims)))
    minus = data.draw(st.integers(-1, len(new) - 1))
    if minus >= 0:
        new[minus] = -1
    op = make_op("Reshape", ["x"], ["y", "old"], shape=new)
    result = infer_one(op, {"x": tuple(dims)})
    y = result.shapes["y"]
    count = 1
    for d in y:
        count *= d
    expected = 1
    for d in dims:
        expected *= d
    assert count == expected
    assert result.shapes["old"] == (len(dims),)


def test_concat_split_info_known_even_when_an_input_is_not() -> None:
    net = make_net(make_op("Concat", ["a", "b"], ["y", "info"]))
    result = infer_shapes(net, {"a": (1, 2, 3)})
    assert result.shapes["info"] == (2,)
    assert result.dtypes["info"] == "int32"
    assert result.unknown["y"].startswith("Concat")
    assert "'b'" in result.unknown["y"]


def test_resnet_training_net_fully_sized() -> None:
    from memonger.netdef.models import small_resnet_training

    model = small_resnet_training(namescope="gpu_0/")
    result = infer_shapes(
        model.net, model.input_shapes, init_net=model.init_net, input_types=model.input_dtypes
    )
    assert result.unknown == {}
    assert result == infer_shapes(
        model.net, model.input_shapes, model.weight_shapes, input_types=model.input_dtypes
    )
    for grad in model.param_grads:
        assert result.shapes[grad] == result.shapes[grad.removesuffix("_grad")]
    for blob, shape in result.shapes.items():
        for base in gradient_bases(blob):
            if base in result.shapes:
                assert shape == result.shapes[base], blob
    assert result.shapes["gpu_0/loss"] == ()
    assert result.dtypes["gpu_0/label"] == "int32"
