"""GET /v1/structures/{idPG}/explication: the committed explanation (who, when, overrides)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from service import create_app
from service.explanations.wording import date_en_clair
from tests.service.conftest import make_tokens, structure_doc
from tests.service.test_app import assert_problem
from tests.service.test_explication import check_decision, demo_payload


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real round on SQLite: 12 bundled structures, one override with its reason, committed."""
    try:
        import service.application.pipeline  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"pipeline unavailable: {exc}")
    path = tmp_path_factory.mktemp("expl") / "store.sqlite3"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True})
    client = app.test_client()
    tokens = make_tokens(app.extensions["allocator.db"])
    docs = demo_payload(n=12)["structures"]
    for doc in docs:
        resp = client.put(f"/v1/structures/{doc['idPG']}", json=doc, headers=tokens["portail"])
        assert resp.status_code == 201, resp.get_json()
    draft = client.post(
        "/v1/rounds", json={"mois": "2021-07", "quota": 8}, headers=tokens["agence"]
    )
    assert draft.status_code == 201, draft.get_json()
    rid = draft.get_json()["id"]
    proposal = {d["idPG"]: d for d in draft.get_json()["resultat"]["decisions"]}
    target = next(i for i, d in proposal.items() if d["nombreConseillersAttribues"] > 0)
    resp = client.patch(
        f"/v1/rounds/{rid}",
        json={"idPG": target, "nombre": 0, "motif": "projet déjà financé"},
        headers=tokens["agence"],
    )
    assert resp.status_code == 200
    resp = client.post(f"/v1/rounds/{rid}/commit", headers=tokens["agence"])
    assert resp.status_code == 200, resp.get_json()
    # a structure that applied after the round: no decision yet
    client.put("/v1/structures/999999", json=structure_doc(999999), headers=tokens["portail"])
    yield {
        "app": app,
        "client": client,
        "tokens": tokens,
        "round": resp.get_json(),
        "proposal": proposal,
        "target": target,
        "docs": docs,
    }
    app.extensions["allocator.db"].dispose()


def test_committed_explanations_name_the_committee(committed: dict[str, Any]) -> None:
    from service.application import rounds
    from service.contract.schemas import RoundRequest

    client, tokens, view = committed["client"], committed["tokens"], committed["round"]
    result = view["resultat"]
    snapshot = rounds.get_round_snapshot(committed["app"].extensions["allocator.db"], view["id"])
    request = RoundRequest.model_validate(snapshot["request"])
    by_id = {s.idPG: s for s in request.structures}
    for d in result["decisions"]:
        resp = client.get(f"/v1/structures/{d['idPG']}/explication", headers=tokens["portail"])
        assert resp.status_code == 200 and resp.mimetype == "application/json"
        entry = resp.get_json()
        assert entry["roundId"] == view["id"] and entry["numero"] == str(view["id"])
        assert entry["nombreConseillersAttribues"] == d["nombreConseillersAttribues"]
        e = entry["explication"]
        c = e["contribution"]
        assert c["statut"] == "valide" and c["validePar"] == view["validePar"]
        assert (
            c["valideLe"] == view["valideLe"] and c["decision"] == d["nombreConseillersAttribues"]
        )
        assert c["tour"]["id"] == view["id"]
        assert e["donnees"]["conseillersExistants"]["etatAu"] == view["creeLe"]
        # who decided, in words; the recorded author stays in the data, never in the letter
        quand = date_en_clair(view["valideLe"])
        assert f"Décision prise par le comité de sélection de l'ANCT le {quand}" in e["texte"]
        assert view["validePar"] not in e["texte"]
        check_decision({**d, "explication": e}, by_id[d["idPG"]], result, request)
        if d["idPG"] == committed["target"]:
            der = c["derogation"]
            assert der["motif"] == "projet déjà financé" and der["nombre"] == 0
            expected = committed["proposal"][d["idPG"]]["nombreConseillersAttribues"]
            assert der["propositionAlgorithme"] == c["propositionAlgorithme"] == expected
            assert "« projet déjà financé »" in e["texte"]
        else:
            assert c["derogation"] is None


def test_formats_roles_and_latency(committed: dict[str, Any]) -> None:
    client, tokens = committed["client"], committed["tokens"]
    url = f"/v1/structures/{committed['target']}/explication"
    for role in ("portail", "agence", "analyste", "admin"):
        assert client.get(url, headers=tokens[role]).status_code == 200
    assert_problem(client.get(url), 401)
    html = client.get(url + "?format=html", headers=tokens["portail"])
    assert html.status_code == 200 and html.mimetype == "text/html"
    page = html.get_data(as_text=True)
    assert "<h1>Explication de la décision" in page and "CADA" in page
    assert "projet déjà financé" in page
    browser = {**tokens["portail"], "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    assert client.get(url, headers=browser).mimetype == "text/html"
    api = {**tokens["portail"], "Accept": "application/json"}
    assert client.get(url, headers=api).mimetype == "application/json"
    assert_problem(client.get(url + "?format=pdf", headers=tokens["portail"]), 406)
    assert_problem(client.get(url, headers={**tokens["portail"], "Accept": "image/png"}), 406)
    # never decided by a round / unknown structure
    assert_problem(client.get("/v1/structures/999999/explication", headers=api), 404)
    assert_problem(client.get("/v1/structures/123456789/explication", headers=api), 404)
    # precomputed at commit: reading it is fast
    client.get(url, headers=api)
    start = time.perf_counter()
    for _ in range(10):
        assert client.get(url, headers=api).status_code == 200
    assert (time.perf_counter() - start) / 10 < 0.3


def test_commit_with_fake_engine_still_explains(sqlite_client: Any, sqlite_tokens: Any) -> None:
    """Results without the engine's details (fake solver) still get mention + contribution."""
    for i in (1, 2):
        sqlite_client.put(
            f"/v1/structures/{i}", json=structure_doc(i), headers=sqlite_tokens["portail"]
        )
    rid = sqlite_client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=sqlite_tokens["agence"]
    ).get_json()["id"]
    assert (
        sqlite_client.post(f"/v1/rounds/{rid}/commit", headers=sqlite_tokens["agence"]).status_code
        == 200
    )
    e = sqlite_client.get("/v1/structures/1/explication", headers=sqlite_tokens["portail"])
    body = e.get_json()["explication"]
    assert body["contribution"]["statut"] == "valide" and "mention" in body
    assert body["texte"].startswith("# Explication de la décision — Commune 1")
