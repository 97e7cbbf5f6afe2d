"""HTTP endpoints with the real engine (small requests on real commune codes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service import create_app
from tests.service.conftest import make_tokens, small_request, structure_doc
from tests.service.test_app import assert_problem


@pytest.fixture
def real_client(real_pipeline: None, tmp_path: Any) -> Any:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'real.sqlite3'}", "TESTING": True})
    yield app.test_client(), make_tokens(app.extensions["allocator.db"])
    app.extensions["allocator.db"].dispose()


def _without_timing(result: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(result))
    out["solveur"].pop("secondes", None)
    return out


def test_allocate_contract(real_client: Any) -> None:
    client, tokens = real_client
    resp = client.post("/v1/allocate", json=small_request(3), headers=tokens["portail"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    result = resp.get_json()
    assert result["status"] in ("OPTIMAL", "FEASIBLE")
    ids = [d["idPG"] for d in result["decisions"]]
    assert ids == sorted(ids) == [1017, 2001, 3002]
    assert result["totaux"]["quota"] == 3
    assert (
        sum(d["nombreConseillersAttribues"] for d in result["decisions"])
        == result["totaux"]["attribues"]
        <= 3
    )
    for d in result["decisions"]:
        assert d["avisCoselec"] == ("POSITIF" if d["nombreConseillersAttribues"] else "NÉGATIF")
    again = client.post(
        "/v1/allocate", json=small_request(3), headers=tokens["analyste"]
    ).get_json()
    assert _without_timing(again) == _without_timing(result)
    # whole portal documents: personal fields accepted, never echoed
    req = small_request(3)
    req["structures"][0]["contact"] = {
        "email": "jeanne.martin@example.org",
        "telephone": "0601020304",
    }
    text = client.post("/v1/allocate", json=req, headers=tokens["portail"]).get_data(as_text=True)
    assert "jeanne" not in text and "0601020304" not in text


@pytest.mark.parametrize("code", ["99999", "97501"])
def test_allocate_unknown_or_outside_commune(real_client: Any, code: str) -> None:
    client, tokens = real_client
    req = small_request(2)
    req["structures"][1]["codeCommune"] = code
    body = assert_problem(client.post("/v1/allocate", json=req, headers=tokens["portail"]), 422)
    assert body["errors"]


def test_round_with_real_engine(real_client: Any) -> None:
    client, tokens = real_client
    for i, code in enumerate(["01283", "75056", "13055"], start=1):
        assert (
            client.put(
                f"/v1/structures/{i}", json=structure_doc(i, code), headers=tokens["portail"]
            ).status_code
            == 201
        )
    resp = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 3}, headers=tokens["agence"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    rid = resp.get_json()["id"]
    resp = client.patch(
        f"/v1/rounds/{rid}",
        json={"idPG": 2, "nombre": 1, "motif": "arbitrage du comité"},
        headers=tokens["agence"],
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    decisions = {d["idPG"]: d for d in resp.get_json()["resultat"]["decisions"]}
    assert decisions[2]["nombreConseillersAttribues"] == 1
    resp = client.post(f"/v1/rounds/{rid}/commit", headers=tokens["agence"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    s2 = client.get("/v1/structures/2", headers=tokens["agence"]).get_json()
    assert s2["nombreConseillersAttribues"] == 1 and s2["statut"] == "VALIDATION_COSELEC"
    assert s2["derniereExplication"]["explication"]
