"""Is this an ONNX model? A look at the protobuf wire format, without importing onnx.

The command asks this of every input before deciding which package handles
it, so it must be cheap: the top-level fields of a serialized ``ModelProto``
are walked and their wire types compared with the schema's.  A Caffe2 NetDef
is never taken for a model: its field 1 is a string, ONNX's ``ir_version``
(which every exporter writes) a varint.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["classify", "looks_like_onnx"]

# Top-level ModelProto fields -> protobuf wire type (0 varint, 2 length-delimited).
_MODEL_FIELDS: Mapping[int, int] = {
    1: 0,  # ir_version
    2: 2,  # producer_name
    3: 2,  # producer_version
    4: 2,  # domain
    5: 0,  # model_version
    6: 2,  # doc_string
    7: 2,  # graph
    8: 2,  # opset_import
    14: 2,  # metadata_props
    20: 2,  # training_info
    25: 2,  # functions
    26: 2,  # configuration
}


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            return None
    return None


def classify(data: bytes) -> str:
    """``"model"``, ``"truncated"`` (a model cut short) or ``"foreign"``."""
    pos = 0
    seen: list[int] = []
    while pos < len(data):
        key = _varint(data, pos)
        if key is None:
            break
        number, wire = key[0] >> 3, key[0] & 7
        if _MODEL_FIELDS.get(number) != wire:
            return "foreign"
        value = _varint(data, key[1])
        if value is None:
            break
        pos = value[1]
        if wire == 2:
            if pos + value[0] > len(data):
                break
            pos += value[0]
        seen.append(number)
    else:
        # Every ONNX exporter writes ir_version (field 1, a varint), which a Caffe2
        # NetDef cannot hold (its field 1 is the name, a string): without it, bytes
        # whose fields merely share ONNX's wire types are not a model.
        return "model" if 1 in seen else "foreign"
    return "truncated" if seen[:1] == [1] else "foreign"


def looks_like_onnx(data: bytes) -> bool:
    """Whether ``data`` is (or starts like) a serialized ONNX model.

    True for well-formed models and for truncated ones, so that their errors
    are reported as ONNX errors; False for anything else, a Caffe2 NetDef
    included.

    Examples
    --------
    >>> import onnx
    >>> from onnx import helper
    >>> g = helper.make_graph([], "g", [], [])
    >>> data = helper.make_model(g).SerializeToString()
    >>> looks_like_onnx(data), looks_like_onnx(data[:-3]), looks_like_onnx(b"hello")
    (True, True, False)
    """
    return classify(data) != "foreign"
