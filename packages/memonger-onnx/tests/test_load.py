"""Reading models: every kind of bad input gets a typed error naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from onnx import helper
from onnx_oracles import info, model, weight

from memonger.onnx import (
    NotOnnxError,
    OnnxError,
    TruncatedModelError,
    UnsupportedModelError,
    load_model,
    looks_like_onnx,
    model_graph,
)


def _tiny() -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    return model(nodes, [info("x", [2, 4])], [info("y", [2, 4])], [weight("w", [4, 4])])


def test_path_bytes_and_proto(tmp_path: Path) -> None:
    m = _tiny()
    path = tmp_path / "tiny.onnx"
    path.write_bytes(m.SerializeToString())
    assert load_model(path) == m
    assert load_model(str(path)) == m
    assert load_model(m.SerializeToString()) == m
    assert load_model(m) is m


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\xff\xfe this is not a model at all \x00\x01")
    with pytest.raises(NotOnnxError, match=r"garbage\.onnx: not an ONNX model"):
        load_model(path)
    assert not looks_like_onnx(path.read_bytes())


def test_text_and_empty_files(tmp_path: Path) -> None:
    text = tmp_path / "model.onnx"
    text.write_text('{"json": "is not onnx"}\n')
    with pytest.raises(NotOnnxError, match=r"model\.onnx"):
        load_model(text)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(NotOnnxError, match=r"empty\.onnx: not an ONNX model"):
        load_model(empty)


@pytest.mark.parametrize("cut", [5, 0.5, -1])
def test_truncated_file(tmp_path: Path, cut: float) -> None:
    data = _tiny().SerializeToString()
    end = int(cut if cut >= 1 or cut < 0 else len(data) * cut)
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:end])
    with pytest.raises(TruncatedModelError, match=r"cut\.onnx: .*truncated"):
        load_model(path)
    assert looks_like_onnx(data[:end])


def test_not_a_model(tmp_path: Path) -> None:
    # A valid protobuf message of another type: a bare GraphProto.
    graph_only = _tiny().graph.SerializeToString()
    with pytest.raises(NotOnnxError):
        load_model(graph_only)
    # A ModelProto without a graph.
    with pytest.raises(NotOnnxError, match="no graph"):
        load_model(onnx.ModelProto(ir_version=8).SerializeToString())
    with pytest.raises(NotOnnxError, match="no graph"):
        load_model(onnx.ModelProto(ir_version=8))


def test_netdef_like_bytes_are_not_onnx() -> None:
    # Caffe2 NetDef: field 1 (name) is a string, field 2 (op) a message.
    netdef = b"\x0a\x03net\x12\x08\x0a\x01x\x12\x01y\x1a\x00"
    assert not looks_like_onnx(netdef)
    with pytest.raises(NotOnnxError):
        load_model(netdef)


def test_unsupported_ir_and_opset() -> None:
    m = _tiny()
    m.ir_version = onnx.IR_VERSION + 1
    with pytest.raises(UnsupportedModelError, match="IR version"):
        load_model(m)
    m = _tiny()
    m.ir_version = 2
    with pytest.raises(UnsupportedModelError, match="predates opset"):
        load_model(m)
    m = _tiny()
    m.opset_import[0].version = onnx.defs.onnx_opset_version() + 1
    with pytest.raises(UnsupportedModelError, match="opset"):
        model_graph(m)


def test_missing_file_and_bad_type(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothere.onnx")
    with pytest.raises(TypeError, match="load_model takes"):
        load_model(42)  # type: ignore[arg-type]


def test_external_data(tmp_path: Path) -> None:
    m = model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [info("x", [2, 64])],
        [info("y", [2, 64])],
        [onnx.numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "w")],
    )
    path = tmp_path / "ext.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)  # fmt: skip
    lazy = load_model(path)
    assert lazy.graph.initializer[0].data_location == onnx.TensorProto.EXTERNAL
    full = load_model(path, load_external_data=True)
    assert full.graph.initializer[0].data_location == onnx.TensorProto.DEFAULT
    assert model_graph(path).sizes["w"] == 64 * 64 * 4  # sizes need no weights
    with pytest.raises(OnnxError, match="pass its path"):
        load_model(path.read_bytes(), load_external_data=True)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(OnnxError, match=r"ext\.onnx: cannot load external data"):
        load_model(path, load_external_data=True)


def test_a_binary_netdef_is_not_taken_for_an_onnx_model(tmp_path: Path) -> None:
    netdef = pytest.importorskip("memonger.netdef")
    net = netdef.caffe2_pb2.NetDef(external_input=["x"], external_output=["y"])
    net.op.add(type="Relu", input=["x"], output=["y"])
    data = net.SerializeToString()
    assert not looks_like_onnx(data)
    path = tmp_path / "tiny.pb"
    path.write_bytes(data)
    from memonger.onnx.cli import is_onnx_file

    assert not is_onnx_file(str(path))
