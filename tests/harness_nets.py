"""Hypothesis strategies of the harness: NetDefs from ``memonger.graph.testing.nets()``."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness_oracle import as_text, to_netdef
from hypothesis import note
from hypothesis import strategies as st

from memonger.graph.testing import nets
from memonger.netdef import caffe2_pb2


@dataclass
class Case:
    """A generated net with blob sizes and the blobs that must keep their names."""

    net: caffe2_pb2.NetDef
    sizes: dict[str, int]
    static: list[str] = field(default_factory=list)

    @property
    def fixed(self) -> set[str]:
        """External inputs and outputs and static blobs: never renamed."""
        return set(self.net.external_input) | set(self.net.external_output) | set(self.static)


def _prefixed(net: caffe2_pb2.NetDef, prefix: str) -> caffe2_pb2.NetDef:
    out = caffe2_pb2.NetDef()
    out.CopyFrom(net)
    for op in out.op:
        for names in (op.input, op.output, op.control_input):
            names[:] = [prefix + b for b in names]
    out.external_input[:] = [prefix + b for b in out.external_input]
    out.external_output[:] = [prefix + b for b in out.external_output]
    return out


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    max_ops: int = 12,
    static: bool = True,
    control_inputs: bool = True,
    max_size: int = 1000,
    branches: int = 1,
    clean: bool = False,
) -> Case:
    """A random NetDef with sizes, some produced blobs marked static, noted as text.

    With ``branches`` > 1, up to that many independent nets (blob names
    prefixed ``p<j>_``) are interleaved in a random order, so that whole
    chains of ops may run in parallel.  With ``clean``, half of the nets have
    no in-place ops, rewrites or control inputs (those block most sharing).
    """
    simple = clean and draw(st.booleans())
    count = draw(st.integers(1, branches))
    parts: list[caffe2_pb2.NetDef] = []
    sizes: dict[str, int] = {}
    for j in range(count):
        drawn = draw(
            nets(
                min_ops=1,
                max_ops=max(1, max_ops // count),
                sizes=st.integers(1, max_size),
                control_inputs=control_inputs and not simple,
                in_place=not simple,
                rewrites=not simple,
            )
        )
        assert drawn.blob_sizes is not None
        prefix = f"p{j}_" if j else ""
        parts.append(_prefixed(to_netdef(drawn), prefix))
        sizes.update({prefix + b: n for b, n in drawn.blob_sizes.items()})
    net = caffe2_pb2.NetDef(name="harness")
    cursors = [0] * count
    while any(c < len(p.op) for c, p in zip(cursors, parts, strict=True)):
        ready = [j for j in range(count) if cursors[j] < len(parts[j].op)]
        j = ready[draw(st.integers(0, len(ready) - 1))] if len(ready) > 1 else ready[0]
        net.op.append(parts[j].op[cursors[j]])
        cursors[j] += 1
    for k, op in enumerate(net.op):
        op.name = f"op{k}"
    for part in parts:
        net.external_input.extend(part.external_input)
        net.external_output.extend(part.external_output)
    made = [b for op in net.op for b in op.output]
    chosen: list[str] = []
    if static and made:
        chosen = draw(st.lists(st.sampled_from(sorted(set(made))), unique=True, max_size=2))
    note(f"net:\n{as_text(net)}sizes: {sizes}\nstatic: {chosen}")
    return Case(net, sizes, chosen)
