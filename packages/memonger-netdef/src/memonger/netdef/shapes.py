"""Static shape inference for Caffe2 nets.

There is no workspace to run a net in, so blob sizes come from shapes and
dtypes: :func:`infer_shapes` propagates the shapes of a net's data inputs and
weights through its operators with per-op rules (:mod:`memonger.netdef.rules`)
and reports every blob it could not size together with the op responsible —
an unsized blob is never silently given size 0.

Weight shapes come from a mapping or from an init net, of which only the
``shape`` / ``extra_shape`` / ``dtype`` arguments of the fill ops are read
(the ``values`` are never touched, however large).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import NetDefError, ShapeInferenceError
from memonger.netdef.netlike import netdef_of
from memonger.netdef.rules import (
    RULES,
    OpContext,
    TensorInfo,
    UnknownShape,
    dtype_name,
    gradient_bases,
)
from memonger.stats import blob_nbytes
from memonger.stats.dtypes import has_fixed_size

__all__ = ["ShapeInference", "infer_shapes", "weight_shapes_from_init_net"]


@dataclass(frozen=True)
class ShapeInference:
    """Result of :func:`infer_shapes`.

    Attributes
    ----------
    shapes : dict[str, tuple[int, ...]]
        Shape of every blob of the net that could be sized (inputs included);
        ``()`` is a scalar.  For a blob written several times, the shape after
        its last write.
    dtypes : dict[str, str]
        Caffe2 data-type name (``"float"``, ``"int32"``, ``"int64"``,
        ``"bool"``...) of every blob in ``shapes``.
    unknown : dict[str, str]
        Every blob of the net that could not be sized, with the reason; for a
        produced blob the reason starts with the type of the op that wrote it.
    """

    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)

    def nbytes(self, blob: str) -> int:
        """Size of ``blob`` in bytes.

        Raises
        ------
        ShapeInferenceError
            If the blob could not be sized (the message gives the reason) or
            its dtype has no fixed element size (strings).
        KeyError
            If the blob is not a blob of the net.

        Examples
        --------
        >>> ShapeInference({"x": (2, 3)}, {"x": "float"}).nbytes("x")
        24
        """
        if blob in self.unknown:
            raise ShapeInferenceError(f"blob {blob!r} has no known shape: {self.unknown[blob]}")
        shape = self.shapes[blob]
        dtype = self.dtypes[blob]
        if not has_fixed_size(dtype):
            raise ShapeInferenceError(f"blob {blob!r} has dtype {dtype!r}: no fixed element size")
        return blob_nbytes(shape, dtype)

    def blob_sizes(self, blobs: Iterable[str] | None = None) -> dict[str, int]:
        """Bytes of the given blobs (default: every sized blob with a fixed-size dtype).

        Examples
        --------
        >>> r = ShapeInference({"x": (2, 3), "i": (4,)}, {"x": "float", "i": "int64"})
        >>> r.blob_sizes()
        {'x': 24, 'i': 32}
        """
        if blobs is None:
            blobs = [b for b in self.shapes if has_fixed_size(self.dtypes[b])]
        return {b: self.nbytes(b) for b in blobs}


def _as_netdef(net: object, what: str) -> caffe2_pb2.NetDef:
    try:
        return netdef_of(net)
    except TypeError as exc:
        raise TypeError(f"{what}: {exc}") from None


def _check_shape(blob: str, shape: object, what: str) -> tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise ShapeInferenceError(
            f"{what} of blob {blob!r} must be a sequence of ints, got {shape!r}"
        )
    dims: list[Any] = list(shape)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise ShapeInferenceError(
                f"{what} of blob {blob!r} must hold non-negative ints, got {list(dims)!r}"
            )
    return tuple(int(d) for d in dims)


def _check_dtype(blob: str, dtype: object) -> str:
    try:
        return dtype_name(cast("int | str", dtype))
    except ValueError:
        raise ShapeInferenceError(
            f"dtype of blob {blob!r} is not a Caffe2 data type: {dtype!r}"
        ) from None


def _net_blobs(net: caffe2_pb2.NetDef) -> list[str]:
    seen: dict[str, None] = {}
    for name in net.external_input:
        seen.setdefault(name)
    for op in net.op:
        for name in (*op.input, *op.output):
            seen.setdefault(name)
    for name in net.external_output:
        seen.setdefault(name)
    return list(seen)


def _gradient_fallback(blob: str, known: Mapping[str, TensorInfo]) -> TensorInfo | None:
    for base in gradient_bases(blob):
        if base in known:
            return known[base]
    return None


def weight_shapes_from_init_net(
    init_net: object, *, input_types: Mapping[str, int | str] | None = None
) -> ShapeInference:
    """Shapes and dtypes of the blobs an init net creates, read from its fill ops.

        Only the ``shape``, ``extra_shape``, ``input_as_shape`` and ``dtype``
        arguments are read; values are never converted, so a large init net costs
        little beyond parsing it.

        Parameters
        ----------
        init_net : caffe2_pb2.NetDef or object with ``.Proto()``
            The init (parameter initialization) net.
        input_types : mapping, optional
            Dtypes overriding what the ops say, by blob.

        Returns
        -------
        ShapeInference
            Sizes of the blobs the init net writes; blobs it cannot size (e.g.
            ``Load`` ops) are in ``unknown``.

        Examples
        --------
        >>> from memonger.stats import blob_nbytes

    from memonger.netdef import caffe2_pb2
        >>> init = caffe2_pb2.NetDef()
        >>> op = init.op.add(type="XavierFill", output=["w"])
        >>> _ = op.arg.add(name="shape", ints=[64, 3, 7, 7])
        >>> op = init.op.add(type="GivenTensorInt64Fill", output=["ids"])
        >>> _ = op.arg.add(name="shape", ints=[10])
        >>> r = weight_shapes_from_init_net(init)
        >>> r.shapes, r.dtypes
        ({'w': (64, 3, 7, 7), 'ids': (10,)}, {'w': 'float', 'ids': 'int64'})
    """
    return infer_shapes(init_net, {}, input_types=input_types)


def infer_shapes(
    net: object,
    input_shapes: Mapping[str, Sequence[int]],
    weight_shapes: Mapping[str, Sequence[int]] | None = None,
    init_net: object | None = None,
    *,
    input_types: Mapping[str, int | str] | None = None,
) -> ShapeInference:
    """Infer the shape and dtype of every blob of a Caffe2 net.

        Parameters
        ----------
        net : caffe2_pb2.NetDef or object with ``.Proto()``
            The net; it is not modified.
        input_shapes : mapping of str to sequence of int
            Shapes of the data inputs.
        weight_shapes : mapping of str to sequence of int, optional
            Shapes of the parameters (they override those read from ``init_net``).
        init_net : caffe2_pb2.NetDef or object with ``.Proto()``, optional
            Parameter initialization net whose fill ops give weight shapes and
            dtypes (see :func:`weight_shapes_from_init_net`).
        input_types : mapping of str to int or str, optional
            Dtypes of inputs and weights (a ``TensorProto.DataType`` number or a
            name such as ``"int32"``); default ``"float"``.

        Returns
        -------
        ShapeInference
            Shapes and dtypes of every blob that could be sized, and the reason
            for each that could not.

        Raises
        ------
        ShapeInferenceError
            If an op is malformed (bad argument, contradictory input shapes) or a
            given shape is not a sequence of non-negative ints; the message names
            the op and the blobs it writes.

        Examples
        --------
        >>> from memonger.stats import blob_nbytes

    from memonger.netdef import caffe2_pb2
        >>> net = caffe2_pb2.NetDef()
        >>> conv = net.op.add(type="Conv", input=["data", "w", "b"], output=["conv"])
        >>> _ = conv.arg.add(name="kernel", i=3)
        >>> _ = conv.arg.add(name="pad", i=1)
        >>> _ = net.op.add(type="Relu", input=["conv"], output=["conv"])
        >>> _ = net.op.add(type="Mystery", input=["conv"], output=["out"])
        >>> r = infer_shapes(net, {"data": [1, 3, 32, 32]}, {"w": [16, 3, 3, 3], "b": [16]})
        >>> r.shapes["conv"], r.dtypes["conv"]
        ((1, 16, 32, 32), 'float')
        >>> r.nbytes("conv")
        65536
        >>> r.unknown
        {'out': "Mystery (op #2): no shape rule for op type 'Mystery'"}
    """
    proto = _as_netdef(net, "net")
    types = {b: _check_dtype(b, t) for b, t in (input_types or {}).items()}
    known: dict[str, TensorInfo] = {}
    unknown: dict[str, str] = {}
    if init_net is not None:
        init = infer_shapes(_as_netdef(init_net, "init_net"), {}, input_types=input_types)
        for blob, init_shape in init.shapes.items():
            known[blob] = TensorInfo(init_shape, init.dtypes[blob])
        for blob, why in init.unknown.items():
            unknown[blob] = f"init_net: {why}"
    for given, what in ((weight_shapes or {}, "weight shape"), (input_shapes, "input shape")):
        for blob, shape in given.items():
            known[blob] = TensorInfo(_check_shape(blob, shape, what), types.get(blob, "float"))
            unknown.pop(blob, None)
    for blob, dtype in types.items():
        if blob in known:
            known[blob] = TensorInfo(known[blob].shape, dtype)

    for index, op in enumerate(proto.op):
        for blob in op.input:
            if blob not in known and blob not in unknown:
                unknown[blob] = "net input: no shape given"
        if op.type == "Free":  # releases its blobs; their sizes stay as they were
            continue
        ctx = OpContext(op, index, known)
        rule = RULES.get(op.type)
        results: Sequence[TensorInfo | str | None] = ()
        reason = f"no shape rule for op type {op.type!r}"
        if rule is not None:
            try:
                results = rule(ctx)
                reason = "the shape rule gives no shape for this output"
            except UnknownShape as exc:
                reason = str(exc)
            except NetDefError:
                raise
            except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as exc:
                # a malformed op (too few inputs, a 0-d input where the rule
                # indexes dimensions...) is bad input, never a crash
                raise ctx.fail(f"malformed op: {type(exc).__name__}: {exc}") from exc
        for k, blob in enumerate(op.output):
            result = results[k] if k < len(results) else None
            info = result if isinstance(result, TensorInfo) else None
            if info is None:
                info = _gradient_fallback(blob, known)
            if info is None:
                why = result if isinstance(result, str) else reason
                unknown[blob] = f"{op.type} (op #{index}): {why}"
                known.pop(blob, None)
            else:
                known[blob] = info
                unknown.pop(blob, None)

    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    missing: dict[str, str] = {}
    for blob in _net_blobs(proto):
        if blob in known:
            shapes[blob] = known[blob].shape
            dtypes[blob] = known[blob].dtype
        else:
            missing[blob] = unknown.get(blob, "net input: no shape given")
    return ShapeInference(shapes, dtypes, missing)
