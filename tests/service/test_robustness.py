"""Robustness draws (service.analysis.robustness): determinism, serial = Dask, stability and
flags."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.analysis import robustness as rb
from service.application import pipeline
from service.cli.main import main
from service.contract.schemas import parse_round_request
from tests.service.test_scenarios import slice_request

DRAWS = 12


@pytest.fixture(scope="module")
def prepared() -> pipeline.PreparedRound:
    return pipeline.prepare_round(parse_round_request(slice_request()))


@pytest.fixture(scope="module")
def base(prepared: pipeline.PreparedRound) -> rb.RobustnessBase:
    return rb.build_base(prepared)


@pytest.fixture(scope="module")
def serial(prepared: pipeline.PreparedRound) -> rb.Robustness:
    return rb.robustness_prepared(prepared, DRAWS, 7)


def test_baseline_is_the_round(prepared: pipeline.PreparedRound, serial: rb.Robustness) -> None:
    result = pipeline.run_round(prepared.request)
    grants = [d["nombreConseillersAttribues"] for d in result["decisions"]]
    assert serial.baseline.tolist() == grants
    assert [r["base"] for r in serial.report["structures"]] == grants


def test_unperturbed_input_is_the_baseline(base: rb.RobustnessBase) -> None:
    ri, policy = rb.perturbed_input(base, np.ones(len(base.fragile)), np.ones(3))
    assert ri == base.round_input
    assert policy == base.policy


def test_draws_are_a_function_of_seed_and_index(base: rb.RobustnessBase) -> None:
    a = rb.draw(base, 7, 3)
    assert np.array_equal(a, rb.draw(base, 7, 3))
    r1, r2 = rb.draw_rng(7, 3), rb.draw_rng(7, 4)
    assert r1.random() != r2.random()
    assert rb.draw_rng(7, 3).random() == rb.draw_rng(7, 3).random()


def test_chunking_does_not_change_the_draws(base: rb.RobustnessBase, serial: rb.Robustness) -> None:
    grants, info = rb.run_draws(base, DRAWS, 7, chunk_size=5)
    assert info["chunks"] == 3
    assert np.array_equal(grants, serial.grants)
    first, _ = rb.run_draws(base, 4, 7, chunk_size=1)
    assert np.array_equal(first, serial.grants[:4])


def test_zero_noise_is_perfectly_stable(prepared: pipeline.PreparedRound) -> None:
    result = rb.robustness_prepared(prepared, 3, 1, need_noise=0.0, weight_noise=0.0)
    assert (result.grants == result.baseline[None, :]).all()
    assert result.report["aRevoir"] == []
    assert all(r["stabilite"] == 1.0 for r in result.report["structures"])
    assert result.report["resume"]["postesDeplacesMax"] == 0


def test_report_flags_below_threshold(serial: rb.Robustness) -> None:
    rep = serial.report
    assert rep["parametres"]["seuilStabilite"] == rb.STABILITY_THRESHOLD
    stab = rb.stability(serial.baseline, serial.grants)
    for r, s in zip(rep["structures"], stab, strict=True):
        assert r["stabilite"] == pytest.approx(s)
        assert r["aRevoir"] == (s < rb.STABILITY_THRESHOLD)
        assert r["min"] <= r["base"] <= r["max"] or r["stabilite"] == 0
        assert r["min"] <= r["moyenne"] <= r["max"]
    assert rep["aRevoir"] == [r["idPG"] for r in rep["structures"] if r["aRevoir"]]
    # Every draw distributes the same quota: perturbation moves posts, never adds any.
    assert (serial.grants.sum(axis=1) == serial.baseline.sum()).all()
    review = rb.review_table(serial)
    assert len(review) == len(rep["aRevoir"])


def test_report_threshold_is_a_parameter(
    prepared: pipeline.PreparedRound, base: rb.RobustnessBase, serial: rb.Robustness
) -> None:
    strict = rb.report(prepared, base, serial.baseline, serial.grants, 7, threshold=1.0)
    lax = rb.report(prepared, base, serial.baseline, serial.grants, 7, threshold=0.01)
    assert len(strict["aRevoir"]) >= len(serial.report["aRevoir"]) >= len(lax["aRevoir"])
    assert strict["aRevoir"] == [r["idPG"] for r in strict["structures"] if r["stabilite"] < 1.0]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10**6))
def test_perturbation_keeps_the_invariants(base: rb.RobustnessBase, seed: int, index: int) -> None:
    rng = rb.draw_rng(seed, index)
    factors = rng.uniform(1 - base.need_noise, 1 + base.need_noise, size=len(base.fragile))
    weights = rng.uniform(1 - base.weight_noise, 1 + base.weight_noise, size=3)
    ri, policy = rb.perturbed_input(base, factors, weights)
    total = sum(t.need for t in base.round_input.departements)
    assert sum(t.need for t in ri.departements) == pytest.approx(total, rel=1e-9)
    for old, new in zip(base.round_input.applicants, ri.applicants, strict=True):
        assert old.id_pg == new.id_pg and len(old.gains) == len(new.gains)
        assert all(a >= b for a, b in zip(new.gains, new.gains[1:], strict=False))
        if old.gains and old.gains[0] > 0:
            # ±5 % on every commune moves an area's fragile population by at most ~±5 %
            # (plus the national re-calibration); gains follow within a wide margin.
            assert 0.8 * old.gains[0] <= new.gains[0] <= 1.25 * old.gains[0]
    for name in ("weight_access", "weight_distribution", "weight_balance"):
        w0, w1 = getattr(base.policy, name), getattr(policy, name)
        assert 0.9 * w0 - 1e-12 <= w1 <= 1.1 * w0 + 1e-12


def test_local_cluster_equals_serial(
    prepared: pipeline.PreparedRound, serial: rb.Robustness
) -> None:
    """A LocalCluster of 2 worker processes gives the serial grants, draw for draw."""
    result = rb.robustness_prepared(prepared, DRAWS, 7, scheduler="local", workers=2)
    assert result.execution["scheduler"].startswith("dask")
    assert result.execution["workers"] == 2
    assert np.array_equal(result.grants, serial.grants)
    assert result.report == serial.report


def test_existing_cluster_by_address(base: rb.RobustnessBase, serial: rb.Robustness) -> None:
    """``--scheduler tcp://...``: an existing cluster is used as it is (threads here: cheap)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
    ) as cluster:
        grants, info = rb.run_draws(base, 6, 7, scheduler=cluster.scheduler_address)
        assert info["scheduler"] == f"dask ({cluster.scheduler_address})"
        assert len(cluster.workers) == 1  # left as it was
    assert np.array_equal(grants, serial.grants[:6])


def test_bad_arguments(base: rb.RobustnessBase, prepared: pipeline.PreparedRound) -> None:
    with pytest.raises(ValueError, match="scheduler"):
        rb.run_draws(base, 2, 0, scheduler="nowhere")
    with pytest.raises(ValueError, match="draws"):
        rb.run_draws(base, 0, 0)
    with pytest.raises(ValueError, match="noise"):
        rb.build_base(prepared, need_noise=1.5)
    with pytest.raises(ValueError, match="threshold"):
        rb.robustness_prepared(prepared, 1, 0, threshold=0.0)


def test_cli_robustesse(tmp_path: Any) -> None:
    request = tmp_path / "requete.json"
    request.write_text(json.dumps(slice_request(20, 12)), encoding="utf-8")
    out = tmp_path / "robustesse.json"
    res = CliRunner().invoke(
        main,
        [
            "scenario",
            "robustesse",
            str(request),
            "--tirages",
            "4",
            "--scheduler",
            "serial",
            "--sans-progression",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["resume"]["tirages"] == 4
    assert len(report["structures"]) == 20
    assert report["execution"]["scheduler"] == "serial"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**slice_request(3, 2), "quota": -1}), encoding="utf-8")
    res = CliRunner().invoke(main, ["scenario", "robustesse", str(bad), "--scheduler", "serial"])
    assert res.exit_code == 2
    assert "quota" in res.output
    res = CliRunner().invoke(main, ["scenario", "robustesse", str(request), "--scheduler", "x"])
    assert res.exit_code == 2
