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
import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format

from memonger.netdef import caffe2_pb2
from memonger.netdef.shapes import infer_shapes

ZOO_NETS = ("bvlc_alexnet", "vgg19", "inception_v1", "resnet50", "zfnet512")


def corpus_dir() -> Path:
    env = os.environ.get("MEMONGER_CORPUS")
    if env:
        return Path(env)
    # <repo root>/../shared/corpus; this file is <repo root>/packages/memonger-netdef/tests/
    return Path(__file__).resolve().parents[4] / "shared" / "corpus"


def load_case(name: str) -> tuple[dict[str, Any], caffe2_pb2.NetDef, dict[str, Any]]:
    root = corpus_dir()
    manifest_path = root / "MANIFEST.json"
    if not manifest_path.is_file():
        pytest.skip(f"corpus not found at {root} (set MEMONGER_CORPUS)")
    manifest = {c["name"]: c for c in json.loads(manifest_path.read_text())}
    case = manifest[name]
    net = caffe2_pb2.NetDef()
    text_format.Parse((root / case["net"]).read_text(), net)
    with gzip.open(root / case["shapes"], "rt") as fh:
        shapes = json.load(fh)
    return case, net, shapes


@pytest.mark.corpus
@pytest.mark.parametrize("name", ZOO_NETS)
def test_zoo_net_shapes_match_shape_file(name: str) -> None:
    case, net, ref = load_case(name)
    (data,) = case["inputs"]
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
        case, net, ref = load_case(name)
        (data,) = case["inputs"]
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
