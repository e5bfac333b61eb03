"""Every shape file of the shared corpus reads, with consistent byte counts."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import pytest

from memonger.stats import read_blob_sizes, read_shape_file

pytestmark = pytest.mark.corpus

CORPUS = Path(
    os.environ.get("MEMONGER_CORPUS", Path(__file__).resolve().parents[4] / "shared" / "corpus")
)
# Element sizes written independently of memonger.stats' own table.
ELEMENT = {
    "float": 4,
    "float32": 4,
    "int32": 4,
    "int64": 8,
    "bool": 1,
    "float16": 2,
    "double": 8,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
}


def shape_files() -> list[Path]:
    if not (CORPUS / "MANIFEST.json").is_file():
        pytest.skip(f"corpus not found at {CORPUS} (set MEMONGER_CORPUS)")
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text())
    listed = {CORPUS / case["shapes"] for case in manifest if case.get("shapes")}
    return sorted(listed | set(CORPUS.glob("nets/*.shapes.json*")))


def test_every_shape_file_reads() -> None:
    files = shape_files()
    assert files, f"no shape files under {CORPUS}"
    for path in files:
        raw = json.loads(
            gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        )
        shapes = read_shape_file(path)
        sizes = read_blob_sizes(path)
        known = {blob: entry for blob, entry in raw.items() if entry is not None}
        assert list(shapes) == list(known) == list(sizes), path.name
        for blob, entry in known.items():
            expected = math.prod(entry["shape"]) * ELEMENT[entry["dtype"]]
            assert entry["bytes"] == expected, (path.name, blob)
            assert shapes[blob].nbytes == sizes[blob] == expected, (path.name, blob)
            assert list(shapes[blob].shape) == entry["shape"]
