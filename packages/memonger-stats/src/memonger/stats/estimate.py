"""Estimate the memory a net allocates on one device, op by op.

This is Caffe2's ``memonger.estimate_memory_usage`` without a workspace and
without its side effect (the original filtered the caller's nets in place).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from memonger.alloc import ViewsOf, declared_views
from memonger.stats._nets import SizeSource, net_ops, sizer
from memonger.stats.devices import Device, as_device, net_device, op_device
from memonger.stats.dtypes import DataType, DTypeLike, blob_nbytes
from memonger.stats.errors import MissingSizeError, StatsError
from memonger.stats.shapes import BlobShape

__all__ = ["MemoryEstimate", "estimate_memory_usage"]

_RELEASING = frozenset({"Free", "Alias"})
"""Op types that release their outputs' memory (an ``Alias`` output then views its input)."""


class MemoryEstimate(NamedTuple):
    """Result of :func:`estimate_memory_usage`; unpacks as ``(total, highwater, by_op_type)``."""

    total: int
    """Bytes allocated over the whole run (a blob freed and written again counts twice)."""
    highwater: int
    """Largest number of bytes allocated at once."""
    by_op_type: dict[str, int]
    """Bytes allocated by each op type, in order of first allocation."""


def _scope(devicescope: Any) -> Device:
    try:
        return as_device(devicescope)
    except TypeError:
        raise TypeError(
            f"devicescope must be a DeviceOption, a (device_type, device_id) tuple or None, "
            f"not {devicescope!r}"
        ) from None


def _nets(protos: Any) -> list[Any]:
    if hasattr(protos, "op"):
        return [protos]
    items = list(protos)
    if items and all(hasattr(item, "op") for item in items):
        return items
    if all(hasattr(item, "output") for item in items):
        return [items]  # one plain sequence of ops
    raise TypeError("protos must be a net, a sequence of nets, or a sequence of ops")


def estimate_memory_usage(
    protos: Any,
    shapes: Mapping[str, Sequence[int] | BlobShape] | None = None,
    types: Mapping[str, DTypeLike] | None = None,
    devicescope: Any = None,
    *,
    sizes: SizeSource | None = None,
    unknown: Literal["raise", "zero"] = "raise",
    views: ViewsOf | None = None,
) -> MemoryEstimate:
    """Simulate a single-threaded run and count the bytes it allocates.

    The nets run one after the other in program order.  On the chosen device:

    - an op's output is allocated (its size is counted) when it is first
      written; writing a blob that is already allocated allocates nothing;
    - ``Free`` ops release their outputs, on any device; so do ``Alias`` ops,
      whose outputs then share their input's memory and are not counted
      when written (until freed);
    - an output an op declares a view of one of its inputs (memonger.alloc's
      view declarations: the op's ``views`` attribute, or ``views``) shares
      that input's memory: it allocates nothing;
    - blobs that exist before the run (a net's ``external_input``, or a blob
      read before any op on the device wrote it) are never counted, even when
      an op writes them in place -- unless they are freed and written again;
    - a blob freed and written again is allocated again.

    Ops on other devices are ignored.  Devices follow the one device rule of
    :mod:`memonger.stats.devices`: an op's device is that of its DeviceOption,
    else that of its net, else the CPU, and every CPU is one device whatever
    its ``device_id``.  The nets are read, never modified.

    Parameters
    ----------
    protos : net, sequence of nets, or sequence of ops
        Objects with ``.op`` (and optionally ``.external_input`` and
        ``.device_option``); each op has ``.type``, ``.input``, ``.output``
        and optionally ``.device_option``.  Caffe2 ``NetDef`` messages qualify.
        Renamed (optimized) nets work as long as their buffer names have
        sizes (see :func:`memonger.stats.renamed_sizes`).
    shapes : mapping of str to shape or BlobShape, optional
        ``blob -> dims``; used when ``sizes`` is not given.
    types : mapping of str to dtype, optional
        ``blob -> dtype`` (DataType number, name or numpy dtype); default
        FLOAT, or a BlobShape's own dtype.
    devicescope : DeviceOption-like, ``(device_type, device_id)`` or None
        The device to estimate; None is the CPU.
    sizes : mapping or callable, optional
        Blob sizes in bytes; takes precedence over ``shapes`` and ``types``.
    unknown : {"raise", "zero"}, default "raise"
        A blob with no shape, or missing from ``sizes``, raises
        :class:`MissingSizeError`, or counts as 0 bytes (the original logged a
        warning and counted 0).  A size ``None`` in ``sizes`` is unknown and
        counts as one byte, memonger's unknown-size policy.
    views : callable, optional
        ``op -> (output_index, input_index)`` view pairs, as for
        :func:`memonger.alloc.compute_liveness`; default: each op's own
        ``views`` attribute.

    Returns
    -------
    MemoryEstimate
        ``(total, highwater, by_op_type)`` in bytes.

    Raises
    ------
    MissingSizeError
        A blob that would be allocated has no size and ``unknown="raise"``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> def op(t, i, o):
    ...     return NS(type=t, input=i, output=o)
    >>> net = NS(op=[op("Relu", ["x"], ["a"]), op("Relu", ["a"], ["b"]),
    ...              op("Free", ["a"], ["a"]), op("Relu", ["b"], ["c"])],
    ...          external_input=["x"])
    >>> estimate_memory_usage(net, {"x": [4], "a": [4], "b": [8], "c": [2]})
    MemoryEstimate(total=56, highwater=48, by_op_type={'Relu': 56})

    A CPU is a CPU whatever its ``device_id``:

    >>> cpu1 = NS(device_type=0, device_id=1)
    >>> ops = [NS(type="Relu", input=["x"], output=["a"], device_option=cpu1)]
    >>> estimate_memory_usage(ops, sizes={"x": 4, "a": 4}).total
    4
    """
    if unknown not in ("raise", "zero"):
        raise ValueError(f"unknown must be 'raise' or 'zero', not {unknown!r}")
    if sizes is None and shapes is None:
        raise StatsError("estimate_memory_usage needs shapes or sizes")
    scope = _scope(devicescope)
    views_of = declared_views if views is None else views
    cache: dict[str, int] = {}
    lookup = None if sizes is None else sizer(sizes)

    def nbytes(blob: str) -> int:
        if blob in cache:
            return cache[blob]
        try:
            if lookup is not None:
                value = lookup(blob)
            else:
                assert shapes is not None
                entry = shapes.get(blob)
                if entry is None:
                    raise MissingSizeError(f"blob {blob!r} has no shape")
                dtype: DTypeLike | None = types.get(blob) if types is not None else None
                if isinstance(entry, BlobShape):
                    value = blob_nbytes(entry.shape, entry.dtype if dtype is None else dtype)
                else:
                    value = blob_nbytes(entry, DataType.FLOAT if dtype is None else dtype)
        except MissingSizeError:
            if unknown == "raise":
                raise
            value = 0
        cache[blob] = value
        return value

    allocated: dict[str, int] = {}
    present: set[str] = set()  # exists without being counted (inputs, aliases)
    written: set[str] = set()
    by_op_type: dict[str, int] = {}
    current = total = highwater = 0
    for net in _nets(protos):
        default = net_device(net)
        external: Iterable[str] = getattr(net, "external_input", ()) if hasattr(net, "op") else ()
        for blob in external:
            if blob not in allocated and blob not in written:
                present.add(blob)
        for op in net_ops(net):
            if op.type in _RELEASING:
                for blob in op.output:
                    if blob in allocated:
                        current -= allocated.pop(blob)
                    if op.type == "Alias":
                        present.add(blob)
                    else:
                        present.discard(blob)
                continue
            if op_device(op, default) != scope:
                continue
            for blob in op.input:
                if blob not in allocated and blob not in written:
                    present.add(blob)
            inputs, outputs = list(op.input), list(op.output)
            viewing = {
                outputs[o]
                for o, i in views_of(op)
                if 0 <= o < len(outputs) and 0 <= i < len(inputs) and outputs[o] != inputs[i]
            }
            for blob in outputs:
                written.add(blob)
                if blob in viewing:
                    if blob in allocated:
                        current -= allocated.pop(blob)
                    present.add(blob)
                    continue
                if blob in allocated or blob in present:
                    continue
                size = nbytes(blob)
                allocated[blob] = size
                total += size
                current += size
                highwater = max(highwater, current)
                by_op_type[op.type] = by_op_type.get(op.type, 0) + size
    return MemoryEstimate(total, highwater, by_op_type)
