"""Make the tests' shared references (``alloc_oracles``) importable by name.

The suite runs with ``--import-mode=importlib``, which does not put test
folders on ``sys.path``.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
