"""Suite-wide settings: Hypothesis profiles.

- ``dev`` (default): random examples, so local runs keep exploring new cases; a failure is
  shrunk and printed with its reproduction blob, and becomes a named regression test.
- ``ci`` (when ``CI`` is set, as ``.ci/run`` runs): the same properties on a derandomised,
  reproducible sequence of examples, so that a green main stays green for the same code.
"""

import os

from hypothesis import settings

settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile(
    os.environ.get("ALLOCATOR_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
