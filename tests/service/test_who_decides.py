"""Issue 14, "who may decide a number": only the committee fixes a number.

One regression test per hole, named after it:

- a portal document cannot carry a lock, a committee status, coselec history or any other field
  the service decides (422 naming the field); the admin-only history import is the one way in;
- locks and coselec entries a portal document left in a store before that rule are ignored;
- a lock outside the structure's bound is refused at entry (API 422, CLI exit 2, page form error),
  never stored and turned into an INFEASIBLE round;
- a lock can be lifted (API, CLI, page), with a motif kept in the round's history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from service.application import cycle, locks, rounds
from service.application.structures import upsert_structure
from service.cli.main import main
from service.contract.schemas import InvalidRequest, RoundRequest
from service.store import repository as store
from service.store.db import Database
from service.store.models import CoselecRow, Structure
from tests.service.conftest import structure_doc
from tests.service.test_app import assert_problem
from tests.service.test_ui import csrf, flashes, raw_tokens, sign_in, text

T0 = datetime(2021, 5, 2, 10, tzinfo=UTC)


def _seed(client: Any, tokens: Any, n: int = 2, **fields: Any) -> None:
    for i in range(1, n + 1):
        resp = client.put(
            f"/v1/structures/{i}", json=structure_doc(i, **fields), headers=tokens["portail"]
        )
        assert resp.status_code == 201, resp.get_json()


def _draft(client: Any, tokens: Any, quota: int = 3, **body: Any) -> dict[str, Any]:
    resp = client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": quota, **body}, headers=tokens["agence"]
    )
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def _legacy_structure(
    session: Any, id_pg: int, document: dict[str, Any], statut: str = "CREEE"
) -> None:
    """A structure as a store written before issue 14 may hold it (no validation on the way)."""
    session.add(
        Structure(
            id_pg=id_pg,
            siret=None,
            type=document["type"],
            nom=document["nom"],
            code_commune=document["codeCommune"],
            statut=statut,
            document=document,
            created_at=T0,
            updated_at=T0,
        )
    )
    session.flush()


def _legacy_document(id_pg: int, code: str = "01283", **fields: Any) -> dict[str, Any]:
    doc = structure_doc(id_pg, code, **fields)
    for k in ("contact", "location", "siret", "codePostal"):
        doc.pop(k, None)
    return doc


# -- the portal's document ----------------------------------------------------------------------


def test_portal_put_cannot_set_verrou(client: Any, tokens: Any, fake_solver: Any) -> None:
    doc = structure_doc(1, verrou=2)
    body = assert_problem(client.put("/v1/structures/1", json=doc, headers=tokens["portail"]), 422)
    assert [e["champ"] for e in body["errors"]] == ["verrou"]
    assert "comité" in body["errors"][0]["message"]
    assert_problem(client.get("/v1/structures/1", headers=tokens["agence"]), 404)
    # ...nor on an update of an existing application
    _seed(client, tokens, 1)
    body = assert_problem(client.put("/v1/structures/1", json=doc, headers=tokens["portail"]), 422)
    assert [e["champ"] for e in body["errors"]] == ["verrou"]
    view = _draft(client, tokens, quota=1)
    assert view["verrous"] == []
    assert fake_solver[-1]["request"].structures[0].verrou is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("coselec", [{"nombreConseillersCoselec": 1000, "avisCoselec": "POSITIF"}]),
        ("statut", "VALIDATION_COSELEC"),
        ("statut", "EXAMEN_COMPLEMENTAIRE_COSELEC"),
        ("statut", "REFUS_COSELEC"),
        ("nombreConseillersAttribues", 5),
        ("derniereExplication", {"roundId": 1}),
        ("creeLe", "2021-05-02T10:00:00Z"),
        ("modifieLe", "2021-05-02T10:00:00Z"),
    ],
)
def test_portal_put_refuses_server_controlled_field(
    client: Any, tokens: Any, field: str, value: Any
) -> None:
    doc = structure_doc(1, **{field: value})
    body = assert_problem(client.put("/v1/structures/1", json=doc, headers=tokens["portail"]), 422)
    assert [e["champ"] for e in body["errors"]] == [field]
    assert_problem(client.get("/v1/structures/1", headers=tokens["agence"]), 404)
    # an admin token on the portal's path is refused just the same: the import is explicit
    assert_problem(client.put("/v1/structures/1", json=doc, headers=tokens["admin"]), 422)


def test_portal_may_still_withdraw_and_echo_its_status(client: Any, tokens: Any) -> None:
    # Withdrawing an application (ANNULEE / ABANDON / DOUBLON) is the portal's to say; empty
    # history lists and the status the store already holds carry no decision.
    for i, statut in enumerate(("ANNULEE", "ABANDON", "DOUBLON"), start=1):
        doc = structure_doc(i, statut=statut, coselec=[], verrou=None)
        resp = client.put(f"/v1/structures/{i}", json=doc, headers=tokens["portail"])
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["statut"] == statut


def test_portal_put_echo_of_committee_status_is_not_a_decision(
    client: Any, tokens: Any, fake_solver: Any
) -> None:
    _seed(client, tokens, 1)
    rid = _draft(client, tokens, quota=1)["id"]
    client.post(f"/v1/rounds/{rid}/commit", headers=tokens["agence"])
    doc = structure_doc(1, statut="VALIDATION_COSELEC")
    resp = client.put("/v1/structures/1", json=doc, headers=tokens["portail"])
    assert resp.status_code == 200, resp.get_json()
    body = assert_problem(
        client.put(
            "/v1/structures/1",
            json=structure_doc(1, statut="REFUS_COSELEC"),
            headers=tokens["portail"],
        ),
        422,
    )
    assert [e["champ"] for e in body["errors"]] == ["statut"]


def test_history_import_of_a_structure_requires_admin(app: Any, client: Any, tokens: Any) -> None:
    doc = structure_doc(
        42,
        statut="VALIDATION_COSELEC",
        nombreConseillersSouhaites=5,
        coselec=[
            {"nombreConseillersCoselec": 2, "avisCoselec": "POSITIF", "numero": "COSELEC 3"},
            {"nombreConseillersCoselec": 0, "avisCoselec": "EXAMEN COMPLÉMENTAIRE"},
            {"nombreConseillersCoselec": 3, "avisCoselec": "POSITIF", "numero": "COSELEC 5"},
        ],
    )
    url = "/v1/structures/import-historique"
    for role in ("portail", "agence", "analyste"):
        assert_problem(client.post(url, json=doc, headers=tokens[role]), 403)
    resp = client.post(url, json=doc, headers=tokens["admin"])
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"] == "/v1/structures/42"
    view = resp.get_json()
    assert view["statut"] == "VALIDATION_COSELEC"
    assert view["nombreConseillersAttribues"] == 3
    assert [c["nombreConseillersCoselec"] for c in view["coselec"]] == [2, 0, 3]
    # The imported grant is history: posts held, envelope consumed, existing advisors.
    with app.extensions["allocator.db"].read() as s:
        assert cycle.current_grants(s) == {42: 3}
        assert store.programme_view(store.programme(s))["consomme"] == 3
    postes = client.get("/v1/structures/42/postes", headers=tokens["agence"]).get_json()
    assert len(postes["postes"]) == 3
    # History is written once: a second import of the same idPG is a conflict.
    assert_problem(client.post(url, json=doc, headers=tokens["admin"]), 409)
    # A lock is never part of a structure document, not even on the admin path.
    body = assert_problem(
        client.post(url, json=structure_doc(43, verrou=1), headers=tokens["admin"]), 422
    )
    assert [e["champ"] for e in body["errors"]] == ["verrou"]


# -- data a portal document left in a store before ----------------------------------------------


def test_stored_verrou_from_before_is_not_a_lock(app: Any, tokens: Any, fake_solver: Any) -> None:
    database = app.extensions["allocator.db"]
    with database.write() as s:
        _legacy_structure(s, 1, _legacy_document(1, verrou=2))
        _legacy_structure(s, 2, _legacy_document(2))
    view = rounds.draft_round(database, mois="2021-06", quota=1, author="test")
    assert view["verrous"] == []
    request = fake_solver[-1]["request"]
    assert [s.verrou for s in request.structures] == [None, None]
    assert all("verrou" not in s for s in view_snapshot(database, view["id"])["structures"])
    # the structure's own view no longer shows it either
    client = app.test_client()
    assert "verrou" not in client.get("/v1/structures/1", headers=tokens["agence"]).get_json()


def test_stored_verrou_never_reaches_a_committed_decision(
    sqlite_url: str, real_pipeline: None
) -> None:
    """With the engine: a lock left in a stored document is neither applied nor explained as
    the committee's after commit."""
    database = Database(sqlite_url)
    database.upgrade()
    with database.write() as s:
        _legacy_structure(s, 1, _legacy_document(1, nombreConseillersSouhaites=3, verrou=3))
        _legacy_structure(s, 2, _legacy_document(2, "75056", nombreConseillersSouhaites=3))
    view = rounds.draft_round(database, mois="2021-06", quota=1, author="test")
    committed = rounds.commit_round(database, view["id"], author="test")
    assert committed["verrous"] == []
    decisions = {d["idPG"]: d for d in committed["resultat"]["decisions"]}
    assert sum(d["nombreConseillersAttribues"] for d in decisions.values()) <= 1
    with database.read() as s:
        for id_pg in (1, 2):
            (entry,) = store.coselec_entries(s, id_pg)
            assert "VERROUILLE" not in (entry.motifs or [])
            assert "fixé" not in str((entry.explication or {}).get("resume", ""))
    database.dispose()


def view_snapshot(database: Database, round_id: int) -> dict[str, Any]:
    return dict(rounds.get_round_snapshot(database, round_id)["request"])


def test_portal_coselec_never_becomes_existing_advisors(
    app: Any, tokens: Any, fake_solver: Any
) -> None:
    database = app.extensions["allocator.db"]
    with database.write() as s:
        _legacy_structure(s, 1, _legacy_document(1, nombreConseillersSouhaites=3))
        # what PUT wrote from a portal document's ``coselec`` before issue 14
        s.add(
            CoselecRow(id_pg=1, nombre_conseillers_coselec=1000, avis="POSITIF", numero="portail")
        )
    with database.read() as s:
        assert cycle.current_grants(s) == {}
        assert cycle.store_existing(s) == {}
        assert store.structures_in(s)[0]["nombreConseillersAttribues"] == 0
    view = app.test_client().get("/v1/structures/1", headers=tokens["agence"]).get_json()
    assert view["nombreConseillersAttribues"] == 0 and view["coselec"] == []
    rounds.draft_round(database, mois="2021-06", quota=3, author="test")
    (structure,) = fake_solver[-1]["request"].structures
    assert structure.coselec == [] and structure.already_granted == 0


# -- a lock's bound at entry --------------------------------------------------------------------


def test_lock_above_remaining_request_is_refused_at_entry(client: Any, tokens: Any) -> None:
    _seed(client, tokens, 2)  # each asks for 2 posts
    view = _draft(client, tokens, quota=3)
    url = f"/v1/rounds/{view['id']}"
    body = assert_problem(
        client.patch(
            url, json={"idPG": 1, "nombre": 10, "motif": "forcer"}, headers=tokens["agence"]
        ),
        422,
    )
    (error,) = body["errors"]
    assert error["champ"] == "nombre"
    assert "idPG 1" in error["message"] and "au plus 2" in error["message"]
    assert "demande restante" in error["message"]
    after = client.get(url, headers=tokens["agence"]).get_json()
    assert after["version"] == view["version"] and after["verrous"] == []
    assert after["resultat"] == view["resultat"]


def test_negative_lock_is_refused_naming_the_structure(client: Any, tokens: Any) -> None:
    _seed(client, tokens, 1)
    view = _draft(client, tokens, quota=1)
    body = assert_problem(
        client.patch(
            f"/v1/rounds/{view['id']}",
            json={"idPG": 1, "nombre": -1, "motif": "négatif"},
            headers=tokens["agence"],
        ),
        422,
    )
    (error,) = body["errors"]
    assert error["champ"] == "nombre" and "idPG 1" in error["message"]
    assert "0" in error["message"]


def test_lock_on_ineligible_applicant_is_refused_at_entry(client: Any, tokens: Any) -> None:
    _seed(client, tokens, 2)
    view = _draft(client, tokens, quota=2, politique={"typesEligibles": ["EPCI"]})
    url = f"/v1/rounds/{view['id']}"
    body = assert_problem(
        client.patch(
            url, json={"idPG": 1, "nombre": 1, "motif": "forcer"}, headers=tokens["agence"]
        ),
        422,
    )
    (error,) = body["errors"]
    assert error["champ"] == "nombre" and "idPG 1" in error["message"]
    assert "non éligible" in error["message"] and "au plus 0" in error["message"]
    # locking it at 0 is what the policy says anyway: allowed
    resp = client.patch(
        url, json={"idPG": 1, "nombre": 0, "motif": "écarter"}, headers=tokens["agence"]
    )
    assert resp.status_code == 200, resp.get_json()


def test_locks_in_conflict_with_the_round_are_refused_at_entry(client: Any, tokens: Any) -> None:
    _seed(client, tokens, 2)
    view = _draft(client, tokens, quota=3)
    url = f"/v1/rounds/{view['id']}"
    agence = tokens["agence"]
    assert (
        client.patch(
            url, json={"idPG": 1, "nombre": 2, "motif": "a" * 3}, headers=agence
        ).status_code
        == 200
    )
    # each lock is within its structure's bound, together they exceed the quota of 3
    body = assert_problem(
        client.patch(url, json={"idPG": 2, "nombre": 2, "motif": "b" * 3}, headers=agence), 422
    )
    assert body["errors"][0]["champ"] == "nombre" and "idPG 2" in body["errors"][0]["message"]
    after = client.get(url, headers=agence).get_json()
    assert after["resultat"]["status"] != "INFEASIBLE"
    assert [v["idPG"] for v in after["verrous"]] == [1]


# -- lifting a lock -----------------------------------------------------------------------------


def test_lock_can_be_lifted_with_a_motif_recorded_in_history(
    client: Any, tokens: Any, fake_solver: Any
) -> None:
    _seed(client, tokens, 2)
    view = _draft(client, tokens, quota=3)
    url = f"/v1/rounds/{view['id']}"
    agence = tokens["agence"]
    set_ = client.patch(url, json={"idPG": 2, "nombre": 2, "motif": "zone blanche"}, headers=agence)
    assert set_.status_code == 200
    # lifting: a motif is mandatory, a structure without a lock has nothing to lift,
    # and a number with ``lever`` makes no sense
    assert_problem(client.patch(url, json={"idPG": 2, "lever": True}, headers=agence), 422)
    assert_problem(
        client.patch(url, json={"idPG": 1, "lever": True, "motif": "rien"}, headers=agence), 422
    )
    assert_problem(
        client.patch(
            url, json={"idPG": 2, "lever": True, "nombre": 1, "motif": "les deux"}, headers=agence
        ),
        422,
    )
    assert_problem(
        client.patch(url, json={"idPG": 2, "motif": "ni l'un ni l'autre"}, headers=agence), 422
    )
    resp = client.patch(
        url, json={"idPG": 2, "lever": True, "motif": "erreur de saisie"}, headers=agence
    )
    assert resp.status_code == 200, resp.get_json()
    lifted = resp.get_json()
    assert lifted["verrous"] == []
    assert fake_solver[-1]["locks"] == {}  # re-solved without it
    assert lifted["version"] == set_.get_json()["version"] + 1
    history = lifted["arbitrages"]
    assert [(h["action"], h["idPG"], h["motif"]) for h in history] == [
        ("verrou", 2, "zone blanche"),
        ("levee", 2, "erreur de saisie"),
    ]
    assert all(h["auteur"] == "agence:test-agence" and h["date"] for h in history)
    assert history[0]["nombre"] == 2 and history[1]["nombre"] == 2  # the number lifted
    assert history[1]["version"] == lifted["version"]


# -- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, fake_solver: Any) -> Database:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    monkeypatch.delenv("ALLOCATOR_ENV", raising=False)
    database = Database(url)
    database.upgrade()
    from service.contract.documents import StructureDocument

    with database.write() as s:
        upsert_structure(s, StructureDocument.model_validate(structure_doc(1)))
    rounds.draft_round(database, mois="2021-06", quota=1, author="test")
    return database


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_override_above_remaining_request_exits_2(cli_db: Database) -> None:
    res = _run("round", "override", "1", "--idpg", "1", "--nombre", "10", "--motif", "forcer")
    assert res.exit_code == 2, res.output
    assert "idPG 1" in res.output and "au plus 2" in res.output
    assert "Traceback" not in res.output
    view = rounds.get_round(cli_db, 1)
    assert view["verrous"] == [] and view["resultat"]["status"] != "INFEASIBLE"
    assert view["version"] == 1


def test_cli_override_lever_lifts_the_lock(cli_db: Database) -> None:
    res = _run("round", "override", "1", "--idpg", "1", "--nombre", "0", "--motif", "écarter")
    assert res.exit_code == 0, res.output
    assert rounds.get_round(cli_db, 1)["verrous"][0]["nombre"] == 0
    res = _run("round", "override", "1", "--idpg", "1", "--lever")
    assert res.exit_code == 2 and "motif" in res.output  # the motif is mandatory
    res = _run(
        "round", "override", "1", "--idpg", "1", "--lever", "--nombre", "1", "--motif", "x" * 3
    )
    assert res.exit_code == 2, res.output
    res = _run("round", "override", "1", "--idpg", "1", "--motif", "ni l'un ni l'autre")
    assert res.exit_code == 2, res.output
    res = _run("round", "override", "1", "--idpg", "1", "--lever", "--motif", "réexamen")
    assert res.exit_code == 0, res.output
    assert "verrou levé" in res.output
    view = rounds.get_round(cli_db, 1)
    assert view["verrous"] == []
    assert [h["action"] for h in view["arbitrages"]] == ["verrou", "levee"]
    assert view["arbitrages"][1]["auteur"].startswith("cli")


# -- the review page ----------------------------------------------------------------------------


@pytest.fixture
def page(sqlite_app: Any) -> tuple[Any, Any, str]:
    tokens = raw_tokens(sqlite_app)
    client = sqlite_app.test_client()
    headers = {"Authorization": f"Bearer {tokens['portail']}"}
    for i in (1, 2):
        assert (
            client.put(f"/v1/structures/{i}", json=structure_doc(i), headers=headers).status_code
            == 201
        )
    assert sign_in(client, tokens["agence"]).status_code == 302
    token = csrf(client, "/agence/tours")
    client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "3"})
    return sqlite_app, client, token


def test_page_refuses_lock_above_request_with_a_form_error(page: tuple[Any, Any, str]) -> None:
    app, client, token = page
    database = app.extensions["allocator.db"]
    form = {"csrf_token": token, "idPG": "1", "nombre": "10", "motif": "forcer"}
    resp = client.post("/agence/tours/1/verrous", data=form)
    assert resp.status_code == 302
    shown = flashes(client, "/agence/tours/1")
    assert "idPG 1" in shown and "au plus 2" in shown
    assert "proposition recalculée" not in shown
    view = rounds.get_round(database, 1)
    assert view["version"] == 1 and view["verrous"] == []
    assert view["resultat"]["status"] != "INFEASIBLE"


def test_page_lifts_a_lock_with_a_button(page: tuple[Any, Any, str]) -> None:
    app, client, token = page
    database = app.extensions["allocator.db"]
    form = {"csrf_token": token, "idPG": "2", "nombre": "0", "motif": "financé ailleurs"}
    client.post("/agence/tours/1/verrous", data=form)
    body = text(client.get("/agence/tours/1"))
    assert 'action="/agence/tours/1/verrous/2/levee"' in body
    structure = text(client.get("/agence/tours/1/structures/2"))
    assert 'action="/agence/tours/1/verrous/2/levee"' in structure
    url = "/agence/tours/1/verrous/2/levee"
    # CSRF and motif are required; nothing changes without them
    assert client.post(url, data={"motif": "sans jeton"}).status_code == 400
    client.post(url, data={"csrf_token": token, "motif": " "})
    assert "Le verrou n'a pas été levé." in flashes(client, "/agence/tours/1")
    assert len(rounds.get_round(database, 1)["verrous"]) == 1
    resp = client.post(url, data={"csrf_token": token, "motif": "réexamen du dossier"})
    assert resp.status_code == 302
    shown = flashes(client, "/agence/tours/1")
    assert "Verrou de la structure 2 levé" in shown
    assert "Verrou levé par agence:test-agence" in shown
    view = rounds.get_round(database, 1)
    assert view["verrous"] == []
    assert [(h["action"], h["motif"]) for h in view["arbitrages"]] == [
        ("verrou", "financé ailleurs"),
        ("levee", "réexamen du dossier"),
    ]


# -- the bound is the engine's ------------------------------------------------------------------


@st.composite
def _cases(draw: Any) -> tuple[RoundRequest, int]:
    requested = draw(st.integers(1, 6))
    granted = draw(st.integers(0, 7))
    structure: dict[str, Any] = {
        "idPG": 1,
        "type": draw(st.sampled_from(["COMMUNE", "EPCI", "PRIVATE"])),
        "codeCommune": "01283",
        "nombreConseillersSouhaites": requested,
        "qualiteProjet": draw(st.sampled_from([None, 10.0, 40.0, 80.0])),
        "coselec": [{"nombreConseillersCoselec": granted, "avisCoselec": "POSITIF"}]
        if granted
        else [],
    }
    if draw(st.booleans()):
        structure["prefet"] = [{"avisPrefet": draw(st.sampled_from(["POSITIF", "NÉGATIF"]))}]
    politique: dict[str, Any] = {}
    if draw(st.booleans()):
        politique["plafondParStructure"] = draw(st.integers(1, 8))
    if draw(st.booleans()):
        politique["scoreMinimum"] = draw(st.sampled_from([0.0, 50.0]))
    if draw(st.booleans()):
        politique["avisPrefetNegatif"] = draw(st.sampled_from(["exclure", "penaliser"]))
    request = RoundRequest.model_validate(
        {"quota": 100, "structures": [structure], "politique": politique or None}
    )
    return request, draw(st.integers(-2, 9))


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_lock_bound_accepts_exactly_the_locks_the_engine_finds_consistent(
    case: tuple[RoundRequest, int],
) -> None:
    """The entry check and the engine's own per-structure lock conflicts agree, always."""
    from allocator import Applicant, RoundInput, Territory
    from allocator.consistency import consistency_conflicts
    from allocator.model import build_model
    from service.application import adapter

    request, nombre = case
    try:
        rounds.check_lock(request, 1, nombre)
        accepted = True
    except InvalidRequest as exc:
        accepted = False
        assert exc.errors[0].champ == "nombre" and "idPG 1" in exc.errors[0].message
    if nombre < 0:
        assert not accepted
        return
    (s,) = request.structures
    terms = adapter.applicant_terms(s)
    remaining = terms["requested"] - terms["already_granted"]
    applicant = Applicant(
        **terms,
        code_commune="01283",
        departement="01",
        region="84",
        epci=None,
        gains=tuple(1.0 for _ in range(remaining)),
        locked=nombre,
    )
    model = build_model(
        RoundInput(
            quota=request.quota,
            applicants=(applicant,),
            departements=(Territory(code="01", need=1.0, existing=0),),
        ),
        adapter.policy_from_request(request),
    )
    assert accepted == (not consistency_conflicts(model))
    assert locks.lock_bound(request, 1).maximum >= 0


def test_lock_bound_states_its_reason_in_french() -> None:
    request = RoundRequest.model_validate(
        {
            "quota": 5,
            "structures": [
                {
                    "idPG": 7,
                    "type": "COMMUNE",
                    "codeCommune": "01283",
                    "nombreConseillersSouhaites": 4,
                    "coselec": [{"nombreConseillersCoselec": 1, "avisCoselec": "POSITIF"}],
                }
            ],
            "politique": {"plafondParStructure": 2},
        }
    )
    bound = locks.lock_bound(request, 7)
    assert bound.maximum == 1
    assert "plafond par structure 2 − 1 déjà attribué" in bound.raison
    with pytest.raises(InvalidRequest) as info:
        rounds.check_lock(request, 7, 2)
    assert info.value.errors[0].message.startswith("verrou refusé pour la structure idPG 7")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=-5_000, max_value=5_000))
def test_lock_messages_count_in_plain_digits_agreed_in_number(n: int) -> None:
    """The API's lock messages write a count in plain digits (``1000 postes``, no thousands
    separator, as they always have) and agree the word from 2 (or from -2) on."""
    assert locks.compte(n, "poste") == f"{n} poste" + ("s" if abs(n) >= 2 else "")


def test_lock_refused_at_the_largest_request_writes_plain_digits() -> None:
    request = RoundRequest.model_validate(
        {
            "quota": 5,
            "structures": [
                {
                    "idPG": 7,
                    "type": "COMMUNE",
                    "codeCommune": "01283",
                    "nombreConseillersSouhaites": 1000,
                }
            ],
        }
    )
    with pytest.raises(InvalidRequest) as info:
        rounds.check_lock(request, 7, 1001)
    assert info.value.errors[0].message == (
        "verrou refusé pour la structure idPG 7 : 1001 postes, au plus 1000 postes dans ce tour "
        "(demande restante : 1000 demandés − 0 déjà attribué)"
    )


def test_draft_made_from_a_portal_lock_before_the_upgrade_is_stale(
    app: Any, tokens: Any, fake_solver: Any
) -> None:
    """A draft stored before issue 14 from a document holding a ``verrou`` cannot be committed:
    its fingerprints no longer match the store (the lock is dropped), so it must be redrafted."""
    from service.store.models import Round

    database = app.extensions["allocator.db"]
    legacy = _legacy_document(1, verrou=2)
    with database.write() as s:
        _legacy_structure(s, 1, legacy)
    view = rounds.draft_round(database, mois="2021-06", quota=2, author="test")
    # what that draft held before the upgrade: the lock in its request, the old fingerprint
    with database.write() as s:
        row = s.get(Round, view["id"])
        old_doc = {**legacy, "prefet": [], "coselec": []}
        request = dict(row.snapshot["request"])
        request["structures"] = [{**request["structures"][0], "verrou": 2}]
        row.snapshot = {
            **row.snapshot,
            "request": request,
            "structures": {"1": store.canonical_sha256({"statut": "CREEE", "document": old_doc})},
        }
    # an override re-solves without the stored lock...
    patched = rounds.override_round(
        database, view["id"], id_pg=1, nombre=1, motif="arbitrage", author="test"
    )
    assert fake_solver[-1]["request"].structures[0].verrou is None
    assert fake_solver[-1]["locks"] == {1: 1}
    assert [v["idPG"] for v in patched["verrous"]] == [1]
    # ...and the commit is refused: the draft is stale
    client = app.test_client()
    body = assert_problem(
        client.post(f"/v1/rounds/{view['id']}/commit", headers=tokens["agence"]), 409
    )
    assert "périmé" in body["detail"]


def test_structure_page_states_the_lock_bound(page: tuple[Any, Any, str]) -> None:
    _, client, _ = page
    body = text(client.get("/agence/tours/1/structures/1"))
    assert 'max="2"' in body
    assert "au plus 2 : demande restante : 2 demandés − 0 déjà attribué" in body
