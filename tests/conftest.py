"""Suite-wide settings: Hypothesis profiles, the geodata cache folder.

- ``dev`` (default): random examples, so local runs keep exploring new cases; a failure is
  shrunk and printed with its reproduction blob, and becomes a named regression test.
- ``ci`` (when ``CI`` is set, as ``.ci/run`` runs): the same properties on a derandomised,
  reproducible sequence of examples, so that a green main stays green for the same code.

The on-disk cache of derived national tables (``geodata.cache``) goes to a temporary folder of
the session, set in the environment at import so that the CLI processes the tests spawn share it:
the suite never reads or fills the user's cache.
"""

import atexit
import os
import shutil
import tempfile

from hypothesis import settings

if "ALLOCATOR_CACHE_DIR" not in os.environ:
    _cache_dir = tempfile.mkdtemp(prefix="allocator-cache-")
    os.environ["ALLOCATOR_CACHE_DIR"] = _cache_dir
    atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)

settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile(
    os.environ.get("ALLOCATOR_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
