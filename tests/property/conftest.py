"""Hypothesis profiles for the property tests.

- `quick` (default; what `make test` runs): a few hundred examples across the whole
  property suite, well under a minute. It is derandomized (the same examples on every run
  and machine, so `make test` does not flip) and does not shrink: a failure is reported at
  once with the example as generated (shrinking these inputs can take minutes).
- `fuzz` (`HYPOTHESIS_PROFILE=fuzz`; what `make fuzz` runs): at least 10 000 new random
  examples per property, and failures are shrunk to a minimal example.

Each property test asks for `examples(n)` (tests/property/strategies.py): n examples under
`quick`, the loaded profile's max_examples otherwise, so one switch scales the whole suite.
Under `fuzz`, failing examples are kept in Hypothesis's example database (.hypothesis/)
and replayed first on the next run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "quick",
    max_examples=100,
    deadline=None,
    suppress_health_check=SLOW_DATA,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,
    print_blob=True,
)
settings.register_profile(
    "fuzz",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=SLOW_DATA,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))
