"""Property-based API tests from the served OpenAPI document (schemathesis, WSGI transport).

Two passes over the same store, in this order:

1. ``test_documented_success``: one scripted, valid request per documented operation (with the
   role it is meant for), so that every operation's success response is checked against its
   schema at least once — random data rarely hits an existing post or a draft round. The script
   must cover every operation of the document (``test_script_covers_every_operation``).
2. ``test_api_conforms``: schema-valid and schema-invalid requests for every operation (bounded:
   ``MAX_EXAMPLES`` each) with an admin token, on the store the script left (2021 history
   imported, posts, drafts, requests).

Checks: never a 5xx, documented status codes and content types, responses that conform to their
schemas. The engine is replaced by the fake solver for rounds (it has its own tests); the replay
certificate, the territorial diagnostic and the scenario comparison use the real geodata/engine
on a few structures.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import create_app
from service.application import rounds
from tests.service.conftest import fake_solve, make_tokens, small_request, structure_doc

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 40

_TMP = tempfile.TemporaryDirectory(prefix="schemathesis-")
APP = create_app({"DATABASE_URL": f"sqlite:///{_TMP.name}/st.sqlite3", "TESTING": True})
HEADERS = make_tokens(APP.extensions["allocator.db"])
# The coverage phase sends hundreds of boundary bodies; most scenario bodies it builds are valid
# (an empty round is) and each costs a real comparison (~0.2 s): fuzzing only for that one.
CONFIG = SchemathesisConfig.from_dict(
    {"operations": [{"include-path": "/v1/scenarios", "phases": {"coverage": {"enabled": False}}}]}
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=CONFIG)

# idPG outside the bundled 2021 file (1..1450), so that the history import succeeds.
GRANTED, PENDING, NEW, IMPORTED = 5000, 5001, 5002, 5003


@pytest.fixture(scope="module", autouse=True)
def _seeded() -> Any:
    """Fake solver; a committed round (posts of GRANTED) and a draft (PENDING); then cleanup."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rounds, "solve", fake_solve)
        client = APP.test_client()
        ok = [
            client.put(
                f"/v1/structures/{GRANTED}", json=structure_doc(GRANTED), headers=HEADERS["portail"]
            ),
            client.post(
                "/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=HEADERS["agence"]
            ),
            client.post("/v1/rounds/1/commit", headers=HEADERS["agence"]),
            client.put(
                f"/v1/structures/{PENDING}", json=structure_doc(PENDING), headers=HEADERS["portail"]
            ),
            client.post(
                "/v1/rounds", json={"mois": "2021-07", "quota": 1}, headers=HEADERS["agence"]
            ),
        ]
        assert [r.status_code for r in ok] == [201, 201, 200, 201, 201], [r.json for r in ok]
        yield
    APP.extensions["allocator.db"].dispose()
    _TMP.cleanup()


# (method, path template, role or None, request parts, expected status). In order: some steps
# build on the previous ones (round 2 is the seeded draft; round 3 is drafted below).
SCRIPT: list[tuple[str, str, str | None, dict[str, Any], int]] = [
    ("GET", "/health", None, {}, 200),
    ("GET", "/ready", None, {}, 200),
    ("GET", "/openapi.json", None, {}, 200),
    ("GET", "/v1/notice", None, {}, 200),
    ("GET", "/v1/notice", None, {"query": {"format": "html"}}, 200),
    ("POST", "/v1/allocate", "analyste", {"body": small_request()}, 200),
    ("PUT", "/v1/structures/{idPG}", "portail", {"idPG": NEW, "body": structure_doc(NEW)}, 201),
    (
        "POST",
        "/v1/structures/import-historique",
        "admin",
        {
            "body": structure_doc(
                IMPORTED,
                statut="VALIDATION_COSELEC",
                coselec=[{"nombreConseillersCoselec": 1, "avisCoselec": "POSITIF"}],
            )
        },
        201,
    ),
    ("GET", "/v1/structures/{idPG}", "agence", {"idPG": GRANTED}, 200),
    (
        "POST",
        "/v1/structures/{idPG}/avis-prefet",
        "portail",
        {"idPG": NEW, "body": {"avisPrefet": "POSITIF", "commentairePrefet": "Projet solide."}},
        201,
    ),
    ("GET", "/v1/structures/{idPG}/explication", "portail", {"idPG": GRANTED}, 200),
    (
        "GET",
        "/v1/structures/{idPG}/explication",
        "portail",
        {"idPG": GRANTED, "query": {"format": "html"}},
        200,
    ),
    ("GET", "/v1/structures/{idPG}/postes", "portail", {"idPG": GRANTED}, 200),
    (
        "GET",
        "/v1/structures/{idPG}/postes/{numero}",
        "analyste",
        {"idPG": GRANTED, "numero": 1},
        200,
    ),
    (
        "POST",
        "/v1/structures/{idPG}/postes/{numero}/evenements",
        "portail",
        {"idPG": GRANTED, "numero": 1, "body": {"type": "CANDIDAT_PRESENTE"}},
        201,
    ),
    (
        "POST",
        "/v1/structures/{idPG}/demandes",
        "portail",
        {
            "idPG": GRANTED,
            "body": {"type": "RESTITUTION", "nombre": 1, "motif": "Pas de candidat."},
        },
        201,
    ),
    ("GET", "/v1/rounds", "analyste", {}, 200),
    ("GET", "/v1/rounds/{id}", "analyste", {"id": 1}, 200),
    (
        "PATCH",
        "/v1/rounds/{id}",
        "agence",
        {"id": 2, "body": {"idPG": PENDING, "nombre": 1, "motif": "Arbitrage du comité."}},
        200,
    ),
    ("POST", "/v1/rounds/{id}/commit", "agence", {"id": 2}, 200),
    ("POST", "/v1/rounds", "agence", {"body": {"mois": "2021-08", "quota": 1}}, 201),
    ("POST", "/v1/rounds/mensuel", "agence", {"body": {"mois": "2021-09"}}, 201),
    ("GET", "/v1/rounds/{id}/rejeu", "analyste", {"id": 1}, 200),
    ("POST", "/v1/rounds/import-historique", "agence", {}, 201),
    ("POST", "/v1/rounds/import-historique", "agence", {}, 200),
    ("GET", "/v1/rounds/{id}/rejeu", "agence", {"id": 6}, 200),
    ("GET", "/v1/programme", "portail", {}, 200),
    ("GET", "/v1/programme", "agence", {"query": {"duree": 36}}, 200),
    ("GET", "/v1/postes/echeances", "analyste", {"query": {"date": "2031-01-01T00:00:00Z"}}, 200),
    ("POST", "/v1/postes/echeances", "agence", {}, 200),
    (
        "GET",
        "/v1/territoires/{niveau}/{code}",
        "portail",
        {"niveau": "departement", "code": "01"},
        200,
    ),
    (
        "POST",
        "/v1/scenarios",
        "analyste",
        {
            "body": {
                "requete": small_request(),
                "variantes": [{"nom": "quota 2", "quota": 2}],
                "prixEquite": False,
                "causes": False,
            }
        },
        200,
    ),
]


def _case(method: str, path: str, parts: dict[str, Any]) -> Any:
    operation = schema[path][method]
    names = {p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"}
    kwargs: dict[str, Any] = {"path_parameters": {k: v for k, v in parts.items() if k in names}}
    if "query" in parts:
        kwargs["query"] = parts["query"]
    if "body" in parts:
        kwargs["body"] = parts["body"]
        kwargs["media_type"] = "application/json"
    return operation.Case(**kwargs)


def test_script_covers_every_operation() -> None:
    spec = APP.test_client().get("/openapi.json").get_json()
    assert spec is not None
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert documented == {(m, p) for m, p, *_ in SCRIPT}


@pytest.mark.parametrize(
    ("method", "path", "role", "parts", "status"),
    SCRIPT,
    ids=[f"{m} {p} {r or 'public'} {s}" for m, p, r, _, s in SCRIPT],
)
def test_documented_success(
    method: str, path: str, role: str | None, parts: dict[str, Any], status: int
) -> None:
    case = _case(method, path, parts)
    response = case.call_and_validate(headers=HEADERS[role] if role else {}, checks=CHECKS)
    assert response.status_code == status, response.text[:2000]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms(case: Any) -> None:
    case.call_and_validate(headers=HEADERS["admin"], checks=CHECKS)
