"""Tests of memonger.netdef.corpus on small corpora written here (no shared corpus needed)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from memonger.alloc import LiveRange
from memonger.netdef import NetDefError, NetFormatError, caffe2_pb2
from memonger.netdef.corpus import (
    CorpusCase,
    blob_sizes_for,
    corpus_root,
    load_case,
    load_manifest,
    load_ranges,
    parameter_gradients,
    training_losses,
)
from memonger.netdef.errors import CorpusNotFoundError

NET_TEXT = """
external_input: "x"
external_input: "w"
external_output: "y"
op { type: "FC" input: "x" input: "w" output: "h" }
op { type: "Relu" input: "h" output: "y" }
"""


def write_corpus(folder: Path) -> Path:
    (folder / "nets").mkdir(parents=True)
    (folder / "nets" / "mlp.pbtxt").write_text(NET_TEXT)
    shapes = {
        "x": {"shape": [2, 3], "dtype": "float32", "bytes": 24},
        "h": {"shape": [2, 4], "dtype": "float32", "bytes": 32},
        "y": None,
    }
    with gzip.open(folder / "nets" / "mlp.shapes.json.gz", "wt") as f:
        json.dump(shapes, f)
    (folder / "ranges.csv").write_text("id,lower,upper,size\nb0,0,3,10\nb1,2,5,7\n")
    manifest = [
        {
            "name": "mlp",
            "kind": "inference",
            "net": "nets/mlp.pbtxt",
            "shapes": "nets/mlp.shapes.json.gz",
            "inputs": ["x"],
            "source": "written by the test",
        },
        {"name": "bare", "kind": "training", "net": "nets/mlp.pbtxt", "shapes": None},
        {"name": "alloc", "kind": "allocation", "ranges": "ranges.csv", "capacity": 17},
    ]
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    return folder


def test_manifest_cases(tmp_path: Path) -> None:
    root = write_corpus(tmp_path / "corpus")
    cases = load_manifest(root)
    assert [(c.name, c.kind) for c in cases] == [
        ("mlp", "inference"),
        ("bare", "training"),
        ("alloc", "allocation"),
    ]
    mlp, bare, alloc = cases
    assert mlp.net == root / "nets" / "mlp.pbtxt"
    assert mlp.shapes == root / "nets" / "mlp.shapes.json.gz"
    assert mlp.inputs == ("x",)
    assert mlp.source == "written by the test"
    assert mlp.entry["inputs"] == ["x"]
    assert (bare.shapes, bare.inputs) == (None, ())
    assert (alloc.net, alloc.ranges, alloc.capacity) == (None, root / "ranges.csv", 17)


def test_load_case_reads_net_and_sizes(tmp_path: Path) -> None:
    mlp, bare, alloc = load_manifest(write_corpus(tmp_path))
    net, sizes = load_case(mlp)
    assert [op.type for op in net.op] == ["FC", "Relu"]
    assert sizes == {"x": 24, "h": 32}  # an unknown shape is left out
    net2, none = load_case(bare)
    assert net2 == net
    assert none is None
    with pytest.raises(ValueError, match="'alloc'"):
        load_case(alloc)
    assert blob_sizes_for(net, sizes) == {"x": 24, "w": 1, "h": 32, "y": 1}
    assert blob_sizes_for(net, None, default=5) == dict.fromkeys(["x", "w", "h", "y"], 5)


def test_load_ranges_closes_half_open_lifespans(tmp_path: Path) -> None:
    *_, alloc = load_manifest(write_corpus(tmp_path))
    assert load_ranges(alloc) == {"b0": LiveRange(0, 2, 10), "b1": LiveRange(2, 4, 7)}
    with pytest.raises(ValueError, match="no live ranges"):
        load_ranges(load_manifest(tmp_path)[0])


def test_missing_corpus_names_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CorpusNotFoundError, match="nowhere") as info:
        load_manifest(missing)
    assert isinstance(info.value, NetDefError)
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("text", ["{not json", '{"name": "x"}', '[{"name": "x"}]'])
def test_malformed_manifest(tmp_path: Path, text: str) -> None:
    (tmp_path / "MANIFEST.json").write_text(text)
    with pytest.raises(NetFormatError, match=r"MANIFEST\.json"):
        load_manifest(tmp_path)


def test_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_corpus(tmp_path / "elsewhere")
    monkeypatch.setenv("MEMONGER_CORPUS", str(root))
    assert corpus_root() == root
    assert [c.name for c in load_manifest()] == ["mlp", "bare", "alloc"]
    assert corpus_root(tmp_path) == tmp_path  # an explicit root wins


def test_root_found_beside_a_parent_of_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMONGER_CORPUS", raising=False)
    root = write_corpus(tmp_path / "top" / "shared" / "corpus")
    inner = tmp_path / "top" / "repo" / "packages" / "tests"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    assert corpus_root().resolve() == root.resolve()
    monkeypatch.chdir(tmp_path / "top" / "repo")
    assert corpus_root().resolve() == root.resolve()
    # nothing to find below the temporary folder: whatever lies beside its
    # parents (a corpus there, if any), else ../shared/corpus of the current folder
    lonely = tmp_path / "a" / "b"
    lonely.mkdir(parents=True)
    monkeypatch.chdir(lonely)
    beside = [p.parent / "shared" / "corpus" for p in (lonely, *lonely.parents)]
    found = [c for c in beside if (c / "MANIFEST.json").is_file()]
    expected = found[0] if found else lonely.parent / "shared" / "corpus"
    assert corpus_root().resolve() == expected.resolve()


def test_from_entry_needs_name_and_kind() -> None:
    with pytest.raises(NetFormatError, match="without a name or kind"):
        CorpusCase.from_entry({"kind": "inference"}, "/c")


def op(net: caffe2_pb2.NetDef, type_: str, ins: list[str], outs: list[str]) -> None:
    net.op.add(type=type_, input=ins, output=outs)


def test_training_losses_from_gradient_seeds() -> None:
    net = caffe2_pb2.NetDef(external_input=["x", "w", "b"])
    op(net, "FC", ["x", "w", "b"], ["y"])
    op(net, "Loss", ["y"], ["l1"])
    op(net, "Loss", ["y"], ["l2"])
    op(net, "ConstantFill", ["l2"], ["l2_autogen_grad"])
    op(net, "ConstantFill", ["l1"], ["l1_autogen_grad"])
    op(net, "ConstantFill", ["l1"], ["l1_autogen_grad"])  # repeated seed: listed once
    op(net, "ConstantFill", ["y"], ["not_a_seed"])
    seed = net.op.add(type="ones_like", input=["l3"], output=["g"])
    seed.is_gradient_op = True
    op(net, "FCGradient", ["x", "w", "l1_autogen_grad"], ["w_grad", "b_grad"])
    assert training_losses(net) == ["l2", "l1", "l3"]
    # undeclared: the gradients of external inputs that some op writes
    assert parameter_gradients(net) == ["w_grad", "b_grad"]
    net.external_output.extend(["y", "b_grad"])
    assert parameter_gradients(net) == ["b_grad"]
