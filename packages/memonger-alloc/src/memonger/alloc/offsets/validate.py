"""Check an offset plan: the reason it is wrong, or nothing.

:func:`offset_violation` returns an :class:`OffsetViolation` describing the
first problem found (a missing or unknown blob, a negative or misaligned
offset, a blob past the capacity, or two time-overlapping blobs sharing
bytes), or ``None``; :func:`validate_offsets` raises it as an
:class:`OffsetError`.  Ranges are closed ``[defined, used]``; bytes are the
half-open ``[offset, offset + size)``, a size ``None`` counting as 1 and a
size 0 occupying nothing.  Sorting by offset and sweeping keeps the check at
``O(n log n + k)`` for ``k`` overlapping pairs in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from memonger.alloc.errors import AllocError
from memonger.alloc.offsets._problem import check_alignment
from memonger.alloc.ranges import LiveRange, as_items, nbytes

__all__ = ["OffsetError", "OffsetViolation", "offset_violation", "validate_offsets"]


class OffsetError(AllocError, ValueError):
    """An offset plan breaks a rule; ``violation`` says which.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> try:
    ...     validate_offsets({"a": LiveRange(0, 1, 4)}, {"a": 2}, alignment=4)
    ... except OffsetError as exc:
    ...     print(exc, exc.violation.kind, exc.violation.blobs)
    blob 'a' at offset 2 is not aligned to 4 alignment ('a',)
    """

    def __init__(self, violation: OffsetViolation) -> None:
        super().__init__(violation.message)
        self.violation = violation


@dataclass(frozen=True)
class OffsetViolation:
    """Why a plan is invalid.

    Attributes
    ----------
    kind : str
        ``"missing"``, ``"unknown"``, ``"negative"``, ``"alignment"``,
        ``"capacity"`` or ``"overlap"``.
    message : str
        A sentence naming the blob(s), their ranges and byte intervals.
    blobs : tuple of str
        The blob(s) at fault (two for an overlap).
    """

    kind: str
    message: str
    blobs: tuple[str, ...]


def offset_violation(
    ranges: Mapping[str, LiveRange] | Iterable[tuple[str, LiveRange]],
    offsets: Mapping[str, int],
    *,
    capacity: int | None = None,
    alignment: int = 1,
    static_blobs: Iterable[str] = (),
) -> OffsetViolation | None:
    """The first rule ``offsets`` breaks, or ``None`` when the plan is valid.

    Parameters
    ----------
    ranges : mapping of str to LiveRange
        The problem; every non-static blob needs an offset.
    offsets : mapping of str to int
        The plan.
    capacity : int, optional
        Every ``offset + size`` must be at most this.
    alignment : int, optional
        Every offset must be a multiple of it.
    static_blobs : iterable of str, optional
        Blobs that are not planned (they must have no offset).

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"a": LiveRange(0, 2, 8), "b": LiveRange(2, 3, 4)}
    >>> offset_violation(rs, {"a": 0, "b": 8}) is None
    True
    >>> print(offset_violation(rs, {"a": 0, "b": 6}).message)
    'a' [0, 2] bytes [0, 8) and 'b' [2, 3] bytes [6, 10) overlap
    >>> offset_violation(rs, {"a": 0, "b": 8}, capacity=10).kind
    'capacity'
    """
    alignment = check_alignment(alignment)
    static = set(static_blobs)
    items = [(n, r) for n, r in as_items(ranges) if n not in static]
    known = {n for n, _ in items}
    for name in offsets:
        if name not in known:
            why = "is static" if name in static else "is not a blob of the problem"
            return OffsetViolation("unknown", f"blob {name!r} has an offset but {why}", (name,))
    spans = []
    for name, r in items:
        if name not in offsets:
            return OffsetViolation("missing", f"blob {name!r} has no offset", (name,))
        off = offsets[name]
        size = nbytes(r.size)
        if isinstance(off, bool) or not isinstance(off, int) or off < 0:
            return OffsetViolation(
                "negative", f"blob {name!r} has offset {off!r}, not an int >= 0", (name,)
            )
        if off % alignment:
            return OffsetViolation(
                "alignment", f"blob {name!r} at offset {off} is not aligned to {alignment}", (name,)
            )
        if capacity is not None and off + size > capacity:
            return OffsetViolation(
                "capacity",
                f"blob {name!r} bytes [{off}, {off + size}) exceed the capacity {capacity}",
                (name,),
            )
        if size > 0:
            spans.append((off, off + size, name, r))
    spans.sort(key=lambda x: (x[0], x[1]))
    active: list[tuple[int, int, str, LiveRange]] = []
    for entry in spans:
        off, top, name, r = entry
        active = [a for a in active if a[1] > off]
        for a_off, a_top, a_name, ar in active:
            if ar.defined <= r.used and r.defined <= ar.used:
                return OffsetViolation(
                    "overlap",
                    f"{a_name!r} [{ar.defined}, {ar.used}] bytes [{a_off}, {a_top}) and "
                    f"{name!r} [{r.defined}, {r.used}] bytes [{off}, {top}) overlap",
                    (a_name, name),
                )
        active.append(entry)
    return None


def validate_offsets(
    ranges: Mapping[str, LiveRange] | Iterable[tuple[str, LiveRange]],
    offsets: Mapping[str, int],
    *,
    capacity: int | None = None,
    alignment: int = 1,
    static_blobs: Iterable[str] = (),
) -> None:
    """Raise :class:`OffsetError` when :func:`offset_violation` finds a problem.

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> rs = {"a": LiveRange(0, 2, 8), "b": LiveRange(2, 3, 4)}
    >>> validate_offsets(rs, {"a": 0, "b": 8})
    >>> try:
    ...     validate_offsets(rs, {"a": 0, "b": 4})
    ... except OffsetError as exc:
    ...     print(exc)
    'a' [0, 2] bytes [0, 8) and 'b' [2, 3] bytes [4, 8) overlap
    """
    violation = offset_violation(
        ranges, offsets, capacity=capacity, alignment=alignment, static_blobs=static_blobs
    )
    if violation is not None:
        raise OffsetError(violation)
