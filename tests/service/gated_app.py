"""A test factory for gunicorn: the service whose round solver waits at a gate (two FIFOs).

``ALLOCATOR_TEST_GATE`` is a directory holding the named pipes ``entered`` and ``release``: a
``POST /v1/allocate`` writes one byte to ``entered`` once it is inside the solver (the test
then knows the request holds a worker thread), then blocks until the test writes to
``release``. The solver is :func:`tests.service.conftest.fake_solve`. Not a test module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from service import create_app as _create_app
from service.application import rounds
from tests.service.conftest import fake_solve


def _gated_solve(request: Any, **kwargs: Any) -> dict[str, Any]:
    gate = Path(os.environ["ALLOCATOR_TEST_GATE"])
    with open(gate / "entered", "wb") as entered:  # blocks until the test reads
        entered.write(b"1")
    with open(gate / "release", "rb") as release:  # blocks until the test writes
        release.read(1)
    return fake_solve(request, **kwargs)


def create_app() -> Flask:
    rounds.solve = _gated_solve  # type: ignore[assignment]
    return _create_app()
