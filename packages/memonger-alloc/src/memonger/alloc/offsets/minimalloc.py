"""MiniMalloc's CSV format for allocation problems and their solutions.

A file has the header ``id,lower,upper,size`` (optionally ``alignment``,
then ``offset`` in a solution); each row is one buffer live over the
**half-open** span ``[lower, upper)``.  memonger's ranges are closed, so a
row becomes ``LiveRange(lower, upper - 1, size)`` and a range is written
back as ``upper = used + 1``.  The capacity is not part of the file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping

from memonger.alloc.errors import InvalidRangeError
from memonger.alloc.ranges import LiveRange, nbytes

__all__ = ["minimalloc_csv_text", "read_minimalloc_csv", "write_minimalloc_csv"]

_REQUIRED = ("id", "lower", "upper", "size")


def read_minimalloc_csv(path: str | os.PathLike[str]) -> dict[str, LiveRange]:
    """Read a MiniMalloc CSV as closed live ranges keyed by ``id``, in file order.

    An ``alignment`` column, when present, must hold 1 or the same value on
    every row (pass it to :func:`~memonger.alloc.plan_offsets`); an
    ``offset`` column is ignored.

    Raises
    ------
    InvalidRangeError
        A missing column, a duplicate id, a non-integer field, an empty
        lifespan (``upper <= lower``) or a negative size, naming the line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "p.csv"
    ...     _ = p.write_text("id,lower,upper,size\\nx,0,3,8\\ny,3,5,4\\n")
    ...     read_minimalloc_csv(p)
    {'x': LiveRange(defined=0, used=2, size=8), 'y': LiveRange(defined=3, used=4, size=4)}
    """
    ranges: dict[str, LiveRange] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or ()]
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise InvalidRangeError(f"{os.fspath(path)}: missing column(s) {', '.join(missing)}")
        reader.fieldnames = header
        for line, row in enumerate(reader, start=2):
            name = (row["id"] or "").strip()
            try:
                lower, upper, size = (int((row[c] or "").strip()) for c in _REQUIRED[1:])
            except ValueError:
                raise InvalidRangeError(
                    f"{os.fspath(path)}:{line}: lower, upper and size must be integers"
                ) from None
            if name in ranges:
                raise InvalidRangeError(f"{os.fspath(path)}:{line}: id {name!r} appears twice")
            if upper <= lower:
                raise InvalidRangeError(
                    f"{os.fspath(path)}:{line}: buffer {name!r} has an empty lifespan "
                    f"[{lower}, {upper})"
                )
            if size < 0:
                raise InvalidRangeError(
                    f"{os.fspath(path)}:{line}: buffer {name!r} has size {size}"
                )
            ranges[name] = LiveRange(lower, upper - 1, size)
    return ranges


def minimalloc_csv_text(
    ranges: Mapping[str, LiveRange], offsets: Mapping[str, int] | None = None
) -> str:
    """Ranges (and offsets, as an ``offset`` column) as the text of a MiniMalloc CSV.

    Closed ranges become half-open lifespans ``[defined, used + 1)``;
    unknown sizes are written as 1.  With ``offsets``, only the blobs that
    have one are written.

    Examples
    --------
    >>> print(minimalloc_csv_text({"x": LiveRange(0, 2, 8)}, {"x": 0}), end="")
    id,lower,upper,size,offset
    x,0,3,8,0
    """
    import io

    rows = [["id", "lower", "upper", "size"] + (["offset"] if offsets is not None else [])]
    for name, r in ranges.items():
        if offsets is not None and name not in offsets:
            continue
        if r.defined is None or r.used is None:
            raise InvalidRangeError(f"blob {name!r} has an unknown position")
        row = [name, str(r.defined), str(r.used + 1), str(nbytes(r.size))]
        if offsets is not None:
            row.append(str(offsets[name]))
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def write_minimalloc_csv(
    path: str | os.PathLike[str],
    ranges: Mapping[str, LiveRange],
    offsets: Mapping[str, int] | None = None,
) -> None:
    """Write :func:`minimalloc_csv_text` to ``path`` (a temporary file, then a rename).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "p.csv"
    ...     write_minimalloc_csv(p, {"x": LiveRange(0, 2, 8)}, {"x": 0})
    ...     print(p.read_text(), end="")
    ...     read_minimalloc_csv(p)
    id,lower,upper,size,offset
    x,0,3,8,0
    {'x': LiveRange(defined=0, used=2, size=8)}
    """
    from memonger.alloc.offsets.plan_json import atomic_write_text

    atomic_write_text(path, minimalloc_csv_text(ranges, offsets))
