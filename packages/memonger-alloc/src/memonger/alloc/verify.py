"""Checking an assignment against the sharing rule."""

from __future__ import annotations

from collections.abc import Sequence

from memonger.alloc.errors import InvalidAssignmentError
from memonger.alloc.ranges import Item

__all__ = ["verify_assignments"]


def verify_assignments(assignments: Sequence[Sequence[Item]]) -> None:
    """Raise if two blobs of one buffer overlap, or a blob is in two places.

    Ranges are closed: two blobs may share only if one's ``defined`` is
    strictly greater than the other's ``used``.

    Parameters
    ----------
    assignments : sequence of sequence of (str, LiveRange)
        Buffers and their members.

    Raises
    ------
    InvalidAssignmentError
        Naming both overlapping blobs (or the repeated blob).

    Examples
    --------
    >>> from memonger.alloc import LiveRange
    >>> verify_assignments([[("a", LiveRange(0, 2, 4)), ("b", LiveRange(3, 4, 4))]])
    >>> verify_assignments([[("a", LiveRange(0, 2, 4)), ("b", LiveRange(2, 4, 4))]])
    Traceback (most recent call last):
    ...
    memonger.alloc.errors.InvalidAssignmentError: 'a' [0, 2] and 'b' [2, 4] overlap in buffer 0
    """
    seen: dict[str, int] = {}
    for index, assignment in enumerate(assignments):
        for name, _ in assignment:
            if name in seen:
                raise InvalidAssignmentError(
                    f"blob {name!r} is assigned twice (buffers {seen[name]} and {index})"
                )
            seen[name] = index
        members = sorted(assignment, key=lambda item: (item[1].defined, item[1].used))
        holder: Item | None = None  # the member reaching furthest so far
        for item in members:
            if holder is not None and item[1].defined <= holder[1].used:
                a, b = holder, item
                raise InvalidAssignmentError(
                    f"{a[0]!r} [{a[1].defined}, {a[1].used}] and "
                    f"{b[0]!r} [{b[1].defined}, {b[1].used}] overlap in buffer {index}"
                )
            if holder is None or item[1].used > holder[1].used:
                holder = item
