"""Edges of scenario comparison: ``POST /v1/scenarios``, ``allocator scenario compare``, maps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from service import create_app
from service.analysis import scenarios
from service.analysis.maps import scenario_map, scenario_maps
from service.application import pipeline
from service.cli.main import main
from service.contract.schemas import parse_round_request
from tests.service.conftest import make_tokens
from tests.service.test_app import assert_problem
from tests.service.test_scenarios import ALL_TYPES, slice_request


def scenarios_doc(**extra: Any) -> dict[str, Any]:
    return {
        "requete": slice_request(20, 12),
        "variantes": [
            {"nom": "prives", "politique": {"typesEligibles": ALL_TYPES}},
            {"nom": "quota_plus", "quota": 15},
        ],
        **extra,
    }


@pytest.fixture
def real_client(tmp_path: Any) -> Any:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'real.sqlite3'}", "TESTING": True})
    yield app.test_client(), make_tokens(app.extensions["allocator.db"])
    app.extensions["allocator.db"].dispose()


def test_post_scenarios(real_client: Any) -> None:
    client, tokens = real_client
    doc = scenarios_doc(prixEquite=False)
    resp = client.post("/v1/scenarios", json=doc, headers=tokens["analyste"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    direct = scenarios.compare_payload(doc)
    assert body == json.loads(json.dumps(direct))
    assert [v["nom"] for v in body["variantes"]] == ["prives", "quota_plus"]
    assert body["prixEquite"] == []
    for role in ("agence", "admin"):
        again = client.post("/v1/scenarios", json=doc, headers=tokens[role])
        assert again.status_code == 200


def test_post_scenarios_refusals(real_client: Any) -> None:
    client, tokens = real_client
    assert_problem(client.post("/v1/scenarios", json=scenarios_doc()), 401)
    resp = client.post("/v1/scenarios", json=scenarios_doc(), headers=tokens["portail"])
    assert_problem(resp, 403)
    bad = scenarios_doc()
    bad["variantes"][0]["politique"]["poidsAcces"] = -2
    resp = client.post("/v1/scenarios", json=bad, headers=tokens["analyste"])
    problem = assert_problem(resp, 422)
    assert problem["errors"][0]["champ"] == "variantes[0].politique.poidsAcces"
    unknown = scenarios_doc()
    unknown["requete"]["structures"][0]["codeCommune"] = "99999"
    resp = client.post("/v1/scenarios", json=unknown, headers=tokens["analyste"])
    problem = assert_problem(resp, 422)
    assert problem["errors"][0]["champ"] == "structures[0].codeCommune"


def test_cli_compare(tmp_path: Path) -> None:
    src = tmp_path / "scenarios.json"
    src.write_text(json.dumps(scenarios_doc(prixEquite=False)), encoding="utf-8")
    out = tmp_path / "comparaison.json"
    res = CliRunner().invoke(main, ["scenario", "compare", str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report == json.loads(
        json.dumps(scenarios.compare_payload(scenarios_doc(prixEquite=False)))
    )
    assert "quota_plus" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"requete": slice_request(3, 2), "variantes": []}))
    res = CliRunner().invoke(main, ["scenario", "compare", str(bad)])
    assert res.exit_code == 2
    assert "variantes" in res.output
    # without a file the demo round is compared (tests/test_readme_commands.py runs it); a file
    # and --demo together are refused in one French line
    res = CliRunner().invoke(main, ["scenario", "compare", str(src), "--demo", "tour"])
    assert res.exit_code == 2
    assert "SCENARIOS_FILE : un fichier ou --demo tour, pas les deux" in res.output


@pytest.fixture(scope="module")
def small_comparison() -> scenarios.Comparison:
    prepared = pipeline.prepare_round(parse_round_request(slice_request(20, 12)))
    return scenarios.compare_prepared(
        prepared,
        [scenarios.Variant("prives", {"typesEligibles": ALL_TYPES})],
        fairness_prices=False,
    )


def test_png_maps(small_comparison: scenarios.Comparison, tmp_path: Path) -> None:
    dep = small_comparison.report["variantes"][0]["departements"]
    moved = next(d["code"] for d in dep if d["base"] or d["variante"])
    paths = scenario_maps(small_comparison, tmp_path, departement=moved)
    names = {p.name for p in paths}
    assert {
        "besoin_departements.png",
        "couverture_avant_departements.png",
        "couverture_base_departements.png",
        "ecart_prives_departements.png",
        f"ecart_prives_communes_{moved}.png",
    } <= names
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 10_000


def test_interactive_map(small_comparison: scenarios.Comparison, tmp_path: Path) -> None:
    path = scenario_map(small_comparison, tmp_path / "carte.html")
    html = path.read_text(encoding="utf-8")
    for layer in ("Besoin", "Couverture avant", "Couverture après le tour (base)", "prives"):
        assert json.dumps(layer)[1:-1] in html  # layer names sit in JSON (\u escapes)
    assert html.count('"type": "Feature"') >= 101 * 4  # every département, in every layer
    dep = small_comparison.report["variantes"][0]["departements"]
    moved = next(d["code"] for d in dep if d["base"] or d["variante"])
    communes = scenario_map(small_comparison, tmp_path / "communes.html", departement=moved)
    assert "communes du département" in communes.read_text(encoding="utf-8")
    with pytest.raises(ValueError):
        scenario_map(small_comparison, tmp_path / "x.html", departement="00")


def test_scenario_base_counts_existing_advisors_once_after_the_history_import(
    real_client: Any,
) -> None:
    """Once the 2021 history is imported the store is the single source of existing advisors:
    the comparison's base is the round ``POST /v1/allocate`` gives for the same request (the
    history's posts were counted twice, on top of the bundled 2021 advisors)."""
    client, tokens = real_client
    assert client.post("/v1/rounds/import-historique", headers=tokens["agence"]).status_code == 201
    doc = scenarios_doc()
    del doc["requete"]["conseillersExistants"]  # the store's state, as the portal would ask
    compared = client.post("/v1/scenarios", json=doc, headers=tokens["analyste"])
    assert compared.status_code == 200, compared.get_json()
    alone = client.post("/v1/allocate", json=doc["requete"], headers=tokens["analyste"])
    assert alone.status_code == 200, alone.get_json()
    base = compared.get_json()["base"]
    assert base["objectif"] == alone.get_json()["solveur"]["objectif"]
    assert base["attribues"] == alone.get_json()["totaux"]["attribues"]
