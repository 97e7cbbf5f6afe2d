"""``GET /v1/territoires/{niveau}/{code}`` on the real geodata and the store's grants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import structure_doc
from tests.service.test_app import assert_problem


@pytest.mark.parametrize(
    ("niveau", "code", "nom"),
    [("commune", "01283", "Oyonnax"), ("departement", "01", "Ain"), ("epci", "200042935", None)],
)
def test_diagnostic(
    sqlite_client: Any, sqlite_tokens: Any, niveau: str, code: str, nom: Any
) -> None:
    sqlite_client.put(
        "/v1/structures/1", json=structure_doc(1, "01283"), headers=sqlite_tokens["portail"]
    )
    resp = sqlite_client.get(f"/v1/territoires/{niveau}/{code}", headers=sqlite_tokens["portail"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["niveau"] == niveau and body["code"] == code
    if nom:
        assert body["nom"] == nom
    ind = body["indicateurs"]
    assert ind["fragile_population"] > 0 and ind["advisors"] >= 0
    assert "accessibility_10k" in ind
    assert body["dotations"]["structures"] == 1 and body["dotations"]["structuresEnAttente"] == 1
    assert body["structures"][0]["idPG"] == 1
    assert "vol d'oiseau" in body["methode"]


def test_committed_grants_count_as_existing(sqlite_client: Any, sqlite_tokens: Any) -> None:
    agence = sqlite_tokens["agence"]
    before = sqlite_client.get("/v1/territoires/commune/01283", headers=agence).get_json()
    sqlite_client.put(
        "/v1/structures/1", json=structure_doc(1, "01283"), headers=sqlite_tokens["portail"]
    )
    rid = sqlite_client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=agence
    ).get_json()["id"]
    assert sqlite_client.post(f"/v1/rounds/{rid}/commit", headers=agence).status_code == 200
    after = sqlite_client.get("/v1/territoires/commune/01283", headers=agence).get_json()
    assert after["indicateurs"]["advisors"] == before["indicateurs"]["advisors"] + 2
    assert after["dotations"]["conseillersAttribues"] == 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/territoires/commune/1283", 422),
        ("/v1/territoires/departement/1", 422),
        ("/v1/territoires/epci/12345", 422),
        ("/v1/territoires/commune/99999", 404),
        ("/v1/territoires/departement/99", 404),
        ("/v1/territoires/epci/123456789", 404),
        ("/v1/territoires/region/84", 404),
    ],
)
def test_bad_territory(sqlite_client: Any, sqlite_tokens: Any, path: str, status: int) -> None:
    assert_problem(sqlite_client.get(path, headers=sqlite_tokens["analyste"]), status)
