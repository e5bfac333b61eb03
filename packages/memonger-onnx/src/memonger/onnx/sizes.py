"""Bytes of ONNX tensors from their element type and shape.

Element types are ``onnx.TensorProto.DataType`` numbers.  Their widths come
from the table :data:`ELEMENT_BITS`, written from the ONNX IR specification
rather than taken from numpy, so that the result does not depend on the
installed onnx or numpy version:

============================================================  =====
element types                                                  bits
============================================================  =====
DOUBLE, INT64, UINT64, COMPLEX64 (two FLOAT)                     64
COMPLEX128                                                      128
FLOAT, INT32, UINT32                                             32
FLOAT16, BFLOAT16, INT16, UINT16                                 16
INT8, UINT8, BOOL, the FLOAT8 types, FLOAT8E8M0                   8
INT4, UINT4, FLOAT4E2M1 (packed two to a byte)                    4
INT2, UINT2 (packed four to a byte)                               2
============================================================  =====

A tensor takes ``ceil(elements * bits / 8)`` bytes, so packed types round up
to whole bytes.  STRING has no fixed size and UNDEFINED is no type: both are
reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["ELEMENT_BITS", "element_bits", "tensor_nbytes"]

ELEMENT_BITS: Mapping[int, int] = {
    1: 32,  # FLOAT
    2: 8,  # UINT8
    3: 8,  # INT8
    4: 16,  # UINT16
    5: 16,  # INT16
    6: 32,  # INT32
    7: 64,  # INT64
    9: 8,  # BOOL
    10: 16,  # FLOAT16
    11: 64,  # DOUBLE
    12: 32,  # UINT32
    13: 64,  # UINT64
    14: 64,  # COMPLEX64
    15: 128,  # COMPLEX128
    16: 16,  # BFLOAT16
    17: 8,  # FLOAT8E4M3FN
    18: 8,  # FLOAT8E4M3FNUZ
    19: 8,  # FLOAT8E5M2
    20: 8,  # FLOAT8E5M2FNUZ
    21: 4,  # UINT4
    22: 4,  # INT4
    23: 4,  # FLOAT4E2M1
    24: 8,  # FLOAT8E8M0
    25: 2,  # UINT2
    26: 2,  # INT2
}
"""Bits per element of each fixed-width ``TensorProto.DataType``."""

_NAMES: Mapping[int, str] = {0: "UNDEFINED", 8: "STRING"}


def element_bits(elem_type: int) -> int:
    """Bits of one element of ``elem_type`` (a ``TensorProto.DataType`` number).

    Raises
    ------
    ValueError
        The type has no fixed width (STRING, UNDEFINED) or is not known.

    Examples
    --------
    >>> element_bits(1), element_bits(7), element_bits(22)
    (32, 64, 4)
    >>> element_bits(8)
    Traceback (most recent call last):
    ...
    ValueError: element type STRING has no fixed size
    """
    bits = ELEMENT_BITS.get(elem_type)
    if bits is None:
        name = _NAMES.get(elem_type, f"number {elem_type}")
        if elem_type in _NAMES:
            raise ValueError(f"element type {name} has no fixed size")
        raise ValueError(f"element type {name} is not known")
    return bits


def tensor_nbytes(shape: Sequence[int], elem_type: int) -> int:
    """Bytes of a tensor of static ``shape`` and element type ``elem_type``.

    Python integers: the product never overflows.

    Raises
    ------
    ValueError
        A negative dimension, or an element type without a fixed size.

    Examples
    --------
    >>> tensor_nbytes([1, 3, 224, 224], 1)
    602112
    >>> tensor_nbytes([], 7), tensor_nbytes([0, 5], 1)
    (8, 0)
    >>> tensor_nbytes([3], 21)  # three 4-bit values fill two bytes
    2
    """
    bits = element_bits(elem_type)
    count = 1
    for index, dim in enumerate(shape):
        if dim < 0:
            raise ValueError(f"dimension {index} is negative ({dim})")
        count *= dim
    return (count * bits + 7) // 8
