"""Shared fixtures: the light models of the installed onnx wheel.

The suite runs with ``--import-mode=importlib``, which does not put test
folders on ``sys.path``; the shared helpers (``onnx_oracles``) are made
importable here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import onnx
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

LIGHT_DIR = Path(onnx.__file__).resolve().parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(LIGHT_DIR.glob("light_*.onnx")) if LIGHT_DIR.is_dir() else []


def light_params() -> list[object]:
    """One pytest parameter per light model, or one skipped parameter when there are none."""
    if not LIGHT_MODELS:
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(
                    reason=f"onnx {onnx.__version__} ships no light models in {LIGHT_DIR}"
                ),
                id="no-light-models",
            )
        ]
    return [pytest.param(p, id=p.stem) for p in LIGHT_MODELS]


@pytest.fixture
def light_model() -> Path:
    """The smallest light model (for command tests)."""
    if not LIGHT_MODELS:
        pytest.skip(f"onnx {onnx.__version__} ships no light models in {LIGHT_DIR}")
    return min(LIGHT_MODELS, key=lambda p: p.stat().st_size)
