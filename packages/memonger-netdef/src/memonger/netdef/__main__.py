"""``python -m memonger.netdef``: the ``memonger`` command."""

from __future__ import annotations

from memonger.netdef.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
