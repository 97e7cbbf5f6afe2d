"""Suite-wide settings: Hypothesis profiles, the geodata cache folder.

- ``dev`` (default): random examples, so local runs keep exploring new cases; a failure is
  shrunk and printed with its reproduction blob, and becomes a named regression test.
- ``ci`` (when ``CI`` is set, as ``.ci/run`` runs): the same properties on a derandomised,
  reproducible sequence of examples, so that a green main stays green for the same code.

The on-disk cache of derived national tables (``geodata.cache``) goes to a temporary folder of
the session, set in the environment at import so that the CLI processes the tests spawn share it:
the suite never reads or fills the user's cache.

Tests that start real programs or whole runs carry the ``slow`` marker (:data:`SLOW_PATHS`, plus
any test marked in its own file): the quick loop of the README (``-m "not slow"``) leaves them out,
the README's test command (CI) runs everything.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
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

#: Whole files that are slow by nature: notebooks (nbmake), the browser, gunicorn, schemathesis.
SLOW_PATHS = (
    "notebooks/",
    "tests/e2e/",
    "tests/service/test_gunicorn.py",
    "tests/service/test_schemathesis.py",
)
_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path)).resolve()
        rel = path.relative_to(_ROOT).as_posix() if path.is_relative_to(_ROOT) else ""
        if rel.startswith(SLOW_PATHS):
            item.add_marker(pytest.mark.slow)
