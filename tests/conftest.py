"""Shared helpers of the cross-package tests.

The oracles live in ``harness_oracle.py`` beside this file; this folder is
put on ``sys.path`` so that test modules import it by name (the suite runs
with ``--import-mode=importlib``, which does not do that by itself).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
