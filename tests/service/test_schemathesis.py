"""Property-based API tests from the served OpenAPI document (schemathesis, WSGI transport).

Every operation gets schema-valid and schema-invalid requests (bounded: 40 examples each) with
an admin token; checks: never a 5xx, documented status codes and content types, responses that
conform to their schemas. The engine is replaced by the fake solver (it has its own tests); the
territorial diagnostic uses the real geodata.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import create_app, rounds
from tests.service.conftest import fake_solve, make_tokens, structure_doc

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


_TMP = tempfile.TemporaryDirectory(prefix="schemathesis-")
APP = create_app({"DATABASE_URL": f"sqlite:///{_TMP.name}/st.sqlite3", "TESTING": True})
HEADERS = make_tokens(APP.extensions["allocator.db"])
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _seeded() -> Any:
    """Fake solver, a few structures and a draft round; the store is removed afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rounds, "solve", fake_solve)
        client = APP.test_client()
        for i in (0, 1):
            client.put(f"/v1/structures/{i}", json=structure_doc(i), headers=HEADERS["portail"])
        client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=HEADERS["agence"])
        yield
    APP.extensions["allocator.db"].dispose()
    _TMP.cleanup()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms(case: Any) -> None:
    case.call_and_validate(headers=HEADERS["admin"], checks=CHECKS)
