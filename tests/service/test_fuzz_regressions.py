"""Regressions of the holes fuzzing looked for (schemathesis, ``benchmarks/fuzz_api.sh``), on
SQLite and PostgreSQL: each test is named after its hole.

The storable-text rule (:data:`service.contract.schemas.STORABLE_TEXT_RULE`): a NUL character (which
PostgreSQL's ``text`` cannot hold) or a lone UTF-16 surrogate, in a JSON key or value, a query
parameter, a form field, is a 422 problem naming the field, on every endpoint, before anything
reaches the store.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.application import rounds
from service.contract.schemas import STORABLE_TEXT_PATTERN, storable_text_errors
from service.http.openapi import build_spec
from tests.service.conftest import small_request, structure_doc
from tests.service.test_ui import csrf, raw_tokens, seed, sign_in, text

GRANTED = 5000

#: One valid body per JSON endpoint (method, path, body), on the store of :func:`seeded`.
BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/allocate", small_request()),
    ("PUT", "/v1/structures/5001", structure_doc(5001)),
    (
        "POST",
        "/v1/structures/import-historique",
        structure_doc(
            5002,
            statut="VALIDATION_COSELEC",
            coselec=[{"nombreConseillersCoselec": 1, "avisCoselec": "POSITIF"}],
        ),
    ),
    ("POST", f"/v1/structures/{GRANTED}/avis-prefet", {"avisPrefet": "POSITIF"}),
    ("POST", f"/v1/structures/{GRANTED}/postes/1/evenements", {"type": "CANDIDAT_PRESENTE"}),
    ("POST", f"/v1/structures/{GRANTED}/demandes", {"type": "AJOUT", "nombre": 1, "motif": "Un."}),
    ("POST", "/v1/rounds", {"mois": "2021-08", "quota": 1}),
    ("POST", "/v1/rounds/mensuel", {"mois": "2021-09"}),
    ("PATCH", "/v1/rounds/1", {"idPG": GRANTED, "nombre": 1, "motif": "Arbitrage."}),
    ("POST", "/v1/rounds/1/commit", {}),
    ("POST", "/v1/scenarios", {"requete": small_request(), "variantes": []}),
]
#: Every GET endpoint with a query string or not (the rule applies to any query parameter).
GETS = [
    "/health",
    "/ready",
    "/openapi.json",
    "/v1/notice",
    f"/v1/structures/{GRANTED}",
    f"/v1/structures/{GRANTED}/explication",
    f"/v1/structures/{GRANTED}/postes",
    f"/v1/structures/{GRANTED}/postes/1",
    "/v1/rounds",
    "/v1/rounds/1",
    "/v1/rounds/1/rejeu",
    "/v1/programme",
    "/v1/postes/echeances",
    "/v1/territoires/commune/01283",
]


@pytest.fixture
def seeded(app: Any, tokens: dict[str, dict[str, str]]) -> Any:
    """A committed round (GRANTED holds posts) on the parametrised store (SQLite, PostgreSQL)."""
    client = app.test_client()
    ok = [
        client.put(
            f"/v1/structures/{GRANTED}", json=structure_doc(GRANTED), headers=tokens["portail"]
        ),
        client.post("/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=tokens["agence"]),
        client.post("/v1/rounds/1/commit", headers=tokens["agence"]),
    ]
    assert [r.status_code for r in ok] == [201, 201, 200]
    return client


def assert_text_problem(resp: Any, champ: str) -> None:
    assert resp.status_code == 422, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["detail"].startswith("Texte non enregistrable")
    assert champ in [e["champ"] for e in body["errors"]], body["errors"]


def _with(body: dict[str, Any], key: str, value: Any) -> str:
    return json.dumps({**body, key: value})


@pytest.mark.parametrize(("method", "path", "body"), BODIES, ids=[f"{m} {p}" for m, p, _ in BODIES])
def test_nul_in_json_value_is_422_naming_the_field(
    seeded: Any, tokens: Any, method: str, path: str, body: dict[str, Any]
) -> None:
    resp = seeded.open(
        path,
        method=method,
        data=_with(body, "note", "a\u0000b"),
        content_type="application/json",
        headers=tokens["admin"],
    )
    assert_text_problem(resp, "note")


@pytest.mark.parametrize(("method", "path", "body"), BODIES, ids=[f"{m} {p}" for m, p, _ in BODIES])
def test_nul_in_json_key_is_422_naming_the_field(
    seeded: Any, tokens: Any, method: str, path: str, body: dict[str, Any]
) -> None:
    resp = seeded.open(
        path,
        method=method,
        data=_with(body, "cl\u0000e", {"x": [1, "ok"]}),
        content_type="application/json",
        headers=tokens["admin"],
    )
    assert_text_problem(resp, "cl\\x00e")


def test_nul_in_nested_known_field_is_422_with_its_path(seeded: Any, tokens: Any) -> None:
    doc = structure_doc(5001, nom="Commune\u0000")
    doc["contact"]["nom"] = "Mar\u0000tin"
    resp = seeded.put("/v1/structures/5001", json=doc, headers=tokens["portail"])
    assert_text_problem(resp, "nom")
    assert_text_problem(resp, "contact.nom")
    assert seeded.get("/v1/structures/5001", headers=tokens["admin"]).status_code == 404


def test_lone_surrogate_in_json_is_422_naming_the_field(seeded: Any, tokens: Any) -> None:
    raw = '{"mois": "2021-08", "quota": 1, "commentaire": "\\ud800"}'
    resp = seeded.post(
        "/v1/rounds", data=raw, content_type="application/json", headers=tokens["agence"]
    )
    assert_text_problem(resp, "commentaire")


@pytest.mark.parametrize("path", GETS)
def test_nul_in_query_parameter_is_422_naming_it(seeded: Any, tokens: Any, path: str) -> None:
    resp = seeded.get(path, query_string={"format": "json", "x": "a\x00"}, headers=tokens["admin"])
    assert_text_problem(resp, "x")
    resp = seeded.get(path, query_string={"a\x00": "1"}, headers=tokens["admin"])
    assert_text_problem(resp, "a\\x00")


def test_nul_in_query_of_json_endpoint_is_422(seeded: Any, tokens: Any) -> None:
    resp = seeded.post(
        "/v1/allocate?explication=%00", json=small_request(), headers=tokens["analyste"]
    )
    assert_text_problem(resp, "explication")


def test_nul_in_review_page_form_is_422_and_stores_nothing(sqlite_app: Any) -> None:
    tokens = raw_tokens(sqlite_app)
    client = sqlite_app.test_client()
    seed(client, tokens["portail"])
    resp = client.post(
        "/agence/connexion",
        data={"csrf_token": csrf(client), "jeton": tokens["agence"], "suite": "/agence/\x00"},
    )
    assert resp.status_code == 422 and "suite" in text(resp)
    assert (
        client.get("/agence/connexion", query_string={"suite": "/agence/\x00"}).status_code == 422
    )
    sign_in(client, tokens["agence"])
    token = csrf(client, "/agence/tours")
    resp = client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "4"})
    assert resp.headers["Location"].endswith("/agence/tours/1")
    form = {"csrf_token": token, "idPG": "1", "nombre": "0", "motif": "financé\x00 ailleurs"}
    resp = client.post("/agence/tours/1/verrous", data=form)
    assert resp.status_code == 422 and "motif" in text(resp)
    assert rounds.get_round(sqlite_app.extensions["allocator.db"], 1)["version"] == 1


@pytest.mark.parametrize("value", [2**63 - 1, 2**63, 2**64, 10**30])
def test_path_id_up_to_2_63_and_beyond_is_404(seeded: Any, tokens: Any, value: int) -> None:
    for path in (
        f"/v1/structures/{value}",
        f"/v1/structures/{value}/postes",
        f"/v1/structures/{GRANTED}/postes/{value}",
        f"/v1/rounds/{value}",
        f"/v1/rounds/{value}/rejeu",
    ):
        assert seeded.get(path, headers=tokens["admin"]).status_code == 404, path
    resp = seeded.post(f"/v1/rounds/{value}/commit", headers=tokens["admin"])
    assert resp.status_code == 404


@pytest.mark.parametrize(
    "raw",
    [
        '{"mois": "2021-08", "quota": 1e400}',
        '{"mois": "2021-08", "quota": -1e400}',
        '{"mois": "2021-08", "quota": 1' + "0" * 5000 + "}",
        '{"mois": "2021-08", "quota": 1, "politique": {"poidsAcces": 1e308}}',
        '{"mois": "２０２１-０８", "quota": 1}',
        '{"mois": "2021-08", "quota": "１"}',
    ],
    ids=["float-overflow", "negative-overflow", "5000-digits", "huge-weight", "fullwidth", "str"],
)
def test_huge_numbers_and_odd_unicode_digits_are_4xx(seeded: Any, tokens: Any, raw: str) -> None:
    resp = seeded.post(
        "/v1/rounds", data=raw, content_type="application/json", headers=tokens["agence"]
    )
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "key", ["", " ", "é", "a" * 256, "a\tb", "\x7f", "clé valide mais non ASCII"]
)
def test_odd_idempotency_key_is_422_naming_the_header(seeded: Any, tokens: Any, key: str) -> None:
    headers = {**tokens["agence"], "Idempotency-Key": key}
    resp = seeded.post("/v1/rounds", json={"mois": "2021-08", "quota": 1}, headers=headers)
    assert resp.status_code == 422
    assert [e["champ"] for e in resp.get_json()["errors"]] == ["Idempotency-Key"]


def _strings(doc: Any) -> list[str]:
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, list):
        return [s for item in doc for s in _strings(item)]
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in (k, *_strings(v))]
    return []


JSON_DOCS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(JSON_DOCS)
def test_storable_text_rule_flags_exactly_the_documents_with_nul(doc: Any) -> None:
    """The rule names a field iff the document holds a NUL (hypothesis text has no lone
    surrogates), and the OpenAPI string pattern accepts exactly the strings without one."""
    strings = _strings(doc)
    assert bool(storable_text_errors(doc)) == any("\x00" in s for s in strings)
    pattern = re.compile(STORABLE_TEXT_PATTERN)
    assert all(bool(pattern.match(s)) == ("\x00" not in s) for s in strings)


def test_openapi_states_the_storable_text_rule_on_every_free_string(sqlite_app: Any) -> None:
    spec = build_spec(sqlite_app)
    free = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(
                node
            ):
                free.append(where)
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(spec["components"]["schemas"], "#/components/schemas")
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                walk(p["schema"], f"{method} {path} {p['name']}")
    assert free == []
