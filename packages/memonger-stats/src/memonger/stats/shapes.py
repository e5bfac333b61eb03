"""Blob shapes and sizes: shape files and per-net size collection.

There is no workspace to fetch blobs from, so sizes come from shapes and
dtypes.  Shape files map blob names to entries
``{"shape": [...], "dtype": "...", "bytes": N}`` (plain or gzipped JSON); a
``null`` entry marks a blob whose shape is unknown.  Size files are plain
``{blob: bytes}`` maps; :func:`read_blob_sizes` reads both.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from memonger.stats._nets import check_size, net_ops
from memonger.stats.dtypes import DataType, DTypeLike, as_datatype, blob_nbytes
from memonger.stats.errors import MissingSizeError, ShapeFileError, StatsError

__all__ = [
    "BlobShape",
    "collect_blob_sizes",
    "net_blobs",
    "read_blob_sizes",
    "read_shape_file",
]

PathLike = str | os.PathLike[str]


class BlobShape(NamedTuple):
    """Shape, dtype and size in bytes of one blob.

    Examples
    --------
    >>> BlobShape.of([2, 3], "int64")
    BlobShape(shape=(2, 3), dtype='int64', nbytes=48)
    """

    shape: tuple[int, ...]
    dtype: str
    nbytes: int

    @classmethod
    def of(cls, shape: Iterable[int], dtype: DTypeLike = "float") -> BlobShape:
        """Build an entry, computing ``nbytes`` from ``shape`` and ``dtype``."""
        dims = tuple(int(d) for d in shape)
        name = dtype if isinstance(dtype, str) else _dtype_name(dtype)
        return cls(dims, name, blob_nbytes(dims, dtype))


def _dtype_name(dtype: DTypeLike) -> str:
    return as_datatype(dtype).name.lower()


def _load_json(path: PathLike) -> Any:
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ShapeFileError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ShapeFileError(f"{name}: corrupt gzip data: {exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShapeFileError(f"{name}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ShapeFileError(
            f"{name}: expected a JSON object {{blob: entry}}, got {type(data).__name__}"
        )
    return data


def _parse_entry(file: str, blob: str, entry: Any) -> BlobShape:
    if not isinstance(entry, dict):
        raise ShapeFileError(f"{file}: blob {blob!r}: expected an object, got {entry!r}")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise ShapeFileError(f"{file}: blob {blob!r}: 'shape' must be a list of integers")
    dtype = entry.get("dtype", "float")
    if not isinstance(dtype, (str, int)) or isinstance(dtype, bool):
        raise ShapeFileError(f"{file}: blob {blob!r}: 'dtype' must be a name or a number")
    try:
        nbytes = blob_nbytes(shape, dtype)
    except StatsError as exc:
        raise ShapeFileError(f"{file}: blob {blob!r}: {exc}") from exc
    if "bytes" in entry and entry["bytes"] != nbytes:
        raise ShapeFileError(
            f"{file}: blob {blob!r}: 'bytes' is {entry['bytes']!r} but shape {shape} "
            f"of {dtype} takes {nbytes}"
        )
    name = dtype if isinstance(dtype, str) else DataType(dtype).name.lower()
    return BlobShape(tuple(shape), name, nbytes)


def read_shape_file(path: PathLike) -> dict[str, BlobShape]:
    """Read a shape file ``{blob: {"shape": [...], "dtype": "...", "bytes": N}}``.

    The file may be plain or gzipped JSON (detected from its content).
    ``dtype`` defaults to ``"float"``; when ``bytes`` is present it must equal
    the product of the shape times the dtype size.  Entries that are ``null``
    (shape unknown) are left out of the result.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str to BlobShape
        In file order.

    Raises
    ------
    ShapeFileError
        The file cannot be read, is not JSON, or an entry is malformed; the
        message names the file and the blob.

    Examples
    --------
    >>> import json, tempfile, os
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "net.shapes.json")
    ...     with open(path, "w") as f:
    ...         json.dump({"x": {"shape": [2, 3], "dtype": "float32", "bytes": 24}}, f)
    ...     read_shape_file(path)
    {'x': BlobShape(shape=(2, 3), dtype='float32', nbytes=24)}
    """
    file = os.fspath(path)
    data = _load_json(path)
    result: dict[str, BlobShape] = {}
    for blob, entry in data.items():
        if entry is None:
            continue
        result[blob] = _parse_entry(file, blob, entry)
    return result


def read_blob_sizes(path: PathLike) -> dict[str, int]:
    """Read blob sizes in bytes from a shape file or a plain ``{blob: bytes}`` map.

    Each value may be an integer (bytes), a shape entry as read by
    :func:`read_shape_file`, or ``null`` (unknown: left out).

    Parameters
    ----------
    path : str or path-like
        Plain or gzipped JSON.

    Returns
    -------
    dict of str to int

    Raises
    ------
    ShapeFileError
        The file cannot be read, is not JSON, or a value is malformed or
        negative; the message names the file and the blob.

    Examples
    --------
    >>> import json, tempfile, os
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "sizes.json")
    ...     with open(path, "w") as f:
    ...         json.dump({"a": 100, "b": {"shape": [4], "dtype": "int64"}}, f)
    ...     read_blob_sizes(path)
    {'a': 100, 'b': 32}
    """
    file = os.fspath(path)
    data = _load_json(path)
    result: dict[str, int] = {}
    for blob, entry in data.items():
        if entry is None:
            continue
        if isinstance(entry, dict):
            if "shape" not in entry and "bytes" in entry:
                entry = entry["bytes"]
            else:
                result[blob] = _parse_entry(file, blob, entry).nbytes
                continue
        if not isinstance(entry, int) or isinstance(entry, bool):
            raise ShapeFileError(f"{file}: blob {blob!r}: expected bytes or a shape entry")
        try:
            result[blob] = check_size(blob, entry)
        except StatsError as exc:
            raise ShapeFileError(f"{file}: {exc}") from exc
    return result


def net_blobs(net: Any) -> list[str]:
    """Every blob a net names: external inputs, op inputs and outputs, external outputs.

    ``net`` is an object with ``.op`` (and optionally ``.external_input`` /
    ``.external_output``) or a plain sequence of ops.  Blobs come in order of
    first appearance.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> net = NS(op=[NS(input=["x", "w"], output=["y"])], external_input=["x"],
    ...          external_output=["y"])
    >>> net_blobs(net)
    ['x', 'w', 'y']
    """
    seen: dict[str, None] = {}
    for name in getattr(net, "external_input", ()) if hasattr(net, "op") else ():
        seen.setdefault(name, None)
    for op in net_ops(net):
        for name in op.input:
            seen.setdefault(name, None)
        for name in op.output:
            seen.setdefault(name, None)
    for name in getattr(net, "external_output", ()) if hasattr(net, "op") else ():
        seen.setdefault(name, None)
    return list(seen)


def collect_blob_sizes(
    net: Any,
    shapes: Mapping[str, Sequence[int] | BlobShape],
    types: Mapping[str, DTypeLike] | None = None,
    *,
    missing: Literal["raise", "skip"] = "raise",
) -> dict[str, int]:
    """Size in bytes of every blob of a net, from shapes and dtypes.

    Parameters
    ----------
    net : net or sequence of ops
        See :func:`net_blobs`.
    shapes : mapping of str to shape or BlobShape
        ``blob -> dims``; a :class:`BlobShape` (as from :func:`read_shape_file`)
        brings its own dtype.
    types : mapping of str to dtype, optional
        ``blob -> dtype``; overrides a BlobShape's dtype.  A blob with no
        entry is FLOAT (or its BlobShape's dtype).
    missing : {"raise", "skip"}, default "raise"
        What to do with a blob that has no shape.

    Returns
    -------
    dict of str to int
        In order of first appearance in the net.

    Raises
    ------
    MissingSizeError
        A blob has no shape and ``missing="raise"``.
    InvalidShapeError, UnsupportedDtypeError
        A shape or dtype is invalid (the message names the blob).

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [Op(input=["x"], output=["i"]), Op(input=["i", "x"], output=["y"])]
    >>> collect_blob_sizes(ops, {"x": [8, 3], "i": [8], "y": [8, 3]}, {"i": "int64"})
    {'x': 96, 'i': 64, 'y': 96}
    """
    if missing not in ("raise", "skip"):
        raise ValueError(f"missing must be 'raise' or 'skip', not {missing!r}")
    types = types or {}
    result: dict[str, int] = {}
    for blob in net_blobs(net):
        entry = shapes.get(blob)
        if entry is None:
            if missing == "raise":
                raise MissingSizeError(f"blob {blob!r} has no shape")
            continue
        if isinstance(entry, BlobShape):
            dims: Sequence[int] = entry.shape
            dtype: DTypeLike = types.get(blob, entry.dtype)
        else:
            dims = entry
            dtype = types.get(blob, DataType.FLOAT)
        try:
            result[blob] = blob_nbytes(dims, dtype)
        except StatsError as exc:
            raise type(exc)(f"blob {blob!r}: {exc}") from exc
    return result
