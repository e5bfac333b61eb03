"""Per-operator shape rules used by :func:`memonger.netdef.infer_shapes`.

Each rule reads one Caffe2 ``OperatorDef`` together with the shapes and dtypes
known for its inputs, and returns the shape and dtype of each of its outputs.
The rules follow the documented semantics of the Caffe2 operators (their
schemas and tensor-inference functions); they never look at tensor values, so
an output whose shape depends on the *values* of an input (``Reshape`` with a
shape tensor, ``ConstantFill`` with ``input_as_shape``...) is reported as
unknown rather than guessed.

A rule raises :class:`UnknownShape` when it cannot size the op's outputs
(typically because an input has no known shape) and
:class:`~memonger.netdef.errors.ShapeInferenceError` when the op itself is
malformed (a bad argument, contradictory input shapes).

Dtypes are Caffe2 ``TensorProto.DataType`` names in lower case: ``"float"``,
``"double"``, ``"float16"``, ``"int32"``, ``"int64"``, ``"int16"``,
``"int8"``, ``"uint8"``, ``"uint16"``, ``"bool"``, ``"byte"``, ``"string"``
-- the canonical names of :mod:`memonger.stats.dtypes`, the project's one
dtype table (names, aliases and element sizes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import ShapeInferenceError
from memonger.stats import DataType, UnsupportedDtypeError
from memonger.stats.dtypes import dtype_name as _dtype_name

__all__ = [
    "DTYPE_NAMES",
    "RULES",
    "OpContext",
    "Outputs",
    "Rule",
    "TensorInfo",
    "UnknownShape",
    "dtype_name",
    "gradient_bases",
    "supported_op_types",
]

#: Caffe2 ``TensorProto.DataType`` numbers and their canonical names (from the
#: project's one dtype table, :mod:`memonger.stats.dtypes`).
DTYPE_NAMES: dict[int, str] = {int(member): _dtype_name(member) for member in DataType}


def dtype_name(dtype: int | str) -> str:
    """Return the canonical name of a Caffe2 dtype given as a number or a name.

    Names are case-insensitive; every name and alias of
    :data:`memonger.stats.dtypes.DTYPE_BY_NAME` is accepted (``float32``,
    ``float64``, ``half``, ``short``...), so shape inference and
    :mod:`memonger.stats` always agree on a dtype.

    Raises
    ------
    ValueError
        If ``dtype`` names no Caffe2 data type.

    Examples
    --------
    >>> dtype_name(10)
    'int64'
    >>> dtype_name("FLOAT")
    'float'
    >>> dtype_name("float32")
    'float'
    >>> dtype_name("short")
    'int16'
    """
    if not isinstance(dtype, (int, str)) or isinstance(dtype, bool):
        raise ValueError(f"not a Caffe2 data type: {dtype!r}")
    try:
        return _dtype_name(dtype)
    except UnsupportedDtypeError:
        if isinstance(dtype, int):
            raise ValueError(f"not a Caffe2 data type number: {dtype}") from None
        raise ValueError(f"not a Caffe2 data type: {dtype!r}") from None


class TensorInfo(NamedTuple):
    """Shape and dtype name of one blob."""

    shape: tuple[int, ...]
    dtype: str


class UnknownShape(Exception):
    """Raised by a rule that cannot size the outputs of its op; the reason is the message."""


Rule = Callable[["OpContext"], Sequence["TensorInfo | str | None"]]
"""A shape rule: outputs' shapes (a reason or ``None`` where one output cannot be sized)."""

Outputs = Sequence["TensorInfo | str | None"]
"""What a rule returns: one entry per output of the op (it may be shorter)."""


class OpContext:
    """One operator being inferred: its arguments and the known input shapes.

    Parameters
    ----------
    op : caffe2_pb2.OperatorDef
        The operator.
    index : int
        Its position in the net (for messages).
    known : Mapping[str, TensorInfo]
        Shapes known before the op runs.
    """

    def __init__(
        self, op: caffe2_pb2.OperatorDef, index: int, known: Mapping[str, TensorInfo]
    ) -> None:
        self.op = op
        self.index = index
        self._known = known
        self._args: dict[str, caffe2_pb2.Argument] = {}
        for arg in op.arg:
            self._args.setdefault(arg.name, arg)

    # -- messages -------------------------------------------------------------------
    def where(self) -> str:
        """Describe the op for messages: type, position, name and outputs."""
        name = f" {self.op.name!r}" if self.op.name else ""
        outs = ", ".join(repr(o) for o in self.op.output) or "no outputs"
        return f"{self.op.type or '<no type>'} op #{self.index}{name} (writing {outs})"

    def fail(self, message: str) -> ShapeInferenceError:
        """Build a :class:`ShapeInferenceError` naming the op and its outputs."""
        return ShapeInferenceError(f"{self.where()}: {message}")

    # -- inputs ---------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        """Number of inputs of the op."""
        return len(self.op.input)

    @property
    def num_outputs(self) -> int:
        """Number of outputs of the op."""
        return len(self.op.output)

    def maybe(self, i: int) -> TensorInfo | None:
        """Return input ``i``'s shape, or None when the op has no such input or it is unknown."""
        if i >= len(self.op.input):
            return None
        return self._known.get(self.op.input[i])

    def input(self, i: int) -> TensorInfo:
        """Return input ``i``'s shape; raise :class:`UnknownShape` if it is not known."""
        if i >= len(self.op.input):
            raise self.fail(f"needs at least {i + 1} inputs, has {len(self.op.input)}")
        name = self.op.input[i]
        info = self._known.get(name)
        if info is None:
            raise UnknownShape(f"input {name!r} has no known shape")
        return info

    def shape(self, i: int) -> tuple[int, ...]:
        """Return input ``i``'s shape (see :meth:`input`)."""
        return self.input(i).shape

    def ndim_at_least(self, i: int, n: int) -> tuple[int, ...]:
        """Return input ``i``'s shape, checking that it has at least ``n`` dimensions."""
        shape = self.shape(i)
        if len(shape) < n:
            raise self.fail(
                f"input {self.op.input[i]!r} has shape {list(shape)}; "
                f"at least {n} dimensions are required"
            )
        return shape

    # -- arguments ------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """Whether the op has an argument called ``name``."""
        return name in self._args

    def arg_int(self, name: str, default: int) -> int:
        """Integer argument ``name`` (field ``i``), or ``default`` when absent."""
        arg = self._args.get(name)
        if arg is None:
            return default
        if not arg.HasField("i"):
            raise self.fail(f"argument {name!r} must be an integer (field 'i')")
        return int(arg.i)

    def arg_ints(self, name: str) -> list[int] | None:
        """Repeated integer argument ``name`` (field ``ints``), or None when absent."""
        arg = self._args.get(name)
        if arg is None:
            return None
        if arg.HasField("i") and not arg.ints:
            return [int(arg.i)]
        return [int(v) for v in arg.ints]

    def arg_str(self, name: str, default: str) -> str:
        """String argument ``name`` (field ``s``), or ``default`` when absent."""
        arg = self._args.get(name)
        if arg is None:
            return default
        if not arg.HasField("s"):
            raise self.fail(f"argument {name!r} must be a string (field 's')")
        try:
            return arg.s.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"argument {name!r} is not UTF-8") from None

    def arg_dtype(self, name: str, default: str) -> str:
        """Data-type argument ``name`` given as a number (``i``) or a name (``s``)."""
        arg = self._args.get(name)
        if arg is None:
            return default
        value: int | str
        if arg.HasField("i"):
            value = int(arg.i)
        elif arg.HasField("s"):
            value = arg.s.decode("utf-8", errors="replace")
        else:
            raise self.fail(f"argument {name!r} must be a data type (field 'i' or 's')")
        try:
            return dtype_name(value)
        except ValueError:
            raise self.fail(f"argument {name!r}={value!r} is not a Caffe2 data type") from None

    def order(self) -> str:
        """Storage order: ``"NCHW"`` (the default) or ``"NHWC"``."""
        order = self.arg_str("order", "NCHW").upper()
        if order not in ("NCHW", "NHWC"):
            raise self.fail(f"argument 'order'={order!r} must be NCHW or NHWC")
        return order

    def axis(self, value: int, ndim: int, what: str = "axis") -> int:
        """Canonicalize a possibly negative axis for a tensor of ``ndim`` dimensions."""
        if not -ndim <= value < ndim:
            raise self.fail(f"{what}={value} is out of range for {ndim} dimensions")
        return value + ndim if value < 0 else value


RULES: dict[str, Rule] = {}

_GRADIENT_NAME = re.compile(r"^(?P<base>.+)_grad(?P<split>_autosplit_\d+)?$")


def gradient_bases(blob: str) -> tuple[str, ...]:
    """Blobs whose gradient ``blob`` may be, by Caffe2's naming, most likely first.

    Caffe2 names the gradient of ``X`` ``X_grad``; the parts of an
    accumulated gradient are ``X_grad_autosplit_<k>`` or
    ``_X_grad_autosplit_<k>``.

    Examples
    --------
    >>> gradient_bases("conv1_w_grad")
    ('conv1_w',)
    >>> gradient_bases("_fc_grad_autosplit_1")
    ('_fc', 'fc')
    >>> gradient_bases("conv1")
    ()
    """
    match = _GRADIENT_NAME.match(blob)
    if match is None:
        return ()
    base = match.group("base")
    if match.group("split") and base.startswith("_") and len(base) > 1:
        return (base, base[1:])
    return (base,)


def _register(*types: str) -> Callable[[Rule], Rule]:
    def decorate(fn: Rule) -> Rule:
        for t in types:
            RULES[t] = fn
        return fn

    return decorate


def supported_op_types() -> list[str]:
    """Sorted names of the op types that have a shape rule.

    Examples
    --------
    >>> "Conv" in supported_op_types()
    True
    """
    return sorted(RULES)


def _prod(values: Sequence[int]) -> int:
    return math.prod(values)


def _same(info: TensorInfo, n: int) -> Outputs:
    return [info] * n


# ---------------------------------------------------------------------------------
# Element-wise and identity-like ops
# ---------------------------------------------------------------------------------

_UNARY = (
    "Relu", "Sigmoid", "Tanh", "Softmax", "Softsign", "Softplus", "Elu", "Selu",
    "LeakyRelu", "PRelu", "Swish", "Exp", "Log", "Sqrt", "Rsqrt", "Abs", "Negative",
    "Sqr", "Sin", "Cos", "Logit", "Clip", "Scale", "Copy", "Alias", "Identity",
    "StopGradient", "EnsureDense", "CopyGPUToCPU", "CopyCPUToGPU", "CopyFromCPUInput",
    "EnsureCPUOutput", "NanCheck", "ChannelShuffle", "LpNorm", "Normalize",
    "NormalizeL1", "Floor", "Ceil", "Sign", "Reciprocal", "Cube", "Erf", "Gelu",
    "HardSigmoid", "Tan", "Atan", "Acos", "Asin", "Cosh", "Sinh", "ThresholdedRelu",
    "ScatterAssign", "ScatterWeightedSum", "WeightedSum", "Mean", "Max", "Min",
    "ElementwiseLinear", "Relu6", "Pow", "EnforceFinite", "Softmax2D",
    "AffineChannel", "InstanceNorm",
)  # fmt: skip


@_register(*_UNARY)
def _unary(ctx: OpContext) -> Outputs:
    if ctx.op.type == "Pow" and ctx.num_inputs > 1:
        return _binary(ctx)
    x = ctx.input(0)
    outs: list[TensorInfo | str | None] = [x]
    if ctx.op.type == "InstanceNorm":  # Y, saved mean, saved inverse std: (N, C)
        ctx.ndim_at_least(0, 2)
        c = x.shape[1] if ctx.order() == "NCHW" else x.shape[-1]
        outs += [TensorInfo((x.shape[0], c), x.dtype)] * 2
    return outs[: ctx.num_outputs] + [None] * (ctx.num_outputs - len(outs))


@_register("Not")
def _not(ctx: OpContext) -> Outputs:
    return [TensorInfo(ctx.shape(0), "bool")]


@_register("Dropout")
def _dropout(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    return [x, TensorInfo(x.shape, "bool")][: ctx.num_outputs]


@_register("LRN")
def _lrn(ctx: OpContext) -> Outputs:
    return _same(ctx.input(0), min(ctx.num_outputs, 2))


def _broadcast(ctx: OpContext, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Numpy-style broadcast of two shapes."""
    out: list[int] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            raise ctx.fail(f"shapes {list(a)} and {list(b)} cannot be broadcast together")
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


_COMPARISONS = ("EQ", "NE", "LT", "LE", "GT", "GE", "And", "Or", "Xor")
_ARITHMETIC = (
    "Add", "Sub", "Mul", "Div", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    "Atan2",
)  # fmt: skip


@_register(*_ARITHMETIC, *_COMPARISONS)
def _binary(ctx: OpContext) -> Outputs:
    a = ctx.input(0)
    b = ctx.input(1)
    dtype = "bool" if ctx.op.type in _COMPARISONS else a.dtype
    if ctx.arg_int("broadcast", 0):
        # Legacy broadcast: B matches a contiguous run of A's dimensions.
        if len(b.shape) > len(a.shape):
            raise ctx.fail(
                f"broadcast=1 needs B {list(b.shape)} to have no more dimensions than "
                f"A {list(a.shape)}"
            )
        axis = ctx.arg_int("axis", -1)
        start = len(a.shape) - len(b.shape) if axis == -1 else ctx.axis(axis, len(a.shape))
        window = a.shape[start : start + len(b.shape)]
        if len(window) != len(b.shape) or any(
            y not in (x, 1) for x, y in zip(window, b.shape, strict=True)
        ):
            raise ctx.fail(
                f"broadcast=1: B {list(b.shape)} does not fit A {list(a.shape)} at axis {start}"
            )
        return [TensorInfo(a.shape, dtype)]
    return [TensorInfo(_broadcast(ctx, a.shape, b.shape), dtype)]


@_register("Sum")
def _sum(ctx: OpContext) -> Outputs:
    known = [(i, ctx.maybe(i)) for i in range(ctx.num_inputs)]
    sized = [(i, info) for i, info in known if info is not None]
    if not sized:
        if ctx.num_inputs == 0:
            raise ctx.fail("needs at least one input")
        ctx.input(0)  # raises UnknownShape naming the input
    first_i, first = sized[0]
    for i, info in sized[1:]:
        if info.shape != first.shape:
            raise ctx.fail(
                f"inputs {ctx.op.input[first_i]!r} {list(first.shape)} and "
                f"{ctx.op.input[i]!r} {list(info.shape)} differ in shape"
            )
    return [first]


# ---------------------------------------------------------------------------------
# Convolution and pooling
# ---------------------------------------------------------------------------------

_NOTSET, _VALID, _SAME, _CAFFE_LEGACY_POOLING = 0, 1, 2, 3


def _per_dim(
    ctx: OpContext, nd: int, plural: str, single: str, hw: tuple[str, str], default: int | None
) -> list[int] | None:
    values = ctx.arg_ints(plural)
    if values is not None:
        if len(values) != nd:
            raise ctx.fail(f"argument {plural!r} has {len(values)} values; {nd} expected")
        return values
    if ctx.has(single):
        return [ctx.arg_int(single, 0)] * nd
    if ctx.has(hw[0]) or ctx.has(hw[1]):
        if nd != 2:
            raise ctx.fail(f"arguments {hw[0]!r}/{hw[1]!r} need a 2-D op, this one is {nd}-D")
        if not (ctx.has(hw[0]) and ctx.has(hw[1])):
            raise ctx.fail(f"arguments {hw[0]!r} and {hw[1]!r} must be given together")
        return [ctx.arg_int(hw[0], 0), ctx.arg_int(hw[1], 0)]
    return None if default is None else [default] * nd


def _pads(ctx: OpContext, nd: int) -> tuple[list[int], list[int]]:
    pads = ctx.arg_ints("pads")
    if pads is not None:
        if len(pads) != 2 * nd:
            raise ctx.fail(f"argument 'pads' has {len(pads)} values; {2 * nd} expected")
        return pads[:nd], pads[nd:]
    if ctx.has("pad"):
        p = ctx.arg_int("pad", 0)
        return [p] * nd, [p] * nd
    names = ("pad_t", "pad_l", "pad_b", "pad_r")
    if any(ctx.has(n) for n in names):
        if nd != 2:
            raise ctx.fail(f"arguments pad_t/pad_l/pad_b/pad_r need a 2-D op, this one is {nd}-D")
        t, left, b, r = (ctx.arg_int(n, 0) for n in names)
        return [t, left], [b, r]
    return [0] * nd, [0] * nd


class _Window(NamedTuple):
    kernel: list[int]
    stride: list[int]
    dilation: list[int]
    head: list[int]
    tail: list[int]
    legacy: int


def _window(ctx: OpContext, nd: int, kernel_default: list[int] | None) -> _Window:
    kernel = _per_dim(ctx, nd, "kernels", "kernel", ("kernel_h", "kernel_w"), None)
    if kernel is None:
        if kernel_default is None:
            raise ctx.fail("no kernel size given ('kernel', 'kernels' or 'kernel_h'/'kernel_w')")
        kernel = kernel_default
    stride = _per_dim(ctx, nd, "strides", "stride", ("stride_h", "stride_w"), 1)
    dilation = _per_dim(ctx, nd, "dilations", "dilation", ("dilation_h", "dilation_w"), 1)
    assert stride is not None
    assert dilation is not None
    head, tail = _pads(ctx, nd)
    legacy = ctx.arg_int("legacy_pad", _NOTSET)
    if legacy not in (_NOTSET, _VALID, _SAME, _CAFFE_LEGACY_POOLING):
        raise ctx.fail(f"argument 'legacy_pad'={legacy} is not a known padding mode")
    for name, values, low in (
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("dilation", dilation, 1),
    ):
        if any(v < low for v in values):
            raise ctx.fail(f"{name} {values} must be positive")
    if any(p < 0 for p in head + tail):
        raise ctx.fail(f"pads {head + tail} must not be negative")
    return _Window(kernel, stride, dilation, head, tail, legacy)


def _out_size(ctx: OpContext, size: int, w: _Window, d: int) -> int:
    k, s, dil = w.kernel[d], w.stride[d], w.dilation[d]
    dk = dil * (k - 1) + 1
    head, tail = w.head[d], w.tail[d]
    if w.legacy == _VALID:
        head = tail = 0
    elif w.legacy == _SAME:
        target = (size + s - 1) // s
        need = max(0, (target - 1) * s + k - size)
        head, tail = need // 2, need - need // 2
    elif w.legacy == _CAFFE_LEGACY_POOLING:
        # Caffe rounds up and keeps the last window starting inside the input.
        span = size + 2 * head - k
        if span < 0:
            raise ctx.fail(f"kernel {k} is larger than the padded input {size + 2 * head}")
        out = -(-span // s) + 1
        if head > 0 and (out - 1) * s >= size + head:
            out -= 1
        return out
    span = size + head + tail - dk
    if span < 0:
        raise ctx.fail(
            f"kernel {k} (dilated {dk}) is larger than the padded input {size + head + tail} "
            f"in spatial dimension {d}"
        )
    return span // s + 1


def _spatial(ctx: OpContext, x: tuple[int, ...], order: str) -> tuple[int, int, list[int]]:
    if order == "NCHW":
        return x[0], x[1], list(x[2:])
    return x[0], x[-1], list(x[1:-1])


def _assemble(n: int, c: int, spatial: list[int], order: str) -> tuple[int, ...]:
    return (n, c, *spatial) if order == "NCHW" else (n, *spatial, c)


@_register("Conv", "Conv1D", "Conv2D", "Conv3D")
def _conv(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    xs = ctx.ndim_at_least(0, 3)
    ws = ctx.shape(1)
    order = ctx.order()
    n, c, spatial = _spatial(ctx, xs, order)
    nd = len(spatial)
    if len(ws) != nd + 2:
        raise ctx.fail(
            f"filter {ctx.op.input[1]!r} has shape {list(ws)}; {nd + 2} dimensions expected "
            f"for input {ctx.op.input[0]!r} {list(xs)}"
        )
    group = ctx.arg_int("group", 1)
    if group < 1:
        raise ctx.fail(f"argument 'group'={group} must be positive")
    m = ws[0]
    w_c, w_kernel = (ws[1], list(ws[2:])) if order == "NCHW" else (ws[-1], list(ws[1:-1]))
    if w_c * group != c:
        raise ctx.fail(
            f"input {ctx.op.input[0]!r} has {c} channels but filter {ctx.op.input[1]!r} "
            f"{list(ws)} with group={group} expects {w_c * group}"
        )
    if m % group:
        raise ctx.fail(f"{m} output channels are not divisible by group={group}")
    w = _window(ctx, nd, w_kernel)
    if w.kernel != w_kernel:
        raise ctx.fail(f"kernel {w.kernel} does not match filter {ctx.op.input[1]!r} {list(ws)}")
    b = ctx.maybe(2)
    if b is not None and _prod(b.shape) != m:
        raise ctx.fail(f"bias {ctx.op.input[2]!r} {list(b.shape)} does not have {m} elements")
    out = [_out_size(ctx, size, w, d) for d, size in enumerate(spatial)]
    return [TensorInfo(_assemble(n, m, out, order), x.dtype)]


@_register("ConvTranspose")
def _conv_transpose(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    xs = ctx.ndim_at_least(0, 3)
    ws = ctx.shape(1)
    order = ctx.order()
    n, c, spatial = _spatial(ctx, xs, order)
    nd = len(spatial)
    if len(ws) != nd + 2:
        raise ctx.fail(f"filter {ctx.op.input[1]!r} has shape {list(ws)}; {nd + 2} dims expected")
    group = ctx.arg_int("group", 1)
    if group < 1:
        raise ctx.fail(f"argument 'group'={group} must be positive")
    if ws[0] != c:
        raise ctx.fail(
            f"input {ctx.op.input[0]!r} has {c} channels but filter {ctx.op.input[1]!r} "
            f"{list(ws)} expects {ws[0]}"
        )
    m, w_kernel = (ws[1], list(ws[2:])) if order == "NCHW" else (ws[-1], list(ws[1:-1]))
    w = _window(ctx, nd, w_kernel)
    adj = _per_dim(ctx, nd, "adjs", "adj", ("adj_h", "adj_w"), 0)
    assert adj is not None
    out: list[int] = []
    for d, size in enumerate(spatial):
        k, s = w.kernel[d], w.stride[d]
        head, tail = w.head[d], w.tail[d]
        if w.legacy == _VALID:
            head = tail = 0
        elif w.legacy == _SAME:
            need = max(0, k - s)
            head, tail = need // 2, need - need // 2
        size_out = (size - 1) * s + k + adj[d] - head - tail
        if size_out < 1:
            raise ctx.fail(f"output spatial size {size_out} is not positive in dimension {d}")
        out.append(size_out)
    return [TensorInfo(_assemble(n, m * group, out, order), x.dtype)]


_POOLS = (
    "MaxPool", "AveragePool", "MaxPool1D", "MaxPool2D", "MaxPool3D", "AveragePool1D",
    "AveragePool2D", "AveragePool3D", "LpPool",
)  # fmt: skip


@_register(*_POOLS)
def _pool(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    xs = ctx.ndim_at_least(0, 3)
    order = ctx.order()
    n, c, spatial = _spatial(ctx, xs, order)
    if ctx.arg_int("global_pooling", 0):
        out = [1] * len(spatial)
    else:
        w = _window(ctx, len(spatial), None)
        out = [_out_size(ctx, size, w, d) for d, size in enumerate(spatial)]
    return [TensorInfo(_assemble(n, c, out, order), x.dtype)]


@_register("SpatialBN")
def _spatial_bn(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    xs = ctx.ndim_at_least(0, 2)
    c = xs[1] if ctx.order() == "NCHW" else xs[-1]
    scale = ctx.maybe(1)
    if scale is not None and scale.shape != (c,):
        raise ctx.fail(
            f"scale {ctx.op.input[1]!r} has shape {list(scale.shape)}; [{c}] expected "
            f"for input {ctx.op.input[0]!r} {list(xs)}"
        )
    stat = TensorInfo((c,), x.dtype)
    outs: list[TensorInfo | str | None] = [x, stat, stat, stat, stat]
    return outs[: ctx.num_outputs]


# ---------------------------------------------------------------------------------
# Fully connected and matrix products
# ---------------------------------------------------------------------------------


@_register("FC", "FCTransposed")
def _fc(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    ws = ctx.shape(1)
    axis = ctx.axis(ctx.arg_int("axis", 1), max(len(x.shape), 1))
    axis_w = ctx.axis(ctx.arg_int("axis_w", 1), max(len(ws), 1), "axis_w")
    k = _prod(x.shape[axis:])
    if ctx.op.type == "FC":
        n, k_w = _prod(ws[:axis_w]), _prod(ws[axis_w:])
    else:
        k_w, n = _prod(ws[:axis_w]), _prod(ws[axis_w:])
    if k != k_w:
        raise ctx.fail(
            f"input {ctx.op.input[0]!r} {list(x.shape)} flattened at axis {axis} has {k} "
            f"columns but weight {ctx.op.input[1]!r} {list(ws)} expects {k_w}"
        )
    b = ctx.maybe(2)
    if b is not None and _prod(b.shape) != n:
        raise ctx.fail(f"bias {ctx.op.input[2]!r} {list(b.shape)} does not have {n} elements")
    return [TensorInfo((*x.shape[:axis], n), x.dtype)]


@_register("MatMul")
def _matmul(ctx: OpContext) -> Outputs:
    a, b = ctx.input(0), ctx.input(1)
    axis_a = ctx.axis(ctx.arg_int("axis_a", 1), max(len(a.shape), 1), "axis_a")
    axis_b = ctx.axis(ctx.arg_int("axis_b", 1), max(len(b.shape), 1), "axis_b")
    m, k = _prod(a.shape[:axis_a]), _prod(a.shape[axis_a:])
    k2, n = _prod(b.shape[:axis_b]), _prod(b.shape[axis_b:])
    if ctx.arg_int("trans_a", 0):
        m, k = k, m
    if ctx.arg_int("trans_b", 0):
        k2, n = n, k2
    if k != k2:
        raise ctx.fail(f"inner dimensions differ: {list(a.shape)} x {list(b.shape)}")
    return [TensorInfo((m, n), a.dtype)]


@_register("BatchMatMul")
def _batch_matmul(ctx: OpContext) -> Outputs:
    a, b = ctx.input(0), ctx.input(1)
    sa, sb = list(a.shape), list(b.shape)
    if not sa or not sb:
        raise ctx.fail("inputs must have at least one dimension")
    drop_m = drop_n = False
    if len(sa) == 1:
        sa, drop_m = [1, sa[0]], True
        if ctx.arg_int("trans_a", 0):
            sa = sa[::-1]
    if len(sb) == 1:
        sb, drop_n = [sb[0], 1], True
        if ctx.arg_int("trans_b", 0):
            sb = sb[::-1]
    m, k = (sa[-1], sa[-2]) if ctx.arg_int("trans_a", 0) else (sa[-2], sa[-1])
    k2, n = (sb[-1], sb[-2]) if ctx.arg_int("trans_b", 0) else (sb[-2], sb[-1])
    if k != k2:
        raise ctx.fail(f"inner dimensions differ: {list(a.shape)} x {list(b.shape)}")
    if ctx.arg_int("broadcast", 0):
        batch = list(_broadcast(ctx, tuple(sa[:-2]), tuple(sb[:-2])))
    else:
        if sa[:-2] != sb[:-2]:
            raise ctx.fail(
                f"batch dimensions differ: {list(a.shape)} x {list(b.shape)} (broadcast=0)"
            )
        batch = sa[:-2]
    tail = ([] if drop_m else [m]) + ([] if drop_n else [n])
    return [TensorInfo((*batch, *tail), a.dtype)]


# ---------------------------------------------------------------------------------
# Shape manipulation
# ---------------------------------------------------------------------------------


def _concat_axis(ctx: OpContext) -> int:
    if ctx.has("axis"):
        return ctx.arg_int("axis", 1)
    return 1 if ctx.order() == "NCHW" else 3


@_register("Concat", "DepthConcat")
def _concat(ctx: OpContext) -> Outputs:
    if ctx.num_inputs == 0:
        raise ctx.fail("needs at least one input")
    split_info = TensorInfo((ctx.num_inputs,), "int32")
    try:
        infos = [ctx.input(i) for i in range(ctx.num_inputs)]
    except UnknownShape as exc:  # the split info is known anyway
        unknown: list[TensorInfo | str | None] = [str(exc), split_info]
        return unknown[: ctx.num_outputs]
    first = infos[0].shape
    add_axis = ctx.arg_int("add_axis", 0)
    axis = ctx.axis(_concat_axis(ctx), len(first) + (1 if add_axis else 0))
    for i, info in enumerate(infos[1:], 1):
        s = info.shape
        same_rank = len(s) == len(first)
        others_equal = same_rank and all(
            p == q for d, (p, q) in enumerate(zip(s, first, strict=True)) if add_axis or d != axis
        )
        if not others_equal:
            raise ctx.fail(
                f"input {ctx.op.input[i]!r} {list(s)} does not match "
                f"{ctx.op.input[0]!r} {list(first)} outside axis {axis}"
            )
    if add_axis:
        out = (*first[:axis], len(infos), *first[axis:])
    else:
        total = sum(info.shape[axis] for info in infos)
        out = (*first[:axis], total, *first[axis + 1 :])
    outs: list[TensorInfo | str | None] = [TensorInfo(out, infos[0].dtype), split_info]
    return outs[: ctx.num_outputs]


@_register("Split", "DepthSplit")
def _split(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    nout = ctx.num_outputs
    if nout == 0:
        return []
    add_axis = ctx.arg_int("add_axis", 0)
    axis = ctx.axis(_concat_axis(ctx), max(len(x.shape), 1))
    if not x.shape:
        raise ctx.fail(f"input {ctx.op.input[0]!r} is a scalar and cannot be split")
    size = x.shape[axis]
    sizes = ctx.arg_ints("split")
    if ctx.num_inputs > 1:
        if sizes is not None:
            raise ctx.fail("split sizes given both as an argument and as an input")
        raise UnknownShape(f"split sizes come from the values of input {ctx.op.input[1]!r}")
    if sizes is None:
        if size % nout:
            raise ctx.fail(
                f"dimension {axis} of size {size} cannot be split into {nout} equal parts"
            )
        sizes = [size // nout] * nout
    if len(sizes) != nout or sum(sizes) != size or any(s < 0 for s in sizes):
        raise ctx.fail(f"argument 'split'={sizes} does not split {size} into {nout} outputs")
    outs: list[TensorInfo | str | None] = []
    for s in sizes:
        if add_axis:
            if s != 1:
                raise ctx.fail(f"add_axis=1 needs split sizes of 1, got {sizes}")
            shape = (*x.shape[:axis], *x.shape[axis + 1 :])
        else:
            shape = (*x.shape[:axis], s, *x.shape[axis + 1 :])
        outs.append(TensorInfo(shape, x.dtype))
    return outs


@_register("Reshape")
def _reshape(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    old = TensorInfo((len(x.shape),), "int64")
    new = ctx.arg_ints("shape")
    if ctx.num_inputs > 1:
        if new is not None:
            raise ctx.fail("new shape given both as the argument 'shape' and as an input")
        why = f"the new shape comes from the values of input {ctx.op.input[1]!r}"
        outs: list[TensorInfo | str | None] = [why, old]
        return outs[: ctx.num_outputs]
    if new is None:
        raise ctx.fail("no new shape: neither the argument 'shape' nor a second input")
    dims: list[int] = []
    infer_at: int | None = None
    for i, d in enumerate(new):
        if d == 0:
            if i >= len(x.shape):
                raise ctx.fail(f"shape {new}: 0 at position {i} has no input dimension to copy")
            dims.append(x.shape[i])
        elif d == -1:
            if infer_at is not None:
                raise ctx.fail(f"shape {new} has more than one -1")
            infer_at = i
            dims.append(1)
        elif d < 0:
            raise ctx.fail(f"shape {new} has a negative size {d}")
        else:
            dims.append(d)
    total = _prod(x.shape)
    if infer_at is not None:
        rest = _prod(dims)
        if rest == 0 or total % rest:
            raise ctx.fail(f"cannot reshape {list(x.shape)} to {new}")
        dims[infer_at] = total // rest
    if _prod(dims) != total:
        raise ctx.fail(f"cannot reshape {list(x.shape)} ({total} elements) to {new}")
    return [TensorInfo(tuple(dims), x.dtype), old][: ctx.num_outputs]


@_register("Flatten")
def _flatten(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    axis = ctx.arg_int("axis", 1)
    if not 0 <= axis <= len(x.shape):
        raise ctx.fail(f"axis={axis} is out of range for input {list(x.shape)}")
    return [TensorInfo((_prod(x.shape[:axis]), _prod(x.shape[axis:])), x.dtype)]


@_register("FlattenToVec")
def _flatten_to_vec(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    return [TensorInfo((_prod(x.shape),), x.dtype)]


@_register("Transpose")
def _transpose(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    axes = ctx.arg_ints("axes")
    nd = len(x.shape)
    if axes is None:
        axes = list(range(nd))[::-1]
    if sorted(axes) != list(range(nd)):
        raise ctx.fail(f"axes {axes} is not a permutation of the {nd} dimensions")
    return [TensorInfo(tuple(x.shape[a] for a in axes), x.dtype)]


@_register("Squeeze")
def _squeeze(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    dims = sorted(set(ctx.arg_ints("dims") or []))
    for d in dims:
        if not 0 <= d < len(x.shape) or x.shape[d] != 1:
            raise ctx.fail(f"cannot squeeze dimension {d} of input {list(x.shape)}")
    return [TensorInfo(tuple(s for i, s in enumerate(x.shape) if i not in dims), x.dtype)]


@_register("ExpandDims")
def _expand_dims(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    dims = sorted(set(ctx.arg_ints("dims") or []))
    if not dims:
        raise ctx.fail("argument 'dims' is required")
    shape = list(x.shape)
    for d in dims:
        if not 0 <= d <= len(shape):
            raise ctx.fail(f"cannot insert dimension {d} into {list(x.shape)}")
        shape.insert(d, 1)
    return [TensorInfo(tuple(shape), x.dtype)]


@_register("NCHW2NHWC")
def _nchw2nhwc(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    s = ctx.ndim_at_least(0, 3)
    return [TensorInfo((s[0], *s[2:], s[1]), x.dtype)]


@_register("NHWC2NCHW")
def _nhwc2nchw(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    s = ctx.ndim_at_least(0, 3)
    return [TensorInfo((s[0], s[-1], *s[1:-1]), x.dtype)]


@_register("Slice")
def _slice(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    if ctx.num_inputs > 1:
        raise UnknownShape(f"slice bounds come from the values of input {ctx.op.input[1]!r}")
    starts = ctx.arg_ints("starts")
    ends = ctx.arg_ints("ends")
    if starts is None or ends is None or len(starts) != len(ends):
        raise ctx.fail("arguments 'starts' and 'ends' are required and must have equal lengths")
    if len(starts) > len(x.shape):
        raise ctx.fail(f"{len(starts)} slice bounds for input {list(x.shape)}")
    shape = list(x.shape)
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        size = shape[i]
        lo = min(size + 1 + start if start < 0 else start, size)
        hi = min(size + 1 + end if end < 0 else end, size)
        if lo < 0 or hi < lo:
            raise ctx.fail(
                f"slice [{start}, {end}) is empty or reversed for dimension {i} of size {size}"
            )
        shape[i] = hi - lo
    return [TensorInfo(tuple(shape), x.dtype)]


@_register("Gather")
def _gather(ctx: OpContext) -> Outputs:
    data, idx = ctx.input(0), ctx.input(1)
    axis = ctx.axis(ctx.arg_int("axis", 0), max(len(data.shape), 1))
    return [TensorInfo((*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :]), data.dtype)]


@_register("Shape")
def _shape(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    axes = ctx.arg_ints("axes")
    return [TensorInfo((len(x.shape) if axes is None else len(axes),), "int64")]


@_register("Cast")
def _cast(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    if not ctx.has("to"):
        raise ctx.fail("argument 'to' is required")
    return [TensorInfo(x.shape, ctx.arg_dtype("to", "float"))]


_REDUCE = (
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2",
    "ReduceProd",
)  # fmt: skip


@_register(*_REDUCE)
def _reduce(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    nd = len(x.shape)
    axes_arg = ctx.arg_ints("axes")
    axes = set(range(nd)) if axes_arg is None else {ctx.axis(a, nd, "axes") for a in axes_arg}
    keep = ctx.arg_int("keepdims", 1)
    shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape) if keep or i not in axes)
    return [TensorInfo(shape, x.dtype)]


@_register("ReduceFrontSum", "ReduceFrontMean", "ReduceFrontMax", "ReduceBackSum",
           "ReduceBackMean", "ReduceBackMax")  # fmt: skip
def _reduce_front_back(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    k = ctx.arg_int("num_reduce_dim", 1)
    if not 0 <= k <= len(x.shape):
        raise ctx.fail(f"num_reduce_dim={k} is out of range for input {list(x.shape)}")
    front = "Front" in ctx.op.type
    shape = x.shape[k:] if front else x.shape[: len(x.shape) - k]
    return [TensorInfo(shape, x.dtype)]


@_register("SumElements", "SumSqrElements", "Accuracy", "AveragedLoss")
def _scalar(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    dtype = "float" if ctx.op.type == "Accuracy" else x.dtype
    return [TensorInfo((), dtype)]


# ---------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------


@_register("LabelCrossEntropy", "CrossEntropy")
def _cross_entropy(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    n = x.shape[0] if len(x.shape) > 1 else 1
    return [TensorInfo((n,), x.dtype)]


@_register("SoftmaxWithLoss")
def _softmax_with_loss(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    outs: list[TensorInfo | str | None] = [x, TensorInfo((), x.dtype)]
    return outs[: ctx.num_outputs]


@_register("SigmoidCrossEntropyWithLogits")
def _sigmoid_xent(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    return [TensorInfo(x.shape[:-1], x.dtype)]


@_register("SquaredL2Distance")
def _squared_l2(ctx: OpContext) -> Outputs:
    x = ctx.input(0)
    n = x.shape[0] if x.shape else 1
    return [TensorInfo((n,), x.dtype)]


# ---------------------------------------------------------------------------------
# Fill ops (used by init nets too)
# ---------------------------------------------------------------------------------

#: Fill op types and the dtype they produce (None: taken from the ``dtype`` argument).
FILL_DTYPES: dict[str, str | None] = {
    "ConstantFill": None,
    "DiagonalFill": None,
    "GivenTensorFill": "float",
    "GivenTensorDoubleFill": "double",
    "GivenTensorBoolFill": "bool",
    "GivenTensorIntFill": "int32",
    "GivenTensorInt64Fill": "int64",
    "GivenTensorInt16Fill": "int16",
    "GivenTensorFp16Fill": "float16",
    "GivenTensorStringFill": "string",
    "GivenTensorByteStringToUInt8Fill": "uint8",
    "UniformFill": "float",
    "UniformIntFill": "int32",
    "GaussianFill": "float",
    "XavierFill": "float",
    "MSRAFill": "float",
    "RangeFill": "float",
}


@_register(*FILL_DTYPES)
def _fill(ctx: OpContext) -> Outputs:
    fixed = FILL_DTYPES[ctx.op.type]
    dtype = ctx.arg_dtype("dtype", fixed or "float")
    if ctx.num_inputs:
        if ctx.arg_int("input_as_shape", 0):
            raise UnknownShape(f"shape comes from the values of input {ctx.op.input[0]!r}")
        base = ctx.shape(0)
        extra = ctx.arg_ints("extra_shape") or []
        shape = (*base, *extra)
    else:
        if ctx.has("extra_shape"):
            raise ctx.fail("argument 'extra_shape' needs an input")
        shape = tuple(ctx.arg_ints("shape") or [])
    if any(d < 0 for d in shape):
        raise ctx.fail(f"shape {list(shape)} has a negative dimension")
    return _same(TensorInfo(shape, dtype), max(ctx.num_outputs, 1))[: ctx.num_outputs]


# ---------------------------------------------------------------------------------
# Optimizer updates (training nets)
# ---------------------------------------------------------------------------------


def _outputs_like(*inputs: int) -> Rule:
    def rule(ctx: OpContext) -> Outputs:
        return [ctx.input(i) for i in inputs[: ctx.num_outputs]]

    return rule


RULES["MomentumSGDUpdate"] = _outputs_like(0, 1, 3)
RULES["MomentumSGD"] = _outputs_like(0, 1)
RULES["Adam"] = _outputs_like(0, 1, 2, 3)
RULES["Adagrad"] = _outputs_like(0, 1)
RULES["ResizeLike"] = lambda ctx: [TensorInfo(ctx.shape(1), ctx.input(0).dtype)]
RULES["SumReduceLike"] = RULES["ResizeLike"]


# ---------------------------------------------------------------------------------
# Gradient ops
# ---------------------------------------------------------------------------------


@_register("ConvGradient", "ConvTransposeGradient", "Conv1DGradient", "Conv2DGradient",
           "Conv3DGradient")  # fmt: skip
def _conv_gradient(ctx: OpContext) -> Outputs:
    x, w, dy = ctx.maybe(0), ctx.maybe(1), ctx.maybe(2)
    db: TensorInfo | None = None
    if dy is not None and len(dy.shape) >= 2:
        c = dy.shape[1] if ctx.order() == "NCHW" else dy.shape[-1]
        db = TensorInfo((c,), dy.dtype)
    no_bias = ctx.arg_int("no_bias", 0)
    if not ctx.has("no_bias") and ctx.num_outputs == 2:
        # Caffe2 adds no_bias=1 to the gradient of a bias-less Conv; nets built
        # without it still name the second output after the input's gradient.
        no_bias = int(ctx.num_inputs > 0 and ctx.op.input[0] in gradient_bases(ctx.op.output[1]))
    outs = [w, x] if no_bias else [w, db, x]
    return outs[: ctx.num_outputs]


@_register("FCGradient", "FCTransposedGradient")
def _fc_gradient(ctx: OpContext) -> Outputs:
    x, w, dy = ctx.maybe(0), ctx.maybe(1), ctx.maybe(2)
    db = TensorInfo(dy.shape[-1:], dy.dtype) if dy is not None and dy.shape else None
    return [w, db, x][: ctx.num_outputs]


_LIKE_FIRST_INPUT = (
    "MaxPoolGradient", "AveragePoolGradient", "MaxPool1DGradient", "MaxPool2DGradient",
    "MaxPool3DGradient", "AveragePool1DGradient", "AveragePool2DGradient",
    "AveragePool3DGradient", "LRNGradient", "SoftmaxWithLossGradient",
    "LabelCrossEntropyGradient", "CrossEntropyGradient", "AveragedLossGradient",
    "SumElementsGradient", "SliceGradient", "DropoutGrad", "DropoutGradient",
    "ChannelShuffleGradient", "SigmoidCrossEntropyWithLogitsGradient",
)  # fmt: skip

_ELEMENTWISE_GRADIENTS = (
    "ReluGradient", "SigmoidGradient", "TanhGradient", "SoftmaxGradient", "EluGradient",
    "LeakyReluGradient", "SeluGradient", "SoftplusGradient", "SwishGradient",
    "SoftsignGradient", "ClipGradient", "Relu6Gradient", "CopyGradient",
    "ScaleGradient", "AbsGradient", "SqrtGradient", "ExpGradient", "LogGradient",
)  # fmt: skip


@_register(*_LIKE_FIRST_INPUT)
def _like_first_input(ctx: OpContext) -> Outputs:
    if ctx.op.type == "SigmoidCrossEntropyWithLogitsGradient":
        return [ctx.input(1)]
    return [ctx.input(0)]


@_register(*_ELEMENTWISE_GRADIENTS)
def _elementwise_gradient(ctx: OpContext) -> Outputs:
    for i in range(ctx.num_inputs):
        info = ctx.maybe(i)
        if info is not None:
            return [info]
    return [ctx.input(0)]


@_register("ReduceMeanGradient", "ReduceSumGradient", "ReduceMaxGradient",
           "ReduceMinGradient")  # fmt: skip
def _reduce_gradient(ctx: OpContext) -> Outputs:
    return [TensorInfo(ctx.shape(1), ctx.input(0).dtype)]


@_register("SpatialBNGradient")
def _spatial_bn_gradient(ctx: OpContext) -> Outputs:
    return [ctx.maybe(0), ctx.maybe(1), ctx.maybe(1)][: ctx.num_outputs]


@_register("PReluGradient")
def _prelu_gradient(ctx: OpContext) -> Outputs:
    return [ctx.maybe(2) or ctx.maybe(1), ctx.maybe(3)][: ctx.num_outputs]


@_register("AddGradient", "SubGradient", "MulGradient")
def _binary_gradient(ctx: OpContext) -> Outputs:
    return [ctx.maybe(1), ctx.maybe(2)][: ctx.num_outputs]
