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

try:
    from hypothesis import HealthCheck, Phase, settings
except ImportError:  # a package whose tests do not use Hypothesis
    pass
else:
    _slow = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.register_profile(
        "ci",
        max_examples=120,
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
