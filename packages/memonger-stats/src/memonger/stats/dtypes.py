"""Byte sizes of blob element types and of whole blobs.

A dtype may be given as a Caffe2 ``TensorProto.DataType`` number (``1`` is
FLOAT), a name (``"float"``, ``"float32"``, ``"int64"``, ``"half"``...), a
:class:`DataType` member, or a numpy dtype (``numpy.float32``,
``numpy.dtype("int8")``).  Types without a fixed element size (STRING, BYTE)
and UNDEFINED raise :class:`~memonger.stats.UnsupportedDtypeError`.

This module is the one dtype table of memonger: :data:`DTYPE_BY_NAME` holds
every accepted name and alias, :func:`dtype_name` the canonical name of each
type (``DataType`` member names in lower case: ``"float"``, ``"int16"``,
``"float16"``...), :func:`has_fixed_size` which types have an element size.
``memonger.netdef``'s shape inference names and sizes dtypes through it.

Byte counts are computed with Python integers, so they never overflow.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, SupportsIndex

import numpy as np

from memonger.stats.errors import InvalidShapeError, UnsupportedDtypeError

__all__ = [
    "DTYPE_BY_NAME",
    "DTypeLike",
    "DataType",
    "as_datatype",
    "blob_nbytes",
    "dtype_name",
    "dtype_nbytes",
    "has_fixed_size",
]


class DataType(enum.IntEnum):
    """Caffe2's ``TensorProto.DataType`` numbers."""

    UNDEFINED = 0
    FLOAT = 1
    INT32 = 2
    BYTE = 3
    STRING = 4
    BOOL = 5
    UINT8 = 6
    INT8 = 7
    UINT16 = 8
    INT16 = 9
    INT64 = 10
    FLOAT16 = 12
    DOUBLE = 13


DTypeLike = int | str | DataType | np.integer[Any] | np.dtype[Any] | type
"""Anything :func:`dtype_nbytes` accepts as a dtype."""

_NBYTES: dict[DataType, int] = {
    DataType.FLOAT: 4,
    DataType.INT32: 4,
    DataType.BOOL: 1,
    DataType.UINT8: 1,
    DataType.INT8: 1,
    DataType.UINT16: 2,
    DataType.INT16: 2,
    DataType.INT64: 8,
    DataType.FLOAT16: 2,
    DataType.DOUBLE: 8,
}

_NAMES: dict[str, DataType] = {
    "undefined": DataType.UNDEFINED,
    "float": DataType.FLOAT,
    "float32": DataType.FLOAT,
    "single": DataType.FLOAT,
    "int32": DataType.INT32,
    "int": DataType.INT32,
    "byte": DataType.BYTE,
    "bytes": DataType.BYTE,
    "string": DataType.STRING,
    "str": DataType.STRING,
    "bool": DataType.BOOL,
    "uint8": DataType.UINT8,
    "int8": DataType.INT8,
    "uint16": DataType.UINT16,
    "int16": DataType.INT16,
    "short": DataType.INT16,
    "int64": DataType.INT64,
    "long": DataType.INT64,
    "float16": DataType.FLOAT16,
    "half": DataType.FLOAT16,
    "double": DataType.DOUBLE,
    "float64": DataType.DOUBLE,
}

DTYPE_BY_NAME: Mapping[str, DataType] = MappingProxyType(_NAMES)
"""Every dtype name :func:`as_datatype` accepts (lower case) -> its :class:`DataType`.

The canonical names (:func:`dtype_name`) and their aliases: ``float32`` and
``single`` (FLOAT), ``int`` (INT32), ``short`` (INT16), ``long`` (INT64),
``half`` (FLOAT16), ``float64`` (DOUBLE), ``bytes`` (BYTE), ``str`` (STRING).
"""

_NUMPY: dict[str, DataType] = {
    "float32": DataType.FLOAT,
    "int32": DataType.INT32,
    "bool": DataType.BOOL,
    "uint8": DataType.UINT8,
    "int8": DataType.INT8,
    "uint16": DataType.UINT16,
    "int16": DataType.INT16,
    "int64": DataType.INT64,
    "float16": DataType.FLOAT16,
    "float64": DataType.DOUBLE,
}


def as_datatype(dtype: DTypeLike) -> DataType:
    """Convert any accepted dtype spelling to a :class:`DataType`.

    Parameters
    ----------
    dtype : int, str, DataType or numpy dtype
        A Caffe2 DataType number, a case-insensitive name (``"float"``,
        ``"FLOAT16"``, ``"half"``, ``"int64"``; a ``torch.`` prefix is
        ignored), or a numpy dtype or scalar type.

    Returns
    -------
    DataType

    Raises
    ------
    UnsupportedDtypeError
        The dtype is not known (no error is raised for STRING, BYTE or
        UNDEFINED here; :func:`dtype_nbytes` rejects them).

    Examples
    --------
    >>> as_datatype("float32")
    <DataType.FLOAT: 1>
    >>> as_datatype(10).name
    'INT64'
    >>> import numpy as np
    >>> as_datatype(np.float16).name
    'FLOAT16'
    """
    if isinstance(dtype, DataType):
        return dtype
    if isinstance(dtype, bool):
        raise UnsupportedDtypeError(f"dtype {dtype!r} is a bool, not a dtype")
    if isinstance(dtype, (int, np.integer)):
        try:
            return DataType(int(dtype))
        except ValueError:
            raise UnsupportedDtypeError(
                f"dtype {int(dtype)} is not a Caffe2 TensorProto.DataType number"
            ) from None
    if isinstance(dtype, str):
        key = dtype.strip().lower()
        key = key.removeprefix("torch.").removeprefix("numpy.").removeprefix("np.")
        try:
            return _NAMES[key]
        except KeyError:
            raise UnsupportedDtypeError(f"dtype {dtype!r} is not a known dtype name") from None
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise UnsupportedDtypeError(f"dtype {dtype!r} is not a known dtype") from None
    try:
        return _NUMPY[np_dtype.name]
    except KeyError:
        raise UnsupportedDtypeError(
            f"numpy dtype {np_dtype.name!r} has no Caffe2 DataType equivalent"
        ) from None


def dtype_name(dtype: DTypeLike) -> str:
    """The canonical name of a dtype: its :class:`DataType` member name in lower case.

    Raises
    ------
    UnsupportedDtypeError
        The dtype is not known.

    Examples
    --------
    >>> dtype_name("short"), dtype_name(1), dtype_name("HALF"), dtype_name("string")
    ('int16', 'float', 'float16', 'string')
    """
    return as_datatype(dtype).name.lower()


def has_fixed_size(dtype: DTypeLike) -> bool:
    """Whether elements of ``dtype`` have a fixed size (all but STRING, BYTE, UNDEFINED).

    Raises
    ------
    UnsupportedDtypeError
        The dtype is not known.

    Examples
    --------
    >>> has_fixed_size("short"), has_fixed_size("byte")
    (True, False)
    """
    return as_datatype(dtype) in _NBYTES


def dtype_nbytes(dtype: DTypeLike) -> int:
    """Return the size in bytes of one element of ``dtype``.

    Parameters
    ----------
    dtype : int, str, DataType or numpy dtype
        See :func:`as_datatype`.

    Returns
    -------
    int
        DOUBLE and INT64 8; FLOAT and INT32 4; FLOAT16, INT16 and UINT16 2;
        INT8, UINT8 and BOOL 1.

    Raises
    ------
    UnsupportedDtypeError
        The dtype is unknown, or has no fixed element size (STRING, BYTE,
        UNDEFINED).

    Examples
    --------
    >>> dtype_nbytes("float"), dtype_nbytes(10), dtype_nbytes("half")
    (4, 8, 2)
    >>> dtype_nbytes("string")
    Traceback (most recent call last):
    ...
    memonger.stats.errors.UnsupportedDtypeError: dtype 'string' (STRING) has no fixed element size
    """
    datatype = as_datatype(dtype)
    try:
        return _NBYTES[datatype]
    except KeyError:
        raise UnsupportedDtypeError(
            f"dtype {dtype!r} ({datatype.name}) has no fixed element size"
        ) from None


def _dim(value: object, shape: object) -> int:
    if value is None:
        raise InvalidShapeError(f"shape {shape!r} has an unknown dimension (None)")
    if isinstance(value, bool):
        raise InvalidShapeError(f"shape {shape!r} has a bool dimension {value!r}")
    try:
        dim = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidShapeError(f"shape {shape!r} has a non-integer dimension {value!r}") from None
    if dim < 0:
        raise InvalidShapeError(f"shape {shape!r} has a negative (unknown) dimension {dim}")
    return dim


def blob_nbytes(shape: Iterable[SupportsIndex], dtype: DTypeLike = DataType.FLOAT) -> int:
    """Return the size in bytes of a blob of ``shape`` and ``dtype``.

    The product is taken with Python integers, so huge shapes never overflow.

    Parameters
    ----------
    shape : iterable of int
        Dimensions (Python or numpy integers); ``()`` is a scalar.
    dtype : int, str, DataType or numpy dtype, default FLOAT
        See :func:`as_datatype`.

    Returns
    -------
    int

    Raises
    ------
    InvalidShapeError
        A dimension is negative (Caffe2's "unknown"), None or not an integer.
    UnsupportedDtypeError
        See :func:`dtype_nbytes`.

    Examples
    --------
    >>> blob_nbytes([1, 64, 112, 112], "float32")
    3211264
    >>> blob_nbytes([], "int64")
    8
    >>> blob_nbytes([2**40, 2**40], "double")
    9671406556917033397649408
    >>> blob_nbytes([3, -1])
    Traceback (most recent call last):
    ...
    memonger.stats.errors.InvalidShapeError: shape [3, -1] has a negative (unknown) dimension -1
    """
    if isinstance(shape, (str, bytes)):
        raise InvalidShapeError(f"shape {shape!r} is a string, not a sequence of dimensions")
    try:
        dims = list(shape)
    except TypeError:
        raise InvalidShapeError(f"shape {shape!r} is not a sequence of dimensions") from None
    count = 1
    for value in dims:
        count *= _dim(value, shape)
    return count * dtype_nbytes(dtype)
