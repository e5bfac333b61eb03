"""Element sizes of dtypes and byte sizes of blobs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memonger.stats import (
    DataType,
    InvalidShapeError,
    StatsError,
    UnsupportedDtypeError,
    as_datatype,
    blob_nbytes,
    dtype_nbytes,
)

# Caffe2 TensorProto.DataType numbers and their element sizes (design 4/5).
TABLE = {1: 4, 2: 4, 5: 1, 6: 1, 7: 1, 8: 2, 9: 2, 10: 8, 12: 2, 13: 8}


@pytest.mark.parametrize(("number", "size"), sorted(TABLE.items()))
def test_datatype_numbers(number: int, size: int) -> None:
    assert dtype_nbytes(number) == size
    assert dtype_nbytes(DataType(number)) == size
    assert dtype_nbytes(DataType(number).name) == size
    assert dtype_nbytes(DataType(number).name.lower()) == size


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("float", 4),
        ("float32", 4),
        ("FLOAT", 4),
        ("torch.float32", 4),
        ("int32", 4),
        ("int64", 8),
        ("long", 8),
        ("bool", 1),
        ("uint8", 1),
        ("int8", 1),
        ("uint16", 2),
        ("int16", 2),
        ("float16", 2),
        ("half", 2),
        ("double", 8),
        ("float64", 8),
    ],
)
def test_names(name: str, size: int) -> None:
    assert dtype_nbytes(name) == size


@pytest.mark.parametrize(
    "dtype",
    [
        np.float32,
        np.float64,
        np.float16,
        np.int8,
        np.uint8,
        np.int16,
        np.uint16,
        np.int32,
        np.int64,
        np.bool_,
    ],
)
def test_numpy_dtypes_match_itemsize(dtype: type) -> None:
    assert dtype_nbytes(dtype) == np.dtype(dtype).itemsize
    assert dtype_nbytes(np.dtype(dtype)) == np.dtype(dtype).itemsize


@pytest.mark.parametrize(
    ("dtype", "label"),
    [
        (0, "UNDEFINED"),
        (3, "BYTE"),
        (4, "STRING"),
        ("string", "STRING"),
        ("byte", "BYTE"),
        ("undefined", "UNDEFINED"),
        (DataType.STRING, "STRING"),
    ],
)
def test_unsized_dtypes_raise_naming_the_dtype(dtype: object, label: str) -> None:
    with pytest.raises(UnsupportedDtypeError, match=label) as info:
        dtype_nbytes(dtype)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, StatsError)


@pytest.mark.parametrize(
    "dtype", [11, 14, -1, "bfloat16", "complex64", np.complex64, np.uint64, True, 3.5, object()]
)
def test_unknown_dtypes_raise(dtype: object) -> None:
    with pytest.raises(UnsupportedDtypeError):
        dtype_nbytes(dtype)  # type: ignore[arg-type]


def test_as_datatype() -> None:
    assert as_datatype("half") is DataType.FLOAT16
    assert as_datatype(np.dtype("int64")) is DataType.INT64
    assert as_datatype(np.int32(13)) is DataType.DOUBLE


def test_blob_nbytes_basic() -> None:
    assert blob_nbytes([1, 64, 112, 112]) == 1 * 64 * 112 * 112 * 4
    assert blob_nbytes((), "int64") == 8
    assert blob_nbytes([0, 5], "double") == 0
    assert blob_nbytes(np.array([2, 3]), np.float16) == 12
    assert blob_nbytes([np.int64(7)], "bool") == 7


def test_blob_nbytes_huge_shapes_do_not_overflow() -> None:
    shape = [2**31, 2**31, 2**31, 7]
    assert blob_nbytes(shape, "double") == 7 * 2**93 * 8
    numpy_dims = np.array([2**40, 2**40], dtype=np.int64)
    assert blob_nbytes(numpy_dims, "float") == 2**82  # int64 product would wrap


@given(
    st.lists(st.integers(min_value=0, max_value=2**40), max_size=8), st.sampled_from(sorted(TABLE))
)
def test_blob_nbytes_is_exact_product(shape: list[int], number: int) -> None:
    assert blob_nbytes(shape, number) == math.prod(shape) * TABLE[number]


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ([3, -1], "negative"),
        ([None, 3], "unknown"),
        ([2.5], "non-integer"),
        ([True], "bool"),
        ("abc", "string"),
        (5, "not a sequence"),
        (["3"], "non-integer"),
    ],
)
def test_bad_shapes(shape: object, match: str) -> None:
    with pytest.raises(InvalidShapeError, match=match) as info:
        blob_nbytes(shape)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
