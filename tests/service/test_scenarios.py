"""Scenario comparison (service.analysis.scenarios): consistency of the report, causes, fairness
prices.

The comparisons run on a slice of the realistic demo round (bundled 2021 hosts, synthetic scores
and préfet opinions) so that each solve is fast; the national case is benchmarked separately
(``benchmarks/bench_scenarios.py``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.analysis import metrics, rounds, runs, scenarios, tables
from service.application import pipeline
from service.application.history import demo_request
from service.contract import documents
from service.contract.schemas import InvalidRequest, parse_round_request

ALL_TYPES = ["COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE"]


def slice_request(n: int = 60, quota: int = 40, **politique: Any) -> dict[str, Any]:
    """The first ``n`` structures of the demo round (by idPG), with private hosts among them."""
    payload = demo_request()
    docs = sorted(payload["structures"], key=lambda d: d["idPG"])
    private = [d for d in docs if d["type"] == "PRIVATE"][:5]
    public = [d for d in docs if d["type"] != "PRIVATE"][: n - len(private)]
    payload["structures"] = sorted(public + private, key=lambda d: d["idPG"])
    payload["quota"] = quota
    if politique:
        payload["politique"] = politique
    return payload


@pytest.fixture(scope="module")
def prepared() -> pipeline.PreparedRound:
    return pipeline.prepare_round(parse_round_request(slice_request()))


VARIANTS = [
    scenarios.Variant("prives", {"typesEligibles": ALL_TYPES}),
    scenarios.Variant("sans_equilibre", {"poidsEquilibre": 0.0}),
    scenarios.Variant("quota_plus", quota=48),
    scenarios.Variant("combo", {"poidsEquilibre": 0.0, "typesEligibles": ALL_TYPES}, quota=44),
]


@pytest.fixture(scope="module")
def runner(prepared: pipeline.PreparedRound) -> runs.ScenarioRunner:
    """One runner for the module: its cache of solved policies is shared by the tests."""
    return runs.ScenarioRunner(prepared)


@pytest.fixture(scope="module")
def comparison(
    prepared: pipeline.PreparedRound, runner: runs.ScenarioRunner
) -> scenarios.Comparison:
    return scenarios.compare_prepared(prepared, VARIANTS, runner=runner)


def _block(comparison: scenarios.Comparison, nom: str) -> dict[str, Any]:
    return next(b for b in comparison.report["variantes"] if b["nom"] == nom)


def _without_timing(result: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(result))
    out["solveur"].pop("secondes", None)
    return out


def test_prepared_solve_is_run_round(prepared: pipeline.PreparedRound) -> None:
    """The factored pipeline gives run_round's result, byte for byte apart from the timing."""
    direct = pipeline.run_round(prepared.request)
    again = pipeline.solve_prepared(prepared)
    assert pipeline.dumps(_without_timing(direct)) == pipeline.dumps(_without_timing(again))


def test_base_is_the_request_round(
    prepared: pipeline.PreparedRound, comparison: scenarios.Comparison
) -> None:
    direct = pipeline.run_round(prepared.request)
    assert comparison.base.grants() == {
        d["idPG"]: d["nombreConseillersAttribues"] for d in direct["decisions"]
    }
    assert comparison.report["base"]["attribues"] == direct["totaux"]["attribues"]


def test_equity_uses_the_shared_metrics(
    prepared: pipeline.PreparedRound, comparison: scenarios.Comparison
) -> None:
    for run in (comparison.base, *comparison.variants):
        assert run.equity == metrics.round_equity(run.result, prepared.existing)
    block = _block(comparison, "sans_equilibre")
    after = comparison.run("sans_equilibre").equity["apres"]
    base_after = comparison.base.equity["apres"]
    assert block["ecarts"]["gini"] == pytest.approx(after["gini"] - base_after["gini"])


def _check_block(comparison: scenarios.Comparison, block: dict[str, Any]) -> None:
    base = comparison.base.grants()
    other = comparison.run(block["nom"]).grants()
    moved = {i for i in base if base[i] != other[i]}
    assert {m["idPG"] for m in block["structures"]} == moved
    for m in block["structures"]:
        assert (m["base"], m["variante"]) == (base[m["idPG"]], other[m["idPG"]])
        assert m["ecart"] == m["variante"] - m["base"] != 0
        assert m["causes"], m
    delta = sum(other.values()) - sum(base.values())
    assert sum(m["ecart"] for m in block["structures"]) == delta == block["ecarts"]["attribues"]
    assert block["gagnants"] == sum(1 for m in block["structures"] if m["ecart"] > 0)
    assert block["perdants"] == sum(1 for m in block["structures"] if m["ecart"] < 0)
    deps = block["departements"]
    assert [d["code"] for d in deps] == sorted(d["code"] for d in deps)
    assert sum(d["base"] for d in deps) == sum(base.values())
    assert sum(d["variante"] for d in deps) == sum(other.values())
    for d in deps:
        assert d["ecartPartBase"] == d["existants"] + d["base"] - d["partEquitable"]


def test_every_variant_block_is_consistent(comparison: scenarios.Comparison) -> None:
    assert len(comparison.report["variantes"]) == len(VARIANTS)
    for block in comparison.report["variantes"]:
        _check_block(comparison, block)


def test_single_change_is_the_cause(comparison: scenarios.Comparison) -> None:
    block = _block(comparison, "sans_equilibre")
    assert [c["champ"] for c in block["changements"]] == ["poidsEquilibre"]
    assert block["structures"], "switching off the balance term should move someone"
    assert all(m["causes"] == ["poidsEquilibre"] for m in block["structures"])


def test_admitting_private_hosts_is_an_eligibility_move(comparison: scenarios.Comparison) -> None:
    block = _block(comparison, "prives")
    gained = [m for m in block["structures"] if m["type"] == "PRIVATE"]
    assert gained, "private hosts should gain posts once eligible"
    for m in gained:
        assert m["ecart"] > 0
        assert m["mecanisme"] == "ELIGIBILITE"
        assert "TYPE_NON_ELIGIBLE" in m["motifsBase"]
        assert "TYPE_NON_ELIGIBLE" not in m["motifsVariante"]
    # Private hosts cost the State less: same posts, lower cost.
    assert block["ecarts"]["coutEtatEur"] < 0


def test_more_quota_never_costs_anyone(comparison: scenarios.Comparison) -> None:
    block = _block(comparison, "quota_plus")
    assert block["perdants"] == 0
    assert block["ecarts"]["attribues"] == 8
    assert all(m["causes"] == ["quota"] for m in block["structures"])


def test_causes_of_a_combined_variant(comparison: scenarios.Comparison) -> None:
    block = _block(comparison, "combo")
    assert [c["champ"] for c in block["changements"]] == [
        "typesEligibles",
        "poidsEquilibre",
        "quota",
    ]
    allowed = {"typesEligibles", "poidsEquilibre", "quota", "interaction"}
    for m in block["structures"]:
        assert set(m["causes"]) <= allowed
        if m["type"] == "PRIVATE" and m["ecart"] > 0:
            assert "typesEligibles" in m["causes"]
    # Shared runs are solved once (cache): base + 4 variants + quota 44 alone (the two fields
    # alone are variants already solved) + 3 reverted runs + 2 fairness prices.
    assert comparison.report["resolutions"] <= 1 + 4 + 1 + 3 + 2


def test_fairness_prices(comparison: scenarios.Comparison) -> None:
    prices = {p["regle"]: p for p in comparison.report["prixEquite"]}
    # Defaults: both weights on, no département cap.
    assert set(prices) == {"poidsEquilibre", "poidsRepartition"}
    for p in prices.values():
        # Imposing a rule can only lose objective measured without the rule.
        assert p["prix"]["perteObjectif"] >= -1e-6
        assert p["valeurSansRegle"] == 0.0
        block = p["sansRegle"]
        _check_block(comparison, block)
        assert block["changements"] == [
            {"champ": p["regle"], "base": 1.0, "variante": 0.0},
        ]


def test_price_of_the_departement_cap() -> None:
    request = parse_round_request(slice_request(plafondDepartement="part_equitable"))
    comparison = scenarios.compare(
        request, [scenarios.Variant("acces", {"poidsAcces": 2.0})], causes=False
    )
    prices = {p["regle"]: p for p in comparison.report["prixEquite"]}
    assert "plafondDepartement" in prices
    price = prices["plafondDepartement"]["prix"]
    assert price["perteObjectif"] >= -1e-6
    assert prices["plafondDepartement"]["valeurSansRegle"] == "aucun"


def test_comparison_is_deterministic(prepared: pipeline.PreparedRound) -> None:
    a = scenarios.compare_prepared(prepared, VARIANTS[:2], fairness_prices=False)
    b = scenarios.compare_prepared(prepared, VARIANTS[:2], fairness_prices=False)
    assert json.dumps(a.report, sort_keys=True) == json.dumps(b.report, sort_keys=True)
    assert "secondes" not in json.dumps(a.report)


def test_invalid_variants_name_the_field(prepared: pipeline.PreparedRound) -> None:
    with pytest.raises(InvalidRequest) as exc:
        scenarios.compare_prepared(prepared, [scenarios.Variant("x", {"poidsAcces": -1})])
    assert exc.value.errors[0].champ == "variantes[0].politique.poidsAcces"
    with pytest.raises(InvalidRequest):
        scenarios.compare_prepared(prepared, [scenarios.Variant("x"), scenarios.Variant("x")])
    with pytest.raises(InvalidRequest):
        scenarios.compare_prepared(prepared, [scenarios.Variant("base")])
    too_many = [scenarios.Variant(f"v{i}") for i in range(documents.MAX_VARIANTS + 1)]
    with pytest.raises(InvalidRequest):
        scenarios.compare_prepared(prepared, too_many)


def test_parse_scenarios_errors() -> None:
    payload = {"requete": slice_request(5, 2), "variantes": [{"nom": "a", "quota": -1}]}
    with pytest.raises(InvalidRequest) as exc:
        documents.parse_scenarios(payload)
    assert [e.champ for e in exc.value.errors] == ["variantes[0].quota"]
    with pytest.raises(InvalidRequest) as exc:
        documents.parse_scenarios({"requete": slice_request(5, 2), "variantes": []})
    assert exc.value.errors[0].champ == "variantes"
    bad = slice_request(5, 2)
    bad["structures"][0]["codeCommune"] = "1"
    with pytest.raises(InvalidRequest) as exc:
        documents.parse_scenarios({"requete": bad, "variantes": [{"nom": "a"}]})
    assert exc.value.errors[0].champ == "requete.structures[0].codeCommune"
    with pytest.raises(InvalidRequest):
        documents.parse_scenarios([])


def test_standard_variants_are_valid(prepared: pipeline.PreparedRound) -> None:
    variants = scenarios.standard_variants(prepared.request)
    names = [v.nom for v in variants]
    assert len(set(names)) == len(names) <= documents.MAX_VARIANTS
    runner = runs.ScenarioRunner(prepared)
    for v in variants:
        runner.policy(v.politique)  # validates


def test_national_request_holds_every_located_host() -> None:
    payload = rounds.national_request()
    assert len(payload["structures"]) == 1443
    assert payload["conseillersExistants"] == []
    ids = [s["idPG"] for s in payload["structures"]]
    assert len(set(ids)) == len(ids)
    parse_round_request(payload)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    access=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    distribution=st.sampled_from([0.0, 1.0, 2.5]),
    balance=st.sampled_from([0.0, 0.3, 1.0, 4.0]),
    quota=st.integers(min_value=20, max_value=55),
)
def test_random_variants_are_consistent(
    prepared: pipeline.PreparedRound,
    runner: runs.ScenarioRunner,
    access: float,
    distribution: float,
    balance: float,
    quota: int,
) -> None:
    variant = scenarios.Variant(
        "v",
        {"poidsAcces": access, "poidsRepartition": distribution, "poidsEquilibre": balance},
        quota=quota,
    )
    comparison = scenarios.compare_prepared(
        prepared, [variant], fairness_prices=False, runner=runner
    )
    _check_block(comparison, comparison.report["variantes"][0])


def test_tables(comparison: scenarios.Comparison) -> None:
    dep = tables.departement_table(comparison, "prives")
    assert len(dep) == len(comparison.prepared.geo.departements)
    assert dep["ecart"].sum() == _block(comparison, "prives")["ecarts"]["attribues"]
    assert (dep["couverture_base"] >= dep["couverture_avant"]).all()
    com = tables.commune_table(comparison, "prives")
    assert com["base"].sum() == comparison.report["base"]["attribues"]
    moved = tables.structure_table(comparison, "prives")
    assert len(moved) == len(_block(comparison, "prives")["structures"])
