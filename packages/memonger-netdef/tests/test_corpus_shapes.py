"""Shape inference re-derives the published shapes of the model-zoo corpus nets.

Each net is re-inferred from (a) its data input's shape and (b) the shapes of
its other external inputs (the weights), both taken from the corpus shape file,
and every blob an op writes must then match the shape file exactly: shape and
dtype (and so bytes).  Dropout masks are listed in the shape files although an
inference-mode runtime never fills them; they must match too.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from memonger.netdef import caffe2_pb2
from memonger.netdef.corpus import CorpusCase, load_case, load_manifest
from memonger.netdef.errors import CorpusNotFoundError
from memonger.netdef.shapes import infer_shapes

ZOO_NETS = ("bvlc_alexnet", "vgg19", "inception_v1", "resnet50", "zfnet512")


def zoo_case(name: str) -> tuple[CorpusCase, caffe2_pb2.NetDef, dict[str, Any]]:
    """The case, its net and its shape file as written (shape and dtype per blob)."""
    try:
        case = next(c for c in load_manifest() if c.name == name)
    except CorpusNotFoundError as exc:
        pytest.skip(str(exc))
    net, _ = load_case(case)
    assert case.shapes is not None
    with gzip.open(case.shapes, "rt") as fh:
        shapes = json.load(fh)
    return case, net, shapes


@pytest.mark.corpus
@pytest.mark.parametrize("name", ZOO_NETS)
def test_zoo_net_shapes_match_shape_file(name: str) -> None:
    case, net, ref = zoo_case(name)
    (data,) = case.inputs
    weights = {b: ref[b]["shape"] for b in net.external_input if b != data}
    types = {b: ref[b]["dtype"] for b in net.external_input}
    before = net.SerializeToString()
    result = infer_shapes(net, {data: ref[data]["shape"]}, weights, input_types=types)
    assert net.SerializeToString() == before

    produced = {b for op in net.op for b in op.output}
    assert produced
    assert not result.unknown
    mismatches = {
        b: (ref.get(b), result.shapes.get(b), result.dtypes.get(b))
        for b in sorted(produced)
        if ref.get(b) is None
        or (list(result.shapes[b]), result.dtypes[b]) != (ref[b]["shape"], ref[b]["dtype"])
        or result.nbytes(b) != ref[b]["bytes"]
    }
    assert mismatches == {}


@pytest.mark.corpus
def test_zoo_dropout_masks_are_bool_like_their_input() -> None:
    # What the shape files say for inference-mode Dropout masks, checked explicitly.
    seen = 0
    for name in ZOO_NETS:
        case, net, ref = zoo_case(name)
        (data,) = case.inputs
        weights = {b: ref[b]["shape"] for b in net.external_input if b != data}
        result = infer_shapes(net, {data: ref[data]["shape"]}, weights)
        for op in net.op:
            if op.type == "Dropout" and len(op.output) > 1:
                mask = op.output[1]
                seen += 1
                assert ref[mask]["dtype"] == "bool"
                assert result.dtypes[mask] == "bool"
                assert result.shapes[mask] == result.shapes[op.output[0]]
    assert seen >= 5  # AlexNet 2, VGG-19 2, Inception-v1 1
