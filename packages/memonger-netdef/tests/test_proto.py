"""The committed ``caffe2_pb2`` matches ``proto/caffe2.proto`` and the design's facts.

The ``.proto`` file is read by a small parser written here (independent of
protoc and of the generated code) and compared, message by message and field
by field, with the descriptors compiled into ``caffe2_pb2``.  The test fails
when the generated code is stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from memonger.netdef import caffe2_pb2

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
PROTO_FILE = PACKAGE_ROOT / "proto" / "caffe2.proto"
PYI_FILE = PACKAGE_ROOT / "src" / "memonger" / "netdef" / "caffe2_pb2.pyi"

# --------------------------------------------------------------------------- a tiny .proto parser


@dataclass
class ProtoField:
    label: str
    type: str
    name: str
    number: int
    options: dict[str, str]


@dataclass
class ProtoEnum:
    name: str
    values: dict[str, int] = field(default_factory=dict)


@dataclass
class ProtoMessage:
    name: str
    fields: list[ProtoField] = field(default_factory=list)
    messages: dict[str, ProtoMessage] = field(default_factory=dict)
    enums: dict[str, ProtoEnum] = field(default_factory=dict)


@dataclass
class ProtoFile:
    syntax: str = ""
    package: str = ""
    messages: dict[str, ProtoMessage] = field(default_factory=dict)
    enums: dict[str, ProtoEnum] = field(default_factory=dict)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?|[{}\[\]=;,]')


def tokenize(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    text = re.sub(r"//[^\n]*", " ", text)
    tokens = _TOKEN.findall(text)
    leftover = _TOKEN.sub(" ", text).split()
    assert not leftover, f"unexpected characters in {PROTO_FILE.name}: {leftover[:5]}"
    return tokens


class Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def next(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, token: str) -> None:
        found = self.next()
        assert found == token, f"expected {token!r}, found {found!r} at token {self.pos}"

    def parse_file(self) -> ProtoFile:
        result = ProtoFile()
        while self.pos < len(self.tokens):
            keyword = self.next()
            if keyword == "syntax":
                self.expect("=")
                result.syntax = self.next().strip('"')
                self.expect(";")
            elif keyword == "package":
                result.package = self.next()
                self.expect(";")
            elif keyword == "message":
                message = self.parse_message()
                result.messages[message.name] = message
            elif keyword == "enum":
                enum = self.parse_enum()
                result.enums[enum.name] = enum
            else:
                raise AssertionError(f"unsupported top-level statement {keyword!r}")
        return result

    def parse_enum(self) -> ProtoEnum:
        enum = ProtoEnum(self.next())
        self.expect("{")
        while (token := self.next()) != "}":
            self.expect("=")
            enum.values[token] = int(self.next())
            self.expect(";")
        return enum

    def parse_message(self) -> ProtoMessage:
        message = ProtoMessage(self.next())
        self.expect("{")
        while (token := self.next()) != "}":
            if token == "message":
                nested = self.parse_message()
                message.messages[nested.name] = nested
            elif token == "enum":
                enum = self.parse_enum()
                message.enums[enum.name] = enum
            elif token in ("optional", "required", "repeated"):
                type_name, name = self.next(), self.next()
                self.expect("=")
                number = int(self.next())
                options: dict[str, str] = {}
                if self.tokens[self.pos] == "[":
                    self.next()
                    while True:
                        key = self.next()
                        self.expect("=")
                        options[key] = self.next().strip('"')
                        separator = self.next()
                        if separator == "]":
                            break
                        assert separator == ","
                self.expect(";")
                message.fields.append(ProtoField(token, type_name, name, number, options))
            else:
                raise AssertionError(f"unsupported statement {token!r} in message {message.name}")
        return message


def parse_proto() -> ProtoFile:
    return Parser(tokenize(PROTO_FILE.read_text(encoding="utf-8"))).parse_file()


# --------------------------------------------------------------------------- comparison helpers

_SCALARS = {
    "double": FieldDescriptor.TYPE_DOUBLE,
    "float": FieldDescriptor.TYPE_FLOAT,
    "int64": FieldDescriptor.TYPE_INT64,
    "uint64": FieldDescriptor.TYPE_UINT64,
    "int32": FieldDescriptor.TYPE_INT32,
    "fixed64": FieldDescriptor.TYPE_FIXED64,
    "fixed32": FieldDescriptor.TYPE_FIXED32,
    "bool": FieldDescriptor.TYPE_BOOL,
    "string": FieldDescriptor.TYPE_STRING,
    "bytes": FieldDescriptor.TYPE_BYTES,
    "uint32": FieldDescriptor.TYPE_UINT32,
    "sfixed32": FieldDescriptor.TYPE_SFIXED32,
    "sfixed64": FieldDescriptor.TYPE_SFIXED64,
    "sint32": FieldDescriptor.TYPE_SINT32,
    "sint64": FieldDescriptor.TYPE_SINT64,
}


def label_of(descriptor: FieldDescriptor) -> str:
    repeated = getattr(descriptor, "is_repeated", None)
    if repeated is None:  # protobuf releases without is_repeated / is_required
        label = getattr(descriptor, "label")  # noqa: B009
        return {1: "optional", 2: "required", 3: "repeated"}[label]
    if repeated:
        return "repeated"
    return "required" if descriptor.is_required else "optional"


def resolve(type_name: str, scope: list[str], proto: ProtoFile) -> str:
    """The full name of a message or enum type named in ``scope`` (innermost last)."""
    for depth in range(len(scope), -1, -1):
        candidate = ".".join([proto.package, *scope[:depth], type_name])
        if candidate in ALL_TYPES:
            return candidate
    raise AssertionError(f"type {type_name!r} used in {'.'.join(scope)} is not declared")


def declared_types(proto: ProtoFile) -> set[str]:
    names: set[str] = set()

    def visit(message: ProtoMessage, prefix: str) -> None:
        full = f"{prefix}.{message.name}"
        names.add(full)
        for enum in message.enums.values():
            names.add(f"{full}.{enum.name}")
        for nested in message.messages.values():
            visit(nested, full)

    for message in proto.messages.values():
        visit(message, proto.package)
    for enum in proto.enums.values():
        names.add(f"{proto.package}.{enum.name}")
    return names


PROTO = parse_proto()
ALL_TYPES = declared_types(PROTO)


def compare_enum(parsed: ProtoEnum, descriptor: EnumDescriptor) -> None:
    assert descriptor.name == parsed.name
    compiled = {value.name: value.number for value in descriptor.values}
    assert compiled == parsed.values, f"enum {descriptor.full_name} is stale"


def compare_message(parsed: ProtoMessage, descriptor: Descriptor, scope: list[str]) -> None:
    where = descriptor.full_name
    assert descriptor.name == parsed.name
    assert [f.name for f in descriptor.fields] == [f.name for f in parsed.fields], (
        f"{where}: fields differ"
    )
    for proto_field, compiled in zip(parsed.fields, descriptor.fields, strict=True):
        context = f"{where}.{proto_field.name}"
        assert compiled.number == proto_field.number, context
        assert label_of(compiled) == proto_field.label, context
        if proto_field.type in _SCALARS:
            assert compiled.type == _SCALARS[proto_field.type], context
        else:
            full = resolve(proto_field.type, [*scope, parsed.name], PROTO)
            if compiled.type == FieldDescriptor.TYPE_MESSAGE:
                assert compiled.message_type.full_name == full, context
            else:
                assert compiled.type == FieldDescriptor.TYPE_ENUM, context
                assert compiled.enum_type.full_name == full, context
        if "default" in proto_field.options:
            default = proto_field.options["default"]
            value = compiled.default_value
            if compiled.type == FieldDescriptor.TYPE_ENUM:
                value = compiled.enum_type.values_by_number[value].name
            assert str(value).lower() == default.lower(), context
        else:
            assert not compiled.has_default_value, context
        packed = proto_field.options.get("packed") == "true"
        assert compiled.is_packed == packed, context
    assert set(descriptor.nested_types_by_name) == set(parsed.messages), f"{where}: nested types"
    for name, nested in parsed.messages.items():
        compare_message(nested, descriptor.nested_types_by_name[name], [*scope, parsed.name])
    assert set(descriptor.enum_types_by_name) == set(parsed.enums), f"{where}: nested enums"
    for name, enum in parsed.enums.items():
        compare_enum(enum, descriptor.enum_types_by_name[name])


# --------------------------------------------------------------------------- tests


def test_parser_reads_the_proto_file() -> None:
    assert PROTO.syntax == "proto2"
    assert PROTO.package == "caffe2"
    assert {"NetDef", "OperatorDef", "Argument", "DeviceOption", "TensorProto"} <= set(
        PROTO.messages
    )


def test_file_level_facts() -> None:
    descriptor = caffe2_pb2.DESCRIPTOR
    assert descriptor.package == PROTO.package
    assert descriptor.name == PROTO_FILE.name
    assert set(descriptor.message_types_by_name) == set(PROTO.messages)
    assert set(descriptor.enum_types_by_name) == set(PROTO.enums)


@pytest.mark.parametrize("name", sorted(PROTO.messages))
def test_generated_message_matches_proto(name: str) -> None:
    compare_message(PROTO.messages[name], caffe2_pb2.DESCRIPTOR.message_types_by_name[name], [])


def test_the_comparison_detects_a_stale_field() -> None:
    stale = parse_proto()
    net = stale.messages["NetDef"]
    net.fields[0] = ProtoField("optional", "string", "name", 99, {})
    with pytest.raises(AssertionError, match=r"NetDef\.name"):
        compare_message(net, caffe2_pb2.NetDef.DESCRIPTOR, [])
    renamed = parse_proto().messages["OperatorDef"]
    renamed.fields.append(ProtoField("optional", "int32", "new_field", 99, {}))
    with pytest.raises(AssertionError, match="fields differ"):
        compare_message(renamed, caffe2_pb2.OperatorDef.DESCRIPTOR, [])
    enum = parse_proto().messages["TensorProto"].enums["DataType"]
    enum.values["BFLOAT16"] = 16
    with pytest.raises(AssertionError, match="stale"):
        compare_enum(enum, caffe2_pb2.TensorProto.DataType.DESCRIPTOR)


def test_stub_names_every_message_and_field() -> None:
    stub = PYI_FILE.read_text(encoding="utf-8")

    def visit(message: ProtoMessage) -> None:
        assert re.search(rf"class {message.name}\b", stub), message.name
        for proto_field in message.fields:
            assert re.search(rf"\b{proto_field.name}\b", stub), (message.name, proto_field.name)
        for nested in message.messages.values():
            visit(nested)

    for message in PROTO.messages.values():
        visit(message)


# The facts of design section 5: (message, field, number, type, label).
DESIGN_FACTS = [
    ("NetDef", "name", 1, "string", "optional"),
    ("NetDef", "op", 2, "caffe2.OperatorDef", "repeated"),
    ("NetDef", "type", 3, "string", "optional"),
    ("NetDef", "num_workers", 4, "int32", "optional"),
    ("NetDef", "device_option", 5, "caffe2.DeviceOption", "optional"),
    ("NetDef", "arg", 6, "caffe2.Argument", "repeated"),
    ("NetDef", "external_input", 7, "string", "repeated"),
    ("NetDef", "external_output", 8, "string", "repeated"),
    ("NetDef", "partition_info", 9, None, "repeated"),
    ("OperatorDef", "input", 1, "string", "repeated"),
    ("OperatorDef", "output", 2, "string", "repeated"),
    ("OperatorDef", "name", 3, "string", "optional"),
    ("OperatorDef", "type", 4, "string", "optional"),
    ("OperatorDef", "arg", 5, "caffe2.Argument", "repeated"),
    ("OperatorDef", "device_option", 6, "caffe2.DeviceOption", "optional"),
    ("OperatorDef", "engine", 7, "string", "optional"),
    ("OperatorDef", "control_input", 8, "string", "repeated"),
    ("OperatorDef", "is_gradient_op", 9, "bool", "optional"),
    ("OperatorDef", "debug_info", 10, "string", "optional"),
    ("OperatorDef", "domain", 11, "string", "optional"),
    ("OperatorDef", "op_version", 12, "int64", "optional"),
    ("Argument", "name", 1, "string", "optional"),
    ("Argument", "f", 2, "float", "optional"),
    ("Argument", "i", 3, "int64", "optional"),
    ("Argument", "s", 4, "bytes", "optional"),
    ("Argument", "floats", 5, "float", "repeated"),
    ("Argument", "ints", 6, "int64", "repeated"),
    ("Argument", "strings", 7, "bytes", "repeated"),
    ("Argument", "n", 8, "caffe2.NetDef", "optional"),
    ("Argument", "nets", 9, "caffe2.NetDef", "repeated"),
    ("Argument", "t", 10, "caffe2.TensorProto", "optional"),
    ("Argument", "tensors", 11, "caffe2.TensorProto", "repeated"),
    ("Argument", "qtensors", 12, None, "repeated"),
    ("DeviceOption", "device_type", 1, "int32", "optional"),
    ("DeviceOption", "device_id", 2, "int32", "optional"),
    ("DeviceOption", "random_seed", 3, "uint32", "optional"),
    ("DeviceOption", "node_name", 4, "string", "optional"),
    ("DeviceOption", "numa_node_id", 5, "int32", "optional"),
    ("DeviceOption", "extra_info", 6, "string", "repeated"),
    ("TensorProto", "dims", 1, "int64", "repeated"),
    ("TensorProto", "data_type", 2, "caffe2.TensorProto.DataType", "optional"),
    ("TensorProto", "float_data", 3, "float", "repeated"),
    ("TensorProto", "int32_data", 4, "int32", "repeated"),
    ("TensorProto", "byte_data", 5, "bytes", "optional"),
    ("TensorProto", "string_data", 6, "bytes", "repeated"),
    ("TensorProto", "name", 7, "string", "optional"),
    ("TensorProto", "device_detail", 8, "caffe2.DeviceOption", "optional"),
    ("TensorProto", "double_data", 9, "double", "repeated"),
    ("TensorProto", "int64_data", 10, "int64", "repeated"),
    ("TensorProto", "segment", 11, None, "optional"),
    ("TensorProto", "raw_data", 13, "bytes", "optional"),
]

DATA_TYPES = {
    "UNDEFINED": 0,
    "FLOAT": 1,
    "INT32": 2,
    "BYTE": 3,
    "STRING": 4,
    "BOOL": 5,
    "UINT8": 6,
    "INT8": 7,
    "UINT16": 8,
    "INT16": 9,
    "INT64": 10,
    "FLOAT16": 12,
    "DOUBLE": 13,
}


@pytest.mark.parametrize(
    ("message", "name", "number", "type_name", "label"),
    DESIGN_FACTS,
    ids=[f"{m}.{f}" for m, f, *_ in DESIGN_FACTS],
)
def test_design_facts(
    message: str, name: str, number: int, type_name: str | None, label: str
) -> None:
    compiled = caffe2_pb2.DESCRIPTOR.message_types_by_name[message].fields_by_name[name]
    assert compiled.number == number
    assert label_of(compiled) == label
    if type_name is None:
        return
    if compiled.type == FieldDescriptor.TYPE_MESSAGE:
        assert compiled.message_type.full_name == type_name
    elif compiled.type == FieldDescriptor.TYPE_ENUM:
        assert compiled.enum_type.full_name == type_name
    else:
        assert compiled.type == _SCALARS[type_name]


def test_design_defaults_and_enums() -> None:
    assert set(caffe2_pb2.TensorProto.DataType.DESCRIPTOR.values_by_name) == set(DATA_TYPES)
    for name, number in DATA_TYPES.items():
        assert caffe2_pb2.TensorProto.DataType.Value(name) == number
    assert caffe2_pb2.TensorProto().data_type == caffe2_pb2.TensorProto.FLOAT
    assert caffe2_pb2.OperatorDef().is_gradient_op is False
    assert caffe2_pb2.DeviceOption().device_type == 0
