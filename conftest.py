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
