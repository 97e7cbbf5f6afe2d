"""Host co-funding through the service: request → pipeline → totals, explanation, packs, money."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from service import create_app
from service.analysis import simulate
from service.application import cycle, export, pipeline
from service.cli.main import main
from service.contract.schemas import InvalidRequest, parse_round_request
from service.explanations.wording import NBSP, nombre
from tests.service.conftest import make_tokens
from tests.service.test_explication import demo_payload

#: idPG of the structures given a co-funding, and how (applied by :func:`cofunded_payload`).
COFUNDING = {
    0: {"cofinancementEur": 20_000.0},  # 30,000 EUR left to the State
    4: {"cofinancementPart": 0.5},
    7: {"cofinancementPart": 1.0},  # the host pays the whole post
}
OVERSEAS = {
    "idPG": 990_001,
    "type": "COMMUNE",
    "nom": "Commune de Saint-Denis (La Réunion)",
    "codeCommune": "97411",
    "nombreConseillersSouhaites": 2,
    "qualiteProjet": 90,
    "createdAt": "2021-03-01T10:00:00Z",
    "cofinancementEur": 100_000.0,  # more than the standard cost: the State pays nothing
}


def base_payload(quota: int = 12) -> dict[str, Any]:
    payload = demo_payload(n=20, quota=quota)
    return {**payload, "structures": [*payload["structures"], dict(OVERSEAS)]}


def cofunded_payload(quota: int = 12, **politique: Any) -> dict[str, Any]:
    payload = base_payload(quota)
    structures = [dict(s) for s in payload["structures"]]
    for index, fields in COFUNDING.items():
        structures[index].update(fields)
    out = {**payload, "structures": structures}
    if politique:
        out["politique"] = politique
    return out


ACCESS_ONLY = {"poidsEquilibre": 0.0, "poidsRepartition": 0.0}


def standard_cost(type_: str, departement: str) -> float:
    """The call's standard cost per post, written out independently of the pipeline."""
    if type_ == "PRIVATE":
        return 32_000.0
    if departement in ("971", "972", "973"):
        return 70_000.0
    if departement in ("974", "976"):
        return 67_500.0
    return 50_000.0


def expected_money(payload: dict[str, Any], result: dict[str, Any]) -> tuple[float, float, float]:
    """(standard, co-funding, State) of the granted posts, from the request alone."""
    by_id = {s["idPG"]: s for s in payload["structures"]}
    standard = cofunding = 0.0
    for d in result["decisions"]:
        n = d["nombreConseillersAttribues"]
        s = by_id[d["idPG"]]
        base = standard_cost(s["type"], d["explication"]["territoire"]["departement"])
        cof = s.get("cofinancementEur")
        if cof is None:
            cof = s.get("cofinancementPart", 0.0) * base
        standard += base * n
        cofunding += min(base, cof) * n
    return standard, cofunding, standard - cofunding


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The same round solved five ways (payload, result)."""
    out = {}
    for name, payload in {
        "plain": base_payload(),
        "cofunded": cofunded_payload(),
        "ample_budget": cofunded_payload(budgetEur=10_000_000.0),
        "budget": cofunded_payload(budgetEur=300_000.0),
        "prioritaire": cofunded_payload(cofinancement="prioritaire"),
        # access only: the term the co-funding factor scales decides alone
        "access_neutral": cofunded_payload(**ACCESS_ONLY),
        "access_prioritaire": cofunded_payload(cofinancement="prioritaire", **ACCESS_ONLY),
    }.items():
        out[name] = (payload, pipeline.run_round(parse_round_request(payload)))
    return out


def grants(result: dict[str, Any]) -> dict[int, int]:
    return {d["idPG"]: d["nombreConseillersAttribues"] for d in result["decisions"]}


# ----------------------------------------------------------------------------- totals
@pytest.mark.parametrize("name", ["plain", "cofunded", "ample_budget", "budget", "prioritaire"])
def test_totals_reconcile(results: dict[str, Any], name: str) -> None:
    payload, result = results[name]
    t = result["totaux"]
    standard, cofunding, state = expected_money(payload, result)
    assert t["coutStandardEur"] == pytest.approx(standard)
    assert t["cofinancementEur"] == pytest.approx(cofunding)
    assert t["coutEtatEur"] == pytest.approx(state)
    assert t["coutEtatEur"] + t["cofinancementEur"] == pytest.approx(t["coutStandardEur"])
    money = result["rapport"]["money"]
    assert money["state_cost_eur"] == pytest.approx(t["coutEtatEur"])
    assert money["cofunding_eur"] == pytest.approx(t["cofinancementEur"])
    per_decision = sum(
        d["explication"]["parametres"]["cofinancement"]["coutEtatCeTourEur"]
        for d in result["decisions"]
    )
    assert per_decision == pytest.approx(t["coutEtatEur"])


def test_the_overseas_host_paying_more_than_the_standard_costs_the_state_nothing(
    results: dict[str, Any],
) -> None:
    _, result = results["cofunded"]
    (d,) = [d for d in result["decisions"] if d["idPG"] == OVERSEAS["idPG"]]
    cost = d["explication"]["details"]["cost"]
    assert cost == {"state_eur": 0.0, "standard_eur": 67_500.0, "cofunding_eur": 67_500.0}


# -------------------------------------------------------------------- quota vs budget
def test_neutral_cofunding_gives_the_same_grants_when_only_the_quota_binds(
    results: dict[str, Any],
) -> None:
    plain = results["plain"][1]
    for name in ("cofunded", "ample_budget"):
        other = results[name][1]
        assert grants(other) == grants(plain), name
        assert other["totaux"]["contrainteLiante"] == "quota"
        assert [d["explication"]["priorites"] for d in other["decisions"]] == [
            d["explication"]["priorites"] for d in plain["decisions"]
        ]
    assert results["ample_budget"][1]["totaux"]["budgetRestantEur"] == pytest.approx(
        10_000_000.0 - results["ample_budget"][1]["totaux"]["coutEtatEur"]
    )


def test_budget_binding_is_reported_with_its_guarantees(results: dict[str, Any]) -> None:
    _, result = results["budget"]
    t = result["totaux"]
    assert t["budgetEur"] == 300_000.0 and t["coutEtatEur"] <= 300_000.0
    assert "budget" in t["contrainteLiante"].split("+")
    assert t["attribues"] < t["quota"]
    report = result["rapport"]
    assert report["binding_constraints"] == t["contrainteLiante"].split("+")
    g = report["guarantees"]
    assert {"house_monotone", "cofunding_neutral", "deterministic"} <= set(g["kept"])
    if not report["laminar"]:  # unequal State costs: a knapsack, its price is reported
        assert {"budget_monotone", "priority_list"} <= set(g["lost"])
        if "optimal" in g["lost"]:
            price = g["prices"]["optimal_vs_monotone"]
            assert price["objective"] == report["price_of_monotonicity"] >= 0
    text = "\n".join(d["explication"]["texte"] for d in result["decisions"])
    assert "Ce qui a arrêté le tour : le budget" in text


def test_prioritaire_favours_cofunded_hosts(results: dict[str, Any]) -> None:
    neutral, prio = results["access_neutral"][1], results["access_prioritaire"][1]
    assert prio["rapport"]["policy"]["cofunding_priority"] == "prioritaire"
    assert neutral["rapport"]["policy"]["cofunding_priority"] == "neutre"
    cofunded_ids = {
        d["idPG"]
        for d in prio["decisions"]
        if d["explication"]["details"]["cost"]["cofunding_eur"] > 0
    }
    assert len(cofunded_ids) == 4
    for d in prio["decisions"]:
        factor = d["explication"]["details"]["cofunding_factor"]
        assert (factor > 1.0) is (d["idPG"] in cofunded_ids)
        assert d["explication"]["parametres"]["cofinancement"]["facteur"] == factor
    assert grants(prio) != grants(neutral)
    assert sum(grants(prio)[i] for i in cofunded_ids) > sum(
        grants(neutral)[i] for i in cofunded_ids
    )
    assert prio["totaux"]["attribues"] == neutral["totaux"]["attribues"]
    g = prio["rapport"]["guarantees"]
    assert "cofunding_neutral" in g["lost"]
    assert {"optimal", "house_monotone", "priority_list"} <= set(g["kept"])
    price = g["prices"]["cofunding_neutral"]
    assert price["posts_moved"] >= 1 and price["objective"] > 0
    assert price["neutral"]["state_cost_eur"] == pytest.approx(neutral["totaux"]["coutEtatEur"])


def test_prioritaire_with_default_weights_is_a_bounded_nudge(results: dict[str, Any]) -> None:
    """Only the applicant's own access term is scaled; here the group terms decide the round."""
    neutral, prio = results["cofunded"][1], results["prioritaire"][1]
    assert grants(prio) == grants(neutral)
    assert prio["rapport"]["guarantees"]["prices"]["cofunding_neutral"]["posts_moved"] == 0


# -------------------------------------------------------------------- explanation
def test_explanation_shows_state_cost_and_cofunding(results: dict[str, Any]) -> None:
    payload, result = results["cofunded"]
    d = result["decisions"][0]
    e = d["explication"]
    assert d["idPG"] == payload["structures"][0]["idPG"]
    don = e["donnees"]["cofinancement"]
    assert don["declareEur"] == 20_000.0 and don["declarePart"] is None
    assert don["coutStandardParPosteEur"] == 50_000.0
    assert don["coutEtatParPosteEur"] == 30_000.0
    assert don["cofinancementParPosteEur"] == 20_000.0
    par = e["parametres"]["cofinancement"]
    assert par["regle"] == "neutre" and par["facteur"] == 1.0
    n = d["nombreConseillersAttribues"]
    assert par["coutEtatCeTourEur"] == 30_000.0 * n
    assert par["cofinancementCeTourEur"] == 20_000.0 * n
    text = e["texte"]
    assert f"cofinancement déclaré par votre structure : 20{NBSP}000 €" in text
    assert f"coût pour l'État : 30{NBSP}000 € par poste" in text
    assert "Règle du cofinancement « neutre »" in text
    part = result["decisions"][4]["explication"]
    assert "50,0 % du coût standard" in part["texte"]
    plain = results["plain"][1]["decisions"][1]["explication"]["texte"]
    assert "aucun cofinancement déclaré" in plain


def test_prioritaire_explanation_states_the_factor(results: dict[str, Any]) -> None:
    _, result = results["prioritaire"]
    e = result["decisions"][0]["explication"]
    factor = e["details"]["cofunding_factor"]
    assert factor == pytest.approx(50_000 / 30_000)
    assert "Règle du cofinancement « prioritaire »" in e["texte"]
    assert f"facteur cofinancement {nombre(factor, 3)}" in e["texte"]
    step = e["operations"]["etapes"][1]
    assert step["composanteAcces"][0] == pytest.approx(
        result["rapport"]["policy"]["weight_access"]
        * e["details"]["quality_factor"]
        * factor
        * e["details"]["gains"][0],
        abs=1e-5,
    )


# -------------------------------------------------------------------- committee packs
def test_committee_pack_columns(results: dict[str, Any], tmp_path: Path) -> None:
    payload, result = results["budget"]
    pack = export.pack_from_result(result, parse_round_request(payload))
    rows = export.decision_rows(pack)
    by_id = {d["idPG"]: d for d in result["decisions"]}
    for r in rows:
        cost = by_id[r["idPG"]]["explication"]["details"]["cost"]
        assert r["coût pour l'État par poste (euros)"] == cost["state_eur"]
        assert r["cofinancement par poste (euros)"] == cost["cofunding_eur"]
        assert r["coût standard par poste (euros)"] == cost["standard_eur"]
    t = result["totaux"]
    assert sum(r["coût pour l'État ce tour (euros)"] for r in rows) == pytest.approx(
        t["coutEtatEur"]
    )
    assert sum(r["cofinancement ce tour (euros)"] for r in rows) == pytest.approx(
        t["cofinancementEur"]
    )
    summary = export.summary_rows(pack, rows)
    assert sum(s["coût pour l'État ce tour (euros)"] for s in summary) == pytest.approx(
        t["coutEtatEur"]
    )
    tour = dict(export.round_rows(pack))
    assert tour["cofinancement des structures (euros)"] == t["cofinancementEur"]
    assert tour["budget du tour (euros)"] == 300_000.0
    assert tour["contrainte liante"] == t["contrainteLiante"]
    assert tour["politique : effet du cofinancement sur la priorité (cofunding_priority)"] == (
        "neutre"
    )
    paths = export.export_round(pack, tmp_path, xlsx=False)
    header = paths[0].read_text(encoding="utf-8-sig").splitlines()[0]
    assert "coût pour l'État par poste (euros)" in header


# ------------------------------------------------------------------------ bad input
BAD = [
    ({"cofinancementEur": -1.0}, "structures[0].cofinancementEur"),
    ({"cofinancementPart": 1.5}, "structures[0].cofinancementPart"),
    ({"cofinancementPart": -0.1}, "structures[0].cofinancementPart"),
    ({"cofinancementEur": 1000.0, "cofinancementPart": 0.2}, "structures[0].cofinancementPart"),
    ({"cofinancementEur": "beaucoup"}, "structures[0].cofinancementEur"),
]


def _bad_payload(fields: dict[str, Any]) -> dict[str, Any]:
    s = {"idPG": 1, "type": "COMMUNE", "codeCommune": "01283", "nombreConseillersSouhaites": 1}
    return {"quota": 1, "structures": [{**s, **fields}]}


@pytest.mark.parametrize(("fields", "champ"), BAD)
def test_bad_cofunding_is_a_field_error(fields: dict[str, Any], champ: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_round_request(_bad_payload(fields))
    assert [e.champ for e in info.value.errors] == [champ]
    if "cofinancementPart" in fields and "cofinancementEur" in fields:
        assert "s'excluent" in info.value.errors[0].message


def test_bad_policy_switch_is_a_field_error() -> None:
    payload = {**_bad_payload({}), "politique": {"cofinancement": "riches_d_abord"}}
    with pytest.raises(InvalidRequest) as info:
        parse_round_request(payload)
    assert [e.champ for e in info.value.errors] == ["politique.cofinancement"]


def test_bad_cofunding_over_http_is_422(sqlite_client: Any, sqlite_tokens: Any) -> None:
    body = _bad_payload({"cofinancementEur": 1000.0, "cofinancementPart": 0.2})
    resp = sqlite_client.post("/v1/allocate", json=body, headers=sqlite_tokens["portail"])
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert [e["champ"] for e in resp.get_json()["errors"]] == ["structures[0].cofinancementPart"]


def test_bad_cofunding_on_the_command_line_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "demande.json"
    path.write_text(json.dumps(_bad_payload({"cofinancementEur": -5})), encoding="utf-8")
    result = CliRunner().invoke(main, ["allocate", str(path)])
    assert result.exit_code == 2
    assert "structures[0].cofinancementEur" in result.stderr


def test_cli_summary_states_the_money(tmp_path: Path) -> None:
    path = tmp_path / "demande.json"
    payload = cofunded_payload(quota=3, budgetEur=1_000_000.0)
    payload["structures"] = payload["structures"][:8]
    path.write_text(json.dumps(payload), encoding="utf-8")
    result = CliRunner().invoke(main, ["allocate", str(path), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    assert "cofinancement" in result.stderr and "contrainte liante : quota" in result.stderr
    out = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert out["totaux"]["contrainteLiante"] == "quota"


# ------------------------------------------------------------------ programme money
def test_post_costs_with_a_share() -> None:
    assert cycle.post_costs_eur("COMMUNE", "01283", cofinancement_part=0.25)[1] == 37_500.0
    assert cycle.post_costs_eur("EPCI", "97302", cofinancement_part=0.5) == (70_000.0, 35_000.0)
    assert cycle.post_costs_eur("COMMUNE", "97411", 80_000.0) == (67_500.0, 0.0)
    assert cycle.post_costs_eur("COMMUNE", "01283", 10_000.0, duree_mois=36) == (
        75_000.0,
        60_000.0,
    )


def test_programme_totals_split_state_cost_and_cofunding(tmp_path: Path) -> None:
    """A committed round on SQLite: the programme's money reconciles per round and overall."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}", "TESTING": True})
    client = app.test_client()
    db = app.extensions["allocator.db"]
    tokens = make_tokens(db)
    docs = cofunded_payload()["structures"][:10]
    for doc in docs:
        resp = client.put(f"/v1/structures/{doc['idPG']}", json=doc, headers=tokens["portail"])
        assert resp.status_code == 201, resp.get_data(as_text=True)
    rid = client.post(
        "/v1/rounds", json={"mois": "2021-07", "quota": 8}, headers=tokens["agence"]
    ).get_json()["id"]
    view = client.post(f"/v1/rounds/{rid}/commit", headers=tokens["agence"]).get_json()
    assert view["statut"] == "committed"
    totaux = view["resultat"]["totaux"]
    prog = cycle.programme_state(db, with_departements=False)
    (tour,) = [t for t in prog["tours"] if t["id"] == rid]
    assert tour["coutEtatEur"] == pytest.approx(totaux["coutEtatEur"])
    assert tour["cofinancementEur"] == pytest.approx(totaux["cofinancementEur"])
    assert totaux["cofinancementEur"] > 0
    assert prog["coutEtatEur"] + prog["cofinancementEur"] == pytest.approx(prog["coutStandardEur"])
    assert sum(t["cofinancementEur"] for t in prog["tours"]) == pytest.approx(
        prog["cofinancementEur"]
    )
    db.dispose()


# ------------------------------------------------------------------------ simulation
def test_simulation_reports_budget_used_and_cofunding() -> None:
    apps = [dict(a) for a in cofunded_payload()["structures"]]
    for a in apps:
        a["createdAt"] = "2021-03-01T10:00:00Z"
        a["coselec"] = []
    sim = simulate.simulate(
        "2021-03",
        "2021-04",
        policies=("moteur", "premier_arrive"),
        applications=apps,
        envelope=12,
        budget_eur=250_000.0,
    )
    m = sim.monthly
    assert sim.parameters["budgetEur"] == 250_000.0
    for _, rows in m.groupby("politique"):
        rows = rows.sort_values("mois")
        assert rows["coutEtatCumulEur"].iloc[-1] <= 250_000.0
        assert rows["budgetUtilise"].iloc[-1] == pytest.approx(
            rows["coutEtatCumulEur"].iloc[-1] / 250_000.0
        )
        assert rows["cofinancementCumulEur"].iloc[-1] == pytest.approx(
            rows["cofinancementEur"].sum()
        )
    assert m["cofinancementEur"].sum() > 0
    assert "cofinancementCumulEur" in simulate.summary_text(sim)
