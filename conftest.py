"""Test configuration shared by every test suite of the repository.

Registers the Hypothesis profiles used across the packages:

``dev``
    The default on a workstation: a moderate number of random examples.
``ci``
    Loaded automatically when the ``CI`` environment variable is set:
    derandomized (reproducible), a bounded number of examples, no deadline.
``fuzz``
    Many more examples, not derandomized; used by ``nox -s fuzz``.

``HYPOTHESIS_PROFILE`` overrides the choice.  ``MEMONGER_FUZZ_EXAMPLES``
sets the number of examples of the ``fuzz`` profile.

``MEMONGER_EXAMPLES_SCALE`` (a factor, default 1) scales the number of
examples of every collected property test, the profile's count and counts a
test sets with ``@settings`` alike, never below 10 (nor above the test's own
count).  ``nox`` sets it below 1 on the Pythons between the oldest and the
newest: derandomized examples find nothing new there, while every test still
runs on every Python.
"""

from __future__ import annotations

import os
from typing import Any

try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # a package whose tests do not use Hypothesis
    pass
else:
    _slow = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.register_profile(
        "ci",
        max_examples=200,
        derandomize=True,
        deadline=None,
        print_blob=True,
        suppress_health_check=_slow,
        database=None,
    )
    settings.register_profile(
        "fuzz",
        max_examples=int(os.environ.get("MEMONGER_FUZZ_EXAMPLES", "2000")),
        derandomize=False,
        deadline=None,
        print_blob=True,
        suppress_health_check=_slow,
        phases=list(Phase),
    )
    _default = "ci" if os.environ.get("CI") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


MIN_SCALED_EXAMPLES = 10

# matplotlib 3.7 (the declared minimum of the ``plot`` extras, tested on the
# oldest Python) calls pyparsing names that pyparsing >= 3.3 deprecates; those
# warnings are not ours to fix, wherever a test draws a plot.
MATPLOTLIB_PYPARSING_WARNING = r"ignore:'\w+' deprecated - use '\w+':DeprecationWarning"


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("filterwarnings", MATPLOTLIB_PYPARSING_WARNING)


def _examples_scale() -> float:
    raw = os.environ.get("MEMONGER_EXAMPLES_SCALE", "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"MEMONGER_EXAMPLES_SCALE must be a number, not {raw!r}") from None
    if not 0 < scale <= 1:
        raise ValueError(f"MEMONGER_EXAMPLES_SCALE must be in (0, 1], not {raw!r}")
    return scale


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Scale the examples of every property test by ``MEMONGER_EXAMPLES_SCALE``."""
    scale = _examples_scale()
    if scale == 1.0:
        return
    import math

    try:
        from hypothesis import settings as _settings
    except ImportError:  # no property tests to scale
        return

    done: set[int] = set()
    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is None or id(test) in done:
            continue
        done.add(id(test))
        wanted = max(MIN_SCALED_EXAMPLES, math.ceil(current.max_examples * scale))
        count = min(current.max_examples, wanted)
        test._hypothesis_internal_use_settings = _settings(current, max_examples=count)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Under the ``fuzz`` profile, print how many Hypothesis cases ran in total.

    The counts come from the statistics Hypothesis attaches to each test
    report (``--hypothesis-show-statistics``, which ``nox -s fuzz`` passes).
    """
    import re

    if os.environ.get("HYPOTHESIS_PROFILE") != "fuzz":
        return
    pattern = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")
    tests = passing = failing = invalid = 0
    stats = terminalreporter.stats
    for reports in stats.values():
        for report in reports:
            text = getattr(report, "__dict__", {}).get("_hypothesis_stats")
            if not isinstance(text, str):
                continue
            tests += 1
            for match in pattern.finditer(text):
                passing += int(match.group(1))
                failing += int(match.group(2))
                invalid += int(match.group(3))
    terminalreporter.write_line(
        f"fuzz campaign: {tests} property tests ran {passing + failing} cases "
        f"({passing} passing, {failing} failing) and rejected {invalid} invalid draws"
    )
