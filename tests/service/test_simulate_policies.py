"""The in-memory policy simulation: totals reconcile with the rounds, outputs are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from allocator import programme
from service.analysis import simulate
from service.application import pipeline
from service.contract.schemas import StructureIn, parse_round_request


@pytest.fixture(scope="module")
def applications() -> list[dict[str, Any]]:
    """First-wave structures of three départements plus synthetic June arrivals."""
    docs = [
        d
        for d in simulate.historical_applications()
        if d["codeCommune"][:2] in ("01", "02") or d["codeCommune"][:3] == "974"
    ]
    return docs + simulate.synthetic_applications("2021-06", 12, seed=7, start_id=900_000)


@pytest.fixture(scope="module")
def sim(applications: list[dict[str, Any]], real_pipeline_module: None) -> simulate.Simulation:
    return simulate.simulate("2021-03", "2021-06", applications=applications, envelope=50)


@pytest.fixture(scope="module")
def real_pipeline_module() -> None:
    try:
        import service.application.pipeline  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"pipeline unavailable: {exc}")


def test_synthetic_generator_is_documented_and_valid() -> None:
    a = simulate.synthetic_applications("2021-09", 40, seed=3, start_id=10)
    b = simulate.synthetic_applications("2021-09", 40, seed=3, start_id=10)
    assert a == b and len(a) == 40
    assert simulate.synthetic_applications("2021-10", 40, seed=3, start_id=10) != a
    for doc in a:
        s = StructureIn.model_validate(doc)
        assert 1 <= s.nombreConseillersSouhaites <= 4
        assert s.createdAt is not None and s.createdAt.strftime("%Y-%m") == "2021-09"
    assert [d["idPG"] for d in a] == list(range(10, 50))


def test_totals_reconcile_with_the_rounds(
    sim: simulate.Simulation, applications: list[dict[str, Any]]
) -> None:
    m = sim.monthly
    places = {programme.departement_of(a["codeCommune"]) for a in applications}
    assert sorted(m["politique"].unique()) == sorted(simulate.POLICIES)
    assert list(m["mois"].unique()) == ["2021-03", "2021-04", "2021-05", "2021-06"]
    for policy, rows in m.groupby("politique"):
        rows = rows.sort_values("mois")
        assert (rows["attribues"] <= rows["quota"]).all()
        assert (rows["attribues"].cumsum() == rows["cumul"]).all()
        final = int(rows["cumul"].iloc[-1])
        assert final == sum(sim.final_grants[str(policy)].values())
        assert final <= 50
        assert rows["enveloppeUtilisee"].iloc[-1] == pytest.approx(final / 50)
        deps = sim.departements[
            (sim.departements["politique"] == policy) & (sim.departements["mois"] == "2021-06")
        ]
        assert deps["postes"].sum() == final
        assert set(deps.loc[deps["postes"] > 0, "departement"]) <= places
        assert (
            (rows["partHorsRepartitionBesoin"] >= 0) & (rows["partHorsRepartitionBesoin"] <= 1)
        ).all()
        assert (
            (rows["populationFragileAPortee"] >= 0) & (rows["populationFragileAPortee"] <= 1)
        ).all()
    # the quota binds: the policies must choose, and they do not all choose alike
    assert (m["postesDemandes"] > m["quota"]).any()
    assert len({tuple(sorted(g.items())) for g in sim.final_grants.values()}) > 1


def test_engine_month_is_the_service_round(
    sim: simulate.Simulation, applications: list[dict[str, Any]]
) -> None:
    """Month 1 of the engine policy = ``pipeline.run_round`` on the same request."""
    first = sim.monthly[(sim.monthly["politique"] == "moteur") & (sim.monthly["mois"] == "2021-03")]
    cutoff = simulate.cycle.applications_cutoff("2021-03")
    docs = [a for a in applications if simulate.cycle.received_before(a, cutoff)]
    quota = int(first["quota"].iloc[0])
    payload = simulate._request(docs, simulate.PolicyState("moteur"), quota, "2021-03")
    result = pipeline.run_round(parse_round_request(payload))
    assert result["totaux"]["attribues"] == int(first["attribues"].iloc[0])
    assert result["totaux"]["coutEtatEur"] == pytest.approx(float(first["coutEtatEur"].iloc[0]))


def test_outputs_written(sim: simulate.Simulation, tmp_path: Path) -> None:
    paths = simulate.write_outputs(sim, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == [
        "simulation_departements.csv",
        "simulation_departements.png",
        "simulation_mensuelle.csv",
        "simulation_mensuelle.png",
    ]
    for p in paths:
        assert p.stat().st_size > 0
    back = pd.read_csv(tmp_path / "simulation_mensuelle.csv")
    assert len(back) == len(sim.monthly)
    assert "cumul" in simulate.summary_text(sim)


def test_unknown_policy_refused() -> None:
    from service.contract.schemas import InvalidRequest

    with pytest.raises(InvalidRequest):
        simulate.simulate("2021-03", "2021-03", policies=("loterie",), applications=[])
