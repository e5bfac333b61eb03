"""Slow, obviously correct references shared by the tests (no package code)."""

from __future__ import annotations

from collections.abc import Sequence

from memonger.alloc import LiveRange

Pair = tuple[str, LiveRange]


def size_of(r: LiveRange) -> int:
    return 1 if r.size is None else r.size


def literal_greedy(
    ranges_sorted: Sequence[Pair], init: Sequence[Sequence[Pair]] = ()
) -> list[list[Pair]]:
    """Caffe2's greedy loop, transcribed literally: scan every buffer."""
    assignments = [list(a) for a in init]
    visited = {name for a in assignments for name, _ in a}
    for name, r in ranges_sorted:
        if name in visited:
            continue
        best = None
        best_dist = float("inf")
        for index, assignment in enumerate(assignments):
            last = assignment[-1][1]
            if r.defined > last.used:
                dist = abs(max(size_of(x) for _, x in assignment) - size_of(r))
                if dist < best_dist:
                    best_dist = dist
                    best = index
        if best is None:
            assignments.append([(name, r)])
        else:
            assignments[best].append((name, r))
    return assignments


def brute_force_optimum(ranges: dict[str, LiveRange]) -> int:
    """Minimum plan bytes over every partition into buffers of disjoint ranges."""
    items = list(ranges.values())
    best = [sum(size_of(r) for r in items)]
    blocks: list[list[LiveRange]] = []

    def place(i: int) -> None:
        if i == len(items):
            best[0] = min(best[0], sum(max(size_of(r) for r in b) for b in blocks))
            return
        r = items[i]
        for block in blocks:
            if all(r.defined > x.used or x.defined > r.used for x in block):
                block.append(r)
                place(i + 1)
                block.pop()
        blocks.append([r])
        place(i + 1)
        blocks.pop()

    place(0)
    return best[0] if items else 0


def plan_bytes(assignments: Sequence[Sequence[Pair]]) -> int:
    return sum(max(size_of(r) for _, r in a) for a in assignments if a)


def names(assignments: Sequence[Sequence[Pair]]) -> list[list[str]]:
    return [[name for name, _ in a] for a in assignments]
