"""Caffe2 NetDef schema, I/O, blob-sharing rewrites and verification."""

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import NetDefError

__all__ = ["NetDefError", "caffe2_pb2"]
