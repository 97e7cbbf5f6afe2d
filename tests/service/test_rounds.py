"""Rounds on the store (SQLite and PostgreSQL): draft, override, commit, concurrency."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from service import create_app
from service.application import rounds
from service.application.structures import upsert_structure
from service.store.db import Database
from tests.service.conftest import make_tokens, structure_doc
from tests.service.test_app import assert_problem


def _seed(client: Any, tokens: Any, n: int = 3, code: str = "01283") -> None:
    for i in range(1, n + 1):
        resp = client.put(
            f"/v1/structures/{i}", json=structure_doc(i, code), headers=tokens["portail"]
        )
        assert resp.status_code == 201


def test_round_lifecycle(app: Any, client: Any, tokens: Any, fake_solver: Any) -> None:
    agence = tokens["agence"]
    _seed(client, tokens, 3)
    client.post(
        "/v1/structures/2/avis-prefet",
        json={"avisPrefet": "NÉGATIF", "commentairePrefet": "Besoin déjà couvert ici."},
        headers=agence,
    )
    assert_problem(
        client.post("/v1/rounds", json={"mois": "2021-6", "quota": 3}, headers=agence), 422
    )
    assert_problem(
        client.post("/v1/rounds", json={"mois": "2021-06", "quota": 3, "x": 1}, headers=agence), 422
    )
    resp = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 3}, headers=agence)
    assert resp.status_code == 201, resp.get_json()
    draft = resp.get_json()
    rid = draft["id"]
    assert resp.headers["Location"] == f"/v1/rounds/{rid}"
    assert draft["statut"] == "draft" and draft["structures"] == [1, 2, 3]
    # the round request was built from the stored documents + préfet opinions
    request = fake_solver[-1]["request"]
    assert [s.idPG for s in request.structures] == [1, 2, 3]
    assert request.structures[1].prefet[-1].avisPrefet == "NÉGATIF"
    assert fake_solver[-1]["extra_existing"] == {}
    grants = {d["idPG"]: d["nombreConseillersAttribues"] for d in draft["resultat"]["decisions"]}
    assert grants == {1: 2, 2: 1, 3: 0}

    # override: motif mandatory, idPG must be in the round
    url = f"/v1/rounds/{rid}"
    assert_problem(client.patch(url, json={"idPG": 3, "nombre": 1}, headers=agence), 422)
    assert_problem(
        client.patch(url, json={"idPG": 3, "nombre": 1, "motif": "  "}, headers=agence), 422
    )
    assert_problem(
        client.patch(url, json={"idPG": 99, "nombre": 1, "motif": "arbitrage"}, headers=agence), 422
    )
    assert_problem(
        client.patch(url, json={"idPG": 3, "nombre": -1, "motif": "arbitrage"}, headers=agence), 422
    )
    resp = client.patch(url, json={"idPG": 3, "nombre": 1, "motif": "zone blanche"}, headers=agence)
    assert resp.status_code == 200
    patched = resp.get_json()
    assert patched["verrous"][0]["idPG"] == 3 and patched["verrous"][0]["motif"] == "zone blanche"
    assert fake_solver[-1]["locks"] == {3: 1}
    grants = {d["idPG"]: d["nombreConseillersAttribues"] for d in patched["resultat"]["decisions"]}
    assert grants == {1: 2, 2: 0, 3: 1}
    assert client.get(url, headers=tokens["analyste"]).get_json() == patched

    # commit
    resp = client.post(f"{url}/commit", headers=agence)
    assert resp.status_code == 200, resp.get_json()
    committed = resp.get_json()
    assert committed["statut"] == "committed" and committed["numero"] == str(rid)
    s1 = client.get("/v1/structures/1", headers=agence).get_json()
    assert s1["statut"] == "VALIDATION_COSELEC" and s1["nombreConseillersAttribues"] == 2
    assert s1["coselec"][-1] == {
        "nombreConseillersCoselec": 2,
        "avisCoselec": "POSITIF",
        "numero": str(rid),
        "insertedAt": s1["coselec"][-1]["insertedAt"],
        "roundId": rid,
    }
    assert s1["derniereExplication"]["roundId"] == rid
    s2 = client.get("/v1/structures/2", headers=agence).get_json()
    assert s2["statut"] == "REFUS_COSELEC" and s2["coselec"][-1]["avisCoselec"] == "NÉGATIF"
    assert s2["nombreConseillersAttribues"] == 0

    # immutable afterwards
    assert_problem(client.post(f"{url}/commit", headers=agence), 409)
    assert_problem(
        client.patch(url, json={"idPG": 3, "nombre": 0, "motif": "retour"}, headers=agence), 409
    )
    with app.extensions["allocator.db"].read() as s:
        consumed = s.execute(sa.text("SELECT consumed, version FROM programme")).one()
    assert tuple(consumed) == (3, 1)

    # nothing pending any more; committed grants feed the next rounds' existing advisors
    assert_problem(
        client.post("/v1/rounds", json={"mois": "2021-07", "quota": 3}, headers=agence), 409
    )
    client.put("/v1/structures/10", json=structure_doc(10, "75056"), headers=tokens["portail"])
    resp = client.post("/v1/rounds", json={"mois": "2021-07", "quota": 3}, headers=agence)
    assert resp.status_code == 201
    assert fake_solver[-1]["extra_existing"] == {"01283": 3}
    listing = client.get("/v1/rounds", headers=tokens["analyste"]).get_json()["rounds"]
    assert [(r["id"], r["statut"]) for r in listing] == [(rid, "committed"), (rid + 1, "draft")]


def test_stale_draft_is_refused(client: Any, tokens: Any) -> None:
    agence = tokens["agence"]
    _seed(client, tokens, 2)
    a = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=agence).get_json()
    b = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=agence).get_json()
    assert client.post(f"/v1/rounds/{a['id']}/commit", headers=agence).status_code == 200
    body = assert_problem(client.post(f"/v1/rounds/{b['id']}/commit", headers=agence), 409)
    assert "périmé" in body["detail"]
    assert "2 structures ont changé" in body["detail"] and "(s)" not in body["detail"]
    # a portal update after a draft also makes it stale
    _seed_more = structure_doc(5)
    client.put("/v1/structures/5", json=_seed_more, headers=tokens["portail"])
    c = client.post("/v1/rounds", json={"mois": "2021-07", "quota": 1}, headers=agence).get_json()
    client.put(
        "/v1/structures/5",
        json={**_seed_more, "nombreConseillersSouhaites": 3},
        headers=tokens["portail"],
    )
    assert_problem(client.post(f"/v1/rounds/{c['id']}/commit", headers=agence), 409)


def test_envelope_never_over_consumed(app: Any, client: Any, tokens: Any) -> None:
    agence = tokens["agence"]
    with app.extensions["allocator.db"].write() as s:
        s.execute(sa.text("UPDATE programme SET enveloppe = 3"))
    _seed(client, tokens, 2)
    body = assert_problem(
        client.post("/v1/rounds", json={"mois": "2021-06", "quota": 4}, headers=agence), 409
    )
    assert body["errors"][0]["champ"] == "quota"
    rid = client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": 3}, headers=agence
    ).get_json()["id"]
    # another process consumed part of the envelope meanwhile
    with app.extensions["allocator.db"].write() as s:
        s.execute(sa.text("UPDATE programme SET consumed = 1"))
    body = assert_problem(client.post(f"/v1/rounds/{rid}/commit", headers=agence), 409)
    assert "enveloppe" in body["detail"]
    with app.extensions["allocator.db"].read() as s, pytest.raises(sa.exc.IntegrityError):
        s.execute(sa.text("UPDATE programme SET consumed = 4"))
        s.flush()


def test_infeasible_round_cannot_be_committed(app: Any, client: Any, tokens: Any) -> None:
    from service.store.models import Round

    agence = tokens["agence"]
    _seed(client, tokens, 1)
    rid = client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=agence
    ).get_json()["id"]
    # A lock the round cannot honour is refused at entry (issue 14)...
    assert_problem(
        client.patch(
            f"/v1/rounds/{rid}", json={"idPG": 1, "nombre": 2, "motif": "forcer"}, headers=agence
        ),
        422,
    )
    # ...but a draft stored INFEASIBLE before that rule still cannot be committed.
    with app.extensions["allocator.db"].write() as s:
        row = s.get(Round, rid)
        row.result = {**row.result, "status": "INFEASIBLE", "conflits": ["verrous > quota"]}
    assert_problem(client.post(f"/v1/rounds/{rid}/commit", headers=agence), 409)


def test_unknown_commune_refused_when_stored(client: Any, tokens: Any) -> None:
    doc = structure_doc(1, "99999", communesDesservies=["01283", "98714"])
    body = assert_problem(client.put("/v1/structures/1", json=doc, headers=tokens["portail"]), 422)
    assert [e["champ"] for e in body["errors"]] == ["codeCommune", "communesDesservies[1]"]


def test_round_404(client: Any, tokens: Any) -> None:
    agence = tokens["agence"]
    assert_problem(client.get("/v1/rounds/77", headers=agence), 404)
    assert_problem(client.post("/v1/rounds/77/commit", headers=agence), 404)
    assert_problem(
        client.patch(
            "/v1/rounds/77", json={"idPG": 1, "nombre": 1, "motif": "abc"}, headers=agence
        ),
        404,
    )


def test_coselec_history_is_append_only(app: Any, client: Any, tokens: Any) -> None:
    from service.store.models import CoselecRow

    resp = client.post(
        "/v1/structures/import-historique",
        json=structure_doc(1, coselec=[{"nombreConseillersCoselec": 1, "avisCoselec": "POSITIF"}]),
        headers=tokens["admin"],
    )
    assert resp.status_code == 201, resp.get_json()
    with (
        pytest.raises(RuntimeError, match="append-only"),
        app.extensions["allocator.db"].write() as s,
    ):
        row = s.scalars(sa.select(CoselecRow)).one()
        row.nombre_conseillers_coselec = 5
        s.flush()


@pytest.mark.postgres
def _race_commits(apps: list[Any], rid: int, headers: dict[str, str]) -> list[int]:
    """Commit round ``rid`` from each app at the same instant (one thread per app)."""
    barrier = threading.Barrier(len(apps))
    statuses: list[int] = []

    def commit(app: Any) -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(c.post(f"/v1/rounds/{rid}/commit", headers=headers).status_code)

    threads = [threading.Thread(target=commit, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def _round_for_two_apps(
    config: dict[str, Any], structures: int, quota: int
) -> tuple[list[Any], int, dict[str, str]]:
    """Two apps on one store, ``structures`` applications and a drafted round of ``quota``:
    (apps, round id, the agency's headers)."""
    apps = [create_app(config) for _ in range(2)]
    tokens = make_tokens(apps[0].extensions["allocator.db"])
    client = apps[0].test_client()
    _seed(client, tokens, structures)
    rid = client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": quota}, headers=tokens["agence"]
    ).get_json()["id"]
    return apps, rid, tokens["agence"]


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_commits_postgres(pg_url: str, fake_solver: Any, attempt: int) -> None:
    """Two threads commit the same round: exactly one 200, one 409, envelope consumed once."""
    apps, rid, agence = _round_for_two_apps({"DATABASE_URL": pg_url, "AUTO_MIGRATE": True}, 20, 25)
    assert sorted(_race_commits(apps, rid, agence)) == [200, 409]
    db = Database(pg_url)
    with db.read() as s:
        consumed, version = s.execute(sa.text("SELECT consumed, version FROM programme")).one()
        entries = s.execute(
            sa.text("SELECT count(*) FROM coselec WHERE round_id = :r"), {"r": rid}
        ).scalar()
    assert (consumed, version) == (25, 1)
    assert entries == 20
    db.dispose()
    for a in apps:
        a.extensions["allocator.db"].dispose()


def test_concurrent_commits_sqlite(sqlite_url: str, fake_solver: Any) -> None:
    """Same guarantee on the embedded store (BEGIN IMMEDIATE serialises the writers)."""
    apps, rid, agence = _round_for_two_apps({"DATABASE_URL": sqlite_url}, 5, 6)
    assert sorted(_race_commits(apps, rid, agence)) == [200, 409]
    with apps[0].extensions["allocator.db"].read() as s:
        assert s.execute(sa.text("SELECT consumed FROM programme")).scalar() == 6
    for a in apps:
        a.extensions["allocator.db"].dispose()


def test_rounds_module_used_without_http(sqlite_url: str, fake_solver: Any) -> None:
    """The domain-service functions work on a bare Database (as the CLI uses them)."""
    from service.contract.documents import StructureDocument
    from service.store import repository as store

    db = Database(sqlite_url)
    db.upgrade()
    with db.write() as s:
        upsert_structure(s, StructureDocument.model_validate(structure_doc(1)))
    view = rounds.draft_round(db, mois="2021-06", quota=1, author="test")
    assert rounds.commit_round(db, view["id"], author="test")["statut"] == "committed"
    with db.read() as s:
        assert store.grants_by_commune(s) == {"01283": 1}
    db.dispose()
