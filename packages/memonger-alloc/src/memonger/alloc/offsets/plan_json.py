"""The versioned JSON form of an offset plan.

Schema ``memonger.plan``, version 1::

    {
      "schema": "memonger.plan", "version": 1,
      "arena_bytes": int, "lower_bound": int, "proven_optimal": bool,
      "alignment": int, "algorithm": str,
      "tensors": [{"name": str, "offset": int, "size": int,
                   "first": int, "last": int}, ...]
    }

``size`` is the blob's byte size (unknown sizes as 1, before alignment
padding); ``first``/``last`` its closed live range.  Tensors are listed in
the order of the plan's offsets.  Readers must reject another ``schema`` and
a ``version`` they do not know.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from memonger.alloc.offsets._types import OffsetPlan
from memonger.alloc.ranges import LiveRange, nbytes

__all__ = ["PLAN_SCHEMA", "PLAN_VERSION", "atomic_write_text", "plan_to_dict", "write_plan_json"]

PLAN_SCHEMA = "memonger.plan"
PLAN_VERSION = 1


def plan_to_dict(plan: OffsetPlan, ranges: Mapping[str, LiveRange]) -> dict[str, Any]:
    """The JSON-ready dict of ``plan`` (see the module docstring).

    Examples
    --------
    >>> from memonger.alloc import plan_offsets
    >>> rs = {"a": LiveRange(0, 1, 8), "b": LiveRange(1, 2, None)}
    >>> d = plan_to_dict(plan_offsets(rs), rs)
    >>> d["schema"], d["version"], d["arena_bytes"], d["proven_optimal"]
    ('memonger.plan', 1, 9, True)
    >>> d["tensors"][1]
    {'name': 'b', 'offset': 8, 'size': 1, 'first': 1, 'last': 2}
    """
    tensors = []
    for name, offset in plan.offsets.items():
        r = ranges[name]
        tensors.append(
            {
                "name": name,
                "offset": offset,
                "size": nbytes(r.size),
                "first": r.defined,
                "last": r.used,
            }
        )
    return {
        "schema": PLAN_SCHEMA,
        "version": PLAN_VERSION,
        "arena_bytes": plan.arena_bytes,
        "lower_bound": plan.lower_bound,
        "proven_optimal": plan.proven_optimal,
        "alignment": plan.alignment,
        "algorithm": plan.algorithm.value,
        "tensors": tensors,
    }


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader never sees a half-written file and a failure leaves ``path``
    as it was.  The new file gets the permissions the umask allows.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "x.txt"
    ...     atomic_write_text(p, "hello\\n")
    ...     p.read_text()
    'hello\\n'
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_plan_json(
    path: str | os.PathLike[str], plan: OffsetPlan, ranges: Mapping[str, LiveRange]
) -> None:
    """Write :func:`plan_to_dict` of ``plan`` as JSON, atomically (:func:`atomic_write_text`).

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> from memonger.alloc import plan_offsets
    >>> rs = {"a": LiveRange(0, 1, 8)}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "plan.json"
    ...     write_plan_json(p, plan_offsets(rs), rs)
    ...     json.loads(p.read_text())["tensors"]
    [{'name': 'a', 'offset': 0, 'size': 8, 'first': 0, 'last': 1}]
    """
    atomic_write_text(path, json.dumps(plan_to_dict(plan, ranges), indent=1) + "\n")
