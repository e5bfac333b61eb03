"""Shape files, size files and per-net size collection."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest

from memonger.stats import (
    BlobShape,
    InvalidShapeError,
    MissingSizeError,
    ShapeFileError,
    StatsError,
    UnsupportedDtypeError,
    collect_blob_sizes,
    net_blobs,
    read_blob_sizes,
    read_shape_file,
)

ENTRIES = {
    "data": {"shape": [1, 3, 224, 224], "dtype": "float", "bytes": 602112},
    "ids": {"shape": [4, 128], "dtype": "int64", "bytes": 4096},
    "mask": {"shape": [1, 4096], "dtype": "bool", "bytes": 4096},
    "unknown": None,
    "half": {"shape": [10], "dtype": "float16"},
}


def _write(path: Path, data: Any, *, gz: bool) -> Path:
    raw = json.dumps(data).encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_read_shape_file(tmp_path: Path, gz: bool) -> None:
    path = _write(tmp_path / "net.shapes.json", ENTRIES, gz=gz)
    shapes = read_shape_file(path)
    assert list(shapes) == ["data", "ids", "mask", "half"]  # null entries left out
    assert shapes["data"] == BlobShape((1, 3, 224, 224), "float", 602112)
    assert shapes["ids"].nbytes == 4096
    assert shapes["half"] == BlobShape((10,), "float16", 20)
    assert read_shape_file(str(path)) == shapes


@pytest.mark.parametrize("gz", [False, True])
def test_read_blob_sizes_both_formats(tmp_path: Path, gz: bool) -> None:
    path = _write(tmp_path / "a.json", ENTRIES, gz=gz)
    assert read_blob_sizes(path) == {"data": 602112, "ids": 4096, "mask": 4096, "half": 20}
    plain = _write(tmp_path / "b.json", {"x": 10, "y": 0, "z": None, "w": {"bytes": 7}}, gz=gz)
    assert read_blob_sizes(plain) == {"x": 10, "y": 0, "w": 7}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"x": {"shape": [2], "dtype": "float", "bytes": 9}}, "'x'.*'bytes' is 9"),
        ({"x": {"shape": [2, -1], "dtype": "float"}}, "'x'.*negative"),
        ({"x": {"shape": "2x3"}}, "'x'.*list of integers"),
        ({"x": {"shape": [2], "dtype": "string"}}, "'x'.*STRING"),
        ({"x": {"shape": [2], "dtype": "quux"}}, "'x'.*quux"),
        ({"x": [1, 2]}, "'x'"),
        ([1, 2], "JSON object"),
    ],
)
def test_shape_file_errors_name_file_and_blob(tmp_path: Path, data: Any, match: str) -> None:
    path = _write(tmp_path / "bad.json", data, gz=False)
    with pytest.raises(ShapeFileError, match=match) as info:
        read_shape_file(path)
    assert "bad.json" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("data", "match"),
    [({"x": -4}, "'x'.*negative"), ({"x": "12"}, "'x'"), ({"x": 1.5}, "'x'"), ({"x": True}, "'x'")],
)
def test_size_file_errors(tmp_path: Path, data: Any, match: str) -> None:
    path = _write(tmp_path / "sizes.json", data, gz=False)
    with pytest.raises(ShapeFileError, match=match) as info:
        read_blob_sizes(path)
    assert "sizes.json" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ShapeFileError, match=r"missing\.json"):
        read_shape_file(tmp_path / "missing.json")
    bad = tmp_path / "garbage.json"
    bad.write_bytes(b"{not json")
    with pytest.raises(ShapeFileError, match=r"garbage\.json.*not valid JSON"):
        read_blob_sizes(bad)
    truncated = tmp_path / "trunc.json.gz"
    truncated.write_bytes(gzip.compress(b'{"x": 1}')[:12])
    with pytest.raises(ShapeFileError, match=r"trunc\.json\.gz"):
        read_blob_sizes(truncated)


def _net() -> NS:
    return NS(
        op=[NS(input=["x", "w"], output=["y"]), NS(input=["y"], output=["idx", "y"])],
        external_input=["x", "w", "lr"],
        external_output=["idx", "out"],
    )


def test_net_blobs_order() -> None:
    assert net_blobs(_net()) == ["x", "w", "lr", "y", "idx", "out"]
    assert net_blobs(_net().op) == ["x", "w", "y", "idx"]


def test_collect_blob_sizes() -> None:
    shapes = {"x": [2, 3], "w": [3, 3], "lr": [], "y": [2, 3], "idx": [2], "out": [1]}
    sizes = collect_blob_sizes(_net(), shapes, {"idx": "int64", "lr": 13})
    assert sizes == {"x": 24, "w": 36, "lr": 8, "y": 24, "idx": 16, "out": 4}
    assert list(sizes) == net_blobs(_net())


def test_collect_blob_sizes_with_blob_shapes() -> None:
    shapes = {n: BlobShape.of([4], "int8") for n in ["x", "w", "lr", "y", "idx", "out"]}
    sizes = collect_blob_sizes(_net(), shapes, {"y": "double"})
    assert sizes["x"] == 4
    assert sizes["y"] == 32  # types override the entry's dtype


def test_collect_blob_sizes_missing() -> None:
    shapes = {"x": [2], "w": [2]}
    with pytest.raises(MissingSizeError, match="'lr'"):
        collect_blob_sizes(_net(), shapes)
    assert collect_blob_sizes(_net(), shapes, missing="skip") == {"x": 8, "w": 8}
    with pytest.raises(ValueError, match="missing"):
        collect_blob_sizes(_net(), shapes, missing="zero")  # type: ignore[arg-type]


def test_collect_blob_sizes_bad_entries_name_the_blob() -> None:
    with pytest.raises(InvalidShapeError, match="'w'"):
        collect_blob_sizes(_net().op, {"x": [1], "w": [-1], "y": [1], "idx": [1]})
    with pytest.raises(UnsupportedDtypeError, match="'x'") as info:
        collect_blob_sizes(_net().op, {"x": [1], "w": [1], "y": [1], "idx": [1]}, {"x": 4})
    assert isinstance(info.value, StatsError)
