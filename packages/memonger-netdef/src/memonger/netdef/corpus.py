"""Reading the shared corpus of real nets (design 8).

The corpus is a folder holding ``MANIFEST.json`` -- a list of cases, each
with a ``name``, a ``kind`` (``inference``, ``training`` or ``allocation``),
a ``net`` (a NetDef in text format) and its ``shapes`` (gzipped JSON
``{blob: {"shape": [...], "dtype": "...", "bytes": N}}``, or ``null``), the
data ``inputs`` where known and the ``source``; allocation cases name a CSV
of live ranges (``ranges``, columns ``id,lower,upper,size`` with half-open
lifespans) and its ``capacity``.  Tests, benchmarks and the ``memonger``
command read it through :func:`load_manifest` and :func:`load_case`.

Where the corpus is (:func:`corpus_root`): the folder named by ``root``, else
by the environment variable ``MEMONGER_CORPUS``, else ``../shared/corpus``
seen from the current directory or the nearest of its parents that has one
(so ``../shared/corpus`` from the repository root, also when run from a
folder inside the repository).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memonger.alloc import LiveRange
from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import CorpusNotFoundError, NetFormatError
from memonger.netdef.io import load_net

__all__ = [
    "CorpusCase",
    "blob_sizes_for",
    "corpus_root",
    "load_case",
    "load_manifest",
    "load_ranges",
    "parameter_gradients",
    "training_losses",
]

#: The environment variable naming the corpus folder.
ENV_VAR = "MEMONGER_CORPUS"


def corpus_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The corpus folder: ``root``, else ``$MEMONGER_CORPUS``, else ``../shared/corpus``.

    Without ``root`` or the environment variable, the current directory and
    its parents are searched, nearest first, for a ``../shared/corpus`` folder
    holding a ``MANIFEST.json``; when none has one, ``../shared/corpus`` of
    the current directory is returned (and :func:`load_manifest` then says
    it is missing).  The folder is not checked here.

    Examples
    --------
    >>> corpus_root("/data/corpus")
    PosixPath('/data/corpus')
    """
    if root is not None:
        return Path(root)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder.parent / "shared" / "corpus"
        if (candidate / "MANIFEST.json").is_file():
            return candidate
    return here.parent / "shared" / "corpus"


@dataclass(frozen=True)
class CorpusCase:
    """One case of the corpus manifest, its paths resolved against the corpus folder.

    Attributes
    ----------
    name : str
        The case's name (unique in the manifest).
    kind : str
        ``"inference"``, ``"training"`` or ``"allocation"``.
    net : Path or None
        The NetDef (text format); None for allocation cases.
    shapes : Path or None
        The (gzipped JSON) shape file; None where shapes are unknown.
    inputs : tuple of str
        The net's data inputs, where the manifest names them.
    source : str
        Where the case comes from.
    ranges : Path or None
        The live ranges of an allocation case (CSV).
    capacity : int or None
        The capacity of an allocation case, in bytes.
    entry : dict
        The manifest entry as written.
    """

    name: str
    kind: str
    net: Path | None = None
    shapes: Path | None = None
    inputs: tuple[str, ...] = ()
    source: str = ""
    ranges: Path | None = None
    capacity: int | None = None
    entry: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_entry(cls, entry: dict[str, Any], root: str | os.PathLike[str]) -> CorpusCase:
        """A case from one manifest entry; relative paths are taken from ``root``.

        Raises
        ------
        NetFormatError
            The entry lacks a ``name`` or a ``kind``.

        Examples
        --------
        >>> case = CorpusCase.from_entry(
        ...     {"name": "mlp", "kind": "inference", "net": "nets/mlp.pbtxt", "inputs": ["x"]},
        ...     "/data/corpus",
        ... )
        >>> case.net, case.shapes, case.inputs
        (PosixPath('/data/corpus/nets/mlp.pbtxt'), None, ('x',))
        """
        base = Path(root)
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("kind"):
            raise NetFormatError(
                f"{base / 'MANIFEST.json'}: entry without a name or kind: {entry!r}"
            )

        def path(key: str) -> Path | None:
            value = entry.get(key)
            return base / value if value else None

        capacity = entry.get("capacity")
        return cls(
            name=str(entry["name"]),
            kind=str(entry["kind"]),
            net=path("net"),
            shapes=path("shapes"),
            inputs=tuple(entry.get("inputs") or ()),
            source=str(entry.get("source") or ""),
            ranges=path("ranges"),
            capacity=None if capacity is None else int(capacity),
            entry=dict(entry),
        )


def load_manifest(root: str | os.PathLike[str] | None = None) -> list[CorpusCase]:
    """Every case of the corpus, in manifest order.

    Parameters
    ----------
    root : str or path-like, optional
        The corpus folder; by default :func:`corpus_root`.

    Returns
    -------
    list of CorpusCase

    Raises
    ------
    CorpusNotFoundError
        There is no ``MANIFEST.json`` in the folder (the message names it).
    NetFormatError
        The manifest is not a JSON list of cases.

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     entry = {"name": "mlp", "kind": "inference", "net": "mlp.pbtxt", "shapes": None}
    ...     _ = (Path(tmp) / "MANIFEST.json").write_text(json.dumps([entry]))
    ...     [(c.name, c.kind, c.net.name, c.shapes) for c in load_manifest(tmp)]
    [('mlp', 'inference', 'mlp.pbtxt', None)]
    >>> try:
    ...     load_manifest("/nonexistent")
    ... except FileNotFoundError as exc:
    ...     print(exc)
    corpus not found at /nonexistent (set MEMONGER_CORPUS)
    """
    folder = corpus_root(root)
    manifest = folder / "MANIFEST.json"
    if not manifest.is_file():
        raise CorpusNotFoundError(f"corpus not found at {folder} (set {ENV_VAR})")
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NetFormatError(f"{manifest}: cannot read the manifest: {exc}") from exc
    if not isinstance(entries, list):
        raise NetFormatError(f"{manifest}: expected a JSON list of cases")
    return [CorpusCase.from_entry(entry, folder) for entry in entries]


def load_case(case: CorpusCase) -> tuple[caffe2_pb2.NetDef, dict[str, int] | None]:
    """The net of ``case`` and its blob sizes in bytes (None without a shape file).

    Sizes are those of :func:`memonger.stats.read_blob_sizes`: blobs whose
    shape is unknown are left out.

    Raises
    ------
    ValueError
        ``case`` has no net (an allocation case).
    NetFormatError
        The net file cannot be read (:func:`~memonger.netdef.load_net`).
    memonger.stats.ShapeFileError
        The shape file cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "n.pbtxt").write_text('op { type: "Relu" input: "x" output: "y" }')
    ...     case = CorpusCase.from_entry({"name": "n", "kind": "inference", "net": "n.pbtxt"}, tmp)
    ...     net, sizes = load_case(case)
    >>> [op.type for op in net.op], sizes
    (['Relu'], None)
    """
    from memonger.stats import read_blob_sizes

    if case.net is None:
        raise ValueError(f"corpus case {case.name!r} ({case.kind}) has no net")
    net = load_net(case.net)
    sizes = read_blob_sizes(case.shapes) if case.shapes is not None else None
    return net, sizes


def blob_sizes_for(
    net: caffe2_pb2.NetDef, known: dict[str, int] | None, default: int = 1
) -> dict[str, int]:
    """A size for every blob ``net`` names: ``known`` where given, else ``default``.

    Blobs named: external inputs and outputs, op inputs and outputs.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x"])
    >>> _ = net.op.add(type="Relu", input=["x"], output=["y"])
    >>> sorted(blob_sizes_for(net, {"y": 16}).items())
    [('x', 1), ('y', 16)]
    """
    names = set(net.external_input) | set(net.external_output)
    for op in net.op:
        names.update(op.input)
        names.update(op.output)
    known = known or {}
    return {b: known.get(b, default) for b in names}


def load_ranges(case: CorpusCase) -> dict[str, LiveRange]:
    """The live ranges of an allocation case, as closed ranges.

    The CSV's half-open lifespans ``[lower, upper)`` become
    ``LiveRange(lower, upper - 1, size)``, keyed by ``id``, in file order.

    Raises
    ------
    ValueError
        ``case`` has no ranges.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "r.csv").write_text("id,lower,upper,size\\na,0,4,8\\n")
    ...     case = CorpusCase.from_entry(
    ...         {"name": "r", "kind": "allocation", "ranges": "r.csv"}, tmp
    ...     )
    ...     load_ranges(case)
    {'a': LiveRange(defined=0, used=3, size=8)}
    """
    if case.ranges is None:
        raise ValueError(f"corpus case {case.name!r} ({case.kind}) has no live ranges")
    with case.ranges.open(newline="", encoding="utf-8") as f:
        return {
            row["id"]: LiveRange(int(row["lower"]), int(row["upper"]) - 1, int(row["size"]))
            for row in csv.DictReader(f)
        }


def training_losses(net: caffe2_pb2.NetDef) -> list[str]:
    """The losses of a training net: the blobs its gradient seeds are filled from.

    A seed is a ``ConstantFill`` (Caffe2) or ``ones_like`` (traced graphs) op
    that is a gradient op or writes an ``*_autogen_grad`` blob; its inputs
    are the losses.  In order of first appearance, without repeats.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef()
    >>> _ = net.op.add(type="AveragedLoss", input=["xent"], output=["loss"])
    >>> _ = net.op.add(type="ConstantFill", input=["loss"], output=["loss_autogen_grad"])
    >>> training_losses(net)
    ['loss']
    """
    losses: list[str] = []
    for op in net.op:
        seed = op.type in ("ConstantFill", "ones_like") and (
            op.is_gradient_op or any(b.endswith("_autogen_grad") for b in op.output)
        )
        if seed:
            losses += [b for b in op.input if b not in losses]
    return losses


def parameter_gradients(net: caffe2_pb2.NetDef) -> list[str]:
    """The parameter gradients of a training net.

    The ``*_grad`` blobs declared in ``external_output``; a net that declares
    none (such as a Caffe2 training net) gets ``<p>_grad`` for every external
    input ``p`` whose gradient some op writes.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x", "w"])
    >>> _ = net.op.add(type="FCGradient", input=["x", "w", "dy"], output=["w_grad"])
    >>> parameter_gradients(net)
    ['w_grad']
    """
    declared = [b for b in net.external_output if b.endswith("_grad")]
    if declared:
        return declared
    made = _produced(net.op)
    return [p + "_grad" for p in net.external_input if p + "_grad" in made]


def _produced(ops: Iterable[caffe2_pb2.OperatorDef]) -> set[str]:
    return {b for op in ops for b in op.output}
