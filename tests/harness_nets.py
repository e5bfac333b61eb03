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


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    max_ops: int = 12,
    static: bool = True,
    control_inputs: bool = True,
    max_size: int = 1000,
) -> Case:
    """A random NetDef with sizes, some produced blobs marked static, noted as text."""
    drawn = draw(
        nets(
            min_ops=1, max_ops=max_ops, sizes=True, control_inputs=control_inputs, max_size=max_size
        )
    )
    net = to_netdef(drawn)
    assert drawn.blob_sizes is not None
    sizes = dict(drawn.blob_sizes)
    made = [b for op in net.op for b in op.output]
    chosen: list[str] = []
    if static and made:
        chosen = draw(st.lists(st.sampled_from(sorted(set(made))), unique=True, max_size=2))
    note(f"net:\n{as_text(net)}sizes: {sizes}\nstatic: {chosen}")
    return Case(net, sizes, chosen)
