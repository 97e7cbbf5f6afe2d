"""Property-based API tests from the served OpenAPI document (schemathesis, WSGI transport).

Two passes over the same store, in this order:

1. ``test_documented_success``: one scripted, valid request per documented operation (with the
   role it is meant for), so that every operation's success response is checked against its
   schema at least once — random data rarely hits an existing post or a draft round. The script
   must cover every operation of the document (``test_script_covers_every_operation``).
2. ``test_api_conforms``: schema-valid and schema-invalid requests for every operation (bounded:
   ``MAX_EXAMPLES`` each) with an admin token, on the store the script left (2021 history
   imported, posts, drafts, requests).

Both passes run on SQLite and on PostgreSQL (a fresh schema; required when
``ALLOCATOR_REQUIRE_POSTGRES=1``), each on its own store. Checks: every check of schemathesis
(``--checks all``): never a 5xx, documented status codes, content types and headers, responses
that conform to their schemas, schema-invalid requests rejected, schema-valid ones accepted
except for the rules no schema can state (:data:`BEYOND_THE_SCHEMA`), authentication enforced,
405 with ``Allow`` for undocumented methods. The engine is replaced by the fake solver for
rounds (it has its own tests); the replay certificate, the territorial diagnostic and the
scenario comparison use the real geodata/engine on a few structures.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service import create_app
from service.application import rounds
from service.http.openapi import build_spec
from tests.service.conftest import (
    fake_solve,
    fresh_pg_schema,
    make_tokens,
    small_request,
    structure_doc,
)

load_all_checks()

#: 422s that a schema-valid request may still get: the rules the OpenAPI document cannot state
#: (JSON Schema describes each value alone, not its relation to another parameter, to the
#: stored state or to reference data). Every other rule is in the document (bounds, lengths,
#: patterns, enums, required fields, ``additionalProperties``, the storable-text pattern), so
#: ``positive_data_acceptance`` holds except for these, each named: (field, message, why).
BEYOND_THE_SCHEMA: list[tuple[str, str, str]] = [
    (".*", "nombre entier attendu", "JSON Schema's integer admits 1.0; the contract's do not"),
    ("Idempotency-Key", "clé déjà utilisée", "state: the key was used for another request"),
    ("idPG", "différent de celui du chemin", "two parameters: the body's idPG is the path's"),
    ("code", "attendu ; reçu", "two parameters: the code's form depends on the niveau"),
    ("variantes", "en double", "unique names across array items"),
    (r"\(corps\)|structures|requete", "en double", "unique idPG across array items"),
    ("siret", "clé de contrôle", "SIRET key (Luhn): not a pattern"),
    ("codeCommune|communesDesservies|code", "inconnu", "reference data: the COG"),
    ("codeCommune|communesDesservies", "hors programme", "reference data: overseas collectivities"),
    ("date", "dans le futur", "the clock: an event is not dated after now"),
    ("insertedAt|createdAt|date", "hors de l'intervalle", "date range: formats have no bounds"),
    ("cofinancementPart", "s'excluent", "two fields: one co-funding or the other"),
    ("statut|coselec", "", "per operation: the portal (PUT) may not set what the import may"),
]
_BEYOND = [(re.compile(rf"(^|\.|\])({c})(\[|$)"), m, why) for c, m, why in BEYOND_THE_SCHEMA]


def _beyond_the_schema(response: Any) -> bool:
    """Whether a 422 names only :data:`BEYOND_THE_SCHEMA` rules."""
    if response.status_code != 422:
        return False
    errors = json.loads(response.content).get("errors") or [{}]
    return all(
        any(c.search(e.get("champ", "")) and m in e.get("message", "") for c, m, _ in _BEYOND)
        for e in errors
    )


def positive_data_acceptance_but_beyond_schema(ctx: Any, response: Any, case: Any) -> Any:
    """``positive_data_acceptance``, except for the rules no schema can state (above)."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if _beyond_the_schema(response):
            return None
        raise


#: Every check schemathesis has (``--checks all``), positive_data_acceptance as above.
CHECKS_ALL = [
    positive_data_acceptance_but_beyond_schema if c is positive_data_acceptance else c
    for c in CHECKS.get_all()
]
MAX_EXAMPLES = 25

# The coverage phase sends hundreds of boundary bodies; most scenario bodies it builds are valid
# (an empty round is) and each costs a real comparison (~0.2 s): fuzzing only for that one.
# The token is sent by the test (``headers``): schemathesis must not generate (nor remove) it.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"with-security-parameters": False},
        "operations": [
            {"include-path": "/v1/scenarios", "phases": {"coverage": {"enabled": False}}}
        ],
    }
)

# idPG outside the bundled 2021 file (1..1450), so that the history import succeeds.
GRANTED, PENDING, NEW, IMPORTED = 5000, 5001, 5002, 5003


@dataclass
class Api:
    backend: str
    app: Any
    headers: dict[str, dict[str, str]]


class _Router:
    """The WSGI app the schema calls: the current backend's app (set by the ``api`` fixture)."""

    target: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.target(environ, start_response)


ROUTER = _Router()
#: The document of the routes (an app without a store: only its ``url_map`` is read).
SPEC = build_spec(create_app({"DATABASE_URL": "sqlite://", "AUTO_MIGRATE": False, "TESTING": True}))
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(SPEC)), config=CONFIG)
schema.app = ROUTER


@contextlib.contextmanager
def _store_url(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="schemathesis-") as tmp:
            yield f"sqlite:///{tmp}/st.sqlite3"
    else:
        with fresh_pg_schema() as url:
            yield url


def _seed(app: Any, headers: dict[str, dict[str, str]]) -> None:
    """A committed round (posts of GRANTED) and a draft (PENDING)."""
    client = app.test_client()
    ok = [
        client.put(
            f"/v1/structures/{GRANTED}", json=structure_doc(GRANTED), headers=headers["portail"]
        ),
        client.post("/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=headers["agence"]),
        client.post("/v1/rounds/1/commit", headers=headers["agence"]),
        client.put(
            f"/v1/structures/{PENDING}", json=structure_doc(PENDING), headers=headers["portail"]
        ),
        client.post("/v1/rounds", json={"mois": "2021-07", "quota": 1}, headers=headers["agence"]),
    ]
    assert [r.status_code for r in ok] == [201, 201, 200, 201, 201], [r.json for r in ok]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    """The app on a fresh store of each backend, seeded, with the fake solver; then cleanup."""
    with _store_url(request.param) as url, pytest.MonkeyPatch.context() as mp:
        mp.setattr(rounds, "solve", fake_solve)
        app = create_app({"DATABASE_URL": url, "AUTO_MIGRATE": True, "TESTING": True})
        try:
            headers = make_tokens(app.extensions["allocator.db"])
            _seed(app, headers)
            ROUTER.target = app
            yield Api(request.param, app, headers)
        finally:
            ROUTER.target = None
            app.extensions["allocator.db"].dispose()


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


def test_script_covers_every_operation(api: Api) -> None:
    spec = api.app.test_client().get("/openapi.json").get_json()
    assert spec is not None
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert documented == {(m, p) for m, p, *_ in SCRIPT}


@pytest.mark.parametrize(
    ("method", "path", "role", "parts", "status"),
    SCRIPT,
    ids=[f"{m} {p} {r or 'public'} {s}" for m, p, r, _, s in SCRIPT],
)
def test_documented_success(
    api: Api, method: str, path: str, role: str | None, parts: dict[str, Any], status: int
) -> None:
    case = _case(method, path, parts)
    response = case.call_and_validate(headers=api.headers[role] if role else {}, checks=CHECKS_ALL)
    assert response.status_code == status, response.text[:2000]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms(case: Any, api: Api) -> None:
    # The coverage phase's boundary values test validation, which does not depend on the store:
    # PostgreSQL (the production store) gets them, SQLite the fuzzing phase only (CI time).
    if api.backend == "sqlite" and case.meta is not None and case.meta.phase.name == "coverage":
        return
    case.call_and_validate(headers=api.headers["admin"], checks=CHECKS_ALL)
