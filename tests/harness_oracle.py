"""Independent oracles of the cross-package harness.

Nothing here imports the code under test except the NetDef message class:
the dependency graph, symbolic execution, live values and plan bytes are
re-derived from first principles so that the harness can catch a bug that
the packages' own checks share.

Conventions
-----------
- An op of a net is identified by its ``name`` (the harness names every op
  of a generated net ``op<i>``); an op of a rewritten net whose name is not
  one of the original's is an *inserted* op, and only ``Free`` may be
  inserted.  Ops sharing a name (*twins*, see :func:`op_keys`) are told apart
  by occurrence: the ``k``-th op named ``n`` in program order is ``n#k``.
  Every op is thus its own computation, as a nondeterministic op is (two
  twins reading the same values compute different values); the harness
  gives twins only to nondeterministic op types.
- A value is ``("in", blob)`` for a blob read before any op wrote it,
  ``(op name, output position, values read)`` for an op's output (interned
  as numbers), and :data:`FREED` after ``Free``.  A control input reads
  nothing; the op must run after the op that, in the original, last wrote
  the blob before it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import text_format

from memonger.netdef import caffe2_pb2

FREED = -1


def to_netdef(random_net: Any, *, name: str = "harness") -> caffe2_pb2.NetDef:
    """A ``caffe2_pb2.NetDef`` with the ops and externals of a drawn ``RandomNet``."""
    net = caffe2_pb2.NetDef(name=name)
    net.external_input.extend(random_net.external_input)
    net.external_output.extend(random_net.external_output)
    for op in random_net.op:
        net.op.add(
            type=op.type,
            name=op.name,
            input=list(op.input),
            output=list(op.output),
            control_input=list(op.control_input),
        )
    return net


def as_text(net: caffe2_pb2.NetDef) -> str:
    """The net in protobuf text format (for ``hypothesis.note``)."""
    return text_format.MessageToString(net)


def produced(net: caffe2_pb2.NetDef) -> list[str]:
    """Blobs some op writes, in order of first write."""
    seen: dict[str, None] = {}
    for op in net.op:
        for blob in op.output:
            seen.setdefault(blob, None)
    return list(seen)


# ---------------------------------------------------------------------------
# Dependency graph and orders
# ---------------------------------------------------------------------------


def dependency_edges(ops: Sequence[Any]) -> set[tuple[int, int]]:
    """Edges ``(i, j)``, ``i < j``, whose transitive closure is "op ``j`` must run after op ``i``".

    Read-after-write (from the latest writer), write-after-read (from every
    reader since the latest write), write-after-write (from the latest
    writer), and a control input naming a blob makes the op depend on the
    blob's latest writer before it.  Linear in the blob accesses; see
    :func:`dependency_edges_slow` for the all-pairs definition.
    """
    edges: set[tuple[int, int]] = set()
    writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    for j, op in enumerate(ops):
        for blob in list(op.input) + list(op.control_input):
            if blob in writer:
                edges.add((writer[blob], j))
        for blob in op.input:
            readers.setdefault(blob, []).append(j)
        for blob in op.output:
            if blob in writer:
                edges.add((writer[blob], j))
            edges.update((r, j) for r in readers.pop(blob, []) if r != j)
            writer[blob] = j
    return edges


def dependency_edges_slow(ops: Sequence[Any]) -> set[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j``, of ops that touch a blob in conflict.

    Read-after-write, write-after-read, write-after-write on any blob, and a
    control input naming a blob makes the op depend on the blob's latest
    writer before it.  Quadratic on purpose: obviously correct.
    """
    edges: set[tuple[int, int]] = set()
    for j, later in enumerate(ops):
        reads_j = set(later.input)
        writes_j = set(later.output)
        for i in range(j):
            earlier = ops[i]
            writes_i = set(earlier.output)
            reads_i = set(earlier.input)
            if writes_i & (reads_j | writes_j) or reads_i & writes_j:
                edges.add((i, j))
        for blob in later.control_input:
            writers = [i for i in range(j) if blob in ops[i].output]
            if writers:
                edges.add((writers[-1], j))
    return edges


def reachability(count: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Bit set of the descendants of each node (edges go from lower to higher index)."""
    succ: list[list[int]] = [[] for _ in range(count)]
    for u, v in edges:
        succ[u].append(v)
    reach = [0] * count
    for u in reversed(range(count)):
        bits = 0
        for v in succ[u]:
            bits |= (1 << v) | reach[v]
        reach[u] = bits
    return reach


def random_order(count: int, edges: Iterable[tuple[int, int]], rng: random.Random) -> list[int]:
    """A uniformly chosen ready op at each step: a random valid order."""
    preds = [0] * count
    succ: list[list[int]] = [[] for _ in range(count)]
    for u, v in edges:
        preds[v] += 1
        succ[u].append(v)
    ready = [k for k in range(count) if preds[k] == 0]
    order: list[int] = []
    while ready:
        k = ready.pop(rng.randrange(len(ready)))
        order.append(k)
        for v in succ[k]:
            preds[v] -= 1
            if preds[v] == 0:
                ready.append(v)
    assert len(order) == count, "the dependency graph has a cycle"
    return order


# ---------------------------------------------------------------------------
# Symbolic execution
# ---------------------------------------------------------------------------


@dataclass
class Run:
    """What one symbolic run saw: the values each op read, and the final state."""

    reads: dict[str, tuple[int, ...]]
    state: dict[str, int]
    after: dict[str, set[str]]  # op -> the ops its control inputs make it wait for
    ran: list[str]  # op names in the order they ran


def op_keys(net: caffe2_pb2.NetDef) -> list[str]:
    """The identity of each op: its name, ``name#k`` for the ``k``-th later op of that name.

    Unnamed ops are ``#<position>``.
    """
    seen: dict[str, int] = {}
    keys = []
    for k, op in enumerate(net.op):
        name = op.name or f"#{k}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        keys.append(name if count == 0 else f"{name}#{count}")
    return keys


def rename_argument_problems(
    original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef
) -> list[str]:
    """Wrong ``<blob>.rename`` arguments of the ``RecurrentNetwork*`` ops (design 3.5).

    For each such op (matched by :func:`op_keys`), every blob named in its
    inputs, outputs or step net (by position) whose name changed needs one
    argument ``<old>.rename`` holding the new name; any other ``.rename``
    argument must be the original's or name its own blob.  Step nets must be
    in NetDef form (``n``) here.
    """

    def names(op: caffe2_pb2.OperatorDef) -> list[str]:
        found = [*op.input, *op.output]
        for arg in op.arg:
            if arg.HasField("n"):
                step = arg.n
                found += list(step.external_input)
                for inner in step.op:
                    found += [*inner.input, *inner.output]
                found += list(step.external_output)
        return found

    def args(op: caffe2_pb2.OperatorDef) -> dict[str, bytes]:
        return {a.name[: -len(".rename")]: a.s for a in op.arg if a.name.endswith(".rename")}

    by_key = dict(zip(op_keys(optimized), optimized.op, strict=True))
    problems = []
    for key, op in zip(op_keys(original), original.op, strict=True):
        if not op.type.startswith("RecurrentNetwork") or key not in by_key:
            continue
        new = by_key[key]
        renamed = {a: b for a, b in zip(names(op), names(new), strict=False) if a != b}
        got, had = args(new), args(op)
        for old, blob in renamed.items():
            if got.get(old) != blob.encode():
                problems.append(f"{key}: {old!r} became {blob!r}, argument {got.get(old)!r}")
        for old, value in got.items():
            if old not in renamed and value not in (had.get(old), old.encode()):
                problems.append(f"{key}: extra argument {old}.rename = {value!r}")
        for old, value in had.items():
            if old not in renamed and old not in got:
                problems.append(f"{key}: argument {old}.rename = {value!r} dropped")
    return problems


def execute(
    net: caffe2_pb2.NetDef,
    order: Sequence[int] | None = None,
    inserted: Iterable[int] = (),
    values: dict[tuple[Any, ...], int] | None = None,
) -> Run:
    """Run ``net`` symbolically in ``order`` (default: program order).

    The ops at the positions ``inserted`` are ``Free`` ops a rewrite added:
    they destroy the values of their outputs.  Values are interned in
    ``values`` (shared by runs that are compared), so that comparing them
    costs nothing however deep the net.
    """
    intern = {} if values is None else values
    frees = set(inserted)
    state: dict[str, int] = {}
    reads: dict[str, tuple[int, ...]] = {}
    after: dict[str, set[str]] = {}
    writer: dict[str, str] = {}
    ran: list[str] = []
    keys = op_keys(net)
    positions = range(len(net.op)) if order is None else order
    for k in positions:
        op = net.op[k]
        read = tuple(
            state[b] if b in state else intern.setdefault(("in", b), len(intern)) for b in op.input
        )
        if k in frees:
            for blob in op.output:
                state[blob] = FREED
            continue
        key = keys[k]
        assert key not in reads, f"op name {key!r} runs twice"
        reads[key] = read
        # a control input reads nothing: the op must run after the blob's latest writer
        after[key] = {writer[b] for b in op.control_input if b in writer}
        ran.append(key)
        for pos, blob in enumerate(op.output):
            state[blob] = intern.setdefault((key, pos, read), len(intern))
            writer[blob] = key
    return Run(reads, state, after, ran)


def final_results(net: caffe2_pb2.NetDef, *, control_is_read: bool = False) -> set[str]:
    """Produced blobs that no op reads after their last write (a caller may fetch them).

    A control input is not a read (it only orders ops) unless ``control_is_read``.
    An op reads before it writes, so an in-place op's write is after its read.
    """
    last_write: dict[str, int] = {}
    last_read: dict[str, int] = {}
    for k, op in enumerate(net.op):
        for blob in list(op.input) + (list(op.control_input) if control_is_read else []):
            last_read[blob] = k
        for blob in op.output:
            last_write[blob] = k
    return {b for b, w in last_write.items() if last_read.get(b, -1) <= w}


def control_writers(net: caffe2_pb2.NetDef) -> dict[str, tuple[str | None, ...]]:
    """Op name -> for each control input, the op that last wrote it before, in program order.

    As a DAG executor resolves control inputs: statically, on the net it runs.
    """
    writer: dict[str, str] = {}
    found: dict[str, tuple[str | None, ...]] = {}
    for key, op in zip(op_keys(net), net.op, strict=True):
        found[key] = tuple(writer.get(b) for b in op.control_input)
        for blob in op.output:
            writer[blob] = key
    return found


def divergence(
    original: caffe2_pb2.NetDef,
    optimized: caffe2_pb2.NetDef,
    order: Sequence[str] | None = None,
    *,
    keep_final_results: bool = True,
    control_is_read: bool = False,
) -> str | None:
    """Why ``optimized`` does not compute what ``original`` does, or None.

    ``order`` lists op names of ``original`` (a valid order of the original
    net); ``optimized`` then runs its ops in that order, each inserted
    ``Free`` op right after the op that precedes it in ``optimized``.  Every
    op must read the values it reads in the original's program order; every
    external output (and, with ``keep_final_results``, every external input
    and every final result of the original, see :func:`final_results`: all a
    caller may fetch) must end with its original value.
    """
    if list(original.external_input) != list(optimized.external_input):
        return "external_input differs"
    if list(original.external_output) != list(optimized.external_output):
        return "external_output differs"
    names = op_keys(original)
    opt_keys = op_keys(optimized)
    index = {key: k for k, key in enumerate(opt_keys) if key in set(names)}
    inserted = [k for k, key in enumerate(opt_keys) if key not in index]
    inserted_set = set(inserted)
    for k in inserted:
        if optimized.op[k].type != "Free":
            return f"op #{k} ({optimized.op[k].type}) is not in the original"
    if sorted(index) != sorted(names) or len(index) + len(inserted) != len(optimized.op):
        return "the optimized net does not run every original op exactly once"
    if order is None:
        opt_order: list[int] = list(range(len(optimized.op)))
    else:
        follow: dict[int, list[int]] = {}
        head: list[int] = []
        for k in inserted:
            prev = k - 1
            while prev >= 0 and prev in inserted_set:
                prev -= 1
            (follow.setdefault(prev, []) if prev >= 0 else head).append(k)
        opt_order = list(head)
        for name in order:
            k = index[name]
            opt_order.append(k)
            opt_order.extend(follow.get(k, []))
    values: dict[tuple[Any, ...], int] = {}
    want = execute(original, values=values)
    got = execute(optimized, opt_order, inserted, values)
    static_want, static_got = control_writers(original), control_writers(optimized)
    for name, writers in static_want.items():
        if static_got[name] != writers:
            return f"{name}'s control inputs name other ops: {static_got[name]}, not {writers}"
    ran_at = {name: pos for pos, name in enumerate(got.ran)}
    for name, waits in want.after.items():
        for first in sorted(waits):
            if ran_at[first] > ran_at[name]:
                return f"{name} runs before {first}, which its control input names"
    for name, seen in want.reads.items():
        if got.reads.get(name) != seen:
            op = original.op[names.index(name)]
            return f"{name} ({op.type}) reads {list(optimized.op[index[name]].input)}: wrong values"
    checked = list(original.external_output)
    if keep_final_results:
        checked += list(original.external_input)
        checked += sorted(final_results(original, control_is_read=control_is_read))
    for blob in checked:
        if got.state.get(blob) != want.state.get(blob):
            return f"blob {blob!r} does not end with its original value"
    return None


# ---------------------------------------------------------------------------
# Plans and bounds
# ---------------------------------------------------------------------------


def buffers(original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef) -> dict[str, set[str]]:
    """Name in ``optimized`` -> original blobs whose values it holds (by output position)."""
    by_name = {op.name: op for op in optimized.op}
    held: dict[str, set[str]] = {}
    for op in original.op:
        new = by_name[op.name]
        assert len(new.output) == len(op.output), f"{op.name}: output count changed"
        for old, renamed in zip(op.output, new.output, strict=True):
            held.setdefault(renamed, set()).add(old)
    return held


def plan_bytes(
    original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef, sizes: Mapping[str, int]
) -> int:
    """Sum over the optimized net's produced names of the largest original blob it holds."""
    return sum(max(sizes[b] for b in held) for held in buffers(original, optimized).values())


def naive_bytes(net: caffe2_pb2.NetDef, sizes: Mapping[str, int]) -> int:
    """Sum of the sizes of the produced blobs."""
    return sum(sizes[b] for b in produced(net))


def live_bound(net: caffe2_pb2.NetDef, sizes: Mapping[str, int], order: Sequence[int]) -> int:
    """Largest total size of produced blobs whose value is read across one gap of ``order``.

    A value written before the gap and read after it must sit in a buffer
    that nothing else overwrites in between, so any correct plan for this
    order needs at least this many bytes.  (An op reads its inputs before
    it writes its outputs.)
    """
    made = set(produced(net))
    diff = [0] * (len(order) + 1)
    written: dict[str, int] = {}  # blob -> position of the write of its current value
    last_read: dict[str, int] = {}  # blob -> last read of its current value

    def close(blob: str) -> None:
        w, r = written.pop(blob, None), last_read.pop(blob, None)
        if w is not None and r is not None and r > w:
            diff[w] += sizes[blob]  # live across the gaps w .. r-1
            diff[r] -= sizes[blob]

    for pos, k in enumerate(order):
        op = net.op[k]
        for blob in op.input:
            if blob in written:
                last_read[blob] = pos
        for blob in op.output:
            if blob in made:
                close(blob)
                written[blob] = pos
    for blob in list(written):
        close(blob)
    best = running = 0
    for gap in range(len(order)):
        running += diff[gap]
        best = max(best, running)
    return best


def renamed_sizes(
    original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef, sizes: Mapping[str, int]
) -> dict[str, int]:
    """Sizes for every blob name of ``optimized``: a buffer takes its largest member's."""
    result = dict(sizes)
    for name, held in buffers(original, optimized).items():
        result[name] = max(sizes[b] for b in held)
    for op in optimized.op:
        for blob in list(op.input) + list(op.output):
            result.setdefault(blob, 1)
    return result


def new_inplace_pairs(original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef) -> list[str]:
    """Ops of ``optimized`` that read and write one name where the original op did not."""
    by_name = {op.name: op for op in optimized.op}
    found = []
    for op in original.op:
        new = by_name[op.name]
        for i, (a, b) in enumerate(zip(op.input, new.input, strict=True)):
            for j, (c, d) in enumerate(zip(op.output, new.output, strict=True)):
                if b == d and a != c:
                    found.append(f"{op.name}: input {i} and output {j} now share {b!r}")
    return found


def renamed_fixed(
    original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef, fixed: Iterable[str]
) -> list[str]:
    """Places where a blob of ``fixed`` was renamed, or another blob took its name."""
    keep = set(fixed)
    by_name = {op.name: op for op in optimized.op}
    problems = []
    for op in original.op:
        new = by_name[op.name]
        for field in ("input", "output", "control_input"):
            for a, b in zip(getattr(op, field), getattr(new, field), strict=True):
                if (a in keep or b in keep) and a != b:
                    problems.append(f"{op.name}.{field}: {a!r} became {b!r}")
    return problems
