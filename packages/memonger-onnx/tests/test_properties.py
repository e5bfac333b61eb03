"""Random ONNX graphs through tensor_ranges, against an independent liveness oracle.

The oracle below knows the ONNX rules (static folding, graph inputs from the
start, outputs to the end, subgraph reads charged to the owning node, unread
outputs and subgraph tensors live only at their node) and computes ranges
directly from the generated description, without memonger.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx_oracles import info, ints, weight

from memonger.alloc import LiveRange
from memonger.onnx import tensor_ranges

node = helper.make_node


@dataclass
class Spec:
    """A generated model and what the oracle needs to know about it."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inputs: list[tuple[str, tuple[int, ...], int]] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    static: set[str] = field(default_factory=set)
    # node -> the names it (or one of its subgraphs) reads
    reads: dict[int, list[str]] = field(default_factory=dict)
    writes: dict[int, list[str]] = field(default_factory=dict)
    inner: dict[int, list[str]] = field(default_factory=dict)  # node -> subgraph tensors
    outputs: list[str] = field(default_factory=list)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def to_model(self) -> onnx.ModelProto:
        g = helper.make_graph(
            self.nodes,
            "random",
            [info(n, list(s), e) for n, s, e in self.inputs],
            [info(n, list(self.shapes[n])) for n in self.outputs],
            self.initializers,
        )
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _bytes(shape: tuple[int, ...], itemsize: int = 4) -> int:
    count = 1
    for d in shape:
        count *= d
    return count * itemsize


@st.composite
def random_models(draw: st.DrawFn) -> Spec:
    spec = Spec()
    dims = st.sampled_from([2, 4])
    for _ in range(draw(st.integers(1, 2))):
        name = spec.fresh("in")
        shape = (draw(dims), draw(dims))
        spec.inputs.append((name, shape, TensorProto.FLOAT))
        spec.shapes[name] = shape
    spec.inputs.append(("cond", (), TensorProto.BOOL))
    spec.shapes["cond"] = ()
    pool = [n for n, _, _ in spec.inputs if n != "cond"]

    def add(i_reads: list[str], outs: list[str], n: onnx.NodeProto) -> None:
        index = len(spec.nodes)
        spec.nodes.append(n)
        spec.reads[index] = i_reads
        spec.writes[index] = outs
        ins = [x for x in n.input if x]
        folded = n.op_type == "Constant" or (
            bool(ins) and all(x in spec.static for x in ins) and n.op_type != "If"
        )
        if folded:
            spec.static.update(outs)
        pool.extend(outs)

    for _ in range(draw(st.integers(1, 10))):
        kind = draw(
            st.sampled_from(
                ["unary", "binary", "matmul", "concat", "split", "reshape", "if", "const"]
            )
        )
        x = draw(st.sampled_from(pool))
        shape = spec.shapes[x]
        if kind == "unary":
            y = spec.fresh("u")
            spec.shapes[y] = shape
            add([x], [y], node(draw(st.sampled_from(["Relu", "Neg", "Sigmoid"])), [x], [y]))
        elif kind == "binary":
            same = [t for t in pool if spec.shapes[t] == shape]
            other = draw(st.sampled_from(same))
            y = spec.fresh("b")
            spec.shapes[y] = shape
            add([x, other], [y], node(draw(st.sampled_from(["Add", "Mul"])), [x, other], [y]))
        elif kind == "matmul":
            k = draw(dims)
            partners = [t for t in pool if spec.shapes[t] == (shape[1], k)]
            if partners and draw(st.booleans()):
                w = draw(st.sampled_from(partners))
            else:
                w = spec.fresh("w")
                spec.initializers.append(weight(w, [shape[1], k]))
                spec.shapes[w] = (shape[1], k)
                spec.static.add(w)
            y = spec.fresh("m")
            spec.shapes[y] = (shape[0], k)
            add([x, w], [y], node("MatMul", [x, w], [y]))
        elif kind == "concat":
            partners = [t for t in pool if spec.shapes[t][1:] == shape[1:]]
            other = draw(st.sampled_from(partners))
            y = spec.fresh("c")
            spec.shapes[y] = (shape[0] + spec.shapes[other][0], shape[1])
            add([x, other], [y], node("Concat", [x, other], [y], axis=0))
        elif kind == "split":
            if shape[0] % 2:
                continue
            a, b = spec.fresh("s"), spec.fresh("s")
            spec.shapes[a] = spec.shapes[b] = (shape[0] // 2, shape[1])
            add([x], [a, b], node("Split", [x], [a, b], axis=0))
        elif kind == "reshape":
            target = spec.fresh("shape")
            spec.initializers.append(ints(target, [shape[1], shape[0]]))
            spec.shapes[target] = (2,)
            spec.static.add(target)
            y = spec.fresh("r")
            spec.shapes[y] = (shape[1], shape[0])
            add([x, target], [y], node("Reshape", [x, target], [y]))
        elif kind == "const":
            y = spec.fresh("k")
            spec.shapes[y] = shape
            ones = [1.0] * _bytes(shape, 1)
            value = helper.make_tensor("v", TensorProto.FLOAT, list(shape), ones)
            add([], [y], node("Constant", [], [y], value=value))
        else:  # an If whose branches read outer tensors
            same = [t for t in pool if spec.shapes[t] == shape]
            other = draw(st.sampled_from(same))
            t1, e1, z = spec.fresh("then"), spec.fresh("else"), spec.fresh("z")
            direct = draw(st.booleans())  # the else branch returns an outer tensor as it is
            then = helper.make_graph([node("Relu", [x], [t1])], "then", [], [info(t1, list(shape))])
            if direct:
                other_graph = helper.make_graph([], "else", [], [info(other, list(shape))])
                inner = [t1]
            else:
                other_graph = helper.make_graph(
                    [node("Neg", [other], [e1])], "else", [], [info(e1, list(shape))]
                )
                inner = [t1, e1]
            for n in inner:
                spec.shapes[n] = shape
            # A branch node whose input is static folds to a constant as well.
            folded = {t1: x, e1: other}
            inner = [n for n in inner if folded[n] not in spec.static]
            spec.shapes[z] = shape
            index = len(spec.nodes)
            spec.inner[index] = inner
            add(["cond", x, other], [z],
                node("If", ["cond"], [z], then_branch=then, else_branch=other_graph))  # fmt: skip
            pool.remove(z)
            pool.append(z)
    produced = [n for outs in spec.writes.values() for n in outs if n not in spec.static]
    candidates = produced or [n for n, _, _ in spec.inputs if n != "cond"]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True))
    spec.outputs = chosen
    return spec


def oracle(spec: Spec) -> dict[str, LiveRange]:
    """Expected ranges, computed from the description alone."""
    n = len(spec.nodes)
    expected: dict[str, LiveRange] = {}
    last_read: dict[str, int] = {}
    for index, names in spec.reads.items():
        for name in names:
            last_read[name] = max(last_read.get(name, -1), index)

    def size(name: str) -> int:
        return 1 if name == "cond" else _bytes(spec.shapes[name])

    for name, _, _ in spec.inputs:
        used = n if name in spec.outputs else last_read.get(name, -1)
        expected[name] = LiveRange(-1, used, size(name))
    for index, outs in spec.writes.items():
        for name in outs:
            if name in spec.static:
                continue
            if name in spec.outputs:
                used = n
            elif name in last_read:
                used = last_read[name]
            else:  # read by nobody: dies with its node
                used = index
            expected[name] = LiveRange(index, used, size(name))
        for name in spec.inner.get(index, []):
            expected[name] = LiveRange(index, index, size(name))
    return expected


def differences(actual: dict[str, LiveRange], expected: dict[str, LiveRange]) -> list[str]:
    problems = [f"missing {k}" for k in expected.keys() - actual.keys()]
    problems += [f"unexpected {k}" for k in actual.keys() - expected.keys()]
    problems += [
        f"{k}: {actual[k]} != {expected[k]}"
        for k in expected.keys() & actual.keys()
        if actual[k] != expected[k]
    ]
    return problems


@given(random_models())
def test_tensor_ranges_agree_with_the_oracle(spec: Spec) -> None:
    m = spec.to_model()
    actual = tensor_ranges(m)
    assert differences(actual, oracle(spec)) == []


@given(random_models(), st.data())
def test_the_oracle_catches_a_mutated_range(spec: Spec, data: st.DataObject) -> None:
    actual = dict(tensor_ranges(spec.to_model()))
    expected = oracle(spec)
    name = data.draw(st.sampled_from(sorted(actual)))
    r = actual[name]
    how = data.draw(st.sampled_from(["defined", "used", "size", "drop"]))
    if how == "drop":
        del actual[name]
    elif how == "defined":
        actual[name] = r._replace(defined=r.defined + 1)
    elif how == "used":
        actual[name] = r._replace(used=r.used - 1)
    else:
        actual[name] = r._replace(size=(r.size or 0) + 1)
    assert differences(actual, expected) != []


def test_the_oracle_catches_liveness_without_the_onnx_rules() -> None:
    """memonger.alloc's ranges alone (no output extension, no workspace) are caught."""
    from memonger.alloc import compute_ranges
    from memonger.onnx import model_graph

    spec = Spec()
    spec.inputs = [("x", (2, 2), TensorProto.FLOAT), ("cond", (), TensorProto.BOOL)]
    spec.shapes = {"x": (2, 2), "cond": (), "a": (2, 2), "b": (2, 2), "t": (2, 2), "z": (2, 2)}
    then = helper.make_graph([node("Relu", ["a"], ["t"])], "then", [], [info("t", [2, 2])])
    other = helper.make_graph([], "else", [], [info("a", [2, 2])])
    spec.nodes = [
        node("Relu", ["x"], ["a"]),
        node("Neg", ["a"], ["b"]),
        node("If", ["cond"], ["z"], then_branch=then, else_branch=other),
    ]
    spec.reads = {0: ["x"], 1: ["a"], 2: ["cond", "a"]}
    spec.writes = {0: ["a"], 1: ["b"], 2: ["z"]}
    spec.inner = {2: ["t"]}
    spec.outputs = ["a", "z"]
    m = spec.to_model()
    expected = oracle(spec)
    assert differences(tensor_ranges(m), expected) == []
    graph = model_graph(m)
    sizes = {k: graph.sizes.get(k) for op in graph.ops for k in (*op.input, *op.output)}
    naive = compute_ranges(graph.ops, sizes)
    assert differences(dict(naive), expected) != []
