"""Posts after the grant: lifecycle transitions, deadlines and returns with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from service import create_app
from service.application import demandes, posts, rounds
from service.application.structures import upsert_structure
from service.contract.documents import StructureDocument
from service.contract.errors import Conflict, NotFound
from service.contract.schemas import InvalidRequest
from service.store import repository as store
from service.store.db import Database
from service.store.models import CoselecRow, DemandePostes, Poste, PosteEvenement
from tests.service.conftest import make_tokens, structure_doc
from tests.service.test_app import assert_problem

T0 = datetime(2021, 6, 15, 12, tzinfo=UTC)


def _store_with_posts(url: str, grants: dict[int, int], when: datetime = T0) -> Database:
    """A store with structures ``grants`` = {idPG: posts}, validated and holding their posts."""
    db = Database(url)
    db.upgrade()
    with db.write() as s:
        for id_pg, n in grants.items():
            upsert_structure(
                s,
                StructureDocument.model_validate(
                    structure_doc(id_pg, nombreConseillersSouhaites=max(1, n))
                ),
            )
            row = store.get_structure_row(s, id_pg)
            row.statut = "VALIDATION_COSELEC"
            s.add(
                CoselecRow(
                    id_pg=id_pg,
                    nombre_conseillers_coselec=n,
                    attribues=n,
                    avis="POSITIF",
                    numero="test",
                    inserted_at=when,
                )
            )
        posts.create_posts(s, None, [(i, 0, n) for i, n in grants.items()], when)
        store.programme(s).consumed += sum(grants.values())
    return db


def _event(db: Database, id_pg: int, n: int, kind: str, at: datetime, **kw: Any) -> dict:
    return posts.report_event(db, id_pg, n, type_=kind, now=at, date=at, **kw)


def test_full_lifecycle_and_deadlines(db_url: str) -> None:
    db = _store_with_posts(db_url, {1: 2})
    view = posts.list_posts(db, 1, T0)
    assert [p["statut"] for p in view["postes"]] == ["ACCORDE", "ACCORDE"]
    assert view["postesLibres"] == 2
    due = {d["type"]: d for d in view["postes"][0]["echeances"]}
    assert due["RECRUTEMENT"]["echeance"] == "2021-09-15T12:00:00Z"
    assert due["RETOUR_AU_VIVIER"]["echeance"] == "2021-12-15T12:00:00Z"
    assert not any(d["depassee"] for d in due.values())

    t = T0 + timedelta(days=5)
    v = _event(db, 1, 1, "CANDIDAT_PRESENTE", t)
    assert v["statut"] == "CANDIDAT_PRESENTE"
    (sel,) = [d for d in v["echeances"] if d["type"] == "SELECTION"]
    assert sel["echeance"] == "2021-07-05T12:00:00Z"
    # 15 days pass without a selection: overdue, reported by the deadline scan
    late = t + timedelta(days=15, seconds=1)
    report = posts.deadlines(db, late)
    assert report["compte"] == {"SELECTION": 1}
    assert posts.deadlines(db, t + timedelta(days=15))["compte"] == {}
    v = _event(db, 1, 1, "CANDIDAT_SELECTIONNE", t + timedelta(days=10))
    (con,) = [d for d in v["echeances"] if d["type"] == "CONTRAT"]
    assert con["echeance"] == "2021-07-15T12:00:00Z"
    v = _event(db, 1, 1, "CONTRAT_SIGNE", t + timedelta(days=20))
    assert v["statut"] == "CONTRAT_SIGNE" and v["vacantDepuis"] is None
    assert v["recruteLe"] == "2021-07-10T12:00:00Z" and v["echeances"] == []
    # training comes before taking the post
    with pytest.raises(Conflict):
        _event(db, 1, 1, "PRISE_DE_POSTE", t + timedelta(days=21))
    _event(db, 1, 1, "ENTREE_EN_FORMATION", t + timedelta(days=25))
    v = _event(db, 1, 1, "PRISE_DE_POSTE", t + timedelta(days=60))
    assert v["statut"] == "EN_POSTE"
    end = T0 + timedelta(days=400)
    v = _event(db, 1, 1, "FIN_DE_CONTRAT", end)
    assert v["statut"] == "TERMINE" and v["vacantDepuis"] == store.iso(end)
    # a vacant post after an end: no recruitment deadline, a return-to-pool one
    assert [d["type"] for d in v["echeances"]] == ["RETOUR_AU_VIVIER"]
    # refilled
    v = _event(db, 1, 1, "CANDIDAT_PRESENTE", end + timedelta(days=3))
    v = _event(db, 1, 1, "CANDIDAT_REFUSE", end + timedelta(days=4))
    assert v["statut"] == "TERMINE"

    detail = posts.get_post(db, 1, 1, end + timedelta(days=5))
    assert [e["type"] for e in detail["evenements"]] == [
        "ATTRIBUTION",
        "CANDIDAT_PRESENTE",
        "CANDIDAT_SELECTIONNE",
        "CONTRAT_SIGNE",
        "ENTREE_EN_FORMATION",
        "PRISE_DE_POSTE",
        "FIN_DE_CONTRAT",
        "CANDIDAT_PRESENTE",
        "CANDIDAT_REFUSE",
    ]
    db.dispose()


def test_invalid_events(sqlite_url: str) -> None:
    db = _store_with_posts(sqlite_url, {1: 1})
    with pytest.raises(InvalidRequest):
        _event(db, 1, 1, "EMBAUCHE", T0)
    with pytest.raises(InvalidRequest):  # future
        posts.report_event(db, 1, 1, type_="CANDIDAT_PRESENTE", now=T0, date=T0 + timedelta(1))
    with pytest.raises(InvalidRequest):  # before the current state
        _event(db, 1, 1, "CANDIDAT_PRESENTE", T0 - timedelta(days=1))
    with pytest.raises(Conflict):  # contract before selection
        _event(db, 1, 1, "CONTRAT_SIGNE", T0)
    with pytest.raises(NotFound):
        _event(db, 1, 2, "CANDIDAT_PRESENTE", T0)
    # the event log is append-only
    with db.write() as s:
        n_events = s.scalar(select(func.count(PosteEvenement.id)))
    with pytest.raises(RuntimeError), db.write() as s:
        s.delete(s.scalars(select(PosteEvenement)).first())
    with db.read() as s:
        assert s.scalar(select(func.count(PosteEvenement.id))) == n_events
    db.dispose()


def test_deadline_sweep_flags_then_returns_to_pool(db_url: str) -> None:
    db = _store_with_posts(db_url, {1: 2, 2: 1})
    # post 1/1 is recruited in time; 1/2 never; 2/1 recruited then ends
    _event(db, 1, 1, "CANDIDAT_PRESENTE", T0 + timedelta(days=1))
    _event(db, 1, 1, "CANDIDAT_SELECTIONNE", T0 + timedelta(days=2))
    _event(db, 1, 1, "CONTRAT_SIGNE", T0 + timedelta(days=3))
    for k, kind in enumerate(
        ["CANDIDAT_PRESENTE", "CANDIDAT_SELECTIONNE", "CONTRAT_SIGNE", "ENTREE_EN_FORMATION"]
    ):
        _event(db, 2, 1, kind, T0 + timedelta(days=k + 1))
    _event(db, 2, 1, "PRISE_DE_POSTE", T0 + timedelta(days=30))
    _event(db, 2, 1, "FIN_DE_CONTRAT", T0 + timedelta(days=40))

    # 3 months after the grant: only the never-recruited post is flagged
    at = T0 + timedelta(days=93)
    out = posts.apply_deadlines(db, at, "test")
    assert out["signalesPourReexamen"] == [{"idPG": 1, "numero": 2}]
    assert out["rendusAuVivier"] == []
    assert posts.apply_deadlines(db, at, "test")["signalesPourReexamen"] == []  # once only
    assert posts.get_post(db, 1, 2, at)["aReexaminerDepuis"] == store.iso(at)

    with db.read() as s:
        consumed = store.programme(s).consumed
    # just before 6 months of vacancy nothing returns; just after, it does
    assert (
        posts.apply_deadlines(db, datetime(2021, 12, 15, 12, tzinfo=UTC), "t")["rendusAuVivier"]
        == []
    )
    out = posts.apply_deadlines(db, datetime(2021, 12, 15, 12, 0, 1, tzinfo=UTC), "t")
    assert out["rendusAuVivier"] == [{"idPG": 1, "numero": 2}]
    assert out["programme"]["consomme"] == consumed - 1
    # 2/1 has been vacant since day 40: returns 6 months after the end of its contract
    out = posts.apply_deadlines(db, T0 + timedelta(days=40 + 185), "t")
    assert out["rendusAuVivier"] == [{"idPG": 2, "numero": 1}]
    with db.read() as s:
        assert store.current_grant(store.coselec_entries(s, 1)) == 1
        assert store.current_grant(store.coselec_entries(s, 2)) == 0
        assert store.programme(s).consumed == consumed - 2
    with pytest.raises(Conflict):  # nothing happens to a returned post
        _event(db, 1, 2, "CANDIDAT_PRESENTE", T0 + timedelta(days=400))
    db.dispose()


def test_requests_one_pending_and_hand_back_bounded(db_url: str) -> None:
    db = _store_with_posts(db_url, {1: 3})
    _event(db, 1, 1, "CANDIDAT_PRESENTE", T0 + timedelta(days=1))
    _event(db, 1, 1, "CANDIDAT_SELECTIONNE", T0 + timedelta(days=2))
    _event(db, 1, 1, "CONTRAT_SIGNE", T0 + timedelta(days=3))
    at = T0 + timedelta(days=10)
    with pytest.raises(Conflict):  # only 2 free posts
        demandes.file_request(db, 1, type_="RESTITUTION", nombre=3, now=at)
    dem = demandes.file_request(db, 1, type_="RESTITUTION", nombre=1, now=at, motif="trop")
    assert dem["statut"] == "TRAITEE" and dem["resultat"] == 1
    view = posts.list_posts(db, 1, at)
    assert [p["statut"] for p in view["postes"]] == ["CONTRAT_SIGNE", "ACCORDE", "RENDU"]
    with db.read() as s:
        assert store.current_grant(store.coselec_entries(s, 1)) == 2

    dem = demandes.file_request(db, 1, type_="AJOUT", nombre=2, now=at)
    assert dem["statut"] == "EN_ATTENTE"
    with db.read() as s:
        row = store.get_structure_row(s, 1)
        assert row.statut == "EXAMEN_COMPLEMENTAIRE_COSELEC"
        assert row.document["nombreConseillersSouhaites"] == 4
    for kind in ("AJOUT", "RESTITUTION"):
        with pytest.raises(Conflict, match=r"\(n° \d+, AJOUT de 2 postes\)\.$"):
            demandes.file_request(db, 1, type_=kind, nombre=1, now=at)
    # the database itself refuses a second pending request
    with pytest.raises(Exception), db.write() as s:  # noqa: B017 - IntegrityError of any driver
        s.add(
            DemandePostes(
                id_pg=1, type="AJOUT", nombre=1, statut="EN_ATTENTE", motif="", creee_le=at
            )
        )
    db.dispose()


def test_add_posts_request_served_by_next_round(sqlite_url: str, fake_solver: Any) -> None:
    db = _store_with_posts(sqlite_url, {1: 1})
    demandes.file_request(db, 1, type_="AJOUT", nombre=2, now=T0)
    view = rounds.draft_round(db, mois="2021-07", quota=5)
    request = fake_solver[-1]["request"]
    assert [s.already_granted for s in request.structures] == [1]  # earlier grant kept
    assert view["resultat"]["decisions"][0]["nombreConseillersAttribues"] == 2
    rounds.commit_round(db, view["id"])
    listing = posts.list_posts(db, 1, T0)
    assert [p["numero"] for p in listing["postes"]] == [1, 2, 3]
    assert [p["roundId"] for p in listing["postes"]] == [None, view["id"], view["id"]]
    (dem,) = listing["demandes"]
    assert (dem["statut"], dem["resultat"], dem["roundId"]) == ("TRAITEE", 2, view["id"])
    # a new request is possible again
    assert (
        demandes.file_request(db, 1, type_="RESTITUTION", nombre=1, now=T0)["statut"] == "TRAITEE"
    )
    db.dispose()


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.sampled_from(posts.EVENT_TYPES), min_size=1, max_size=12),
)
def test_transition_table_invariants(steps: list[str]) -> None:
    """Any event sequence: filled iff a contract is running; vacancy tracked; RENDU terminal."""
    statut, recruited = "ACCORDE", False
    for kind in steps:
        allowed, target = posts.TRANSITIONS[kind]
        if statut not in allowed:
            continue
        if target == posts._BACK_TO_VACANT:
            target = "TERMINE" if recruited else "ACCORDE"
        if kind == "CONTRAT_SIGNE":
            recruited = True
        statut = target
        assert statut in posts.VACANT + posts.FILLED
        assert (statut in posts.FILLED) == (statut in ("CONTRAT_SIGNE", "EN_FORMATION", "EN_POSTE"))
        if statut == "ACCORDE":
            assert not recruited


def test_http_posts_with_frozen_clock(sqlite_url: str, fake_solver: Any) -> None:
    clock = {"now": T0}
    app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True, "CLOCK": lambda: clock["now"]})
    tokens = make_tokens(app.extensions["allocator.db"])
    client = app.test_client()
    resp = client.put("/v1/structures/7", json=structure_doc(7), headers=tokens["portail"])
    assert resp.status_code == 201
    draft = client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=tokens["agence"]
    )
    rid = draft.get_json()["id"]
    assert client.post(f"/v1/rounds/{rid}/commit", headers=tokens["agence"]).status_code == 200
    listing = client.get("/v1/structures/7/postes", headers=tokens["analyste"]).get_json()
    assert [p["statut"] for p in listing["postes"]] == ["ACCORDE", "ACCORDE"]
    granted = datetime.fromisoformat(listing["postes"][0]["accordeLe"].replace("Z", "+00:00"))
    clock["now"] = granted + timedelta(days=2)

    url = "/v1/structures/7/postes/1/evenements"
    assert_problem(
        client.post(url, json={"type": "CANDIDAT_PRESENTE"}, headers=tokens["agence"]), 403
    )
    assert_problem(client.post(url, json={"type": "NIMPORTE"}, headers=tokens["portail"]), 422)
    assert_problem(client.post(url, json={"type": "CONTRAT_SIGNE"}, headers=tokens["portail"]), 409)
    resp = client.post(url, json={"type": "CANDIDAT_PRESENTE"}, headers=tokens["portail"])
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["statutDepuis"] == store.iso(clock["now"])
    assert_problem(client.get("/v1/structures/7/postes/9", headers=tokens["portail"]), 404)

    clock["now"] = granted + timedelta(days=18)
    alerts = client.get("/v1/postes/echeances", headers=tokens["agence"]).get_json()
    assert alerts["compte"] == {"SELECTION": 1}
    far = (granted + timedelta(days=200)).isoformat()
    alerts = client.get(
        "/v1/postes/echeances", query_string={"date": far}, headers=tokens["analyste"]
    ).get_json()
    assert alerts["compte"] == {"RECRUTEMENT": 2, "RETOUR_AU_VIVIER": 2, "SELECTION": 1}
    assert_problem(client.post("/v1/postes/echeances", headers=tokens["analyste"]), 403)
    clock["now"] = granted + timedelta(days=200)
    out = client.post("/v1/postes/echeances", headers=tokens["agence"]).get_json()
    assert len(out["rendusAuVivier"]) == 2 and out["programme"]["consomme"] == 0

    resp = client.post(
        "/v1/structures/7/demandes",
        json={"type": "RESTITUTION", "nombre": 1},
        headers=tokens["portail"],
    )
    assert_problem(resp, 409)  # nothing free any more
    prog = client.get("/v1/programme", headers=tokens["portail"]).get_json()
    assert prog["postesRendus"] == 2 and prog["postesActifs"] == 0
    with app.extensions["allocator.db"].read() as s:
        assert s.scalar(select(func.count(Poste.id)).where(Poste.statut == "RENDU")) == 2
    app.extensions["allocator.db"].dispose()
