"""Memory reports: one row of results per net, rendered as text, JSON or a plot.

A :class:`MemoryReport` holds :class:`NetReport` rows; the ``memonger``
command and the benchmarks fill them (:func:`build_net_report` computes a row
from a net, its sizes and its optimized form) and render them.

Two bounds, named apart everywhere:

**peak live bytes** (``peak_bytes``, ``peak_live_bytes``)
    The most bytes live at one op position.  No plan of any kind for this op
    order needs fewer bytes; an arena plan (byte offsets) can reach it.
**shared-object bound** (``shared_object_bound_bytes``)
    The sum of the positional maxima: no shared-object plan (blobs sharing
    whole buffers, what a rename can express) needs fewer bytes.  Never below
    the peak, above it when sizes differ.  Known when the planner computed it
    (the exact solver always does).

``lower_bound_bytes`` is kept for existing readers: the higher of the two
bounds known for the row's plan.  The gap of a plan is always given over that
bound, in bytes and percent (:func:`format_gap`).

JSON layout (``schema_version`` 1; keys are stable, new keys may be added
without a version change, removals or meaning changes bump it).  The JSON
Schema ships with the package (``memonger/stats/schemas/report.schema.json``,
:func:`report_schema`)::

    {
      "schema": "memonger.report",
      "schema_version": 1,
      "title": str,
      "metadata": {str: str},
      "versions": {distribution: version},  # memonger packages installed
      "nets": [
        {
          "name": str,
          "ops": int,                    # ops in the net
          "blobs_before": int,           # produced blobs of the original net
          "blobs_after": int,            # produced blobs (buffers) after optimization
          "naive_bytes": int,            # sum of produced blob sizes
          "plan_bytes": int,             # sum over buffers of the largest member
          "peak_bytes": int,             # peak live bytes (the bound of the order)
          "peak_live_bytes": int,        # the same, by its name
          "shared_object_bound_bytes": int|null,  # positional maxima, when known
          "lower_bound_bytes": int,      # the higher known bound (kept for old readers)
          "gap_bytes": int,              # plan_bytes - lower_bound_bytes
          "gap_percent": float,          # of lower_bound_bytes (0 if it is 0)
          "plan_peak_ratio": float|null, # plan_bytes / peak_bytes (null if peak is 0)
          "saving_ratio": float,         # 1 - plan_bytes / naive_bytes (0 if naive is 0)
          "algorithm": str|null,
          "ordering": str|null,          # op order the plan is for
          "budget": {"node_limit": int|null, "time_limit": float|null},
          "optimal": bool|null,          # optimality proven by the algorithm
          "seconds": {phase: float},     # wall time per phase
          "extra": {str: str|int|float|bool|null},
          "buffers": [{"name": str, "bytes": int, "blobs": [str]}]|null,
          "arena": plan|null,            # an arena plan (memonger.plan JSON)
          "timeline_original": timeline|null,
          "timeline_optimized": timeline|null
        }
      ],
      "totals": {"nets": int, "ops": int, "naive_bytes": int,
                 "plan_bytes": int, "peak_bytes": int}
    }

    timeline = {"num_positions": int, "live_bytes": [int], "allocated_bytes": [int],
                "peak_bytes": int, "peak_position": int,
                "peak_blobs": [[str, int]]}

``buffers`` says which blobs share which buffer (a shared-object plan: the
buffer's name in the optimized net, its bytes, its blobs in the original
net); ``arena`` carries an arena plan's offsets.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memonger.alloc import ViewsOf, naive_bytes, plan_bytes
from memonger.stats._nets import SizeSource, net_ops, produced_order, size_of, sized_liveness
from memonger.stats.errors import StatsError
from memonger.stats.metrics import Assignments, Statistics, produced_blobs
from memonger.stats.timeline import Timeline, compute_timeline

__all__ = [
    "MEMONGER_DISTRIBUTIONS",
    "SCHEMA",
    "SCHEMA_KEYWORDS",
    "SCHEMA_VERSION",
    "MemoryReport",
    "NetReport",
    "SharedBuffer",
    "build_net_report",
    "format_gap",
    "format_nbytes",
    "package_versions",
    "report_schema",
    "validate_report",
]

SCHEMA = "memonger.report"
SCHEMA_VERSION = 1

Scalar = str | int | float | bool | None


def format_nbytes(nbytes: float) -> str:
    """Human-readable bytes with binary units.

    Examples
    --------
    >>> format_nbytes(512), format_nbytes(3 * 2**20), format_nbytes(1.5 * 2**30)
    ('512 B', '3.00 MiB', '1.50 GiB')
    """
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_gap(value: int | None, bound: int | None) -> str:
    """The gap of a figure over its bound, in bytes and percent: ``'gap 4.00 KiB (0.20%)'``.

    The one rendering of a gap for every command and plot.  A gap below
    0.01% but not 0 reads ``<0.01%``, so that a real gap never prints as
    zero; ``'gap -'`` when either figure is unknown.

    Examples
    --------
    >>> format_gap(2048 + 4, 2048), format_gap(0, 0), format_gap(None, 5)
    ('gap 4 B (0.20%)', 'gap 0 B (0.00%)', 'gap -')
    >>> format_gap(207_000_000, 206_995_904)
    'gap 4.00 KiB (<0.01%)'
    """
    if value is None or bound is None:
        return "gap -"
    gap = value - bound
    share = gap / bound * 100 if bound else 0.0
    percent = "<0.01%" if 0 < abs(share) < 0.005 else f"{share:.2f}%"
    return f"gap {format_nbytes(gap)} ({percent})"


MEMONGER_DISTRIBUTIONS = (
    "memonger-alloc",
    "memonger-graph",
    "memonger-stats",
    "memonger-netdef",
    "memonger-onnx",
)
"""The distributions of the project, in dependency order."""


def package_versions(distributions: Iterable[str] = MEMONGER_DISTRIBUTIONS) -> dict[str, str]:
    """The installed version of every memonger distribution (those not installed left out).

    Read with :mod:`importlib.metadata`, so the figures are those of the
    installed metadata (what ``pip list`` shows).

    Examples
    --------
    >>> "memonger-stats" in package_versions()
    True
    """
    from importlib import metadata

    versions: dict[str, str] = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``memonger.report`` JSON, shipped with the package.

    Examples
    --------
    >>> schema = report_schema()
    >>> schema["properties"]["schema"]["const"], schema["properties"]["schema_version"]["const"]
    ('memonger.report', 1)
    """
    from importlib import resources

    text = (
        resources.files("memonger.stats")
        .joinpath("schemas/report.schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


SCHEMA_KEYWORDS = frozenset(
    {
        "$schema", "title", "description", "$defs", "$ref", "type", "const", "enum",
        "required", "properties", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "minimum", "exclusiveMinimum", "anyOf",
    }
)  # fmt: skip
"""The JSON Schema keywords :func:`validate_report` understands (all the shipped schema uses)."""

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _schema_errors(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], at: str) -> str:
    """The first way ``value`` breaks ``schema`` (``''`` when it conforms)."""
    if "$ref" in schema:
        ref = str(schema["$ref"])
        if not ref.startswith("#/$defs/"):
            raise StatsError(f"unsupported $ref {ref!r}")
        schema = root["$defs"][ref.removeprefix("#/$defs/")]
    if "anyOf" in schema and all(_schema_errors(value, s, root, at) for s in schema["anyOf"]):
        return f"{at}: matches none of the allowed forms"
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        return f"{at}: expected {schema['const']!r}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{at}: {value!r} is not one of {schema['enum']!r}"
    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        ok = any(
            isinstance(value, _JSON_TYPES[n])
            and not (n in ("integer", "number") and isinstance(value, bool))
            for n in names
        )
        if not ok:
            return f"{at}: expected {' or '.join(names)}, got {type(value).__name__}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{at}: {value} is below {schema['minimum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{at}: {value} is not above {schema['exclusiveMinimum']}"
    if isinstance(value, dict):
        missing = [k for k in schema.get("required", ()) if k not in value]
        if missing:
            return f"{at}: missing key {missing[0]!r}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = properties.get(key, extra)
            if sub is False:
                return f"{at}: unexpected key {key!r}"
            if isinstance(sub, Mapping):
                problem = _schema_errors(item, sub, root, f"{at}.{key}")
                if problem:
                    return problem
    if isinstance(value, list):
        count = len(value)
        if count < schema.get("minItems", 0) or count > schema.get("maxItems", count):
            return f"{at}: {len(value)} items is not allowed"
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            if isinstance(sub, Mapping):
                problem = _schema_errors(item, sub, root, f"{at}[{i}]")
                if problem:
                    return problem
    return ""


def validate_report(data: Mapping[str, Any]) -> None:
    """Check a report's JSON data against the shipped schema (:func:`report_schema`).

    A small validator for the keywords of :data:`SCHEMA_KEYWORDS` (every one
    the schema uses), so that no third-party package is needed; any JSON
    Schema 2020-12 validator (such as ``jsonschema``) gives the same verdict.

    Raises
    ------
    StatsError
        Naming the first key that breaks the schema.

    Examples
    --------
    >>> validate_report(MemoryReport(()).to_dict())
    >>> validate_report({"schema": "memonger.report"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    memonger.stats.errors.StatsError: report does not match its schema: ...'schema_version'
    """
    schema = report_schema()
    problem = _schema_errors(data, schema, schema, "$")
    if problem:
        raise StatsError(f"report does not match its schema: {problem}")


@dataclass(frozen=True)
class SharedBuffer:
    """One buffer of a shared-object plan: its name, its bytes and the blobs it holds.

    Examples
    --------
    >>> SharedBuffer("buf", 16, ("a", "c")).to_dict()
    {'name': 'buf', 'bytes': 16, 'blobs': ['a', 'c']}
    """

    name: str
    """The buffer's name in the optimized net."""
    nbytes: int
    """Its size: the largest blob it holds."""
    blobs: tuple[str, ...]
    """The blobs of the original net it holds, in order of first write."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (``name``, ``bytes``, ``blobs``)."""
        return {"name": self.name, "bytes": self.nbytes, "blobs": list(self.blobs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SharedBuffer:
        """Rebuild a buffer from :meth:`to_dict` output."""
        return cls(str(data["name"]), int(data["bytes"]), tuple(str(b) for b in data["blobs"]))


@dataclass(frozen=True)
class NetReport:
    """Results for one net: sizes before and after, bounds, times and timelines.

    Examples
    --------
    >>> row = NetReport("tiny", ops=3, blobs_before=3, blobs_after=2,
    ...                 naive_nbytes=35, plan_nbytes=30, peak_nbytes=30)
    >>> row.plan_peak_ratio, round(row.saving_ratio, 3), row.lower_bound
    (1.0, 0.143, 30)
    >>> bound = NetReport("tiny", ops=3, blobs_before=3, blobs_after=2, naive_nbytes=35,
    ...                   plan_nbytes=32, peak_nbytes=30, shared_object_bound_nbytes=32)
    >>> bound.peak_live_nbytes, bound.lower_bound, bound.gap_nbytes
    (30, 32, 0)
    """

    name: str
    ops: int
    blobs_before: int
    blobs_after: int
    naive_nbytes: int
    plan_nbytes: int
    peak_nbytes: int
    lower_bound_nbytes: int | None = None
    """The higher known bound of the plan; None (the default): the shared-object
    bound when known, else ``peak_nbytes``."""
    algorithm: str | None = None
    optimal: bool | None = None
    seconds: Mapping[str, float] = field(default_factory=dict)
    """Wall-clock seconds per phase (``load``, ``optimize``, ``verify``...)."""
    timeline_original: Timeline | None = field(default=None, compare=False)
    timeline_optimized: Timeline | None = field(default=None, compare=False)
    extra: Mapping[str, Scalar] = field(default_factory=dict)
    """Further columns (shown in the text table and kept in JSON)."""
    shared_object_bound_nbytes: int | None = None
    """The shared-object bound (positional maxima) of the plan, when known."""
    ordering: str | None = None
    """The op order the plan is for (``program``, ``memory``...)."""
    node_limit: int | None = None
    """The search budget in nodes the plan was made with (None: none, or no search)."""
    time_limit: float | None = None
    """The wall-clock cap in seconds on the search (None: none)."""
    buffers: tuple[SharedBuffer, ...] | None = None
    """Which blobs share which buffer (a shared-object plan)."""
    arena: Mapping[str, Any] | None = None
    """An arena plan (``memonger.plan`` JSON: offsets of every tensor)."""

    def __post_init__(self) -> None:
        if self.lower_bound_nbytes is None:
            bound = max(self.peak_nbytes, self.shared_object_bound_nbytes or 0)
            object.__setattr__(self, "lower_bound_nbytes", bound)
        if self.buffers is not None:
            object.__setattr__(self, "buffers", tuple(self.buffers))

    @property
    def peak_live_nbytes(self) -> int:
        """Peak live bytes in the original order (``peak_nbytes`` by its name)."""
        return self.peak_nbytes

    @property
    def lower_bound(self) -> int:
        """The higher known bound of the plan (``lower_bound_nbytes``)."""
        return self.peak_nbytes if self.lower_bound_nbytes is None else self.lower_bound_nbytes

    @property
    def gap_nbytes(self) -> int:
        """``plan_nbytes - lower_bound``: bytes above the best known bound."""
        return self.plan_nbytes - self.lower_bound

    @property
    def gap_percent(self) -> float:
        """The gap in percent of the bound (0 when the bound is 0)."""
        bound = self.lower_bound
        return 100.0 * self.gap_nbytes / bound if bound else 0.0

    @property
    def plan_peak_ratio(self) -> float | None:
        """``plan_nbytes / peak_nbytes``, the quality ratio (None when the peak is 0)."""
        return None if self.peak_nbytes == 0 else self.plan_nbytes / self.peak_nbytes

    @property
    def saving_ratio(self) -> float:
        """``1 - plan_nbytes / naive_nbytes`` (0 when naive is 0)."""
        return self.statistics.saving_ratio

    @property
    def statistics(self) -> Statistics:
        """Naive and plan bytes as :class:`Statistics`."""
        return Statistics(self.naive_nbytes, self.plan_nbytes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict of this row (see the module docstring)."""
        return {
            "name": self.name,
            "ops": self.ops,
            "blobs_before": self.blobs_before,
            "blobs_after": self.blobs_after,
            "naive_bytes": self.naive_nbytes,
            "plan_bytes": self.plan_nbytes,
            "peak_bytes": self.peak_nbytes,
            "peak_live_bytes": self.peak_nbytes,
            "shared_object_bound_bytes": self.shared_object_bound_nbytes,
            "lower_bound_bytes": self.lower_bound,
            "gap_bytes": self.gap_nbytes,
            "gap_percent": float(self.gap_percent),
            "plan_peak_ratio": self.plan_peak_ratio,
            "saving_ratio": self.saving_ratio,
            "algorithm": self.algorithm,
            "ordering": self.ordering,
            "budget": {"node_limit": self.node_limit, "time_limit": self.time_limit},
            "optimal": self.optimal,
            "seconds": {k: float(v) for k, v in self.seconds.items()},
            "extra": dict(self.extra),
            "buffers": None if self.buffers is None else [b.to_dict() for b in self.buffers],
            "arena": None if self.arena is None else dict(self.arena),
            "timeline_original": _timeline_dict(self.timeline_original),
            "timeline_optimized": _timeline_dict(self.timeline_optimized),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetReport:
        """Rebuild a row from :meth:`to_dict` output (rows written before a key existed too)."""
        try:
            budget = dict(data.get("budget") or {})
            buffers = data.get("buffers")
            return cls(
                name=str(data["name"]),
                ops=int(data["ops"]),
                blobs_before=int(data["blobs_before"]),
                blobs_after=int(data["blobs_after"]),
                naive_nbytes=int(data["naive_bytes"]),
                plan_nbytes=int(data["plan_bytes"]),
                peak_nbytes=int(data["peak_bytes"]),
                lower_bound_nbytes=data.get("lower_bound_bytes"),
                algorithm=data.get("algorithm"),
                optimal=data.get("optimal"),
                seconds=dict(data.get("seconds", {})),
                timeline_original=_timeline_from(data.get("timeline_original")),
                timeline_optimized=_timeline_from(data.get("timeline_optimized")),
                extra=dict(data.get("extra", {})),
                shared_object_bound_nbytes=data.get("shared_object_bound_bytes"),
                ordering=data.get("ordering"),
                node_limit=budget.get("node_limit"),
                time_limit=budget.get("time_limit"),
                buffers=None if buffers is None else tuple(map(SharedBuffer.from_dict, buffers)),
                arena=data.get("arena"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StatsError(f"malformed net report {data.get('name')!r}: {exc!r}") from exc


def _timeline_dict(timeline: Timeline | None) -> dict[str, Any] | None:
    return None if timeline is None else timeline.to_dict()


def _timeline_from(data: Mapping[str, Any] | None) -> Timeline | None:
    if data is None:
        return None
    live = np.array([int(v) for v in data["live_bytes"]], dtype=object)
    allocated = np.array([int(v) for v in data["allocated_bytes"]], dtype=object)
    if max((abs(int(v)) for v in data["allocated_bytes"]), default=0) < 2**62:
        live = live.astype(np.int64)
        allocated = allocated.astype(np.int64)
    live.setflags(write=False)
    allocated.setflags(write=False)
    blobs = tuple((str(name), int(size)) for name, size in data["peak_blobs"])
    return Timeline(live, allocated, int(data["peak_position"]), blobs, {})


@dataclass(frozen=True)
class MemoryReport:
    """Rows of per-net results with text, JSON and PNG renderings.

    Examples
    --------
    >>> row = NetReport("tiny", ops=3, blobs_before=3, blobs_after=2,
    ...                 naive_nbytes=35, plan_nbytes=30, peak_nbytes=30,
    ...                 seconds={"optimize": 0.001})
    >>> report = MemoryReport((row,))
    >>> print(report.to_text())  # doctest: +NORMALIZE_WHITESPACE
    net   ops  blobs  buffers  naive  plan  peak  plan/peak  saved  optimize s
    tiny    3      3        2   35 B  30 B  30 B      1.000  14.3%       0.001
    >>> MemoryReport.from_json(report.to_json()) == report
    True
    """

    nets: tuple[NetReport, ...]
    title: str = "memonger memory report"
    metadata: Mapping[str, str] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    """Versions of the memonger packages that made the report (:func:`package_versions`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "nets", tuple(self.nets))

    def totals(self) -> dict[str, int]:
        """Sums over the rows of ops, naive, plan and peak bytes."""
        return {
            "nets": len(self.nets),
            "ops": sum(r.ops for r in self.nets),
            "naive_bytes": sum(r.naive_nbytes for r in self.nets),
            "plan_bytes": sum(r.plan_nbytes for r in self.nets),
            "peak_bytes": sum(r.peak_nbytes for r in self.nets),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (see the module docstring for the keys)."""
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "title": self.title,
            "metadata": dict(self.metadata),
            "versions": dict(self.versions),
            "nets": [row.to_dict() for row in self.nets],
            "totals": self.totals(),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Strict JSON text (no NaN or infinity), keys in a stable order."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemoryReport:
        """Rebuild a report from :meth:`to_dict` output.

        Raises
        ------
        StatsError
            The schema or its version is not one this package reads.
        """
        if data.get("schema") != SCHEMA:
            raise StatsError(f"not a memonger report (schema {data.get('schema')!r})")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise StatsError(
                f"report schema_version {data.get('schema_version')!r} is not supported "
                f"(this version reads {SCHEMA_VERSION})"
            )
        return cls(
            nets=tuple(NetReport.from_dict(row) for row in data.get("nets", [])),
            title=str(data.get("title", "")),
            metadata={str(k): str(v) for k, v in data.get("metadata", {}).items()},
            versions={str(k): str(v) for k, v in data.get("versions", {}).items()},
        )

    @classmethod
    def from_json(cls, text: str) -> MemoryReport:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StatsError(f"report is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise StatsError("report JSON must be an object")
        return cls.from_dict(data)

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path`` atomically (temp file, then rename)."""
        _write_atomic(os.fspath(path), (self.to_json() + "\n").encode("utf-8"))

    def to_text(self) -> str:
        """A plain-text table, one line per net (bytes in binary units)."""
        phases: dict[str, None] = {}
        extras: dict[str, None] = {}
        for row in self.nets:
            phases.update(dict.fromkeys(row.seconds))
            extras.update(dict.fromkeys(row.extra))
        header = ["net", "ops", "blobs", "buffers", "naive", "plan", "peak", "plan/peak", "saved"]
        algorithms = any(row.algorithm is not None for row in self.nets)
        if algorithms:
            header.append("algorithm")
        header += [f"{p} s" for p in phases] + list(extras)
        lines = [header]
        for row in self.nets:
            ratio = row.plan_peak_ratio
            cells = [
                row.name,
                str(row.ops),
                str(row.blobs_before),
                str(row.blobs_after),
                format_nbytes(row.naive_nbytes),
                format_nbytes(row.plan_nbytes),
                format_nbytes(row.peak_nbytes),
                "-" if ratio is None else f"{ratio:.3f}",
                f"{100 * row.saving_ratio:.1f}%",
            ]
            if algorithms:
                optimal = {True: " (optimal)", False: "", None: ""}[row.optimal]
                cells.append(f"{row.algorithm or '-'}{optimal}")
            cells += [f"{row.seconds[p]:.3f}" if p in row.seconds else "-" for p in phases]
            cells += [_cell(row.extra.get(k)) for k in extras]
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = []
        for line in lines:
            parts = [
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            ]
            out.append("  ".join(parts).rstrip())
        return "\n".join(out)

    def plot(
        self,
        path: str | os.PathLike[str],
        *,
        net: str | int = 0,
        width: int = 1200,
        height: int = 675,
        dpi: int = 100,
    ) -> None:
        """Write the PNG timeline plot of one net (by name or index).

        See :func:`memonger.stats.plot.plot_net_report`.
        """
        from memonger.stats.plot import plot_net_report

        if isinstance(net, int):
            try:
                row = self.nets[net]
            except IndexError:
                raise StatsError(f"report has no net at index {net}") from None
        else:
            found = [r for r in self.nets if r.name == net]
            if not found:
                raise StatsError(f"report has no net named {net!r}")
            row = found[0]
        plot_net_report(row, path, width=width, height=height, dpi=dpi)


def _cell(value: Scalar) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what a plain open() would give, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_net_report(
    name: str,
    net: Any,
    blob_nbytes: SizeSource,
    *,
    optimized: Any = None,
    blob_assignments: Mapping[str, str] | None = None,
    assignments: Assignments | None = None,
    order: Sequence[int] | None = None,
    optimized_order: Sequence[int] | None = None,
    lower_bound_nbytes: int | None = None,
    algorithm: str | None = None,
    optimal: bool | None = None,
    seconds: Mapping[str, float] | None = None,
    extra: Mapping[str, Scalar] | None = None,
    timelines: bool = True,
    views: ViewsOf | None = None,
    shared_object_bound_nbytes: int | None = None,
) -> NetReport:
    """Compute one report row from a net, its sizes and its optimized form.

    Every figure is memonger.alloc's: ranges from
    :func:`memonger.alloc.compute_liveness`, naive, plan and peak bytes from
    its design-7 metrics (see :mod:`memonger.stats.metrics`).

    Parameters
    ----------
    name : str
    net : net or sequence of ops
        The original net.
    blob_nbytes : mapping or callable
        Size in bytes of every produced blob of the original net.
    optimized : net or sequence of ops, optional
        The optimized (renamed) net.  Its buffers are sized from
        ``blob_assignments`` (largest member); names not renamed keep their
        size from ``blob_nbytes``.
    blob_assignments : mapping of str to str, optional
        Original blob -> buffer name.
    assignments : list of lists of (str, LiveRange), optional
        The shared buffers; when given, ``plan_nbytes`` comes from them
        (:func:`memonger.alloc.plan_bytes` over the produced storages).
    order, optimized_order : sequence of int, optional
        Execution orders of the two nets (default: program order).
    lower_bound_nbytes, shared_object_bound_nbytes, algorithm, optimal, seconds, extra
        Copied into the row (see :class:`NetReport`).
    timelines : bool, default True
        Keep the timelines (for plots and JSON).
    views : callable, optional
        ``op -> (output_index, input_index)`` view pairs for both nets, as for
        :func:`memonger.alloc.compute_liveness`; default: each op's own
        ``views`` attribute.

    Returns
    -------
    NetReport
        Without ``optimized`` or ``assignments``, the plan is the naive one.

    Examples
    --------
    >>> from types import SimpleNamespace as Op
    >>> ops = [Op(input=["x"], output=["a"]), Op(input=["a"], output=["b"]),
    ...        Op(input=["b"], output=["c"])]
    >>> opt = [Op(input=["x"], output=["buf"]), Op(input=["buf"], output=["b"]),
    ...        Op(input=["b"], output=["buf"])]
    >>> row = build_net_report("tiny", ops, {"a": 10, "b": 20, "c": 5},
    ...                        optimized=opt, blob_assignments={"a": "buf", "c": "buf"})
    >>> row.naive_nbytes, row.plan_nbytes, row.peak_nbytes, row.blobs_after
    (35, 30, 30, 2)
    """
    ops = net_ops(net)
    live, ranges = sized_liveness(ops, blob_nbytes, views)
    produced = produced_order(ops, live)
    original = compute_timeline(ops, blob_nbytes, order=order, views=views)
    naive = naive_bytes(ranges)
    plan = naive
    blobs_after = len(produced)
    optimized_timeline: Timeline | None = None
    if optimized is not None:
        renames = dict(blob_assignments or {})
        buffers: dict[str, int] = {}
        for blob, buffer in renames.items():
            buffers[buffer] = max(buffers.get(buffer, 0), size_of(blob_nbytes, blob))

        def optimized_size(blob: str) -> int:
            if blob in buffers:
                return buffers[blob]
            return size_of(blob_nbytes, blob)

        optimized_timeline = compute_timeline(
            optimized, optimized_size, order=optimized_order, views=views
        )
        _, after = sized_liveness(net_ops(optimized), optimized_size, views)
        plan = naive_bytes(after)  # every buffer of the optimized net its own
        blobs_after = len(produced_blobs(optimized, views=views))
    if assignments is not None:
        plan = plan_bytes(assignments, ranges)  # storages sized by their largest member
        if optimized is None:
            wanted = set(produced)
            members = [{b for b, _ in buffer if b in wanted} for buffer in assignments]
            shared = set().union(*members) if members else set()
            blobs_after = sum(1 for m in members if m) + len(wanted - shared)
    return NetReport(
        name=name,
        ops=len(ops),
        blobs_before=len(produced),
        blobs_after=blobs_after,
        naive_nbytes=naive,
        plan_nbytes=plan,
        peak_nbytes=original.peak_nbytes,
        lower_bound_nbytes=lower_bound_nbytes,
        shared_object_bound_nbytes=shared_object_bound_nbytes,
        algorithm=algorithm,
        optimal=optimal,
        seconds=dict(seconds or {}),
        timeline_original=original if timelines else None,
        timeline_optimized=optimized_timeline if timelines else None,
        extra=dict(extra or {}),
    )
