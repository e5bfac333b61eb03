"""Real architectures' training nets, built in Caffe2 ops by code.

The nets are what Caffe2's model helpers (``brew.conv``, ``brew.spatial_bn``,
``brew.relu``, ``brew.max_pool``, ``brew.sum``, ``brew.average_pool``,
``brew.fc``) and ``Net.AddGradientOperators([loss])`` produce for ResNet
(``caffe2.python.models.resnet.create_resnet50`` with ``no_bias=True``, as the
ResNet-50 trainer calls it):

* forward: ``Conv`` (no bias; ``kernel``/``stride``/``pad``, ``order`` NCHW),
  training ``SpatialBN`` (outputs ``Y``, the running mean and inverse variance
  in place with the inputs ``<bn>_rm``/``<bn>_riv``, and the saved statistics
  ``<bn>_sm``/``<bn>_siv``; ``is_test`` 0), in-place ``Relu``, ``MaxPool``,
  bottleneck blocks ``comp_<k>_conv_<i>`` / ``comp_<k>_spatbn_<i>`` with a
  projection shortcut ``shortcut_projection_<k>`` where the width changes,
  residual ``Sum`` followed by an in-place ``Relu``, a global ``AveragePool``,
  ``FC`` and ``SoftmaxWithLoss(pred, label) -> softmax, loss``;
* backward, in reverse op order: the seed ``ConstantFill(loss) ->
  loss_autogen_grad`` (value 1.0), then each forward op's gradient op
  (``SoftmaxWithLossGradient``, ``FCGradient``, ``AveragePoolGradient``,
  ``ReluGradient(Y, dY)``, ``SpatialBNGradient``, ``ConvGradient -> W_grad,
  X_grad``, ``MaxPoolGradient``; ``Sum`` has no gradient op and passes its
  output gradient to both inputs), with the forward op's arguments and device
  option copied and ``is_gradient_op`` set.  Where a blob feeds several ops,
  the first gradient keeps the name ``X_grad``, the others are renamed
  ``_X_grad_autosplit_<k>``, and a ``Sum`` writes ``X_grad`` (in place with its
  first input) before the producer's gradient op.  As in Caffe2, the seed and
  the accumulation ``Sum`` ops are created outside the gradient registry and
  carry no ``is_gradient_op`` flag.

Blobs read before any op writes them are the net's external inputs, in order
of first use (``data``, then parameters, ``label`` last), as Caffe2's ``Net``
records them; the external outputs are the loss and every parameter
gradient (``<param>_grad``).  A name scope such as ``"gpu_0/"`` prefixes every
blob, as ``data_parallel_model`` does per device.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from memonger.netdef import caffe2_pb2

__all__ = [
    "RESNET_BLOCKS",
    "TrainingNet",
    "resnet50_training",
    "resnet_training",
    "small_resnet_training",
]

#: Bottleneck blocks per stage for the ResNet depths Caffe2's builder knows.
RESNET_BLOCKS: Mapping[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}

_ArgValue = int | float | str | Sequence[int]


@dataclass(frozen=True)
class TrainingNet:
    """A training net together with everything needed to size and optimize it.

    Attributes
    ----------
    name : str
        Human-readable description, e.g. ``"ResNet-50"``.
    net : caffe2_pb2.NetDef
        Forward and gradient ops.
    init_net : caffe2_pb2.NetDef
        The parameter initialization net (``MSRAFill``/``XavierFill``/
        ``ConstantFill`` with ``shape`` arguments), as ``param_init_net``.
    input_shapes : Mapping[str, tuple[int, ...]]
        Shapes of the data inputs (``data`` NCHW, ``label`` of length N).
    input_dtypes : Mapping[str, int]
        Caffe2 ``DataType`` of each data input (``label`` is INT32).
    weight_shapes : Mapping[str, tuple[int, ...]]
        Shapes of every parameter and running statistic.
    params : tuple[str, ...]
        Trained parameters (weights, BN scales and biases), in creation order.
    param_grads : tuple[str, ...]
        ``<param>_grad`` for every parameter, in the same order.
    losses : tuple[str, ...]
        The loss blobs the backward pass starts from.
    namescope : str
        The prefix of every blob name (``""`` when none).
    """

    name: str
    net: caffe2_pb2.NetDef
    init_net: caffe2_pb2.NetDef
    input_shapes: Mapping[str, tuple[int, ...]]
    input_dtypes: Mapping[str, int]
    weight_shapes: Mapping[str, tuple[int, ...]]
    params: tuple[str, ...]
    param_grads: tuple[str, ...]
    losses: tuple[str, ...]
    namescope: str = ""

    def all_shapes(self) -> dict[str, tuple[int, ...]]:
        """Return the input and weight shapes in one mapping.

        Examples
        --------
        >>> model = small_resnet_training()
        >>> model.all_shapes()["data"]
        (2, 3, 32, 32)
        """
        shapes = dict(self.weight_shapes)
        shapes.update(self.input_shapes)
        return shapes


def _make_arg(name: str, value: _ArgValue) -> caffe2_pb2.Argument:
    arg = caffe2_pb2.Argument(name=name)
    if isinstance(value, bool):
        arg.i = int(value)
    elif isinstance(value, int):
        arg.i = value
    elif isinstance(value, float):
        arg.f = value
    elif isinstance(value, str):
        arg.s = value.encode("utf-8")
    else:
        arg.ints.extend(int(v) for v in value)
    return arg


def _make_op(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    args: Sequence[caffe2_pb2.Argument] | Mapping[str, _ArgValue] = (),
    device: caffe2_pb2.DeviceOption | None = None,
    *,
    is_gradient_op: bool = False,
) -> caffe2_pb2.OperatorDef:
    op = caffe2_pb2.OperatorDef(type=op_type)
    op.input.extend(inputs)
    op.output.extend(outputs)
    if isinstance(args, Mapping):
        op.arg.extend(_make_arg(k, v) for k, v in args.items())
    else:
        for a in args:
            op.arg.add().CopyFrom(a)
    if device is not None:
        op.device_option.CopyFrom(device)
    if is_gradient_op:
        op.is_gradient_op = True
    return op


@dataclass
class _Builder:
    """Records forward ops, parameters and their initializers (brew-like)."""

    scope: str
    device: caffe2_pb2.DeviceOption | None
    ops: list[caffe2_pb2.OperatorDef] = field(default_factory=list)
    init_ops: list[caffe2_pb2.OperatorDef] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    weight_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def name(self, blob: str) -> str:
        return self.scope + blob

    def add(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        args: Mapping[str, _ArgValue] | None = None,
    ) -> str:
        self.ops.append(_make_op(op_type, inputs, outputs, args or {}, self.device))
        return outputs[0]

    def _init(
        self,
        fill: str,
        blob: str,
        shape: tuple[int, ...],
        value: float | None = None,
        *,
        param: bool,
    ) -> str:
        args: dict[str, _ArgValue] = {"shape": list(shape)}
        if value is not None:
            args["value"] = value
        self.init_ops.append(_make_op(fill, [], [blob], args, self.device))
        self.weight_shapes[blob] = shape
        if param:
            self.params.append(blob)
        return blob

    def conv(
        self,
        x: str,
        out: str,
        dim_in: int,
        dim_out: int,
        *,
        kernel: int,
        stride: int = 1,
        pad: int = 0,
    ) -> str:
        out = self.name(out)
        w = self._init("MSRAFill", out + "_w", (dim_out, dim_in, kernel, kernel), param=True)
        args: dict[str, _ArgValue] = {
            "kernel": kernel,
            "stride": stride,
            "pad": pad,
            "order": "NCHW",
        }
        return self.add("Conv", [x, w], [out], args)

    def spatial_bn(self, x: str, out: str, dim: int, *, epsilon: float, momentum: float) -> str:
        out = self.name(out)
        s = self._init("ConstantFill", out + "_s", (dim,), 1.0, param=True)
        b = self._init("ConstantFill", out + "_b", (dim,), 0.0, param=True)
        rm = self._init("ConstantFill", out + "_rm", (dim,), 0.0, param=False)
        riv = self._init("ConstantFill", out + "_riv", (dim,), 1.0, param=False)
        return self.add(
            "SpatialBN",
            [x, s, b, rm, riv],
            [out, rm, riv, out + "_sm", out + "_siv"],
            {"order": "NCHW", "epsilon": epsilon, "momentum": momentum, "is_test": 0},
        )

    def relu_inplace(self, x: str) -> str:
        return self.add("Relu", [x], [x], {"order": "NCHW"})

    def fc(self, x: str, out: str, dim_in: int, dim_out: int) -> str:
        out = self.name(out)
        w = self._init("XavierFill", out + "_w", (dim_out, dim_in), param=True)
        b = self._init("ConstantFill", out + "_b", (dim_out,), 0.0, param=True)
        return self.add("FC", [x, w, b], [out])


# --- the backward pass -------------------------------------------------------


@dataclass(frozen=True)
class _Generator:
    """Where one gradient of a (blob, version) comes from (Caffe2's GradGenMeta)."""

    op: caffe2_pb2.OperatorDef | None
    index: int
    gradient: str


def _copy_args(fwd: caffe2_pb2.OperatorDef) -> list[caffe2_pb2.Argument]:
    return list(fwd.arg)


def _gradient_for(
    fwd: caffe2_pb2.OperatorDef, g_output: Sequence[str | None]
) -> tuple[list[caffe2_pb2.OperatorDef], list[str | None]]:
    """Return the gradient ops of ``fwd`` and the gradient of each of its inputs.

    Mirrors the C++ gradient makers of the ops the builders use.
    """
    device = fwd.device_option if fwd.HasField("device_option") else None
    x = list(fwd.input)
    y = list(fwd.output)

    def gi(i: int) -> str:
        return x[i] + "_grad"

    def grad_op(
        op_type: str, inputs: Sequence[str], outputs: Sequence[str]
    ) -> caffe2_pb2.OperatorDef:
        return _make_op(op_type, inputs, outputs, _copy_args(fwd), device, is_gradient_op=True)

    t = fwd.type
    if t == "Sum":
        return [], [g_output[0]] * len(x)
    if t == "SoftmaxWithLoss":
        go = g_output[1]
        if go is None:
            return [], [None] * len(x)
        return [grad_op("SoftmaxWithLossGradient", [x[0], x[1], y[0], go], [gi(0)])], [gi(0)] + [
            None
        ] * (len(x) - 1)
    go0 = g_output[0]
    if go0 is None:
        return [], [None] * len(x)
    if t == "Conv":
        if len(x) == 3:
            outs = [gi(1), gi(2), gi(0)]
            g_in: list[str | None] = [gi(0), gi(1), gi(2)]
        else:
            outs = [gi(1), gi(0)]
            g_in = [gi(0), gi(1)]
        conv_grad = grad_op("ConvGradient", [x[0], x[1], go0], outs)
        if len(x) == 2:
            # Caffe2's gradient maker marks a bias-less convolution so that the
            # second output is read as the input gradient, not a bias gradient.
            conv_grad.arg.add(name="no_bias", i=1)
        return [conv_grad], g_in
    if t == "SpatialBN":
        return [
            grad_op("SpatialBNGradient", [x[0], x[1], go0, y[3], y[4]], [gi(0), gi(1), gi(2)])
        ], [gi(0), gi(1), gi(2), None, None]
    if t == "Relu":
        return [grad_op("ReluGradient", [y[0], go0], [gi(0)])], [gi(0)]
    if t in ("MaxPool", "AveragePool"):
        return [grad_op(t + "Gradient", [x[0], y[0], go0], [gi(0)])], [gi(0)]
    if t == "FC":
        return [grad_op("FCGradient", [x[0], x[1], go0], [gi(1), gi(2), gi(0)])], [
            gi(0),
            gi(1),
            gi(2),
        ]
    raise ValueError(f"no gradient maker for op type {t!r} (output {y[0]!r})")


def _backward_ops(
    forward: Sequence[caffe2_pb2.OperatorDef],
    losses: Sequence[str],
    device: caffe2_pb2.DeviceOption | None,
) -> list[caffe2_pb2.OperatorDef]:
    """Caffe2's ``IR.GetBackwardPass`` for ``forward`` with auto-filled seeds."""
    frontier: dict[str, int] = defaultdict(int)
    in_versions: list[dict[str, int]] = []
    usages: dict[tuple[str, int], list[int]] = defaultdict(list)
    for idx, op in enumerate(forward):
        versions: dict[str, int] = {}
        for s in op.input:
            versions[s] = frontier[s]
            usages[(s, frontier[s])].append(idx)
        in_versions.append(versions)
        for s in op.output:
            if s in frontier:
                frontier[s] += 1
            else:
                frontier[s] = 0
    generators: dict[tuple[str, int], list[_Generator]] = defaultdict(list)
    input_to_grad: dict[str, str | None] = {}
    grad_ops: list[caffe2_pb2.OperatorDef] = []
    for loss in losses:
        usages[(loss, frontier[loss])].append(len(forward))
        seed = _make_op("ConstantFill", [loss], [loss + "_autogen_grad"], {"value": 1.0}, device)
        grad_ops.append(seed)
        input_to_grad[loss] = seed.output[0]
        generators[(loss, frontier[loss])].append(_Generator(seed, 0, seed.output[0]))

    for idx in reversed(range(len(forward))):
        fwd = forward[idx]
        g_output = [input_to_grad.get(name) for name in fwd.output]
        if any(g is not None for g in g_output):
            ops, g_input = _gradient_for(fwd, g_output)
            local: list[str] = []
            for op in ops:
                local.extend(op.output)
                for i, out in enumerate(op.output):
                    if out in g_input:
                        name = fwd.input[g_input.index(out)]
                        generators[(name, in_versions[idx][name])].append(_Generator(op, i, out))
            for k, grad in enumerate(g_input):
                if grad is not None and grad not in local:
                    name = fwd.input[k]
                    generators[(name, in_versions[idx][name])].append(_Generator(None, 0, grad))
            update: dict[str, str | None] = {}
            for name, grad in zip(fwd.input, g_input, strict=True):
                if grad is not None or name not in input_to_grad or name in fwd.output:
                    update[name] = grad
            input_to_grad.update(update)
            grad_ops.extend(ops)
        # Gradient accumulation where this op is the first reader of an input.
        for name in dict.fromkeys(fwd.input):
            key = (name, in_versions[idx][name])
            users = usages[key]
            if len(users) <= 1 or users[0] != idx or len(generators[key]) < 2:
                continue
            gens = generators[key]
            base = next((g.op.output[g.index] for g in gens if g.op is not None), name + "_grad")
            sum_inputs: list[str] = []
            first = True
            count = 0
            for g in gens:
                if g.op is not None:
                    if first:
                        first = False
                        sum_inputs.append(g.op.output[g.index])
                    else:
                        renamed = f"_{g.op.output[g.index]}_autosplit_{count}"
                        g.op.output[g.index] = renamed
                        count += 1
                        sum_inputs.append(renamed)
                else:
                    sum_inputs.append(g.gradient)
            if base in sum_inputs:
                j = sum_inputs.index(base)
                sum_inputs[0], sum_inputs[j] = sum_inputs[j], sum_inputs[0]
            sum_device = next(
                (
                    g.op.device_option
                    for g in gens
                    if g.op is not None and g.op.HasField("device_option")
                ),
                None,
            )
            grad_ops.append(_make_op("Sum", sum_inputs, [base], {}, sum_device))
            input_to_grad[name] = base
    return grad_ops


def _external_inputs(ops: Sequence[caffe2_pb2.OperatorDef]) -> list[str]:
    defined: set[str] = set()
    external: dict[str, None] = {}
    for op in ops:
        for s in op.input:
            if s not in defined:
                external.setdefault(s, None)
        defined.update(op.output)
    return list(external)


def resnet_training(
    *,
    blocks: Sequence[int] = RESNET_BLOCKS[50],
    width: int = 64,
    batch_size: int = 32,
    image_size: int = 224,
    num_labels: int = 1000,
    channels: int = 3,
    namescope: str = "",
    device_option: caffe2_pb2.DeviceOption | None = None,
    name: str | None = None,
) -> TrainingNet:
    """Build a bottleneck ResNet training net (forward and gradient ops).

    Parameters
    ----------
    blocks : sequence of int
        Bottleneck blocks per stage (four stages; ``(3, 4, 6, 3)`` is ResNet-50).
    width : int
        Channels of the stem; stage ``k`` has inner width ``width * 2**k`` and
        output width ``4 * width * 2**k`` (64 gives ResNet-50's 256..2048).
    batch_size, image_size, channels : int
        Shape of the ``data`` input, ``(batch_size, channels, image_size,
        image_size)``; ``label`` has shape ``(batch_size,)`` and type INT32.
    num_labels : int
        Classes of the final ``FC`` (``last_out_L<num_labels>``).
    namescope : str
        Prefix of every blob name (``"gpu_0/"``); a ``/`` is appended when
        missing.
    device_option : caffe2_pb2.DeviceOption, optional
        Device of every op (absent means CPU).
    name : str, optional
        The NetDef's name (default ``"resnet<depth>_train"``).

    Returns
    -------
    TrainingNet

    Examples
    --------
    >>> model = resnet_training(blocks=(1, 1, 1, 1), width=8, image_size=32, batch_size=2)
    >>> model.net.op[0].type, model.net.op[0].output[0]
    ('Conv', 'conv1')
    >>> model.losses, model.net.external_output[0]
    (('loss',), 'loss')
    >>> [op.type for op in model.net.op if op.type.startswith("Softmax")]
    ['SoftmaxWithLoss', 'SoftmaxWithLossGradient']
    """
    if len(blocks) != 4 or any(int(b) < 1 for b in blocks):
        raise ValueError(f"blocks must be four positive counts, got {tuple(blocks)!r}")
    for label, value in (
        ("width", width),
        ("batch_size", batch_size),
        ("image_size", image_size),
        ("num_labels", num_labels),
        ("channels", channels),
    ):
        if int(value) < 1:
            raise ValueError(f"{label} must be positive, got {value!r}")
    if namescope and not namescope.endswith("/"):
        namescope += "/"
    depth = 2 + 3 * sum(blocks)
    b = _Builder(namescope, device_option)
    data = b.name("data")
    label = b.name("label")

    # Stem: conv1 + SpatialBN + Relu + MaxPool (as create_resnext).
    x = b.conv(data, "conv1", channels, width, kernel=7, stride=2, pad=3)
    x = b.spatial_bn(x, "conv1_spatbn_relu", width, epsilon=1e-5, momentum=0.9)
    x = b.relu_inplace(x)
    x = b.add(
        "MaxPool", [x], [b.name("pool1")], {"kernel": 3, "stride": 2, "pad": 1, "order": "NCHW"}
    )

    dim_in = width
    inner = width
    comp = 0
    for stage, count in enumerate(blocks):
        dim_out = 4 * width * 2**stage
        for block in range(int(count)):
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            x = b.conv(x, f"comp_{comp}_conv_1", dim_in, inner, kernel=1)
            x = b.spatial_bn(x, f"comp_{comp}_spatbn_1", inner, epsilon=1e-5, momentum=0.9)
            x = b.relu_inplace(x)
            x = b.conv(x, f"comp_{comp}_conv_2", inner, inner, kernel=3, stride=stride, pad=1)
            x = b.spatial_bn(x, f"comp_{comp}_spatbn_2", inner, epsilon=1e-5, momentum=0.9)
            x = b.relu_inplace(x)
            x = b.conv(x, f"comp_{comp}_conv_3", inner, dim_out, kernel=1)
            x = b.spatial_bn(x, f"comp_{comp}_spatbn_3", dim_out, epsilon=1e-5, momentum=0.9)
            if dim_out != dim_in:
                shortcut = b.conv(
                    shortcut,
                    f"shortcut_projection_{comp}",
                    dim_in,
                    dim_out,
                    kernel=1,
                    stride=stride,
                )
                shortcut = b.spatial_bn(
                    shortcut,
                    f"shortcut_projection_{comp}_spatbn",
                    dim_out,
                    epsilon=1e-5,
                    momentum=0.9,
                )
            x = b.add("Sum", [shortcut, x], [b.name(f"comp_{comp}_sum_3")])
            x = b.relu_inplace(x)
            dim_in = dim_out
            comp += 1
        inner *= 2

    x = b.add(
        "AveragePool",
        [x],
        [b.name("final_avg")],
        {"kernel": 7, "stride": 1, "global_pooling": 1, "order": "NCHW"},
    )
    x = b.fc(x, f"last_out_L{num_labels}", dim_in, num_labels)
    loss = b.name("loss")
    b.add("SoftmaxWithLoss", [x, label], [b.name("softmax"), loss])

    forward = list(b.ops)
    backward = _backward_ops(forward, [loss], device_option)

    net = caffe2_pb2.NetDef(name=name or f"resnet{depth}_train")
    net.op.extend(forward + backward)
    net.external_input.extend(_external_inputs(net.op))
    param_grads = tuple(p + "_grad" for p in b.params)
    net.external_output.extend((loss, *param_grads))

    init_net = caffe2_pb2.NetDef(name=(name or f"resnet{depth}_train") + "_init")
    init_net.op.extend(b.init_ops)
    init_net.external_output.extend(op.output[0] for op in b.init_ops)

    return TrainingNet(
        name=f"ResNet-{depth}" if width == 64 else f"ResNet-{depth} (width {width})",
        net=net,
        init_net=init_net,
        input_shapes={
            data: (batch_size, channels, image_size, image_size),
            label: (batch_size,),
        },
        input_dtypes={data: caffe2_pb2.TensorProto.FLOAT, label: caffe2_pb2.TensorProto.INT32},
        weight_shapes=dict(b.weight_shapes),
        params=tuple(b.params),
        param_grads=param_grads,
        losses=(loss,),
        namescope=namescope,
    )


def resnet50_training(
    *,
    batch_size: int = 32,
    image_size: int = 224,
    num_labels: int = 1000,
    namescope: str = "",
    device_option: caffe2_pb2.DeviceOption | None = None,
) -> TrainingNet:
    """Build ResNet-50's training net as Caffe2's ResNet-50 trainer does.

    Examples
    --------
    >>> model = resnet50_training()
    >>> model.name, len(model.params), model.input_shapes["data"]
    ('ResNet-50', 161, (32, 3, 224, 224))
    >>> sum(op.type == "Conv" for op in model.net.op)
    53
    """
    return resnet_training(
        blocks=RESNET_BLOCKS[50],
        batch_size=batch_size,
        image_size=image_size,
        num_labels=num_labels,
        namescope=namescope,
        device_option=device_option,
    )


def small_resnet_training(
    *,
    batch_size: int = 2,
    image_size: int = 32,
    num_labels: int = 10,
    namescope: str = "",
    device_option: caffe2_pb2.DeviceOption | None = None,
) -> TrainingNet:
    """Build a small ResNet (blocks ``(2, 1, 1, 1)``, width 8) for quick runs.

    It has every op type and branch structure of ResNet-50 (blocks with a
    projection shortcut and an identity block, whose input gradient is
    accumulated from a ``Sum`` pass-through) at a fraction of the size.

    Examples
    --------
    >>> model = small_resnet_training()
    >>> model.name, len(model.net.op)
    ('ResNet-17 (width 8)', 131)
    """
    return resnet_training(
        blocks=(2, 1, 1, 1),
        width=8,
        batch_size=batch_size,
        image_size=image_size,
        num_labels=num_labels,
        namescope=namescope,
        device_option=device_option,
    )
