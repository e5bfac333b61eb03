"""Hypothesis's entry point: ``st.from_type(LiveRange)`` without importing the strategies.

``pyproject.toml`` declares :func:`_hypothesis_setup_hook` under the
``hypothesis`` entry-point group, so Hypothesis calls it when it is imported
(``HYPOTHESIS_NO_PLUGINS=1`` turns that off).  It registers a strategy for
:class:`~memonger.alloc.LiveRange` that imports :mod:`memonger.alloc.testing`
only when ``st.from_type`` first asks for it, so importing Hypothesis stays
cheap and never imports it half-initialized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from memonger.alloc.ranges import LiveRange

__all__: list[str] = []


def _live_ranges_for(type_: type[LiveRange]) -> SearchStrategy[LiveRange]:
    from memonger.alloc.testing import _single_live_ranges

    return _single_live_ranges()


def _hypothesis_setup_hook() -> None:
    """Register the strategy ``st.from_type(LiveRange)`` resolves to."""
    from hypothesis import strategies as st

    from memonger.alloc.ranges import LiveRange

    st.register_type_strategy(LiveRange, _live_ranges_for)
