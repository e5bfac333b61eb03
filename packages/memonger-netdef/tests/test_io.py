"""Tests of NetDef loading and saving (binary and text, errors, atomic writes)."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest
from google.protobuf import text_format
from hypothesis import given
from hypothesis import strategies as st

from memonger.netdef import caffe2_pb2
from memonger.netdef import io as netdef_io
from memonger.netdef.errors import NetDefError, NetFormatError
from memonger.netdef.io import detect_format, load_net, save_net

# --------------------------------------------------------------------------- fixtures


def sample_net() -> caffe2_pb2.NetDef:
    """A small net using most of the schema: args of every kind, devices, a step net."""
    net = caffe2_pb2.NetDef(
        name="sample",
        type="dag",
        num_workers=4,
        external_input=["data", "w", "b"],
        external_output=["prob"],
    )
    net.device_option.device_type = 1
    net.device_option.device_id = 0
    fc = net.op.add(type="FC", input=["data", "w", "b"], output=["fc"], name="fc1")
    fc.arg.add(name="axis", i=1)
    fc.arg.add(name="alpha", f=0.25)
    fc.arg.add(name="order", s=b"NCHW")
    fc.arg.add(name="kernels", ints=[3, 3])
    fc.arg.add(name="scales", floats=[0.5, 1.5])
    fc.arg.add(name="tags", strings=[b"a", b"\xff\x00"])
    fc.device_option.device_type = 1
    fc.device_option.random_seed = 7
    fc.engine = "CUDNN"
    relu = net.op.add(type="Relu", input=["fc"], output=["fc"], is_gradient_op=False)
    relu.control_input.append("fc")
    rnn = net.op.add(type="RecurrentNetwork", input=["fc", "w"], output=["h"])
    step = rnn.arg.add(name="step_net").n
    step.name = "step"
    step.op.add(type="FC", input=["x_t", "w"], output=["h_t"])
    tensor = rnn.arg.add(name="init").t
    tensor.dims.extend([2, 2])
    tensor.float_data.extend([1.0, 2.0, 3.0, 4.0])
    tensor.data_type = caffe2_pb2.TensorProto.FLOAT
    net.op.add(type="Softmax", input=["h"], output=["prob"], op_version=3, domain="ai")
    net.partition_info.add(name="p0", device_id=[0, 1])
    return net


def with_unknown_fields(net: caffe2_pb2.NetDef) -> bytes:
    """``net`` serialized with fields this schema does not declare, at three depths."""
    op_bytes = net.op[0].SerializeToString() + b"\xe8\x07\x2a"  # op field 125, varint 42
    arg_bytes = net.op[0].arg[0].SerializeToString() + b"\x9a\x01\x03abc"  # arg field 19
    op = caffe2_pb2.OperatorDef()
    op.ParseFromString(op_bytes)
    op.arg[0].ParseFromString(arg_bytes)
    copy = caffe2_pb2.NetDef()
    copy.CopyFrom(net)
    copy.op[0].CopyFrom(op)
    return copy.SerializeToString() + b"\xa2\x06\x04keep"  # NetDef field 100, bytes "keep"


def top_level_boundaries(data: bytes) -> set[int]:
    """Offsets that end a complete top-level field (an oracle independent of protobuf)."""

    def varint(pos: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            byte = data[pos]
            result |= (byte & 0x7F) << shift
            pos += 1
            shift += 7
            if not byte & 0x80:
                return result, pos

    ends = set()
    pos = 0
    while pos < len(data):
        tag, pos = varint(pos)
        wire_type = tag & 7
        if wire_type == 0:
            _, pos = varint(pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            length, pos = varint(pos)
            pos += length
        elif wire_type == 5:
            pos += 4
        else:  # pragma: no cover - groups are not used by caffe2.proto
            raise AssertionError(f"unexpected wire type {wire_type}")
        ends.add(pos)
    return ends


# --------------------------------------------------------------------------- round trips


def test_binary_round_trip_through_bytes_and_files(tmp_path: Path) -> None:
    net = sample_net()
    assert load_net(net.SerializeToString()) == net
    assert load_net(bytearray(net.SerializeToString())) == net
    assert load_net(memoryview(net.SerializeToString())) == net
    target = tmp_path / "net.pb"
    save_net(net, target)
    assert target.read_bytes() == net.SerializeToString()
    assert load_net(target) == net
    assert load_net(str(target)) == net


@pytest.mark.parametrize("suffix", [".pbtxt", ".txt", ".prototxt", ".PBTXT"])
def test_text_round_trip_by_suffix(tmp_path: Path, suffix: str) -> None:
    net = sample_net()
    target = tmp_path / f"net{suffix}"
    save_net(net, target)
    text = target.read_text(encoding="utf-8")
    assert 'name: "sample"' in text
    reparsed = caffe2_pb2.NetDef()
    text_format.Parse(text, reparsed)
    assert reparsed == net
    assert load_net(target) == net


def test_format_argument_overrides_suffix(tmp_path: Path) -> None:
    net = sample_net()
    as_text = tmp_path / "net.pb"
    save_net(net, as_text, format="text")
    assert as_text.read_bytes().startswith(b'name: "sample"')
    as_binary = tmp_path / "net.pbtxt"
    save_net(net, as_binary, format="binary")
    assert as_binary.read_bytes() == net.SerializeToString()
    # Loading tells the format from the content, whatever the suffix says.
    assert load_net(as_text) == net
    assert load_net(as_binary) == net
    assert load_net(as_text, format="text") == net
    with pytest.raises(NetFormatError, match="binary"):
        load_net(as_text, format="binary")
    with pytest.raises(NetFormatError, match="text"):
        load_net(as_binary, format="text")


def test_detect_format() -> None:
    net = sample_net()
    assert detect_format(net.SerializeToString()) == "binary"
    assert detect_format(text_format.MessageToString(net).encode()) == "text"
    assert detect_format(b"\xff\xfe") == "binary"


def test_unknown_fields_survive_a_binary_round_trip(tmp_path: Path) -> None:
    data = with_unknown_fields(sample_net())
    net = load_net(data)
    target = tmp_path / "net.pb"
    save_net(net, target)
    saved = target.read_bytes()
    assert saved == data
    assert b"keep" in saved
    assert b"abc" in saved
    again = load_net(target)
    assert again.SerializeToString() == data


def test_unknown_fields_cannot_be_saved_as_text(tmp_path: Path) -> None:
    net = load_net(with_unknown_fields(sample_net()))
    target = tmp_path / "net.pbtxt"
    with pytest.raises(NetFormatError, match="binary format") as info:
        save_net(net, target)
    assert str(target) in str(info.value)
    assert "field 100" in str(info.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    # Nested unknown fields are found too.
    nested = caffe2_pb2.NetDef()
    nested.ParseFromString(with_unknown_fields(sample_net()))
    nested.ClearField("partition_info")
    stripped = caffe2_pb2.NetDef()
    stripped.ParseFromString(nested.SerializeToString()[: -len(b"\xa2\x06\x04keep")])
    with pytest.raises(NetFormatError, match=r"op\[0\]"):
        save_net(stripped, target)


def test_text_with_unknown_fields_is_refused_unless_allowed() -> None:
    text = b'name: "n" future_field: 3 op { type: "Relu" input: "x" output: "y" }'
    with pytest.raises(NetFormatError, match="future_field") as info:
        load_net(text)
    assert "cannot be kept in text format" in str(info.value)
    net = load_net(text, allow_unknown_fields=True)
    assert net.name == "n"
    assert net.op[0].type == "Relu"
    assert "future_field" not in text_format.MessageToString(net)


def test_save_accepts_objects_with_proto(tmp_path: Path) -> None:
    class FakeNet:
        def Proto(self) -> caffe2_pb2.NetDef:
            return sample_net()

    save_net(FakeNet(), tmp_path / "net.pb")
    assert load_net(tmp_path / "net.pb") == sample_net()
    with pytest.raises(TypeError, match="NetDef"):
        save_net("not a net", tmp_path / "other.pb")
    assert not (tmp_path / "other.pb").exists()


def test_save_does_not_modify_the_net(tmp_path: Path) -> None:
    net = sample_net()
    before = net.SerializeToString()
    save_net(net, tmp_path / "a.pbtxt")
    save_net(net, tmp_path / "a.pb")
    assert net.SerializeToString() == before


@pytest.mark.corpus
def test_corpus_text_nets_load() -> None:
    corpus = Path(
        os.environ.get("MEMONGER_CORPUS", Path(__file__).resolve().parents[4] / "shared" / "corpus")
    )
    nets = sorted((corpus / "nets").glob("*.pbtxt"))
    if not nets:
        pytest.skip(f"corpus not found at {corpus} (set MEMONGER_CORPUS)")
    for path in nets:
        net = load_net(path)
        assert len(net.op) > 0, path
        assert load_net(net.SerializeToString()) == net


# --------------------------------------------------------------------------- bad input


def test_empty_input_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pb"
    empty.write_bytes(b"")
    with pytest.raises(NetFormatError, match="empty") as info:
        load_net(empty)
    assert str(empty) in str(info.value)
    blank = tmp_path / "blank.pbtxt"
    blank.write_text("  \n\t\n")
    with pytest.raises(NetFormatError, match="no NetDef field"):
        load_net(blank)
    with pytest.raises(NetFormatError, match=r"^<bytes>: not a NetDef: empty input$"):
        load_net(b"")
    comments = tmp_path / "comments.pbtxt"
    comments.write_text("# nothing here\n")
    with pytest.raises(NetFormatError, match="no NetDef field"):
        load_net(comments)


def test_truncated_binary_is_refused_except_at_top_level_boundaries(tmp_path: Path) -> None:
    data = sample_net().SerializeToString()
    boundaries = top_level_boundaries(data)
    assert len(boundaries) >= 8
    target = tmp_path / "cut.pb"
    refused = 0
    for cut in range(1, len(data)):
        prefix = data[:cut]
        if cut in boundaries:
            # A prefix made of whole top-level fields is a valid, shorter NetDef.
            loaded = load_net(prefix)
            assert data.startswith(loaded.SerializeToString())
            continue
        target.write_bytes(prefix)
        with pytest.raises(NetFormatError) as info:
            load_net(target)
        assert str(target) in str(info.value)
        assert "not a NetDef" in str(info.value)
        refused += 1
    assert refused > len(data) // 2


def test_truncated_text_is_refused(tmp_path: Path) -> None:
    text = text_format.MessageToString(sample_net())
    target = tmp_path / "cut.pbtxt"
    target.write_text(text[: len(text) // 2])
    with pytest.raises(NetFormatError, match="text format") as info:
        load_net(target)
    assert str(target) in str(info.value)


def test_random_garbage_is_refused() -> None:
    rng = random.Random(20260101)
    for length in (64, 100, 256, 1024):
        for _ in range(200):
            garbage = bytes(rng.randrange(256) for _ in range(length))
            with pytest.raises(NetFormatError, match="not a NetDef"):
                load_net(garbage)


@pytest.mark.parametrize(
    "message",
    [
        caffe2_pb2.OperatorDef(type="Relu", input=["x"], output=["y"]),
        caffe2_pb2.TensorProto(dims=[2, 3], float_data=[1.0] * 6),
        caffe2_pb2.DeviceOption(device_type=1, device_id=3),
        caffe2_pb2.Argument(name="axis", i=1),
        caffe2_pb2.QTensorProto(precision=8, scale=1.0, bias=0.0, is_signed=True, data=[1]),
    ],
    ids=lambda m: type(m).__name__,
)
def test_other_message_types_are_refused(message: caffe2_pb2.TensorProto) -> None:
    with pytest.raises(NetFormatError, match="not a NetDef"):
        load_net(message.SerializeToString())


def test_other_text_is_refused(tmp_path: Path) -> None:
    caffe_prototxt = tmp_path / "deploy.prototxt"
    caffe_prototxt.write_text('layer { name: "conv1" type: "Convolution" }\n')
    with pytest.raises(NetFormatError, match='no field named "layer"') as info:
        load_net(caffe_prototxt)
    assert str(caffe_prototxt) in str(info.value)
    json_file = tmp_path / "net.json"
    json_file.write_text('{"name": "net", "op": []}')
    with pytest.raises(NetFormatError, match="not a NetDef"):
        load_net(json_file)


def test_missing_required_fields_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NetFormatError, match=r"partition_info\[0\]\.name"):
        load_net(b"partition_info { device_id: 1 }")
    net = caffe2_pb2.NetDef(name="n")
    net.partition_info.add(device_id=[1])
    target = tmp_path / "n.pb"
    with pytest.raises(NetFormatError, match="required") as info:
        save_net(net, target)
    assert str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pb"
    with pytest.raises(FileNotFoundError) as info:
        load_net(missing)
    assert info.value.filename == str(missing)
    with pytest.raises(IsADirectoryError) as dir_info:
        load_net(tmp_path)
    assert dir_info.value.filename == str(tmp_path)
    with pytest.raises(IsADirectoryError):
        save_net(sample_net(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="format"):
        load_net(b"name: 'x'", format="json")
    with pytest.raises(ValueError, match="format"):
        save_net(sample_net(), "unused.pb", format="json")
    with pytest.raises(TypeError, match="path or bytes"):
        load_net(42)  # type: ignore[arg-type]


def test_errors_are_netdef_errors_and_value_errors() -> None:
    with pytest.raises(NetDefError):
        load_net(b"\x12\x05ab")
    with pytest.raises(ValueError, match="not a NetDef"):
        load_net(b"\x12\x05ab")


@given(st.binary(max_size=200))
def test_any_bytes_load_or_raise_net_format_error(data: bytes) -> None:
    try:
        net = load_net(data)
    except NetFormatError as exc:
        message = str(exc)
    else:
        message = ""
        assert isinstance(net, caffe2_pb2.NetDef)
        assert net.ListFields()
    assert message == "" or message.startswith("<bytes>: not a NetDef")


# --------------------------------------------------------------------------- atomic writes


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(netdef_io.os, "fsync", broken_fsync)
    target = tmp_path / "net.pb"
    with pytest.raises(OSError, match="No space left"):
        save_net(sample_net(), target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "net.pbtxt"
    save_net(caffe2_pb2.NetDef(name="old"), target)
    before = target.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(netdef_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="Input/output"):
        save_net(sample_net(), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.pbtxt"]


def test_interrupted_write_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class Interrupted(BaseException):
        pass

    class HalfWriter:
        def __init__(self, fd: int, mode: str) -> None:
            self._file = real_fdopen(fd, mode)

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self._file.close()

        def write(self, data: bytes) -> int:
            self._file.write(data[: len(data) // 2])
            raise Interrupted

    monkeypatch.setattr(netdef_io.os, "fdopen", HalfWriter)
    with pytest.raises(Interrupted):
        save_net(sample_net(), tmp_path / "net.pb")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "net.pb"
    save_net(caffe2_pb2.NetDef(name="old"), target)
    target.chmod(0o640)
    save_net(sample_net(), target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert load_net(target) == sample_net()
    assert [p.name for p in tmp_path.iterdir()] == ["net.pb"]


def test_missing_folder_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "net.pb"
    with pytest.raises(FileNotFoundError) as info:
        save_net(sample_net(), target)
    assert info.value.filename == str(target)


def test_symbolic_link_is_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.pb"
    save_net(caffe2_pb2.NetDef(name="old"), real)
    link = tmp_path / "link.pb"
    link.symlink_to(real)
    save_net(sample_net(), link)
    assert link.is_symlink()
    assert load_net(real) == sample_net()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.pb", "real.pb"]
