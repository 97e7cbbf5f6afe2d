"""Structures and préfet opinions on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from tests.service.conftest import structure_doc
from tests.service.test_app import assert_problem

PERSONAL = ("jeanne", "martin@", "0601020304", "coordinates")


def test_put_creates_then_updates_idempotently(client: Any, tokens: Any) -> None:
    portail = tokens["portail"]
    doc = structure_doc(1017)
    first = client.put("/v1/structures/1017", json=doc, headers=portail)
    assert first.status_code == 201, first.get_json()
    again = client.put("/v1/structures/1017", json=doc, headers=portail)
    assert again.status_code == 200
    a, b = first.get_json(), again.get_json()
    assert a == b  # same document, same state (modifieLe unchanged)
    assert a["statut"] == "CREEE"
    assert a["nombreConseillersAttribues"] == 0
    assert a["coselec"] == [] and a["prefet"] == []
    changed = client.put(
        "/v1/structures/1017", json={**doc, "nombreConseillersSouhaites": 4}, headers=portail
    )
    assert changed.status_code == 200
    assert changed.get_json()["nombreConseillersSouhaites"] == 4
    got = client.get("/v1/structures/1017", headers=tokens["analyste"])
    assert got.status_code == 200
    assert got.get_json()["nombreConseillersSouhaites"] == 4


def test_personal_data_never_stored_nor_echoed(app: Any, client: Any, tokens: Any) -> None:
    resp = client.put("/v1/structures/7", json=structure_doc(7), headers=tokens["portail"])
    text = resp.get_data(as_text=True).lower()
    assert not any(p in text for p in PERSONAL)
    with app.extensions["allocator.db"].read() as s:
        stored = json.dumps(s.execute(sa.text("SELECT document FROM structures")).scalars().all())
    assert not any(p in stored.lower() for p in PERSONAL)
    assert "contact" not in stored and "location" not in stored


def test_duplicate_siret_is_409(client: Any, tokens: Any) -> None:
    portail = tokens["portail"]
    assert client.put("/v1/structures/1", json=structure_doc(1), headers=portail).status_code == 201
    dup = structure_doc(2, siret=structure_doc(1)["siret"])
    body = assert_problem(client.put("/v1/structures/2", json=dup, headers=portail), 409)
    assert body["errors"][0]["champ"] == "siret"
    # the same idPG keeps its SIRET
    assert client.put("/v1/structures/1", json=structure_doc(1), headers=portail).status_code == 200


def test_put_validation(client: Any, tokens: Any) -> None:
    portail = tokens["portail"]
    bad = structure_doc(5, codeCommune="7505", siret="123", nombreConseillersSouhaites=0)
    body = assert_problem(client.put("/v1/structures/5", json=bad, headers=portail), 422)
    champs = {e["champ"] for e in body["errors"]}
    assert {"codeCommune", "siret", "nombreConseillersSouhaites"} <= champs
    mismatch = structure_doc(6)
    body = assert_problem(client.put("/v1/structures/5", json=mismatch, headers=portail), 422)
    assert body["errors"][0]["champ"] == "idPG"
    without_id = structure_doc(5)
    del without_id["idPG"]
    assert client.put("/v1/structures/5", json=without_id, headers=portail).status_code == 201
    huge = structure_doc(8, prefet=[{"avisPrefet": "POSITIF", "nombreConseillersPrefet": 2**40}])
    assert_problem(client.put("/v1/structures/8", json=huge, headers=portail), 422)


def test_committee_status_cannot_be_set_by_portal(client: Any, tokens: Any) -> None:
    portail = tokens["portail"]
    client.put("/v1/structures/3", json=structure_doc(3), headers=portail)
    body = assert_problem(
        client.put(
            "/v1/structures/3", json=structure_doc(3, statut="VALIDATION_COSELEC"), headers=portail
        ),
        422,
    )
    assert body["errors"][0]["champ"] == "statut"
    resp = client.put("/v1/structures/3", json=structure_doc(3, statut="ABANDON"), headers=portail)
    assert resp.get_json()["statut"] == "ABANDON"


def test_import_history_on_creation(client: Any, tokens: Any) -> None:
    doc = structure_doc(
        42,
        statut="VALIDATION_COSELEC",
        nombreConseillersSouhaites=5,
        prefet=[
            {
                "avisPrefet": "NEGATIF",
                "commentairePrefet": "ancien avis",
                "nombreConseillersPrefet": 1,
            }
        ],
        coselec=[
            {"nombreConseillersCoselec": 2, "avisCoselec": "POSITIF", "numero": "COSELEC 3"},
            {"nombreConseillersCoselec": 0, "avisCoselec": "EXAMEN COMPLÉMENTAIRE"},
            {"nombreConseillersCoselec": 3, "avisCoselec": "POSITIF", "numero": "COSELEC 5"},
        ],
    )
    # History comes in through the admin import only (issue 14), never from the portal.
    assert_problem(client.put("/v1/structures/42", json=doc, headers=tokens["portail"]), 422)
    view = client.post(
        "/v1/structures/import-historique", json=doc, headers=tokens["admin"]
    ).get_json()
    assert view["statut"] == "VALIDATION_COSELEC"
    assert view["nombreConseillersAttribues"] == 3  # last POSITIF entry is authoritative
    assert [c["nombreConseillersCoselec"] for c in view["coselec"]] == [2, 0, 3]
    assert view["prefet"][0]["avisPrefet"] == "NÉGATIF"
    # the portal's later updates carry no history: the service owns it now
    doc["coselec"] = []
    view = client.put("/v1/structures/42", json=doc, headers=tokens["portail"]).get_json()
    assert len(view["coselec"]) == 3


def test_avis_prefet(client: Any, tokens: Any) -> None:
    client.put("/v1/structures/9", json=structure_doc(9), headers=tokens["portail"])
    url = "/v1/structures/9/avis-prefet"
    good = {
        "avisPrefet": "POSITIF",
        "commentairePrefet": "Projet cohérent avec le besoin.",
        "nombreConseillersPrefet": 1,
    }
    resp = client.post(url, json=good, headers=tokens["agence"])
    assert resp.status_code == 201
    assert resp.get_json()["prefet"][-1]["nombreConseillersPrefet"] == 1
    for bad, champ in [
        ({**good, "commentairePrefet": "court"}, "commentairePrefet"),
        ({**good, "commentairePrefet": "x" * 1001}, "commentairePrefet"),
        ({**good, "avisPrefet": "PEUT-ETRE"}, "avisPrefet"),
        ({**good, "nombreConseillersPrefet": -1}, "nombreConseillersPrefet"),
        ({**good, "nombreConseillersPrefet": 1.5}, "nombreConseillersPrefet"),
        ({"commentairePrefet": "un commentaire assez long"}, "avisPrefet"),
    ]:
        body = assert_problem(client.post(url, json=bad, headers=tokens["agence"]), 422)
        assert body["errors"][0]["champ"] == champ
    assert_problem(
        client.post("/v1/structures/404/avis-prefet", json=good, headers=tokens["agence"]), 404
    )
    resp = client.post(url, json={**good, "avisPrefet": "NEGATIF"}, headers=tokens["portail"])
    assert resp.get_json()["prefet"][-1]["avisPrefet"] == "NÉGATIF"


def test_get_unknown_structure_404(client: Any, tokens: Any) -> None:
    assert_problem(client.get("/v1/structures/12345", headers=tokens["agence"]), 404)
