"""The two bounds named apart, the gap, the report's new keys and its shipped JSON Schema.

The schema is checked with :func:`memonger.stats.report.validate_report` (the
package's own validator for the keywords the schema uses) and, when the
``jsonschema`` package is installed, with it too: both must agree.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from types import SimpleNamespace as Op
from typing import Any

import pytest

from memonger.alloc import LiveRange, plan_offsets, plan_to_dict
from memonger.stats.plot import legend_labels
from memonger.stats.report import (
    SCHEMA_KEYWORDS,
    MemoryReport,
    NetReport,
    SharedBuffer,
    StatsError,
    build_net_report,
    format_gap,
    package_versions,
    report_schema,
    validate_report,
)

HAS_JSONSCHEMA = importlib.util.find_spec("jsonschema") is not None


def full_report() -> MemoryReport:
    """A report using every key: buffers, an arena plan, bounds, budget, versions."""
    ops = [Op(input=["x" if i == 0 else f"a{i - 1}"], output=[f"a{i}"]) for i in range(6)]
    sizes = {f"a{i}": (i % 3 + 1) * 1024 for i in range(6)}
    opt = [
        Op(input=["x" if i == 0 else f"buf{(i - 1) % 2}"], output=[f"buf{i % 2}"]) for i in range(6)
    ]
    renames = {f"a{i}": f"buf{i % 2}" for i in range(6)}
    buffers = tuple(
        SharedBuffer(name, max(sizes[b] for b in renames if renames[b] == name), members)
        for name in ("buf0", "buf1")
        for members in [tuple(b for b in renames if renames[b] == name)]
    )
    row = build_net_report(
        "chain",
        ops,
        sizes,
        optimized=opt,
        blob_assignments=renames,
        algorithm="dp",
        optimal=True,
        shared_object_bound_nbytes=6144,
    )
    ranges = {"a": LiveRange(0, 1, 8), "b": LiveRange(1, 2, 4)}
    plan = plan_offsets(ranges)
    arena = {**plan_to_dict(plan, ranges), "peak_live_bytes": plan.lower_bound}
    from dataclasses import replace

    row = replace(
        row, ordering="program", node_limit=5000, time_limit=2.5, buffers=buffers, arena=arena
    )
    plain = NetReport("empty", 0, 0, 0, 0, 0, 0)
    return MemoryReport((row, plain), metadata={"command": "optimize"}, versions=package_versions())


def _keywords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key in ("properties", "$defs"):
                for sub in value.values():
                    yield from _keywords(sub)
            elif key in ("additionalProperties", "items"):
                yield from _keywords(value)
            elif key in ("anyOf", "prefixItems"):
                for sub in value:
                    yield from _keywords(sub)


def test_the_schema_uses_only_what_the_validator_knows() -> None:
    schema = report_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(_keywords(schema)) <= SCHEMA_KEYWORDS


def test_real_output_matches_the_schema() -> None:
    data = json.loads(full_report().to_json())
    validate_report(data)
    if HAS_JSONSCHEMA:
        import jsonschema

        jsonschema.Draft202012Validator(report_schema()).validate(data)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.pop("nets"), "'nets'"),
        (lambda d: d["nets"][0].update(plan_bytes="12"), "$.nets[0].plan_bytes"),
        (lambda d: d["nets"][0].update(surprise=1), "'surprise'"),
        (lambda d: d["nets"][0]["buffers"][0].update(blobs=[1]), "blobs[0]"),
        (lambda d: d["nets"][0]["arena"].update(schema="x"), "arena"),
        (lambda d: d["nets"][0]["budget"].update(node_limit=0), "node_limit"),
        (lambda d: d["nets"][0].update(optimal=1), "optimal"),
        (lambda d: d.update(schema_version=True), "schema_version"),
    ],
)
def test_broken_output_is_refused(change: Any, where: str) -> None:
    data = json.loads(full_report().to_json())
    change(data)
    with pytest.raises(StatsError, match="does not match its schema") as info:
        validate_report(data)
    assert where in str(info.value)
    if HAS_JSONSCHEMA:
        import jsonschema

        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(report_schema()).validate(data)


def test_new_keys_round_trip_and_old_reports_still_read() -> None:
    report = full_report()
    assert MemoryReport.from_json(report.to_json()) == report
    data = report.to_dict()
    row = data["nets"][0]
    assert row["peak_live_bytes"] == row["peak_bytes"]
    assert row["shared_object_bound_bytes"] == 6144
    assert row["lower_bound_bytes"] == max(row["peak_bytes"], 6144)
    assert row["gap_bytes"] == row["plan_bytes"] - row["lower_bound_bytes"]
    assert row["budget"] == {"node_limit": 5000, "time_limit": 2.5}
    assert row["buffers"][0] == {"name": "buf0", "bytes": 3072, "blobs": ["a0", "a2", "a4"]}
    assert row["arena"]["tensors"][0]["name"] == "a"
    assert set(data["versions"]) >= {"memonger-alloc", "memonger-stats"}
    # A row written before these keys existed reads back with them unknown.
    for key in ("peak_live_bytes", "shared_object_bound_bytes", "budget", "buffers", "arena"):
        del row[key]
    old = MemoryReport.from_dict(data).nets[0]
    assert (old.shared_object_bound_nbytes, old.node_limit, old.buffers) == (None, None, None)


def test_bounds_are_named_apart() -> None:
    row = NetReport("n", 3, 3, 2, 40, 36, 30, shared_object_bound_nbytes=32)
    assert (row.peak_live_nbytes, row.shared_object_bound_nbytes, row.lower_bound) == (30, 32, 32)
    assert (row.gap_nbytes, row.gap_percent) == (4, 12.5)
    peak_only = NetReport("n", 3, 3, 2, 40, 36, 30)
    assert (peak_only.lower_bound, peak_only.gap_nbytes) == (30, 6)
    # An explicit bound still wins (kept for existing callers).
    assert NetReport("n", 3, 3, 2, 40, 36, 30, lower_bound_nbytes=7).lower_bound == 7


def test_format_gap() -> None:
    assert format_gap(197_570_000 + 4096, 197_570_000) == "gap 4.00 KiB (<0.01%)"
    assert format_gap(150, 100) == "gap 50 B (50.00%)"
    assert format_gap(0, 0) == "gap 0 B (0.00%)"
    assert format_gap(None, 1) == format_gap(1, None) == "gap -"


def test_plot_legend_names_both_bounds_and_the_gap() -> None:
    row = NetReport("n", 3, 3, 2, 40, 36, 30, shared_object_bound_nbytes=32)
    labels = legend_labels(row)
    assert labels["peak_live_bytes"] == "peak live bytes (30 B)"
    assert labels["shared_object_bound"] == "shared-object bound (32 B)"
    assert "gap 4 B (12.50%) over the shared-object bound" in labels["optimized"]
    assert not any("lower bound" in text for text in labels.values())
    peak_only = legend_labels(NetReport("n", 3, 3, 2, 40, 36, 30))
    assert "shared_object_bound" not in peak_only
    assert "gap 6 B (20.00%) over peak live bytes" in peak_only["optimized"]


def test_package_versions_are_the_installed_ones() -> None:
    from importlib import metadata

    versions = package_versions()
    assert versions["memonger-stats"] == metadata.version("memonger-stats")
    assert package_versions(["memonger-stats", "not-a-memonger-package"]) == {
        "memonger-stats": versions["memonger-stats"]
    }
